"""Celery tasks of the reward pipeline (the work itself is in rewards.pipeline and
rewards.fulfilment; tasks only pick the merchant and call it).

Periodic (beat): `conversions_dispatch_task` every PIPELINE_DISPATCH_SECONDS, the release of
rewards whose hold ended and the sweeper every minute.
"""

from __future__ import annotations

import logging

from django.core.mail import send_mail

from accounts.models import Membership, Role
from programs.models import Program
from referral_saas.celery import app
from referral_saas.workers import merchant_task
from rewards import fulfilment, pipeline

logger = logging.getLogger(__name__)


@app.task(name="rewards.tasks.conversions_dispatch_task", acks_late=True)
def conversions_dispatch_task() -> int:
    """Claim received conversions (all merchants) and enqueue their evaluation."""
    total = 0
    while True:  # drain bursts in one run, a bounded number of rows at a time
        claimed = pipeline.conversions_dispatch(limit=500)
        total += claimed
        if claimed < 500 or total >= 5000:
            return total


@merchant_task(name="rewards.tasks.conversions_evaluate_task")
def conversions_evaluate_task(*, merchant_id: int, conversion_ids: list[int]) -> dict[str, int]:
    return pipeline.conversions_evaluate_batch(conversion_ids=conversion_ids)


@merchant_task(name="rewards.tasks.conversion_evaluate_task")
def conversion_evaluate_task(*, merchant_id: int, conversion_id: int) -> str:
    """One conversion (the embedded default evaluates each right after it is stored): a batch
    of one, so every conversion takes the batch's code path."""
    outcomes = pipeline.conversions_evaluate_batch(conversion_ids=[conversion_id])
    return next(iter(outcomes))


@merchant_task(name="rewards.tasks.conversion_refunded_task")
def conversion_refunded_task(*, merchant_id: int, conversion_id: int) -> dict[str, int]:
    return pipeline.conversion_refund_apply(conversion_id=conversion_id)


@merchant_task(name="rewards.tasks.reward_fulfil_task")
def reward_fulfil_task(*, merchant_id: int, reward_id: int) -> str:
    return fulfilment.reward_fulfil_attempt(reward_id=reward_id)


@merchant_task(
    name="rewards.tasks.reward_reverse_task",
    bind=True,
    max_retries=8,
)
def reward_reverse_task(self, *, merchant_id: int, reward_id: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return fulfilment.reward_reverse(reward_id=reward_id)
    except fulfilment.FulfilmentError as error:
        raise self.retry(countdown=min(60 * 2**self.request.retries, 6 * 3600), exc=error) from None


@merchant_task(
    name="rewards.tasks.friend_offer_deactivate_task",
    bind=True,
    max_retries=8,
)
def friend_offer_deactivate_task(self, *, merchant_id: int, reward_id: int) -> str:  # type: ignore[no-untyped-def]
    """Withdraw an expired friend offer's code where the method can (once: its reason)."""
    from rewards.friend_offer import friend_offer_deactivate

    try:
        return friend_offer_deactivate(reward_id=reward_id)
    except fulfilment.FulfilmentError as error:
        raise self.retry(countdown=min(60 * 2**self.request.retries, 6 * 3600), exc=error) from None


@app.task(name="rewards.tasks.rewards_release_task", acks_late=True)
def rewards_release_task() -> int:
    return pipeline.rewards_release_due()


@app.task(name="rewards.tasks.pipeline_sweep_task", acks_late=True)
def pipeline_sweep_task() -> dict[str, int]:
    return pipeline.pipeline_sweep()


@merchant_task(name="rewards.tasks.budget_exhausted_email_task")
def budget_exhausted_email_task(*, merchant_id: int, program_id: int) -> int:
    """Tell the merchant's owners and admins that a program spent its budget and paused."""
    program = Program.objects.get(pk=program_id)
    recipients = list(
        Membership.objects.filter(role__in=(Role.OWNER, Role.ADMIN)).values_list(
            "user__email", flat=True
        )
    )
    if not recipients:
        return 0
    return send_mail(
        subject=f"Your referral program “{program.name}” spent its budget",
        message=(
            f"The program “{program.name}” reached its reward budget, so it paused itself: "
            "no new rewards are created and its landing page tells visitors it is paused.\n\n"
            "Raise the budget in the program's rules and resume it from the dashboard to "
            "continue. Rewards already earned are not affected."
        ),
        from_email=None,
        recipient_list=recipients,
    )
