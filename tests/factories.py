"""factory_boy factories. Tenant-owned factories create rows inside the merchant given."""

from __future__ import annotations

from typing import Any

import factory
from allauth.account.models import EmailAddress

from accounts.models import Membership, Merchant, Role, User
from programs.models import Program, ProgramStatus, ProgramType, ProgramVersion
from programs.specs import parse_config
from referral_saas import tenancy


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def verified(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted is not False:
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    slug = factory.Sequence(lambda n: f"merchant-{n}")


def add_member(merchant: Merchant, user: User, role: str = Role.OWNER) -> Membership:
    with tenancy.merchant_context(merchant):
        return Membership.objects.create(user=user, role=role)


def make_program(merchant: Merchant, **fields: Any) -> Program:
    defaults: dict[str, Any] = {
        "name": "Give 10, get 10",
        "slug": "give-10",
        "type": ProgramType.TWO_SIDED,
        "status": ProgramStatus.ACTIVE,
        "currency": "EUR",
        "default_locale": "en",
        "locales": ["en", "it", "ro", "pl"],
        "destination_url": "https://shop.example.com/",
        "allowed_domains": ["shop.example.com"],
    }
    config = fields.pop("config", None)
    defaults.update(fields)
    with tenancy.merchant_context(merchant):
        program = Program.objects.create(**defaults)
        if config is None:
            config = parse_config(
                DEFAULT_CONFIG[program.type],
                program_type=program.type,
                currency=program.currency,
                stripe_connected=False,
            ).to_dict()
        ProgramVersion.objects.create(program=program, number=program.version, config=config)
        return program


DEFAULT_CONFIG: dict[str, dict[str, Any]] = {
    "one_sided": {"advocate_reward": {"kind": "account_credit", "amount": 1000}},
    "two_sided": {
        "advocate_reward": {"kind": "account_credit", "amount": 1000},
        "friend_reward": {"kind": "fixed_discount", "amount": 1000},
    },
    "tiered": {
        "tiers": [
            {"threshold": 1, "reward": {"kind": "account_credit", "amount": 1000}},
            {"threshold": 5, "reward": {"kind": "account_credit", "amount": 7500}},
        ]
    },
}
