"""A small scene builder for the fraud-rule tests: one program of Acme, rows with explicit
times, and `judge()` to evaluate a conversion as the pipeline would."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from accounts.models import Merchant
from programs.models import Program
from programs.specs import FRAUD_RULES, Fraud
from referral_saas import tenancy
from rewards.fraud import FraudInput, FraudResult, evaluate
from tests.factories import make_program
from tracking.models import Advocate, Click, Conversion, Referral

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def at(seconds: float = 0, *, minutes: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours)


def fraud(outcomes: dict[str, str] | None = None, **thresholds: Any) -> Fraud:
    """The defaults, with some outcomes and thresholds changed."""
    return dataclasses.replace(Fraud(), outcomes={**FRAUD_RULES, **(outcomes or {})}, **thresholds)


def only(rule: str, outcome: str = "reject", **thresholds: Any) -> Fraud:
    """Every rule off but one."""
    outcomes = {name: "off" for name in FRAUD_RULES}
    outcomes[rule] = outcome
    return dataclasses.replace(Fraud(), outcomes=outcomes, **thresholds)


@dataclasses.dataclass
class Scene:
    merchant: Merchant
    program: Program

    def advocate(self, email: str | None = None, **fields: Any) -> Advocate:
        number = next(_numbers)
        fields.setdefault("created_at", at(hours=-24 * 30))
        return Advocate.objects.create(
            program=self.program,
            email=email or f"advocate{number}@example.com",
            code=f"ADV-{number:06d}",
            **fields,
        )

    def click(self, advocate: Advocate, created_at: datetime, **fields: Any) -> Click:
        return Click.objects.create(
            program=self.program, advocate=advocate, created_at=created_at, **fields
        )

    def referral(
        self, advocate: Advocate, email: str, created_at: datetime, **fields: Any
    ) -> Referral:
        return Referral.objects.create(
            program=self.program, advocate=advocate, email=email, created_at=created_at, **fields
        )

    def conversion(
        self,
        advocate: Advocate | None,
        occurred_at: datetime,
        *,
        email: str | None = None,
        created_at: datetime | None = None,
        **fields: Any,
    ) -> Conversion:
        number = next(_numbers)
        fields.setdefault("program", self.program if advocate is not None else None)
        return Conversion.objects.create(
            order_id=f"order-{number}",
            amount=5000,
            currency="EUR",
            customer_email=email if email is not None else f"friend{number}@example.com",
            advocate=advocate,
            occurred_at=occurred_at,
            created_at=created_at or occurred_at + timedelta(seconds=2),
            **fields,
        )


def judge(
    conversion: Conversion,
    settings: Fraud,
    *,
    click: Click | None = None,
    referral: Referral | None = None,
) -> FraudResult:
    assert conversion.advocate is not None
    assert conversion.program_id is not None
    return evaluate(
        FraudInput(
            conversion=conversion,
            advocate=conversion.advocate,
            referral=referral,
            click=click,
            fraud=settings,
            program_id=conversion.program_id,
        )
    )


def rules_hit(result: FraudResult) -> dict[str, str]:
    return {signal.rule: signal.outcome for signal in result.signals}


@contextmanager
def scene_for(merchant: Merchant, **program: Any) -> Iterator[Scene]:
    created = make_program(merchant, **program)
    with tenancy.merchant_context(merchant):
        yield Scene(merchant=merchant, program=created)
