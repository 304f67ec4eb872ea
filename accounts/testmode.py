"""Test mode: a separate data space per merchant, as integrators know it from Stripe.

A merchant's test data lives under its **test twin**: a `Merchant` row with `livemode=False`
and `live_merchant` pointing at the live one, made on first use. Everything tenant-owned
already belongs to exactly one merchant and every scoped query filters by it, so the twin *is*
the (merchant, mode) pair tenancy scopes by: a test key (`sk_test_…`, minted on the twin) sees
only test objects, a live key only live ones, and the other mode's ids are 404 exactly like
another merchant's, with no extra filter that code could forget and no extra query.

What differs in test mode, and where:
- plan limits and usage: none counted (`billing.limits`: the twin has its account's features
  and no quantities);
- email: nobody outside the merchant's team is written to (`hosted.emails`, the one sender of
  advocate and friend email: the message is kept and shown in the dashboard instead);
- Stripe and stores: never called with live credentials (`rewards.fulfilment` simulates the
  methods that would);
- analytics: the live overview reads the live merchant only, so test data is never in it;
- the dashboard shows the twin under its own slug (`/m/<slug>--test/…`) with a banner, and
  hosted pages of test programs say so.
"""

from __future__ import annotations

from django.apps import apps
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from accounts.models import Merchant, TestDataErasure, TestDataErasureStatus
from accounts.services import MIRRORED_FIELDS, audit_record
from referral_saas import tenancy
from referral_saas.errors import InvalidInput
from referral_saas.workers import enqueue_on_commit

TWIN_SLUG_SUFFIX = "--test"  # slugify never makes "--", so no live merchant can take it


def twin_slug(live_slug: str) -> str:
    return live_slug[: 60 - len(TWIN_SLUG_SUFFIX)] + TWIN_SLUG_SUFFIX


def twin_of(merchant: Merchant) -> Merchant:
    """The account's test data space, made on first use (concurrent first uses make one)."""
    live = merchant.account
    twin = Merchant.objects.filter(live_merchant=live).first()
    if twin is not None:
        return twin
    try:
        with transaction.atomic():
            return Merchant.objects.create(
                live_merchant=live,
                livemode=False,
                slug=twin_slug(live.slug),
                **{field: getattr(live, field) for field in MIRRORED_FIELDS},
            )
    except IntegrityError:
        return Merchant.objects.get(live_merchant=live)


def existing_twin(merchant: Merchant) -> Merchant | None:
    return Merchant.objects.filter(live_merchant=merchant.account).first()


# --- Erasing a test data space ------------------------------------------------------------------

# Kept: the audit log (append-only by design), the test keys (an integration keeps working, as
# in Stripe), and the erasures themselves (their progress is what the dashboard shows).
KEPT_MODELS = frozenset(
    {"accounts.auditevent", "accounts.apikey", "accounts.testdataerasure"}
    | {"accounts.membership", "accounts.invitation"}  # the team is the account's, never the twin's
)
ERASE_BATCH = 500
ERASE_PASSES = 6  # a PROTECTed row waits for the rows protecting it, deleted in a later pass


def _erasable_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, tenancy.TenantModel) and model._meta.label_lower not in KEPT_MODELS
    ]


@transaction.atomic
def test_data_erase_request(*, actor_label: str) -> TestDataErasure:
    """Ask for the current test data space to be erased (async; audited on the account).
    Refuses in a live data space: only test data is ever erased."""
    twin = tenancy.get_current_merchant()
    if twin.livemode:
        raise InvalidInput({"livemode": "Only test data can be erased: use a test secret key."})
    erasure = TestDataErasure.objects.create(requested_by=actor_label[:254])
    with tenancy.merchant_context(twin.account):
        audit_record(
            action="test_data.erase_requested",
            actor_label=actor_label,
            data={"erasure": erasure.public_id},
        )
    from accounts.tasks import test_data_erase_task  # deferred: the task module imports this one

    enqueue_on_commit(test_data_erase_task, merchant_id=twin.pk, erasure_id=erasure.pk)
    return erasure


def test_data_erase_run(*, erasure_id: int) -> str:
    """Delete every row of the current test data space but the kept ones, in batches, recording
    progress. Safe to run again after a crash (it continues where rows remain)."""
    twin = tenancy.get_current_merchant()
    if twin.livemode:  # fail closed: never a live merchant's rows
        raise RuntimeError("test_data_erase_run called in a live data space")
    claimed = TestDataErasure.objects.filter(
        pk=erasure_id,
        status__in=[TestDataErasureStatus.PENDING, TestDataErasureStatus.RUNNING],
    ).update(status=TestDataErasureStatus.RUNNING)
    if not claimed:
        return "skipped"
    erasure = TestDataErasure.objects.get(pk=erasure_id)
    deleted: dict[str, int] = dict(erasure.deleted)
    remaining = _erasable_models()
    for _pass in range(ERASE_PASSES):
        blocked = []
        for model in remaining:
            try:
                _erase_model(model, twin, deleted)
            except (ProtectedError, RestrictedError):
                blocked.append(model)
            TestDataErasure.objects.filter(pk=erasure_id).update(deleted=deleted)
        remaining = blocked
        if not remaining:
            break
    status = TestDataErasureStatus.DONE if not remaining else TestDataErasureStatus.FAILED
    error = ", ".join(m._meta.label for m in remaining)[:500]
    TestDataErasure.objects.filter(pk=erasure_id).update(
        status=status, deleted=deleted, error=error, finished_at=timezone.now()
    )
    with tenancy.merchant_context(twin.account):
        audit_record(
            action="test_data.erased" if not remaining else "test_data.erase_failed",
            actor_label="system",
            data={"erasure": erasure.public_id, "deleted": sum(deleted.values())},
        )
    return str(status)


def _erase_model(model: type[models.Model], twin: Merchant, deleted: dict[str, int]) -> None:
    rows = model.unscoped_all_merchants.filter(merchant_id=twin.pk)  # type: ignore[attr-defined]
    while True:
        batch = list(rows.order_by("pk").values_list("pk", flat=True)[:ERASE_BATCH])
        if not batch:
            return
        with transaction.atomic():
            _count, per_model = model.unscoped_all_merchants.filter(  # type: ignore[attr-defined]
                merchant_id=twin.pk, pk__in=batch
            ).delete()
        for label, count in per_model.items():
            if count:
                deleted[label] = deleted.get(label, 0) + count
