"""Batch evaluation (`rewards.pipeline.batch`): a dispatched batch decided in one transaction
gives exactly the decisions of evaluating its conversions one by one, with a number of
queries that does not grow with the batch, and one failing conversion never blocks the rest."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Merchant
from programs.specs import parse_config
from referral_saas import tenancy
from rewards import pipeline
from rewards.models import Reward
from tests.conftest import World
from tests.factories import make_program
from tracking.models import Advocate, Click, Conversion, ConversionStatus
from tracking.services import advocate_enroll, conversion_record

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stored_only"),
]


@pytest.fixture
def stored_only() -> Iterator[None]:
    """Conversions stay `received` until a batch (or a single evaluation) decides them."""
    with override_settings(PIPELINE_EVALUATE_ON_COMMIT=False):
        yield


def _program(merchant: Merchant, slug: str, type_: str = "two_sided", **config: Any) -> Any:
    base: dict[str, Any] = {"friend_reward": {"kind": "fixed_discount", "amount": 1000}}
    if type_ == "two_sided":
        base["advocate_reward"] = {"kind": "account_credit", "amount": 1000}
    base.update(config)
    parsed = parse_config(base, program_type=type_, currency="EUR", stripe_connected=True)
    return make_program(merchant, type=type_, slug=slug, config=parsed.to_dict())


def _order(order_id: str, email: str, code: str | None = None, **extra: Any) -> int:
    return conversion_record(
        order_id=order_id,
        amount=extra.pop("amount", 5000),
        currency="EUR",
        customer={"email": email, **extra.pop("customer", {})},
        code=code,
        **extra,
    ).conversion.pk


def scenario(merchant: Merchant) -> list[int]:
    """Orders whose decisions depend on each other inside one batch: the same friend twice,
    another advocate naming a friend already referred, velocity and cards counted across the
    batch, a returning customer, a visitor's click, caps and a tier that read stored rewards."""
    with tenancy.merchant_context(merchant):
        fast = _program(
            merchant,
            "fast",
            fraud={
                "thresholds": {
                    "velocity_per_advocate_per_day": 3,
                    "velocity_per_program_per_hour": 6,
                }
            },
        )
        capped = _program(
            merchant,
            "capped",
            "tiered",
            rules={"max_rewards_per_advocate": 1, "max_rewards_period": "lifetime"},
            tiers=[
                {"threshold": 1, "reward": {"kind": "account_credit", "amount": 500}},
                {"threshold": 2, "reward": {"kind": "account_credit", "amount": 2500}},
            ],
        )
        maria = advocate_enroll(program=fast, email="maria@example.com").advocate
        anna = advocate_enroll(program=fast, email="anna@example.com").advocate
        piero = advocate_enroll(program=capped, email="piero@example.com").advocate
        earlier = (timezone.now() - timedelta(days=3)).isoformat()
        Click.objects.create(
            program=fast, advocate=anna, visitor_id="visitor-1", created_at=timezone.now()
        )
        ids = [
            # stored before the batch, by people the batch meets again
            _order("old-1", "returning@example.com", occurred_at=earlier),
            _order("self-1", "maria@example.com", payment_fingerprint="card-m"),
            # the batch
            _order("b-01", "luca@example.com", maria.code),
            _order("b-02", "luca@example.com", maria.code),
            _order("b-03", "Luca@Example.com", anna.code),
            _order("b-04", "giulia@example.com", maria.code, payment_fingerprint="card-m"),
            _order("b-05", "paolo@example.com", maria.code),
            _order("b-06", "sara@example.com", maria.code),
            _order("b-07", "returning@example.com", anna.code),
            _order("b-08", "nobody@example.com"),
            _order("b-09", "visitor@example.com", visitor_id="visitor-1"),
            _order("b-10", "f1@example.com", piero.code),
            _order("b-11", "f2@example.com", piero.code),
            _order("b-12", "f3@example.com", piero.code),
            _order("b-13", "anna.friend@gmail.com", anna.code, payment_fingerprint="card-x"),
            _order("b-14", "annafriend@gmail.com", anna.code, payment_fingerprint="card-x"),
        ]
    return ids


def outcome(merchant: Merchant, ids: list[int]) -> list[dict[str, Any]]:
    """What a merchant sees of each decision (ids and codes aside, which differ per tenant)."""
    with tenancy.merchant_context(merchant):
        emails = {a.pk: a.email for a in Advocate.objects.all()}
        seen = []
        for conversion in Conversion.objects.filter(pk__in=ids).select_related("referral"):
            rewards = Reward.objects.filter(conversion=conversion).order_by("recipient", "tier")
            seen.append(
                {
                    "order": conversion.order_id,
                    "status": conversion.status,
                    "by": conversion.attributed_by,
                    "advocate": emails.get(conversion.advocate_id or 0),
                    "referral": conversion.referral.email if conversion.referral else None,
                    "risk": conversion.risk_score,
                    "reasons": [(r["rule"], r["outcome"]) for r in conversion.reasons],
                    "rewards": [(r.recipient, r.tier, r.kind, r.amount, r.status) for r in rewards],
                }
            )
        return sorted(seen, key=lambda row: row["order"])


def test_a_batch_decides_exactly_as_one_by_one(world: World) -> None:
    batch_ids, single_ids = scenario(world.acme), scenario(world.globex)
    with tenancy.merchant_context(world.acme):
        counted = pipeline.conversions_evaluate_batch(conversion_ids=batch_ids)
    with tenancy.merchant_context(world.globex):
        for conversion_id in single_ids:
            pipeline.conversion_evaluate(conversion_id=conversion_id)
    batch, single = outcome(world.acme, batch_ids), outcome(world.globex, single_ids)
    assert batch == single
    assert sum(counted.values()) == len(batch_ids)
    by_order = {row["order"]: row for row in batch}
    # the scenario does reach what it is about
    assert by_order["b-03"]["advocate"] == "maria@example.com"  # one referrer per friend
    assert ("one_referrer_per_friend", "info") in by_order["b-03"]["reasons"]
    assert by_order["b-04"]["status"] == ConversionStatus.REJECTED  # the advocate's own card
    assert by_order["b-07"]["status"] == ConversionStatus.REJECTED  # returning customer
    assert by_order["b-09"]["by"] == "visitor"
    assert any(row["status"] == ConversionStatus.REVIEW for row in batch)  # velocity
    assert [r[1] for r in by_order["b-10"]["rewards"]] == [1, 0]  # tier 1, friend
    assert ("tier", "info") in by_order["b-11"]["reasons"]  # tier 2 reached, but capped:
    assert ("max_rewards_per_advocate", "info") in by_order["b-11"]["reasons"]
    assert ("duplicate_friend", "reject") in by_order["b-14"]["reasons"] or by_order["b-14"][
        "status"
    ] != ConversionStatus.QUALIFIED


def _many(merchant: Merchant, count: int, prefix: str) -> list[int]:
    with tenancy.merchant_context(merchant):
        program = _program(merchant, f"many-{prefix}")
        advocates = [
            advocate_enroll(program=program, email=f"{prefix}-adv{n}@example.com").advocate
            for n in range(10)
        ]
        return [
            _order(f"{prefix}-{n}", f"{prefix}-friend{n}@example.org", advocates[n % 10].code)
            for n in range(count)
        ]


def _queries(merchant: Merchant, ids: list[int]) -> int:
    with tenancy.merchant_context(merchant), CaptureQueriesContext(connection) as queries:
        counted = pipeline.conversions_evaluate_batch(conversion_ids=ids)
    assert counted == {"qualified": len(ids)}
    return len(queries.captured_queries)


def test_queries_per_batch_do_not_grow_with_the_batch(world: World) -> None:
    small, large = _many(world.acme, 10, "s"), _many(world.acme, 50, "l")
    few, many = _queries(world.acme, small), _queries(world.acme, large)
    if connection.vendor == "postgresql":
        assert few == many
    else:  # SQLite caps a statement's parameters: Django splits the INSERTs of 50 in a few
        assert many <= few + 4
    # lock, plan limit, advocates, referrals, offers, programs, versions, fraud facts (2),
    # velocity, then one INSERT of referrals, one UPDATE of decisions, one of counters, one
    # INSERT of rewards, the outbox's endpoints; the transaction's BEGIN/COMMIT on PostgreSQL
    assert many <= 20
    with tenancy.merchant_context(world.acme):
        assert Reward.objects.filter(conversion_id__in=large).count() == 100


def test_one_failing_conversion_never_blocks_the_batch(world: World) -> None:
    ids = _many(world.acme, 6, "f")
    bad = ids[2]
    real = pipeline.evaluate.decide

    def failing(conversion: Conversion, **kwargs: Any) -> Any:
        if conversion.pk == bad:
            raise RuntimeError("a rule broke")
        return real(conversion, **kwargs)

    with tenancy.merchant_context(world.acme):
        with mock.patch("rewards.pipeline.evaluate.decide", side_effect=failing):
            counted = pipeline.conversions_evaluate_batch(conversion_ids=ids)
        assert counted == {"qualified": 5, "failed": 1}
        left = Conversion.objects.get(pk=bad)
        assert left.status == ConversionStatus.RECEIVED
        assert left.reasons[0]["rule"] == "evaluation_failed"
        assert "RuntimeError" in left.reasons[0]["detail"]
        assert Reward.objects.filter(conversion_id=bad).count() == 0
        assert Reward.objects.filter(conversion_id__in=ids).count() == 10
        # once the rule is fixed, the next dispatch decides it
        assert pipeline.conversions_evaluate_batch(conversion_ids=[bad]) == {"qualified": 1}


def _in_thread(merchant: Merchant, action: Callable[[], dict[str, int]]) -> Any:
    results: list[Any] = []

    def run() -> None:
        try:
            with tenancy.merchant_context(merchant):
                results.append(action())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    return thread, results


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
def test_concurrent_deliveries_of_one_batch_decide_once(world: World) -> None:
    ids = _many(world.acme, 30, "c")
    barrier = threading.Barrier(4)

    def deliver() -> dict[str, int]:
        barrier.wait()
        return pipeline.conversions_evaluate_batch(conversion_ids=ids)

    runs = [_in_thread(world.acme, deliver) for _ in range(4)]
    for thread, _ in runs:
        thread.start()
    for thread, _ in runs:
        thread.join()
    results = [result for _, found in runs for result in found]
    assert len(results) == 4
    assert sum(result.get("qualified", 0) for result in results) == 30
    assert sum(sum(result.values()) for result in results) == 4 * 30
    with tenancy.merchant_context(world.acme):
        assert Reward.objects.filter(conversion_id__in=ids).count() == 60
        advocates = Advocate.objects.filter(program__slug="many-c")
        assert sum(a.qualified_conversions for a in advocates) == 30
