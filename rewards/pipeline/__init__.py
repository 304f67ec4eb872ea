"""The reward pipeline: from a received conversion to rewards, exactly once.

    dispatch ──► evaluate (attribution → qualification → fraud → rewards) ──► release ──► fulfil
                                 ▲ refunds void or claw back at any point ▲

One module per stage:

- `dispatch`: `conversions_dispatch` is the outbox reader: the API stores a conversion as
  `received` (one INSERT, no broker round trip) and this claims batches of them with
  `SELECT … FOR UPDATE SKIP LOCKED`, gives each a lease and enqueues one evaluation task per
  merchant batch. A lost task, a dead worker or a broker outage only lets the lease run out; the
  next dispatch hands the conversion out again. Nothing is lost, only delayed.
- `batch`: `conversions_evaluate_batch` decides a dispatched batch in one transaction, reads
  done once per batch by set-based queries and writes with one statement per kind, by the
  same per-conversion code as `evaluate` (falling back to it one by one if the batch fails).
- `evaluate`: `conversion_evaluate` locks the conversion row and acts only on `received`, so
  any number of duplicate or concurrent deliveries of the same evaluation make one decision; the
  database's unique (conversion, recipient, tier) constraint backs it. It writes the decision
  with every reason (which rule, what evidence) on the conversion.
- `decide`: the decision itself, which reads only, so the what-if report (`whatif`) can run a
  program's current rules over past conversions without changing anything. Caps and tier
  milestones are counted under the advocate's row lock; budgets under the program's row lock,
  so concurrent evaluations cannot overspend.
- `release`: pending rewards whose hold ended are approved; the sweeps are the safety net.
- `refunds`: void or claw back the rewards of a refunded order.
- `review`: a reviewer's decision on a conversion held for review.
- `payloads`: outbound webhook messages, written in the same transaction as the change they
  describe (`emit`), and the payloads they carry. Emails and fulfilment are enqueued after
  commit.
- `common`: the reason records and reward-state groups every stage uses.

Every status change of a reward goes through `rewards.transitions`.

The names below are the pipeline's interface (`from rewards import pipeline`); modules and
tests use them from here. `conversion_evaluate` looks `_over_limit` up through this package,
so patching `rewards.pipeline._over_limit` takes effect.
"""

from rewards.pipeline.batch import conversions_evaluate_batch
from rewards.pipeline.common import EVALUATED, NOT_COUNTED, OPEN_STATUSES, _reason
from rewards.pipeline.decide import (
    Decision,
    RewardPlan,
    _plan_rewards,
    decide,
    reward_cost,
    version_in_force,
)
from rewards.pipeline.dispatch import (
    DISPATCH_SQL,
    _lease_seconds,
    conversions_dispatch,
    over_limit_release,
)
from rewards.pipeline.evaluate import (
    _after_rewards_created,
    _budget_exhausted,
    _create_rewards,
    _evaluate_locked,
    _over_limit,
    _reward_status,
    conversion_evaluate,
)
from rewards.pipeline.payloads import (
    _webhook_listeners,
    conversion_payload,
    emit,
    reward_payload,
)
from rewards.pipeline.refunds import conversion_refund_apply
from rewards.pipeline.release import (
    pipeline_sweep,
    refunds_sweep,
    rewards_fulfil_sweep,
    rewards_release_due,
)
from rewards.pipeline.review import conversion_review_approve, conversion_review_reject
from rewards.pipeline.whatif import WhatIfChange, WhatIfReport, what_if

__all__ = [
    "DISPATCH_SQL",
    "EVALUATED",
    "NOT_COUNTED",
    "OPEN_STATUSES",
    "Decision",
    "RewardPlan",
    "WhatIfChange",
    "WhatIfReport",
    "_after_rewards_created",
    "_budget_exhausted",
    "_create_rewards",
    "_evaluate_locked",
    "_lease_seconds",
    "_over_limit",
    "_plan_rewards",
    "_reason",
    "_reward_status",
    "_webhook_listeners",
    "conversion_evaluate",
    "conversion_payload",
    "conversion_refund_apply",
    "conversion_review_approve",
    "conversion_review_reject",
    "conversions_dispatch",
    "conversions_evaluate_batch",
    "decide",
    "emit",
    "over_limit_release",
    "pipeline_sweep",
    "refunds_sweep",
    "reward_cost",
    "reward_payload",
    "rewards_fulfil_sweep",
    "rewards_release_due",
    "version_in_force",
    "what_if",
]
