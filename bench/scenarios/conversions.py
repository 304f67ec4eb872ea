"""POST /api/v1/conversions: the storefront reporting an order, the API's hottest write.

The project authenticates the secret key (one indexed SELECT of the key by its hash, joined to the
merchant; an UPDATE of its `last_used_at` at most once a minute), validates the order and stores it
as `received` (one INSERT in a transaction), and answers 202. The baseline runs the same SELECT,
UPDATE policy and INSERT with raw SQL (bench/baseline/endpoints/conversions.py).

Every request carries a new `order_id`: a repeat would answer 200 without an INSERT and flatter
whichever side got it. The Lua below rewrites the body's order id per request as
`bench-<side>-<run nonce>-<wrk thread>-<counter>`; the nonce is read from /dev/urandom once per
wrk invocation (warm-up and every round are separate invocations whose counters restart), and the
side keeps the two servers, which write to the same table under the same merchant, apart. The
probe request before the load sends the static body, whose `probe-<side>` id is unique per run
because the run starts from a fresh database.

The targets, at the 32 concurrent connections the first issue states: issue 19's at least 85% of
the baseline's throughput with a p99 at most 1.3 times the baseline's, and the earlier p99 at
most 50 ms.
"""

from collections.abc import Mapping

from bench.scenario import Scenario, Target

# A fixed, valid secret key ("sk_live_" + 40 base62 characters): the run's database is fresh, so
# it only has to be well-formed.
API_KEY = "sk_live_" + "BenchConversions0123456789abcdefghijklmn"

# `$$` is a literal `$` (string.Template); `$side` is filled by the harness.
LUA = r"""
local head, tail = wrk.body:match('^(.-"order_id": ")[^"]*(".*)$$')
assert(head and tail, "the body has no order_id to make unique")

local threads = 0
local run_nonce = nil

-- Once per wrk invocation, in the main Lua state, before the threads start.
function setup(thread)
  if run_nonce == nil then
    local urandom = assert(io.open("/dev/urandom", "rb"))
    local bytes = urandom:read(6)
    urandom:close()
    run_nonce = bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  end
  threads = threads + 1
  thread:set("order_prefix", "bench-$side-" .. run_nonce .. "-" .. threads .. "-")
end

local counter = 0

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, head .. order_prefix .. counter .. tail)
end
"""


def seed() -> Mapping[str, str]:
    from accounts.models import Merchant
    from accounts.services import api_key_create
    from programs.services import program_activate, program_create
    from referral_saas.tenancy import merchant_context
    from tracking.services import advocate_enroll

    merchant = Merchant.objects.create(name="Bench conversions", slug="bench-conversions")
    with merchant_context(merchant):
        api_key_create(actor=None, kind="secret", name="bench", plaintext=API_KEY)
        program = program_create(
            actor=None,
            data={
                "name": "Give 10, get 10",
                "slug": "give-10",
                "type": "two_sided",
                "currency": "EUR",
                "default_locale": "en",
                "locales": ["en"],
                "destination_url": "https://shop.example.com/",
                "allowed_domains": ["shop.example.com"],
                "advocate_reward": {"kind": "account_credit", "amount": 1000},
                "friend_reward": {"kind": "fixed_discount", "amount": 1000},
            },
        )
        program = program_activate(actor=None, program=program)
        enrolment = advocate_enroll(program=program, email="advocate@example.com", name="Ada")
    return {"api_key": API_KEY, "code": enrolment.advocate.code}


SCENARIO = Scenario(
    name="conversions",
    description="POST /api/v1/conversions: key SELECT, one INSERT, a new order each request",
    method="POST",
    project_path="/api/v1/conversions",
    baseline_path="/conversions",
    headers={"Authorization": "Bearer $api_key", "Content-Type": "application/json"},
    body=(
        '{"order_id": "probe-$side", "amount": 4999, "currency": "EUR", '
        '"customer": {"email": "buyer@example.com"}, "code": "$code"}'
    ),
    lua=LUA,
    seed=seed,
    expected_status=202,
    connections=32,
    targets=(
        Target(metric="ratio", limit=0.85),
        Target(metric="p99_ratio", limit=1.3),
        Target(metric="p99_ms", limit=50),
    ),
)
