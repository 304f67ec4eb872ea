"""Serializers of the tracking API.

Input is validated by `tracking.services` (which names every field at fault), so the input
serializers only *document* request bodies for OpenAPI. The output serializers write the
resources of DESIGN.md §3 from model rows; related objects appear as their public ids.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from programs.api.serializers import LocaleField, NamedEnumField
from referral_saas.api.schema import ClosedObjectSerializer
from tracking.models import Advocate, Click, Conversion, ConversionStatus, Referral, Refund
from tracking.services import MAX_AMOUNT


class _ObjectField(NamedEnumField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> str:
        return self.values[0]


class AdvocateObjectField(_ObjectField):
    enum_name = "AdvocateObjectEnum"
    values = ("advocate",)


class ClickObjectField(_ObjectField):
    enum_name = "ClickObjectEnum"
    values = ("click",)


class ReferralObjectField(_ObjectField):
    enum_name = "ReferralObjectEnum"
    values = ("referral",)


class ConversionObjectField(_ObjectField):
    enum_name = "ConversionObjectEnum"
    values = ("conversion",)


class RefundObjectField(_ObjectField):
    enum_name = "RefundObjectEnum"
    values = ("refund",)


class ConversionStatusField(NamedEnumField):
    enum_name = "ConversionStatusEnum"
    values = tuple(ConversionStatus.values)


def _id_of(source: str, help_text: str) -> serializers.CharField:
    return serializers.CharField(source=f"{source}.public_id", allow_null=True, help_text=help_text)


# --- Input (documentation only: tracking.services validates) --------------------------------


class AdvocateInputSerializer(ClosedObjectSerializer):
    program = serializers.CharField(help_text="The program's id (`prg_…`); it must be active.")
    email = serializers.EmailField()
    name = serializers.CharField(required=False, max_length=120)
    customer_id = serializers.CharField(
        required=False, max_length=120, help_text="Your id for this customer."
    )
    locale = LocaleField(required=False, help_text="One of the program's locales.")


class ClickInputSerializer(ClosedObjectSerializer):
    code = serializers.CharField(help_text="The advocate's referral code.")
    landing_url = serializers.CharField(required=False, max_length=500)
    visitor_id = serializers.CharField(
        required=False, max_length=64, help_text="Your first-party visitor id, if consented."
    )


class ReferralInputSerializer(ClosedObjectSerializer):
    code = serializers.CharField(required=False, help_text="The referral code, or give click_id.")
    click_id = serializers.CharField(required=False, help_text="From POST /api/v1/clicks.")
    email = serializers.EmailField(help_text="The friend's email.")
    customer_id = serializers.CharField(required=False, max_length=120)
    name = serializers.CharField(required=False, max_length=120)


class CustomerSerializer(ClosedObjectSerializer):
    email = serializers.EmailField()
    id = serializers.CharField(required=False, allow_blank=True, max_length=120)
    name = serializers.CharField(required=False, allow_blank=True, max_length=120)


class ConversionInputSerializer(ClosedObjectSerializer):
    order_id = serializers.CharField(
        max_length=200,
        help_text="Your order id: printable, no spaces. Posting it again returns the first "
        "conversion (200), never a second reward.",
    )
    amount = serializers.IntegerField(
        min_value=0, max_value=MAX_AMOUNT, help_text="Minor units (1000 = €10.00)."
    )
    currency = serializers.CharField(help_text="ISO-4217, e.g. EUR.")
    customer = CustomerSerializer()
    code = serializers.CharField(required=False, help_text="Referral code the order came with.")
    click_id = serializers.CharField(required=False, help_text="From POST /api/v1/clicks.")
    occurred_at = serializers.DateTimeField(
        required=False, help_text="With a time zone; not in the future. Default: now."
    )
    new_customer = serializers.BooleanField(required=False, allow_null=True)
    subscription_id = serializers.CharField(
        required=False,
        max_length=120,
        help_text="The subscription this order is an invoice of (e.g. Stripe's `sub_…`). Its "
        "later invoices belong to the advocate of its first attributed one, even without a "
        "code, and earn again while the program's `recurring_months` last.",
    )
    metadata = serializers.DictField(required=False, help_text="Up to 8 KB of JSON.")
    visitor_id = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The buyer's first-party visitor id (JS snippet), for attribution and fraud "
        "checks.",
    )
    ip = serializers.IPAddressField(
        required=False,
        help_text="The buyer's IP address, for fraud checks. Never stored: only a keyed hash and "
        "a truncated prefix are kept.",
    )
    user_agent = serializers.CharField(
        required=False, help_text="The buyer's browser user agent (kept up to 400 characters)."
    )
    country = serializers.CharField(
        required=False, min_length=2, max_length=2, help_text="ISO 3166-1 alpha-2, e.g. IT."
    )
    payment_fingerprint = serializers.CharField(
        required=False,
        max_length=120,
        help_text="A stable fingerprint of the payment method (e.g. Stripe's card fingerprint), "
        "for self-referral checks.",
    )


class RefundInputSerializer(ClosedObjectSerializer):
    amount = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_AMOUNT,
        help_text="Minor units. Omitted: whatever remains (full).",
    )
    external_id = serializers.CharField(
        required=False,
        max_length=120,
        help_text="Your (or Stripe's) refund id: reporting it again returns the same refund.",
    )


# --- Output ----------------------------------------------------------------------------------


class AdvocateStatsSerializer(serializers.Serializer[dict[str, int]]):
    clicks = serializers.IntegerField()
    referrals = serializers.IntegerField()
    conversions = serializers.IntegerField()


@extend_schema_serializer(component_name="Advocate")
class AdvocateOutputSerializer(serializers.Serializer[Advocate]):
    id = serializers.CharField(source="public_id")
    object = AdvocateObjectField()
    program = serializers.CharField(source="program.public_id")
    email = serializers.EmailField()
    name = serializers.CharField()
    customer_id = serializers.CharField()
    code = serializers.CharField()
    locale = serializers.CharField()
    variant = serializers.CharField(
        source="variant_key", allow_null=True, help_text="The A/B variant, if the program has any."
    )
    referral_url = serializers.SerializerMethodField()
    portal_url = serializers.SerializerMethodField(
        help_text="Always null for now: the advocate portal arrives with the hosted pages."
    )
    qr_url = serializers.SerializerMethodField(
        help_text="Always null for now: QR codes arrive with the hosted pages."
    )
    created_at = serializers.DateTimeField()

    def to_representation(self, instance: Advocate) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["variant"] = data["variant"] or None
        return data

    def get_referral_url(self, advocate: Advocate) -> str:
        from tracking.links import referral_url

        return referral_url(advocate)

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text="The advocate's magic link to their portal (valid 30 days). Only for "
            "secret keys: a publishable key is public, and must not open anyone's portal.",
        )
    )
    def get_portal_url(self, advocate: Advocate) -> str | None:
        from tracking.links import portal_url

        request = self.context.get("request")
        key = getattr(request, "auth", None)
        if getattr(key, "kind", None) != "secret":
            return None
        return portal_url(advocate)

    @extend_schema_field(
        serializers.CharField(
            allow_null=True, help_text="The QR code of the referral link (SVG; `.png` too)."
        )
    )
    def get_qr_url(self, advocate: Advocate) -> str | None:
        from tracking.links import qr_url

        return qr_url(advocate, "svg")


@extend_schema_serializer(component_name="PublicAdvocate")
class PublicAdvocateSerializer(ClosedObjectSerializer):
    """What a publishable key reads back from an enrolment, new or existing: the code and links
    the person enrolling shares, nothing about the advocate. A publishable key is public and
    anyone may send any email with it (its Origin check only binds browsers), so an answer with
    the name, customer id or locale would let anyone look up a merchant's advocates by email."""

    object = AdvocateObjectField()
    program = serializers.CharField(source="program.public_id")
    code = serializers.CharField()
    referral_url = serializers.SerializerMethodField()
    qr_url = serializers.SerializerMethodField()
    portal_url = serializers.SerializerMethodField()

    def get_referral_url(self, advocate: Advocate) -> str:
        from tracking.links import referral_url

        return referral_url(advocate)

    @extend_schema_field(serializers.CharField(help_text="The referral link's QR code (SVG)."))
    def get_qr_url(self, advocate: Advocate) -> str:
        from tracking.links import qr_url

        return qr_url(advocate, "svg")

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text="Always null: a publishable key never opens anyone's portal (the "
            "portal link is emailed to the address).",
        )
    )
    def get_portal_url(self, advocate: Advocate) -> None:
        return None


@extend_schema_serializer(component_name="AdvocateWithStats")
class AdvocateDetailSerializer(AdvocateOutputSerializer):
    """An advocate as GET shows it: with counts of clicks, referrals and conversions."""

    stats = serializers.SerializerMethodField()

    @extend_schema_field(AdvocateStatsSerializer)
    def get_stats(self, advocate: Advocate) -> dict[str, int]:
        return {
            "clicks": getattr(advocate, "stat_clicks", 0),
            "referrals": getattr(advocate, "stat_referrals", 0),
            "conversions": getattr(advocate, "stat_conversions", 0),
        }


@extend_schema_serializer(component_name="Click")
class ClickOutputSerializer(serializers.Serializer[Click]):
    id = serializers.CharField(source="public_id")
    object = ClickObjectField()
    program = serializers.CharField(source="program.public_id")
    advocate = serializers.CharField(source="advocate.public_id")
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="Referral")
class ReferralOutputSerializer(serializers.Serializer[Referral]):
    id = serializers.CharField(source="public_id")
    object = ReferralObjectField()
    program = serializers.CharField(source="program.public_id")
    advocate = serializers.CharField(source="advocate.public_id")
    email = serializers.EmailField()
    customer_id = serializers.CharField()
    name = serializers.CharField()
    click = _id_of("click", "The click it came through, if given.")
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="PublicReferral")
class PublicReferralSerializer(ClosedObjectSerializer):
    """What a publishable key reads back from a referral, new or already known: that it is
    recorded. Not which advocate referred the friend, nor the name or customer id someone
    reported first (anyone may send any friend's email with a publishable key)."""

    id = serializers.CharField(source="public_id")
    object = ReferralObjectField()
    program = serializers.CharField(source="program.public_id")


class ReasonSerializer(serializers.Serializer[dict[str, Any]]):
    rule = serializers.CharField()
    outcome = serializers.CharField()
    detail = serializers.CharField()


class CustomerOutputSerializer(serializers.Serializer[Conversion]):
    email = serializers.EmailField(source="customer_email")
    id = serializers.CharField(source="customer_id")
    name = serializers.CharField(source="customer_name")


@extend_schema_serializer(component_name="Refund")
class RefundOutputSerializer(serializers.Serializer[Refund]):
    id = serializers.CharField(source="public_id")
    object = RefundObjectField()
    conversion = serializers.CharField(source="conversion.public_id")
    amount = serializers.IntegerField(help_text="Minor units.")
    external_id = serializers.CharField()
    created_at = serializers.DateTimeField()
