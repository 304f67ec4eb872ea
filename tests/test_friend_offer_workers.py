"""The friend's offer on PostgreSQL with a real Celery worker on a real Redis broker (a private
redis-server, see tests/test_pipeline_workers.py): the order carrying the friend's code is
dispatched to the worker, which attributes it and redeems the offer once; a second order with
the code is `friend_code_reused`; an unspent offer expires in the sweep and its deactivation
task runs on the worker."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from django.test import override_settings

from accounts.models import Merchant
from rewards import pipeline
from rewards.friend_offer import friend_offer_issue
from rewards.models import Reward, RewardRecipient, RewardStatus
from tests.conftest import on_sqlite
from tests.test_pipeline import enrol, program_with
from tests.test_pipeline_workers import (  # noqa: F401 - fixtures used by name
    Redis,
    Worker,
    acme,
    broker,
    fake,
    redis_server,
    wait_until,
    worker,
    worker_env,
)
from tracking.models import Conversion
from tracking.services import conversion_record, referral_record

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


@override_settings(PIPELINE_EVALUATE_ON_COMMIT=False)
def test_a_worker_redeems_the_friends_code_once_and_expires_an_unused_one(
    acme: Merchant,  # noqa: F811 - the fixture imported above
    redis_server: Redis,  # noqa: F811
    worker: Worker,  # noqa: F811
) -> None:
    if on_sqlite():
        pytest.skip("a real worker needs PostgreSQL and Redis (the embedded default has none)")
    program = program_with(
        acme,
        friend_reward={
            "kind": "percent_discount",
            "percent": 15,
            "fulfilment": "generated_code",
            "expires_after_days": 30,
        },
    )
    advocate = enrol(program)
    offers = []
    for email in ("luca@example.com", "sara@example.com"):
        referral = referral_record(code=advocate.code, email=email).referral
        offers.append(friend_offer_issue(referral=referral, email=email).reward)
    spent, unspent = offers
    assert spent is not None
    assert unspent is not None
    first, second = (
        conversion_record(
            order_id=order_id,
            amount=5000,
            currency="EUR",
            customer={"email": email},
            code=spent.fulfilment_code,
        ).conversion
        for order_id, email in (("W-1", "luca@example.com"), ("W-2", "nina@example.com"))
    )

    with broker(redis_server.url):
        pipeline.conversions_dispatch()

        def decided() -> bool:
            statuses = Conversion.objects.filter(pk__in=[first.pk, second.pk]).values_list(
                "status", flat=True
            )
            return "received" not in set(statuses)

        wait_until(decided, 60, "the worker's evaluations")
        assert unspent.expires_at is not None
        assert (
            pipeline.pipeline_sweep(now=unspent.expires_at + timedelta(seconds=1))["expired_offers"]
            == 1
        )

        def deactivation_recorded() -> bool:
            reward = Reward.objects.get(pk=unspent.pk)
            return any(r.get("rule") == "deactivation" for r in reward.reasons)

        wait_until(deactivation_recorded, 60, "the worker's deactivation task")

    spent.refresh_from_db()
    assert spent.status == RewardStatus.REDEEMED
    assert spent.conversion_id == first.pk
    reused = Conversion.objects.get(pk=second.pk)
    assert "friend_code_reused" in [r["rule"] for r in reused.reasons]
    friend_rewards = Reward.objects.filter(recipient=RewardRecipient.FRIEND)
    assert sorted(friend_rewards.values_list("pk", flat=True)) == sorted([spent.pk, unspent.pk])
    assert Reward.objects.get(pk=unspent.pk).status == RewardStatus.EXPIRED
    assert "Task rewards.tasks.conversions_evaluate_task" in worker.log.read_text()
