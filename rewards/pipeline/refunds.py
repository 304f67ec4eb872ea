"""Refunds: rewards of an order refunded in full (or below the program's minimum) are voided,
or clawed back once issued."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from programs import currencies
from programs.models import Program
from programs.services import program_config
from rewards import transitions
from rewards.attribution import attribute
from rewards.models import Reward, RewardStatus
from rewards.pipeline.common import OPEN_STATUSES, _reason
from tracking.models import Conversion, ConversionStatus


def conversion_refund_apply(*, conversion_id: int, now: datetime | None = None) -> dict[str, int]:
    """After a refund: when the order is fully refunded (or the rest falls below the program's
    minimum), rewards not yet issued are voided and issued ones clawed back."""
    # Deferred: fulfilment imports rewards.transitions, which imports this package.
    from rewards.fulfilment import reward_claw_back

    now = now or timezone.now()
    counts = {"voided": 0, "clawed_back": 0}
    with transaction.atomic():
        conversion = Conversion.objects.select_for_update().get(pk=conversion_id)
        if conversion.evaluated_at is None and conversion.status == ConversionStatus.REFUNDED:
            _attribute_refunded(conversion, now)
            return counts
        net = conversion.amount - conversion.refunded_amount
        full = net == 0
        if not full and conversion.program_version_id is not None and conversion.program_id:
            program = Program.objects.get(pk=conversion.program_id)
            config = program_config(program, conversion.program_version)
            # the minimum of the order's currency (programs.currencies)
            judged = currencies.in_currency(config, program.currency, conversion.currency)
            full = net < (judged or config).rules.min_order_amount
        if not full:
            # A partial refund: commissions not yet issued follow the new net amount.
            from rewards.commissions import commission_adjust

            for reward in Reward.objects.select_for_update().filter(conversion=conversion):
                commission_adjust(reward=reward, net_amount=net, now=now)
            return counts
        why = (
            "The order was refunded in full."
            if net == 0
            else "After refunds the order is below the program's minimum."
        )
        for reward in Reward.objects.select_for_update().filter(conversion=conversion):
            if reward.status in (*OPEN_STATUSES, RewardStatus.FAILED):
                if transitions.reward_transition(
                    reward, "refund_void", reason=_reason("refund", "voided", why), now=now
                ):
                    counts["voided"] += 1
            elif reward.status == RewardStatus.ISSUED:
                reward_claw_back(reward=reward, why=why, now=now)
                counts["clawed_back"] += 1
            elif reward.status == RewardStatus.REDEEMED:
                # The friend's discount was spent on this order: recorded, not clawed back.
                from rewards.friend_offer import friend_offer_refund_recorded

                friend_offer_refund_recorded(reward=reward, now=now)
    return counts


def _attribute_refunded(conversion: Conversion, now: datetime) -> None:
    """An order refunded in full before it was evaluated earns nothing, but its attribution
    still counts for analytics (referred revenue, refund rates): record it, and why."""
    attribution = attribute(conversion)
    reasons = [
        *attribution.reasons,
        _reason("refund", "info", "Refunded in full before it was evaluated: no rewards."),
    ]
    if attribution.advocate is not None:
        conversion.advocate = attribution.advocate
        conversion.referral = attribution.referral
        conversion.program_id = attribution.advocate.program_id
        conversion.attributed_by = attribution.by
    conversion.reasons = reasons
    conversion.evaluated_at = now
    conversion.lease_until = None
    conversion.save()
