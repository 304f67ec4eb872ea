"""Generate a large analytics data set for the overview benchmark (bench/overview.py).

    manage.py generate_analytics_data --slug bench-analytics
        [--clicks 1000000] [--conversions 100000] [--advocates 20000] [--days 90]

Makes a new merchant (owner `<slug>-owner@example.com`, password `bench-password`) with three
programs (the first runs an A/B test), then fills advocates, clicks, referrals, conversions
and rewards with set-based `INSERT … SELECT generate_series(…)` statements (a million clicks in
well under a minute), and finally rolls up every closed day as the periodic task would.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Merchant, User
from accounts.services import merchant_create
from analytics import services
from programs.models import Program, ProgramStatus, ProgramVersion
from programs.specs import parse_config
from referral_saas import tenancy

PASSWORD = "bench-password"  # noqa: S105 (a throwaway account on a benchmark database)
CONFIG: dict[str, Any] = {
    "advocate_reward": {"kind": "account_credit", "amount": 1000},
    "friend_reward": {"kind": "fixed_discount", "amount": 1000},
}
VARIANTS = [
    {"key": "a", "name": "Ten off", "weight": 50},
    {
        "key": "b",
        "name": "Fifteen off",
        "weight": 50,
        "friend_reward": {"kind": "fixed_discount", "amount": 1500},
    },
]

ADVOCATES_SQL = """
INSERT INTO tracking_advocate (public_id, email, name, customer_id, code, locale, created_at,
    merchant_id, program_id, variant_key, blocked_reason, ip_hash, qualified_conversions,
    stripe_account_id, visitor_id)
SELECT format('adv_%%s_%%s', %(merchant)s, g), format('advocate%%s@bench.example', g), '', '',
    format('B%%sX%%s', %(merchant)s, g), 'en', now() - random() * make_interval(days => %(days)s),
    %(merchant)s, (%(programs)s::bigint[])[1 + g %% 3],
    CASE WHEN g %% 3 = 0 THEN (ARRAY['a', 'b'])[1 + (g / 3) %% 2] ELSE '' END, '', '', 0, '', ''
FROM generate_series(1::bigint, %(advocates)s) AS g
"""

CLICKS_SQL = """
WITH adv AS (
    SELECT id, program_id, row_number() OVER (ORDER BY id) AS rn
    FROM tracking_advocate WHERE merchant_id = %(merchant)s
)
INSERT INTO tracking_click (public_id, ip_hash, ip_prefix, user_agent, referer, visitor_id,
    created_at, advocate_id, merchant_id, program_id)
SELECT format('clk_%%s_%%s', %(merchant)s, g), '', '', 'Mozilla/5.0 (bench)', '',
    format('v%%s', (g * 7919) %% %(visitors)s), now() - random() * make_interval(days => %(days)s),
    adv.id, %(merchant)s, adv.program_id
FROM generate_series(1::bigint, %(clicks)s) AS g
JOIN adv ON adv.rn = 1 + (g * 31) %% %(advocates)s
"""

REFERRALS_SQL = """
WITH adv AS (
    SELECT id, program_id, row_number() OVER (ORDER BY id) AS rn
    FROM tracking_advocate WHERE merchant_id = %(merchant)s
)
INSERT INTO tracking_referral (public_id, email, customer_id, name, created_at, advocate_id,
    click_id, merchant_id, program_id)
SELECT format('ref_%%s_%%s', %(merchant)s, g), format('friend%%s@bench.example', g), '', '',
    now() - random() * make_interval(days => %(days)s), adv.id, NULL, %(merchant)s, adv.program_id
FROM generate_series(1::bigint, %(referrals)s) AS g
JOIN adv ON adv.rn = 1 + (g * 17) %% %(advocates)s
"""

# 80% of the orders come through a referral (status mix: 70% qualified, 10% review, 10%
# rejected, 10% refunded); the rest are the merchant's other orders (unattributed).
CONVERSIONS_SQL = """
WITH ref AS (
    SELECT id, advocate_id, program_id, email, created_at, row_number() OVER (ORDER BY id) AS rn
    FROM tracking_referral WHERE merchant_id = %(merchant)s
)
INSERT INTO tracking_conversion (public_id, order_id, amount, currency, status, created_at,
    advocate_id, merchant_id, program_id, program_version_id, click_public_id, customer_email,
    customer_id, customer_name, evaluated_at, metadata, new_customer, occurred_at, reasons,
    referral_code, refunded_amount, risk_score, referral_id, attributed_by, country,
    dispatch_attempts, ip_hash, ip_prefix, lease_until, over_limit, payment_fingerprint,
    review_note, reviewed_at, user_agent, visitor_id)
SELECT format('conv_%%s_%%s', %(merchant)s, g), format('bench-%%s', g), 2000 + (g * 37) %% 18000,
    'EUR',
    CASE WHEN ref.id IS NULL THEN 'unattributed'
         WHEN g %% 10 < 7 THEN 'qualified' WHEN g %% 10 = 7 THEN 'review'
         WHEN g %% 10 = 8 THEN 'rejected' ELSE 'refunded' END,
    now(), ref.advocate_id, %(merchant)s, ref.program_id, NULL, '',
    COALESCE(ref.email, format('shopper%%s@bench.example', g %% 30000)), '', '', now(), '{}',
    g %% 20 <> 0,
    LEAST(now(), COALESCE(ref.created_at, now() - random() * make_interval(days => %(days)s))
        + random() * interval '3 days'),
    '[]', '', 0, NULL, ref.id,
    CASE WHEN ref.id IS NULL THEN '' ELSE 'code' END, '', 1, '', '', NULL, false, '', '', NULL,
    '', ''
FROM generate_series(1::bigint, %(conversions)s) AS g
LEFT JOIN ref ON g %% 5 <> 0 AND ref.rn = g
"""

REWARDS_SQL = """
INSERT INTO rewards_reward (public_id, recipient, tier, kind, amount, currency, percent, points,
    label, status, available_at, fulfilment_method, fulfilment_code, fulfilment_external_id,
    reasons, issued_at, created_at, updated_at, advocate_id, conversion_id, merchant_id,
    attempts, clawed_back_at, cost, last_error, next_attempt_at, program_id, spec)
SELECT format('rwd_%%s_%%s', %(merchant)s, c.id), 'advocate', 0, 'account_credit', 1000, 'EUR',
    NULL, NULL, '', (ARRAY['pending', 'approved', 'issued'])[1 + c.id %% 3], NULL, 'manual', '', '',
    '[]', NULL, c.occurred_at, c.occurred_at, c.advocate_id, c.id, %(merchant)s, 0, NULL, 1000, '',
    NULL, c.program_id, '{}'
FROM tracking_conversion c
WHERE c.merchant_id = %(merchant)s AND c.status = 'qualified'
"""


class Command(BaseCommand):
    help = "Generate a merchant with 1M clicks and 100k conversions for the overview benchmark."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--slug", default="bench-analytics")
        parser.add_argument("--clicks", type=int, default=1_000_000)
        parser.add_argument("--conversions", type=int, default=100_000)
        parser.add_argument("--advocates", type=int, default=20_000)
        parser.add_argument("--visitors", type=int, default=400_000)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--no-rollup", action="store_true", help="Leave every day live.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if Merchant.objects.filter(slug=options["slug"]).exists():
            raise CommandError(f"Merchant {options['slug']!r} exists: pick another --slug.")
        merchant, programs = self._merchant(options["slug"])
        # The programs ran for the whole generated history (the A/B results start at creation).
        with tenancy.merchant_context(merchant):
            Program.objects.filter(pk__in=[program.pk for program in programs]).update(
                created_at=timezone.now() - timedelta(days=options["days"] + 1)
            )
        params = {
            "merchant": merchant.pk,
            "programs": [program.pk for program in programs],
            "days": options["days"],
            "advocates": options["advocates"],
            "visitors": options["visitors"],
            "clicks": options["clicks"],
            # one referral per attributed order, plus as many again that never ordered
            "referrals": options["conversions"],
            "conversions": options["conversions"],
        }
        for label, sql in [
            ("advocates", ADVOCATES_SQL),
            ("clicks", CLICKS_SQL),
            ("referrals", REFERRALS_SQL),
            ("conversions", CONVERSIONS_SQL),
            ("rewards", REWARDS_SQL),
        ]:
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                count = cursor.rowcount
            self.stdout.write(f"{label}: {count:,} rows in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:  # fresh planner statistics for the new rows
            cursor.execute("ANALYZE tracking_click, tracking_conversion, tracking_advocate")
            cursor.execute("ANALYZE tracking_referral, rewards_reward")
        if not options["no_rollup"]:
            started = time.perf_counter()
            with tenancy.merchant_context(merchant):
                state = services.rollups_refresh()
            elapsed = time.perf_counter() - started
            self.stdout.write(f"roll-ups through {state.through_day} in {elapsed:.1f} s")
        self.stdout.write(
            self.style.SUCCESS(
                f"Merchant /m/{merchant.slug}/ — sign in as {merchant.slug}-owner@example.com "
                f"with password {PASSWORD!r}."
            )
        )

    def _merchant(self, slug: str) -> tuple[Merchant, list[Program]]:
        email = f"{slug}-owner@example.com"
        owner = User.objects.filter(email=email).first()
        if owner is None:
            owner = User.objects.create_user(email=email, password=PASSWORD)
        with transaction.atomic():
            merchant = merchant_create(name=slug.replace("-", " ").title(), owner=owner)
            merchant.slug = slug
            merchant.save(update_fields=["slug"])
            with tenancy.merchant_context(merchant):
                programs = [
                    self._program(merchant, "Give 10, get 10", "give-10", VARIANTS),
                    self._program(merchant, "Friends of the shop", "friends", []),
                    self._program(merchant, "VIP circle", "vip", []),
                ]
        return merchant, programs

    def _program(
        self, merchant: Merchant, name: str, slug: str, variants: list[dict[str, Any]]
    ) -> Program:
        config = parse_config(
            {**CONFIG, "variants": variants},
            program_type="two_sided",
            currency="EUR",
            stripe_connected=False,
        )
        program = Program.objects.create(
            name=name,
            slug=slug,
            type="two_sided",
            status=ProgramStatus.ACTIVE,
            currency="EUR",
            default_locale="en",
            locales=["en"],
            destination_url="https://shop.example.com/",
            allowed_domains=["shop.example.com"],
        )
        ProgramVersion.objects.create(program=program, number=1, config=config.to_dict())
        return program
