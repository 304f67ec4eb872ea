"""The nightly retention run and the policy's one write.

`retention_run` first brings the analytics roll-ups up to date and freezes the visitor
sketches of the days it is about to clear (so no later recomputation counts a cleared click as
a visitor of its own), then clears in batches, each batch its own short transaction:

- clicks older than the policy's months: hashed IP, IP prefix, user agent, referer and visitor
  id emptied (the row stays: clicks are counted, linked to referrals and consent records);
- consent records as old: the visitor id emptied (choice, time and text version stay);
- referrals older than their months whose friend never ordered (no conversion carries them):
  email replaced by `erased+<public id>@invalid`, name and customer id emptied, and the friend
  key of their friend offer cleared (the offer's row and code stay with the referral).

Idempotent: a second run finds nothing left to clear. A run interrupted between batches
leaves every batch it committed done; the next night finishes.

Clicks themselves go later, whole months at a time, across merchants (`clicks_expired_drop`,
after the nightly fan-out): a month is deleted once it is older than every merchant's click
period and every merchant with clicks in it has had them rolled up and cleared (its
`RollupState.visitors_frozen_through` reaches the month's last day, so the roll-ups keep that
month's click counts and visitors from then on: `analytics.services.rollup_days`). On
PostgreSQL such a month is a partition of `tracking_click`, detached and dropped
(`tracking.partitions`); what is left before the boundary (old rows in the default partition,
or every row on SQLite) is deleted in batches through the ORM, which nulls the referrals' and
consent records' `click` as `on_delete=SET_NULL` promises.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, Min, OuterRef, QuerySet, Value
from django.db.models.functions import Concat, Lower
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from analytics.models import RollupState
from analytics.services import rollups_refresh, visitors_freeze
from hosted.models import ConsentRecord
from retention import policy as policies
from retention.models import DEFAULT_CLICK_MONTHS, RetentionPolicy, RetentionRun
from rewards.models import Reward
from tracking import partitions
from tracking.models import Click, Conversion, Referral
from tracking.privacy import CLICK_PERSONAL_FIELDS, TOMBSTONE_DOMAIN

BATCH_SIZE = 1000


def _in_batches(queryset: QuerySet[Any], batch_size: int, **changes: Any) -> int:
    """UPDATE the rows of `queryset` (which must stop matching once changed) `batch_size` at
    a time, each batch in its own transaction. Returns how many rows changed."""
    done = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return done
            done += queryset.model.objects.filter(pk__in=ids).update(**changes)


def _clicks_to_clear(before: datetime) -> QuerySet[Click]:
    # exclude(a="", b="") keeps rows where any field still holds something.
    return Click.objects.filter(created_at__lt=before).exclude(
        **{name: "" for name in CLICK_PERSONAL_FIELDS}
    )


def _referrals_to_clear(before: datetime) -> QuerySet[Referral]:
    ordered = Conversion.objects.filter(referral=OuterRef("pk"))
    return (
        Referral.objects.filter(created_at__lt=before)
        .exclude(email__endswith=f"@{TOMBSTONE_DOMAIN}")
        .exclude(Exists(ordered))
    )


def _clear_referrals(before: datetime, batch_size: int) -> int:
    done = 0
    queryset = _referrals_to_clear(before)
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return done
            Reward.objects.filter(referral_id__in=ids).exclude(friend_key="").update(friend_key="")
            done += Referral.objects.filter(pk__in=ids).update(
                email=Concat(Value("erased+"), Lower("public_id"), Value(f"@{TOMBSTONE_DOMAIN}")),
                name="",
                customer_id="",
            )


def retention_run(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> RetentionRun:
    """Aggregate, then clear what the current merchant's policy no longer keeps (see the
    module docstring). Returns the run's record."""
    now = now or timezone.now()
    policy = policies.current()
    clicks_before = policies.months_before(now, policy.click_personal_months)
    referrals_before = policies.months_before(now, policy.referral_email_months)
    run = RetentionRun.objects.create(
        started_at=now, clicks_before=clicks_before, referrals_before=referrals_before
    )
    rollups_refresh(now=now)
    with transaction.atomic():
        visitors_freeze(through_day=clicks_before.date() - timedelta(days=1))
    run.clicks_cleared = _in_batches(
        _clicks_to_clear(clicks_before),
        batch_size,
        **{name: "" for name in CLICK_PERSONAL_FIELDS},
        visitor_register=None,  # derived from those fields (tracking.visitors)
    )
    run.consents_cleared = _in_batches(
        ConsentRecord.objects.filter(created_at__lt=clicks_before).exclude(visitor_id=""),
        batch_size,
        visitor_id="",
    )
    run.referrals_cleared = _clear_referrals(referrals_before, batch_size)
    run.finished_at = timezone.now()
    run.save(
        update_fields=["clicks_cleared", "consents_cleared", "referrals_cleared", "finished_at"]
    )
    return run


# The functions below read every merchant's rows (`unscoped_all_merchants`) by nature: a
# month of clicks, a partition, is shared by all of them.


def clicks_expired_before(now: datetime) -> datetime:
    """The first day of the month of the earliest click cut-off of any merchant: every click
    before it is past every merchant's period (merchants without a policy keep the default)."""
    chosen = RetentionPolicy.unscoped_all_merchants.values_list("click_personal_months", flat=True)
    longest = max([DEFAULT_CLICK_MONTHS, *chosen])
    return partitions.month_start(policies.months_before(now, longest))


def _month_cleared(low: datetime, high: datetime) -> bool:
    """Every merchant with clicks in [low, high) has them rolled up and cleared through the
    month's last day (its visitor sketches frozen: the roll-ups keep them from now on)."""
    last_day = (high - timedelta(days=1)).date()
    frozen = RollupState.unscoped_all_merchants.filter(
        visitors_frozen_through__gte=last_day
    ).values("merchant_id")
    waiting = Click.unscoped_all_merchants.filter(created_at__gte=low, created_at__lt=high).exclude(
        merchant_id__in=frozen
    )
    return not waiting.exists()


def _delete_month(low: datetime, high: datetime, batch_size: int) -> int:
    clicks = Click.unscoped_all_merchants.filter(created_at__gte=low, created_at__lt=high)
    done = 0
    while ids := list(clicks.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            # The ORM delete nulls Referral.click and ConsentRecord.click (SET_NULL).
            _count, per_model = Click.unscoped_all_merchants.filter(pk__in=ids).delete()
        done += per_model.get(Click._meta.label, 0)
    return done


def clicks_expired_drop(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Delete the clicks of every month past every merchant's period, oldest month first,
    stopping at the first month some merchant has not cleared yet (see the module docstring).
    Across merchants; idempotent. Returns how many clicks were deleted."""
    boundary = clicks_expired_before(now or timezone.now())
    deleted = 0
    if partitions.is_partitioned():
        deleted += partitions.click_partitions_detached_finish()
        for partition in partitions.click_partitions():
            if partition.high > boundary or not _month_cleared(partition.low, partition.high):
                break
            deleted += partitions.click_partition_drop(partition)
    # What is left before the boundary, month by month under the same rule: rows of months
    # without a partition (in the default one) on PostgreSQL, every old row on SQLite.
    first = Click.unscoped_all_merchants.filter(created_at__lt=boundary).aggregate(
        first=Min("created_at")
    )["first"]
    low = partitions.month_start(first) if first is not None else boundary
    while low < boundary:
        high = partitions.month_start(low, months=1)
        if not _month_cleared(low, high):
            break
        deleted += _delete_month(low, high, batch_size)
        low = high
    return deleted


@transaction.atomic
def retention_policy_update(
    *,
    actor: User | None,
    click_personal_months: int,
    referral_email_months: int,
    request: HttpRequest | None = None,
) -> RetentionPolicy:
    """Set the merchant's retention periods (validated by the form). Audited as
    `retention.updated` with the old and new months."""
    policy, _created = RetentionPolicy.objects.select_for_update().get_or_create()
    wanted = {
        "click_personal_months": click_personal_months,
        "referral_email_months": referral_email_months,
    }
    changes = {
        name: {"from": getattr(policy, name), "to": value}
        for name, value in wanted.items()
        if getattr(policy, name) != value
    }
    if not changes:
        return policy
    for name, value in wanted.items():
        setattr(policy, name, value)
    policy.save()
    audit_record(
        action="retention.updated", actor=actor, data={"changes": changes}, request=request
    )
    return policy
