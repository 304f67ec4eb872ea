"""What the reward pipeline does when tracking records something (registered in
`RewardsConfig.ready`): consumers of `events`, run inside the transaction that wrote the row,
each enqueueing its task after commit. Tracking emits; it does not import the pipeline."""

from __future__ import annotations

from django.conf import settings

from events import Event
from referral_saas.workers import enqueue_on_commit
from tracking.models import Conversion


def _conversion(event: Event) -> Conversion:
    subject = event.subject
    if not isinstance(subject, Conversion):
        raise TypeError(f"{event.type} needs the conversion as its subject, not {subject!r}")
    return subject


def conversion_evaluate_after_commit(event: Event) -> None:
    """`conversion.recorded`: in embedded mode (PIPELINE_EVALUATE_ON_COMMIT) no dispatcher
    runs, so evaluate right after commit. With a broker the dispatcher picks the row up: no
    enqueue on this hot path."""
    if not settings.PIPELINE_EVALUATE_ON_COMMIT:
        return
    from rewards.tasks import conversion_evaluate_task  # deferred: tasks import the pipeline

    conversion = _conversion(event)
    enqueue_on_commit(
        conversion_evaluate_task, merchant_id=conversion.merchant_id, conversion_id=conversion.pk
    )


def conversion_refunded_after_commit(event: Event) -> None:
    """`refund.recorded`: void or claw back the conversion's rewards (the pipeline's sweep
    retries this if the message is lost)."""
    from rewards.tasks import conversion_refunded_task  # deferred: see above

    conversion = _conversion(event)
    enqueue_on_commit(
        conversion_refunded_task, merchant_id=conversion.merchant_id, conversion_id=conversion.pk
    )
