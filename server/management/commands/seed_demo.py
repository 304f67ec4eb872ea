"""Seed a demo merchant with a live program, advocates, clicks and orders. Idempotent.

Running it twice changes nothing: every row is found by its natural key before it is created,
and the demo API keys are derived from the install's SECRET_KEY, so the same keys are printed
(and keep working) every time.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, Membership, Merchant, Role, User
from accounts.services import KEY_RANDOM_LENGTH, api_key_create, hash_token, key_prefix
from accounts.testmode import twin_of
from programs.models import Program
from programs.services import program_activate, program_create
from referral_saas import tenancy
from referral_saas.ids import ALPHABET
from rewards.pipeline import rewards_release_due
from tracking import visitors
from tracking.models import Advocate, Click
from tracking.services import conversion_record, refund_record

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-1234"  # noqa: S105 - printed for newcomers; demo only
DEMO_MERCHANT_SLUG = "demo"
DEMO_PROGRAM_SLUG = "give-10-get-10"
DEMO_PROGRAM = {
    "name": "Give €10, get €10",
    "slug": DEMO_PROGRAM_SLUG,
    "type": "two_sided",
    "currency": "EUR",
    "default_locale": "en",
    "locales": ["en", "it", "ro", "pl"],
    "destination_url": "https://shop.example.com/",
    "allowed_domains": ["shop.example.com"],
    "advocate_reward": {"kind": "account_credit", "amount": 1000, "expires_after_days": 90},
    "friend_reward": {"kind": "fixed_discount", "amount": 1000, "code_prefix": "FRIEND"},
    "rules": {"min_order_amount": 3000, "hold_days": 30, "max_rewards_per_advocate": 20},
    "copy": {
        "en": {
            "description": "Share your link: your friend gets €10 off their first order "
            "over €30, and you get €10 credit when they buy."
        },
        "it": {
            "description": "Condividi il tuo link: il tuo amico riceve 10 € di sconto sul "
            "primo ordine oltre 30 €, e tu ricevi 10 € di credito quando acquista."
        },
        "ro": {
            "description": "Trimite linkul tău: prietenul tău primește 10 € reducere la "
            "prima comandă de peste 30 €, iar tu primești 10 € credit când cumpără."
        },
        "pl": {
            "description": "Udostępnij swój link: znajomy dostaje 10 € zniżki na pierwsze "
            "zamówienie powyżej 30 €, a Ty 10 € kredytu, gdy zrobi zakupy."
        },
    },
}
ADVOCATES = [
    ("giulia.rossi@example.com", "Giulia Rossi", "GIULIA10", "it"),
    ("andrei.popescu@example.com", "Andrei Popescu", "ANDREI10", "ro"),
    ("zofia.nowak@example.com", "Zofia Nowak", "ZOFIA10", "pl"),
    ("emma.jones@example.com", "Emma Jones", "EMMA10", "en"),
    ("marco.bianchi@example.com", "Marco Bianchi", "MARCO10", "it"),
]

# The test data space's own advocate (codes are unique across data spaces).
TEST_ADVOCATE = ("tess.tester@example.com", "Tess Tester", "TEST10", "en")

# (order id, referral code or None, customer email, amount in cents, days ago)
DEMO_ORDERS = [
    ("DEMO-1001", "GIULIA10", "luca.ferrari@example.com", 8900, 45),
    ("DEMO-1002", "GIULIA10", "sara.conti@example.com", 5400, 12),
    ("DEMO-1003", "ANDREI10", "mihai.ionescu@example.com", 12000, 40),
    ("DEMO-1004", "ZOFIA10", "piotr.kowalski@example.com", 2500, 6),
    ("DEMO-1005", "EMMA10", "oliver.smith@example.com", 7000, 9),
    ("DEMO-1006", "MARCO10", "quick.buyer@mailinator.com", 6100, 3),
    ("DEMO-1007", None, "anna.verdi@example.com", 15000, 20),
    ("DEMO-1008", None, "jan.wisniewski@example.com", 4300, 2),
]


def demo_key(kind: str, *, livemode: bool = True) -> str:
    """A stable key for this install: HMAC(SECRET_KEY) mapped onto the key alphabet."""
    label = f"demo-{kind}-key" if livemode else f"demo-test-{kind}-key"
    digest = hmac.new(settings.SECRET_KEY.encode(), label.encode(), hashlib.sha512).digest()
    body = "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:KEY_RANDOM_LENGTH])
    return key_prefix(kind, livemode=livemode) + body


class Command(BaseCommand):
    help = "Create (once) a demo merchant with a live program, advocates, clicks and API keys."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Allow seeding when DEBUG is off (never on a real install).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("Refusing to seed demo data with DEBUG off; pass --force.")
        with transaction.atomic():
            merchant, user = self._merchant_and_owner()
            with tenancy.merchant_context(merchant):
                keys = self._keys(user)
                program = self._program(user)
                self._activity(program)
                self._orders()
        with tenancy.merchant_context(merchant):
            # Orders older than the 30-day hold: their rewards are released and issued now,
            # as the periodic release task would (it does not run without a broker).
            rewards_release_due()
        with transaction.atomic():
            # Test mode: the same program in the test data space, with test keys, so the first
            # API calls of a newcomer touch nothing real.
            twin = twin_of(merchant)
            with tenancy.merchant_context(twin):
                test_keys = self._keys(user, livemode=False)
                self._program(user)
                if not Advocate.objects.filter(code=TEST_ADVOCATE[2]).exists():
                    Advocate.objects.create(
                        program=Program.objects.get(slug=DEMO_PROGRAM_SLUG),
                        email=TEST_ADVOCATE[0],
                        name=TEST_ADVOCATE[1],
                        code=TEST_ADVOCATE[2],
                        locale=TEST_ADVOCATE[3],
                    )
        self._print(merchant, program, keys, test_keys)

    def _merchant_and_owner(self) -> tuple[Merchant, User]:
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD, first_name="Demo")
        EmailAddress.objects.get_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )
        merchant, _ = Merchant.objects.get_or_create(
            slug=DEMO_MERCHANT_SLUG, defaults={"name": "Demo Coffee Roasters"}
        )
        with tenancy.merchant_context(merchant):
            if not Membership.objects.filter(user=user).exists():
                Membership.objects.create(user=user, role=Role.OWNER)
        return merchant, user

    def _keys(self, user: User, *, livemode: bool = True) -> dict[str, str]:
        base = settings.PUBLIC_BASE_URL
        origins = sorted({base, "http://127.0.0.1:8000", "http://localhost:8000"})
        keys = {}
        for kind in ("secret", "publishable"):
            plaintext = demo_key(kind, livemode=livemode)
            if not ApiKey.objects.filter(key_hash=hash_token(plaintext)).exists():
                api_key_create(
                    actor=user,
                    kind=kind,
                    name=f"Demo {kind} key" if livemode else f"Demo test {kind} key",
                    plaintext=plaintext,
                    allowed_origins=origins if kind == "publishable" else None,
                )
            keys[kind] = plaintext
        return keys

    def _program(self, user: User) -> Program:
        program = Program.objects.filter(slug=DEMO_PROGRAM_SLUG).first()
        if program is None:
            program = program_create(actor=user, data=DEMO_PROGRAM)
            program = program_activate(actor=user, program=program)
        return program

    def _activity(self, program: Program) -> None:
        rng = random.Random(42)  # same data every time
        now = timezone.now()
        for email, name, code, locale in ADVOCATES:
            advocate = Advocate.objects.filter(code=code).first()
            if advocate is not None:
                continue
            advocate = Advocate.objects.create(
                program=program, email=email, name=name, code=code, locale=locale
            )
            clicks = [
                Click(
                    program=program,
                    advocate=advocate,
                    ip_prefix="203.0.113.0/24",
                    user_agent="Mozilla/5.0 (demo)",
                    created_at=now - timedelta(hours=rng.randint(1, 24 * 14)),
                )
                for _ in range(rng.randint(3, 12))
            ]
            for click in clicks:  # what Click.save stores (bulk_create does not call it)
                click.visitor_register = visitors.click_register(click)
            Click.objects.bulk_create(clicks)

    def _orders(self) -> None:
        """Orders through the same service the API uses, so the pipeline judges them: referred
        ones (one below the minimum, one on a disposable address that goes to review, one
        refunded), and organic ones for the referral share of revenue."""
        now = timezone.now()
        for order_id, code, email, amount, days_ago in DEMO_ORDERS:
            result = conversion_record(
                order_id=order_id,
                amount=amount,
                currency="EUR",
                customer={"email": email},
                code=code,
                occurred_at=(now - timedelta(days=days_ago)).isoformat(),
            )
            if order_id == "DEMO-1005" and result.created:
                refund_record(conversion=result.conversion, amount=None)

    def _print(
        self, merchant: Merchant, program: Program, keys: dict[str, str], test_keys: dict[str, str]
    ) -> None:
        base = settings.PUBLIC_BASE_URL
        landing = base + reverse("program_landing", args=[merchant.slug, program.slug])
        lines = [
            "",
            "Referral SaaS demo is ready.",
            f"  Dashboard:        {base}/dashboard/",
            f"  Demo login:       {DEMO_EMAIL} / {DEMO_PASSWORD}",
            f"  Landing page:     {landing}",
            f"  API docs:         {base}/api/v1/docs/",
            f"  Test secret key:       {test_keys['secret']}",
            f"  Test publishable key:  {test_keys['publishable']}",
            f"  Live secret key:       {keys['secret']}",
            f"  Live publishable key:  {keys['publishable']}",
            "  Try the API in test mode (nothing real is touched; test advocate code TEST10):",
            f"    curl -H 'Authorization: Bearer {test_keys['secret']}' {base}/api/v1/programs",
            "",
        ]
        self.stdout.write("\n".join(lines))
