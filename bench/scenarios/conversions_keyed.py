"""POST /api/v1/conversions with an `Idempotency-Key`: the storefront retrying safely.

The `conversions` scenario's request, plus a new `Idempotency-Key` on every request (the order
id), so the project claims and stores a record each time: with Redis, in the rate limit's own
round trip and one more after the handler (issue 19; accounts/api/idempotency.py). The baseline
is `conversions`' unchanged: the bare stack has no idempotency, so the ratio is what the keyed
request costs the project in all, idempotency included. Seeded like `conversions` (the same
merchant, key and advocate, made once when both run).
"""

from collections.abc import Mapping

from bench.scenario import Scenario
from bench.scenarios import conversions

# The `conversions` Lua, with the order id also sent as the request's Idempotency-Key.
LUA = conversions.LUA.replace(
    """  counter = counter + 1
  return wrk.format(nil, nil, nil, head .. order_prefix .. counter .. tail)""",
    """  counter = counter + 1
  wrk.headers["Idempotency-Key"] = order_prefix .. counter
  return wrk.format(nil, nil, nil, head .. order_prefix .. counter .. tail)""",
)
assert LUA != conversions.LUA, "the conversions Lua changed: update the header line"


def seed() -> Mapping[str, str]:
    from accounts.models import Merchant
    from referral_saas.tenancy import merchant_context
    from tracking.models import Advocate

    merchant = Merchant.objects.filter(slug="bench-conversions").first()
    if merchant is None:
        return conversions.seed()
    with merchant_context(merchant):
        return {"api_key": conversions.API_KEY, "code": Advocate.objects.get().code}


SCENARIO = Scenario(
    name="conversions_keyed",
    description="POST /api/v1/conversions with a new Idempotency-Key each request",
    method="POST",
    project_path="/api/v1/conversions",
    baseline_path="/conversions",
    headers={
        "Authorization": "Bearer $api_key",
        "Content-Type": "application/json",
        "Idempotency-Key": "probe-keyed-$side",
    },
    # Its own probe order id, so a run with `conversions` too still gets a 202 for each probe.
    body=str(conversions.SCENARIO.body).replace("probe-$side", "probe-keyed-$side"),
    lua=LUA,
    seed=seed,
    expected_status=202,
    connections=32,
)
