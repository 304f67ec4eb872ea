"""A small fixed data set for the analytics tests, every number in it counted by hand.

Acme, program "give-10" (EUR), period 2 Mar .. 6 Mar 2026 (UTC), rows just outside it on 1 and
7 Mar; Globex has rows inside the period that must never be counted for Acme.

Clicks in period 6 (visitors v1, v1, v2 | IP h1, v2 | v3 → 4 unique); advocates joined 2;
referrals 3; referred conversions 3 (qualified c1, review c2, qualified c6; rejected c3 and the
unattributed c4, c5 are not); referred revenue 8,000 + 4,000 = 12,000 (c1 net of a 2,000
refund); all revenue 8,000 + 5,000 + 3,000 + 20,000 + 1,000 + 4,000 = 41,000; customers seen
5 (F1@EXAMPLE.COM is f1); rewards 3 costing 1,000 + 1,000 + 500 = 2,500 (the rejected one is
free); new customers 1 (c6 is a returning customer's order).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from accounts.models import Merchant
from programs.models import Program
from referral_saas import tenancy
from rewards.models import Reward
from tests.factories import make_program
from tracking.models import Advocate, Click, Conversion, Referral

START = date(2026, 3, 2)
END = date(2026, 3, 6)


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Dataset:
    program: Program
    other_program: Program
    advocates: dict[str, Advocate]
    conversions: dict[str, Conversion]


def _click(advocate: Advocate, when: datetime, visitor: str = "", ip_hash: str = "") -> Click:
    return Click.objects.create(
        program=advocate.program,
        advocate=advocate,
        created_at=when,
        visitor_id=visitor,
        ip_hash=ip_hash,
    )


def _conversion(order_id: str, when: datetime, **fields: Any) -> Conversion:
    fields.setdefault("currency", "EUR")
    return Conversion.objects.create(order_id=order_id, occurred_at=when, created_at=when, **fields)


def _reward(
    conversion: Conversion, recipient: str, cost: int, status: str, when: datetime
) -> Reward:
    assert conversion.advocate is not None
    return Reward.objects.create(
        recipient=recipient,
        advocate=conversion.advocate,
        conversion=conversion,
        program=conversion.program,
        kind="account_credit",
        amount=cost,
        currency="EUR",
        cost=cost,
        status=status,
        fulfilment_method="manual",
        created_at=when,
        updated_at=when,
    )


def build(acme: Merchant, globex: Merchant, *, variants: bool = False) -> Dataset:
    program = make_program(acme)
    other = make_program(acme, slug="other", name="Other")
    with tenancy.merchant_context(acme):
        a1 = Advocate.objects.create(
            program=program,
            email="a1@example.com",
            code="A1",
            created_at=at(2, 0, 0, 0),
            variant_key="a" if variants else "",
        )
        a2 = Advocate.objects.create(
            program=program,
            email="a2@example.com",
            code="A2",
            created_at=at(3),
            variant_key="b" if variants else "",
        )
        a3 = Advocate.objects.create(
            program=program,
            email="a3@example.com",
            code="A3",
            created_at=at(1, 23, 59, 59),
            variant_key="b" if variants else "",
        )
        _click(a1, at(2, 0, 0, 0), visitor="v1")  # the period's first second
        _click(a1, at(3), visitor="v1")
        _click(a1, at(4), visitor="v2")
        _click(a2, at(5), ip_hash="h1")
        _click(a2, at(6, 23, 59, 59), visitor="v2")  # its last second
        _click(a3, at(4), visitor="v3")
        _click(a3, at(1, 23, 59, 59), visitor="v9")  # before the period
        _click(a3, datetime(2026, 3, 7, tzinfo=UTC), visitor="v9")  # after it
        r1 = Referral.objects.create(
            program=program, advocate=a1, email="f1@example.com", created_at=at(3)
        )
        r2 = Referral.objects.create(
            program=program, advocate=a1, email="f2@example.com", created_at=at(4)
        )
        r3 = Referral.objects.create(
            program=program, advocate=a2, email="f3@example.com", created_at=at(5)
        )
        Referral.objects.create(
            program=program, advocate=a3, email="f0@example.com", created_at=at(1)
        )
        linked = {"program": program}
        c1 = _conversion(
            "c1",
            at(3),
            amount=10000,
            refunded_amount=2000,
            status="qualified",
            advocate=a1,
            referral=r1,
            customer_email="f1@example.com",
            new_customer=True,
            **linked,
        )
        c2 = _conversion(
            "c2",
            at(4),
            amount=5000,
            status="review",
            advocate=a1,
            referral=r2,
            customer_email="f2@example.com",
            **linked,
        )
        _conversion(
            "c3",
            at(5),
            amount=3000,
            status="rejected",
            advocate=a2,
            referral=r3,
            customer_email="f3@example.com",
            **linked,
        )
        _conversion(
            "c4", at(5), amount=20000, status="unattributed", customer_email="buyer@example.com"
        )
        _conversion(
            "c5", at(5), amount=1000, status="unattributed", customer_email="F1@EXAMPLE.COM"
        )
        c6 = _conversion(
            "c6",
            at(6),
            amount=4000,
            status="qualified",
            advocate=a1,
            customer_email="f4@example.com",
            new_customer=False,
            **linked,
        )
        _conversion(
            "c7",
            datetime(2026, 3, 7, tzinfo=UTC),
            amount=99999,
            status="qualified",
            advocate=a1,
            customer_email="late@example.com",
            **linked,
        )
        _reward(c1, "advocate", 1000, "approved", at(3))
        _reward(c1, "friend", 1000, "issued", at(3))
        _reward(c6, "advocate", 1000, "rejected", at(6))
        _reward(c2, "advocate", 500, "held", at(4))
    _globex(globex)
    return Dataset(
        program=program,
        other_program=other,
        advocates={"a1": a1, "a2": a2, "a3": a3},
        conversions={"c1": c1, "c2": c2, "c6": c6},
    )


def _globex(globex: Merchant) -> None:
    program = make_program(globex, slug="g")
    with tenancy.merchant_context(globex):
        advocate = Advocate.objects.create(
            program=program, email="g@example.com", code="G1", created_at=at(3)
        )
        for n in range(5):
            _click(advocate, at(4), visitor=f"g{n}")
        referral = Referral.objects.create(
            program=program, advocate=advocate, email="gf@example.com", created_at=at(4)
        )
        conversion = _conversion(
            "g1",
            at(4),
            amount=77777,
            status="qualified",
            advocate=advocate,
            referral=referral,
            program=program,
            customer_email="gf@example.com",
            new_customer=True,
        )
        _reward(conversion, "advocate", 7000, "approved", at(4))
