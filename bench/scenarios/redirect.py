"""GET /r/<code>: a friend following an advocate's referral link, the hosted pages' hot path.

The project looks the advocate up by code (one indexed SELECT joined to its program and
merchant), parses the user agent (link-preview bots are not counted), records the click (one
INSERT: keyed IP hash, /24 prefix, user agent, referer) and answers 302 to the program's
destination with `ref` and the click id, through the whole middleware stack. The program is
one-sided, so the link redirects (a two-sided program shows the friend page instead).

The baseline (bench/baseline/endpoints/redirect.py) is a bare Django view doing the same SELECT
and INSERT through the ORM and answering the same 302. Every request is a new click on both
sides, so the table grows alike. The targets (issue 19): at least 90% of the baseline's
throughput, with a p99 at most 1.3 times the baseline's.
"""

from collections.abc import Mapping

from bench.scenario import Scenario, Target

PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


def seed() -> Mapping[str, str]:
    from accounts.models import Merchant
    from programs.services import program_activate, program_create
    from referral_saas.tenancy import merchant_context
    from tracking.services import advocate_enroll

    merchant = Merchant.objects.create(name="Bench redirect", slug="bench-redirect")
    with merchant_context(merchant):
        program = program_create(
            actor=None,
            data={
                "name": "Get 10 for every friend",
                "slug": "get-10",
                "type": "one_sided",
                "currency": "EUR",
                "default_locale": "en",
                "locales": ["en"],
                "destination_url": "https://shop.example.com/",
                "allowed_domains": ["shop.example.com"],
                "advocate_reward": {"kind": "account_credit", "amount": 1000},
            },
        )
        program = program_activate(actor=None, program=program)
        enrolment = advocate_enroll(program=program, email="advocate@example.com", name="Ada")
        # Other advocates, so the code lookup is an index scan among many rows, as in life.
        for number in range(2000):
            advocate_enroll(program=program, email=f"advocate{number}@example.com", name="Bo")
    return {"code": enrolment.advocate.code}


SCENARIO = Scenario(
    name="redirect",
    description="GET /r/<code>: advocate SELECT, click INSERT, 302 to the shop with ref",
    method="GET",
    project_path="/r/$code",
    baseline_path="/redirect/$code",
    headers={"User-Agent": PHONE_UA, "Referer": "https://wa.me/"},
    seed=seed,
    expected_status=302,
    targets=(Target(metric="ratio", limit=0.9), Target(metric="p99_ratio", limit=1.3)),
)
