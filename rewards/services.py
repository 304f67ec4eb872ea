"""Manual transitions of rewards, taken by the merchant through the API.

Each is a named transition of `rewards.transitions` (one conditional UPDATE from its allowed
states): two concurrent calls cannot both approve, and a reward in any other state is refused
with a `SpecError` on `status` and left as it was. Every one appends a `{"rule": "manual", ...}`
reason and is audited. The reward pipeline (creation from conversions, holds, automatic
fulfilment) is not here.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from programs.specs import SpecError
from referral_saas.workers import enqueue_on_commit
from rewards.models import Reward, RewardStatus
from rewards.transitions import Audit, reward_transition

# Methods where the merchant delivers the reward and confirms it through `fulfil`.
MERCHANT_FULFILLED_METHODS = frozenset({"webhook", "manual"})
MAX_TEXT = 200


def _text(value: Any, name: str, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise SpecError({name: "This field is required."})
        return ""
    if not isinstance(value, str):
        raise SpecError({name: "Must be a string."})
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise SpecError({name: f"At most {MAX_TEXT} characters."})
    if "\x00" in value:
        raise SpecError({name: "Cannot contain NUL characters."})
    if required and not value:
        raise SpecError({name: "This field is required."})
    return value


def _refuse(reward: Reward, verb: str) -> SpecError:
    current = (
        Reward.objects.filter(pk=reward.pk).values_list("status", flat=True).first()
        or reward.status
    )
    article = "An" if current[:1] in ("a", "e", "i", "o", "u") else "A"
    return SpecError({"status": f"{article} {current} reward cannot be {verb}."})


def _transition(
    reward: Reward, name: str, *, reason: dict[str, str], verb: str, audit: Audit, **changes: Any
) -> Reward:
    """The named transition (audited, its event emitted), or a `SpecError` on `status`."""
    if not reward_transition(reward, name, reason=reason, audit=audit, **changes):
        raise _refuse(reward, verb)
    return reward


def reward_approve(*, reward: Reward, request: HttpRequest | None = None) -> Reward:
    """pending or held → approved; rewards we fulfil are then issued by a worker."""
    from rewards.fulfilment import AUTOMATIC_METHODS
    from rewards.tasks import reward_fulfil_task

    with transaction.atomic():
        reward = _transition(
            reward,
            "approve",
            reason={"rule": "manual", "outcome": "approved", "detail": "Approved by the merchant."},
            verb="approved",
            audit=Audit(request=request),
            next_attempt_at=timezone.now(),
        )
        if reward.fulfilment_method in AUTOMATIC_METHODS:
            enqueue_on_commit(
                reward_fulfil_task, merchant_id=reward.merchant_id, reward_id=reward.pk
            )
    return reward


def reward_void(
    *, reward: Reward, reason: Any = None, request: HttpRequest | None = None
) -> Reward:
    """pending, held, approved or failed → voided (not issued, never will be), with the
    merchant's reason. Issued rewards are clawed back by refunds, not voided."""
    detail = _text(reason, "reason") or "Voided by the merchant."
    with transaction.atomic():
        reward = _transition(
            reward,
            "void",
            reason={"rule": "manual", "outcome": "voided", "detail": detail},
            verb="voided",
            audit=Audit(request=request, data={"reason": detail}),
            next_attempt_at=None,
        )
    return reward


def reward_reject(
    *, reward: Reward, reason: Any = None, request: HttpRequest | None = None
) -> Reward:
    """pending or held → rejected, with the merchant's reason."""
    detail = _text(reason, "reason") or "Rejected by the merchant."
    with transaction.atomic():
        reward = _transition(
            reward,
            "reject",
            reason={"rule": "manual", "outcome": "rejected", "detail": detail},
            verb="rejected",
            audit=Audit(request=request, data={"reason": detail}),
        )
    return reward


def reward_fulfil(
    *,
    reward: Reward,
    code: Any = None,
    external_id: Any = None,
    request: HttpRequest | None = None,
) -> tuple[Reward, bool]:
    """approved → issued, for rewards the merchant delivers (`webhook`, `manual`): records the
    code and/or the merchant's id for the delivery. Confirming again with the same
    `external_id` changes nothing. Returns the reward and whether it changed."""
    code_value = _text(code, "code")
    external = _text(external_id, "external_id")
    if reward.fulfilment_method not in MERCHANT_FULFILLED_METHODS:
        raise SpecError(
            {
                "fulfilment": f"A {reward.fulfilment_method} reward is fulfilled by us, "
                "not confirmed through the API."
            }
        )
    if (
        external
        and reward.status == RewardStatus.ISSUED
        and reward.fulfilment_external_id == external
    ):
        return reward, False
    with transaction.atomic():
        try:
            reward = _transition(
                reward,
                "confirm",
                reason={
                    "rule": "manual",
                    "outcome": "issued",
                    "detail": "Fulfilled by the merchant.",
                },
                verb="fulfilled",
                audit=Audit(request=request, data={"external_id": external} if external else {}),
                issued_at=timezone.now(),
                fulfilment_code=code_value,
                fulfilment_external_id=external,
            )
        except SpecError:
            # A concurrent confirmation with the same id may have won: that is this one too.
            if external:
                reward.refresh_from_db()
                if (
                    reward.status == RewardStatus.ISSUED
                    and reward.fulfilment_external_id == external
                ):
                    return reward, False
            raise
    return reward, True
