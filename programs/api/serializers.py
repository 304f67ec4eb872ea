"""Serializers of the programs API.

Input is validated by `programs.services` (the same code validates the dashboard's forms and
names every field path), so the input serializers here only *document* the request body for
OpenAPI. The output serializer writes the Program resource of DESIGN.md §3; its configuration
fields pass the stored configuration through unchanged (`ProgramConfig.to_dict()`), and the
nested serializers below describe their shape for the schema.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from programs import currencies
from programs.api.selectors import ProgramRecord
from programs.models import Program, ProgramStatus, ProgramType
from programs.specs import (
    BUDGET_ACTIONS,
    CAP_PERIODS,
    FRAUD_RULES,
    FULFILMENT_METHODS,
    LOCALES,
    MAX_MONEY,
    OUTCOMES,
    REWARD_KINDS,
    SCORE_ONLY_RULES,
)
from programs.summary import offer_headline, program_summary

# --- The configuration's shape (for the schema) -----------------------------------------------


class NamedEnumField(serializers.ChoiceField):
    """A choice set documented once, as the component `enum_name`, instead of once per field
    name: nine fraud rules share one, `locales` and `default_locale` another, and names like
    `type` or `status` would otherwise collide with other resources' choice sets (see
    `NamedEnumFieldExtension`)."""

    enum_name = ""
    values: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=self.values, **kwargs)


class NamedEnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "programs.api.serializers.NamedEnumField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field = self.target
        component = ResolvedComponent(
            name=field.enum_name,
            type=ResolvedComponent.SCHEMA,
            object=field.enum_name,
            schema={"type": "string", "enum": list(field.values)},
        )
        auto_schema.registry.register_on_missing(component)
        return dict(component.ref)


class OutcomeField(NamedEnumField):
    enum_name = "FraudOutcomeEnum"
    values = OUTCOMES


class ScoreOnlyOutcomeField(NamedEnumField):
    enum_name = "FraudScoreOnlyOutcomeEnum"
    values = ("off", "score_only")


class LocaleField(NamedEnumField):
    enum_name = "LocaleEnum"
    values = LOCALES


class ProgramTypeField(NamedEnumField):
    enum_name = "ProgramTypeEnum"
    values = tuple(ProgramType.values)


class ProgramStatusField(NamedEnumField):
    enum_name = "ProgramStatusEnum"
    values = tuple(ProgramStatus.values)


class ProgramObjectField(NamedEnumField):
    enum_name = "ProgramObjectEnum"
    values = ("program",)


class RewardKindField(NamedEnumField):
    enum_name = "RewardKindEnum"
    values = REWARD_KINDS


class FulfilmentMethodField(NamedEnumField):
    enum_name = "FulfilmentMethodEnum"
    values = FULFILMENT_METHODS


class RewardSpecSerializer(serializers.Serializer[dict[str, Any]]):
    kind = RewardKindField()
    percent = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=100,
        help_text="percent_discount (1-100); or, on cash and account_credit instead of "
        "amount, a commission: that share of the order's amount net of refunds.",
    )
    max_amount = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_MONEY,
        help_text="A commission's cap (minor units): it never earns more per order.",
    )
    recurring_months = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=120,
        help_text="The advocate's commission only: later paid invoices of the same subscription "
        "(conversions with its `subscription_id`) earn it again for this many months after "
        "the subscription's first order.",
    )
    amount = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_MONEY,
        help_text="Minor units (1000 = €10): fixed_discount, account_credit, cash, "
        "charity_donation. Never together with percent.",
    )
    currency = serializers.CharField(
        required=False, help_text="With amount; the program's currency (default)."
    )
    points = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000_000, help_text="points only."
    )
    # (DRF pops declared fields off the class, so this does not shadow Field.label.)
    label = serializers.CharField(  # type: ignore[assignment]
        required=False, help_text="The product, upgrade or charity (free_product, charity)."
    )
    labels = serializers.DictField(
        child=serializers.CharField(max_length=120),
        required=False,
        help_text="The label in the program's other languages, keyed by locale "
        '(`{"it": "un sacchetto di miscela Roma"}`); a language missing here shows `label`.',
    )
    fulfilment = FulfilmentMethodField(
        required=False,
        help_text="Default: generated_code where the kind allows it, else manual. Stripe "
        "methods need a connected Stripe account.",
    )
    expires_after_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=3650
    )
    code_prefix = serializers.CharField(
        required=False, help_text="generated_code: A-Z and digits, up to 12."
    )
    code_length = serializers.IntegerField(required=False, min_value=6, max_value=32)
    code_pool = serializers.CharField(
        required=False, help_text="code_pool: the id of one of this program's code pools."
    )


class TierSerializer(serializers.Serializer[dict[str, Any]]):
    threshold = serializers.IntegerField(
        min_value=1, max_value=100_000, help_text="Qualified referrals; strictly increasing."
    )
    reward = RewardSpecSerializer()
    repeat = serializers.BooleanField(required=False, help_text="Last tier only.")


class RulesSerializer(serializers.Serializer[dict[str, Any]]):
    attribution_window_days = serializers.IntegerField(required=False, min_value=1, max_value=365)
    min_order_amount = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_MONEY, help_text="Minor units."
    )
    first_purchase_only = serializers.BooleanField(required=False)
    new_customers_only = serializers.BooleanField(required=False)
    one_referrer_per_friend = serializers.BooleanField(required=False)
    hold_days = serializers.IntegerField(required=False, min_value=0, max_value=90)
    max_rewards_per_advocate = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=100_000
    )
    max_rewards_period = serializers.ChoiceField(choices=CAP_PERIODS, required=False)
    budget_amount = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_MONEY, help_text="Minor units."
    )
    budget_action = serializers.ChoiceField(choices=BUDGET_ACTIONS, required=False)
    enrol_buyers = serializers.BooleanField(
        required=False,
        help_text="Buyers of qualified orders become advocates (once each) and get the welcome "
        "email. Default false.",
    )
    ask_friend_name = serializers.BooleanField(
        required=False,
        help_text="The friend page asks the friend's name with the email. Default false.",
    )


class FraudThresholdsSerializer(serializers.Serializer[dict[str, Any]]):
    velocity_per_advocate_per_day = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000
    )
    velocity_per_ip_per_day = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000
    )
    min_seconds_click_to_conversion = serializers.IntegerField(
        required=False, min_value=0, max_value=86_400
    )
    blocked_countries = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="ISO 3166 alpha-2 codes."
    )
    blocked_email_domains = serializers.ListField(child=serializers.CharField(), required=False)


def _outcome_field(rule: str) -> serializers.ChoiceField:
    if rule in SCORE_ONLY_RULES:
        return ScoreOnlyOutcomeField(required=False)
    return OutcomeField(required=False)


FraudSerializer = type(
    "FraudSerializer",
    (serializers.Serializer,),
    {
        **{rule: _outcome_field(rule) for rule in FRAUD_RULES},
        "thresholds": FraudThresholdsSerializer(required=False),
        "__doc__": "Outcome per fraud rule, and the rules' thresholds.",
    },
)


class CopyTextSerializer(serializers.Serializer[dict[str, str]]):
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=120,
        help_text="The program's name in this language (absent or empty: `name`).",
    )
    headline = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    terms = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class VariantCopySerializer(serializers.Serializer[dict[str, str]]):
    headline = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)


class VariantSerializer(serializers.Serializer[dict[str, Any]]):
    key = serializers.CharField(help_text="Lowercase letters, digits, - and _ (up to 30).")
    name = serializers.CharField(required=False)
    weight = serializers.IntegerField(min_value=0, max_value=100)
    advocate_reward = RewardSpecSerializer(required=False, allow_null=True)
    friend_reward = RewardSpecSerializer(required=False, allow_null=True)
    copy = serializers.DictField(child=VariantCopySerializer(), required=False)


class BrandingSerializer(serializers.Serializer[dict[str, Any]]):
    brand_color = serializers.CharField(required=False, help_text="#rrggbb")
    accent_color = serializers.CharField(required=False, help_text="#rrggbb")
    logo_url = serializers.URLField(
        read_only=True, allow_null=True, help_text="Upload the logo in the dashboard."
    )


class WarningSerializer(serializers.Serializer[dict[str, str]]):
    param = serializers.CharField(help_text="The field path, e.g. `copy.it.terms`.")
    message = serializers.CharField()
    code = serializers.CharField(help_text="`html_removed`.")


class CurrencyAmountSerializer(serializers.Serializer[dict[str, int]]):
    amount = serializers.IntegerField(
        min_value=1, max_value=MAX_MONEY, help_text="Minor units of this currency."
    )


class CurrencyRulesSerializer(serializers.Serializer[dict[str, Any]]):
    min_order_amount = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_MONEY,
        help_text="Minor units; required when the program has a minimum.",
    )
    budget_amount = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_MONEY,
        help_text="Minor units; required when the program has a budget.",
    )
    max_rewards_per_advocate = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=100_000,
        help_text="Default: the program's cap, counted within this currency.",
    )


class CurrencyTermsSerializer(serializers.Serializer[dict[str, Any]]):
    """One more currency the program accepts, with its own amounts (never converted)."""

    advocate_reward = CurrencyAmountSerializer(
        required=False, help_text="Required when the advocate reward has an amount."
    )
    friend_reward = CurrencyAmountSerializer(
        required=False, help_text="Required when the friend reward has an amount."
    )
    tiers = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='One entry per tier, in order: `{"amount": …}` where the tier\'s reward has an '
        "amount, `{}` where it has a percent.",
    )
    rules = CurrencyRulesSerializer(required=False)


# --- Input (documentation only: programs.services validates) --------------------------------


@extend_schema_serializer(component_name="Program")
class ProgramInputSerializer(serializers.Serializer[dict[str, Any]]):
    """A program's settings. On PATCH every field is optional; rewards, tiers and variants are
    replaced whole, rules and fraud merge key by key. Read-only fields of the resource (id,
    version, ...) are ignored, so a fetched program can be sent back as it is; `status` is
    not read-only: it performs the lifecycle transition to it."""

    name = serializers.CharField(max_length=120)
    slug = serializers.CharField(
        required=False, max_length=60, help_text="Default: made from the name."
    )
    type = ProgramTypeField(help_text="Fixed once the program has been live.")
    currency = serializers.CharField(
        help_text="ISO-4217, e.g. EUR. Fixed once the program has been live."
    )
    default_locale = LocaleField(required=False, help_text="One of `locales` (default: the first).")
    locales = serializers.ListField(child=LocaleField(), required=False, min_length=1)
    destination_url = serializers.URLField(help_text="Inside one of the allowed domains.")
    allowed_domains = serializers.ListField(child=serializers.CharField(), min_length=1)
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    branding = BrandingSerializer(required=False)
    copy = serializers.DictField(
        child=CopyTextSerializer(),
        required=False,
        help_text="Keyed by locale. A text left empty in a language shows the default "
        "locale's. Plain text: HTML is removed (and reported in `warnings`).",
    )
    advocate_reward = RewardSpecSerializer(
        required=False, allow_null=True, help_text="one_sided and two_sided programs."
    )
    friend_reward = RewardSpecSerializer(
        required=False, allow_null=True, help_text="Required for two_sided programs."
    )
    tiers = TierSerializer(many=True, required=False, help_text="tiered programs only.")
    rules = RulesSerializer(required=False)
    fraud = FraudSerializer(required=False)
    variants = VariantSerializer(many=True, required=False, help_text="None, or 2 to 5.")
    currencies = serializers.DictField(
        child=CurrencyTermsSerializer(),
        required=False,
        help_text="The other currencies the program accepts, keyed by ISO-4217 code, each with "
        "its own amounts (no exchange rates). An order in any other currency is rejected with "
        "the reason `currency`. Replaced whole; `{}` for the program's currency only.",
    )
    status = ProgramStatusField(
        required=False,
        help_text="Optional. A program is created as a draft; a different status (or, on "
        "PATCH, a status other than the current one) is reached through the same lifecycle "
        "transition as `/activate`, `/pause` or `/archive`, with the same checks and errors. "
        "A refused transition changes nothing.",
    )


# --- Output ------------------------------------------------------------------------------------


@extend_schema_field(RewardSpecSerializer(allow_null=True))
class _RewardField(serializers.JSONField):
    pass


@extend_schema_field(TierSerializer(many=True))
class _TiersField(serializers.JSONField):
    pass


@extend_schema_field(RulesSerializer)
class _RulesField(serializers.JSONField):
    pass


@extend_schema_field(FraudSerializer)
class _FraudField(serializers.JSONField):
    pass


@extend_schema_field(VariantSerializer(many=True))
class _VariantsField(serializers.JSONField):
    pass


@extend_schema_serializer(component_name="Program")
class ProgramOutputSerializer(serializers.Serializer[ProgramRecord]):
    """The Program resource (DESIGN.md §3) plus variants, branding, copy, summary, headline and
    updated_at. Needs `merchant_slug` in its context (for `landing_url`)."""

    id = serializers.CharField(source="program.public_id")
    object = ProgramObjectField(source="object_name")
    name = serializers.CharField(source="program.name")
    slug = serializers.CharField(source="program.slug")
    type = ProgramTypeField(source="program.type")
    status = ProgramStatusField(source="program.status")
    currency = serializers.CharField(source="program.currency")
    default_locale = serializers.CharField(source="program.default_locale")
    locales = serializers.ListField(child=serializers.CharField(), source="program.locales")
    destination_url = serializers.CharField(source="program.destination_url")
    allowed_domains = serializers.ListField(
        child=serializers.CharField(), source="program.allowed_domains"
    )
    advocate_reward = _RewardField(source="configuration.advocate_reward")
    friend_reward = _RewardField(source="configuration.friend_reward")
    tiers = _TiersField(source="configuration.tiers")
    rules = _RulesField(source="configuration.rules")
    fraud = _FraudField(source="configuration.fraud")
    variants = _VariantsField(source="configuration.variants")
    currencies = serializers.SerializerMethodField()
    accepted_currencies = serializers.SerializerMethodField(
        help_text="`currency` first, then the keys of `currencies`."
    )
    branding = serializers.SerializerMethodField()
    copy = serializers.DictField(child=CopyTextSerializer(), help_text="Keyed by locale.")
    summary = serializers.SerializerMethodField(
        help_text="The offer and its main rules in words, in the default locale."
    )
    headline = serializers.SerializerMethodField(
        help_text='The offer in a few words ("Give €10, get €10"), in the default locale.'
    )
    starts_at = serializers.DateTimeField(source="program.starts_at", allow_null=True)
    ends_at = serializers.DateTimeField(source="program.ends_at", allow_null=True)
    version = serializers.IntegerField(
        source="program.version", help_text="The configuration version new conversions use."
    )
    landing_url = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField(
        help_text="What this request's input had changed rather than refused, e.g. HTML "
        "removed from copy (`code` `html_removed`, `param` the field path). Empty on reads."
    )
    created_at = serializers.DateTimeField(source="program.created_at")
    updated_at = serializers.DateTimeField(source="program.updated_at")

    @extend_schema_field(BrandingSerializer)
    def get_branding(self, record: ProgramRecord) -> dict[str, Any]:
        program = record.program
        return {
            "brand_color": program.brand_color,
            "accent_color": program.accent_color,
            "logo_url": _logo_url(program),
        }

    @extend_schema_field(serializers.DictField(child=CurrencyTermsSerializer()))
    def get_currencies(self, record: ProgramRecord) -> dict[str, Any]:
        return dict(record.configuration.get("currencies") or {})

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_accepted_currencies(self, record: ProgramRecord) -> list[str]:
        return currencies.accepted(record.config, record.program.currency)

    def get_summary(self, record: ProgramRecord) -> str:
        program = record.program
        return program_summary(record.config, program.default_locale, currency=program.currency)

    def get_headline(self, record: ProgramRecord) -> str:
        return offer_headline(record.config, record.program.default_locale)

    @extend_schema_field(WarningSerializer(many=True))
    def get_warnings(self, record: ProgramRecord) -> list[dict[str, str]]:
        return list(self.context.get("warnings") or [])

    def get_landing_url(self, record: ProgramRecord) -> str:
        path = reverse("program_landing", args=[self.context["merchant_slug"], record.program.slug])
        return settings.PUBLIC_BASE_URL + path


def _logo_url(program: Program) -> str | None:
    if not program.logo:
        return None
    url = program.logo.url
    return url if url.startswith(("https://", "http://")) else settings.PUBLIC_BASE_URL + url
