"""What every stage shares: the reason records and the groups of reward states."""

from __future__ import annotations

from typing import Any

from rewards.models import (
    RewardStatus,
)
from tracking.models import ConversionStatus

# Rewards that count against caps and budgets (everything but the ones that will never pay).
NOT_COUNTED = (RewardStatus.REJECTED, RewardStatus.VOIDED, RewardStatus.EXPIRED)
OPEN_STATUSES = (RewardStatus.PENDING, RewardStatus.HELD, RewardStatus.APPROVED)
EVALUATED = (ConversionStatus.QUALIFIED, ConversionStatus.REJECTED, ConversionStatus.REVIEW)


def _reason(rule: str, outcome: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"rule": rule, "outcome": outcome, "detail": detail, **extra}
