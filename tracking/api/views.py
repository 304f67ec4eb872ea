"""`/api/v1/` tracking endpoints: advocates, clicks, referrals, conversions and refunds.

Each handler checks the body's shape (a JSON object of known fields, at most 64 KB), calls one
`tracking.services` function and serialises. The services validate every value and name the
field at fault (`SpecError`), answered as a 400 in the error envelope like the programs API.
Advocate enrolment, clicks and referrals also accept publishable keys from the browser (with
CORS, see `referral_saas.api.cors`); everything else needs a secret key.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import MerchantAPIView
from programs.api.views import spec_error_response
from programs.models import Program
from programs.specs import SpecError
from referral_saas.api.cors import allow_origin
from referral_saas.api.errors import ApiError
from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.permissions import SecretKeyOnly, SecretOrPublishableKey
from referral_saas.api.requests import invalid, json_object_body
from referral_saas.api.schema import IDEMPOTENCY_KEY, error_responses
from referral_saas.privacy import client_ip
from tracking import offers, services
from tracking.api import examples as ex
from tracking.api.offer_serializers import (
    PublicReferralWithOfferSerializer,
    ReferralWithOfferInputSerializer,
    ReferralWithOfferSerializer,
)
from tracking.api.selectors import advocate_get, advocate_list, conversion_get
from tracking.api.serializers import (
    AdvocateDetailSerializer,
    AdvocateInputSerializer,
    AdvocateOutputSerializer,
    ClickInputSerializer,
    ClickOutputSerializer,
    PublicAdvocateSerializer,
    RefundInputSerializer,
    RefundOutputSerializer,
)
from tracking.models import Advocate, Conversion

MAX_BODY_BYTES = 64 * 1024
BODY_NOTE = (
    " Unknown fields are refused (400 naming the field); a body over 64 KB is refused with 413."
)
ADVOCATE_LIST = list_schema(AdvocateDetailSerializer, "AdvocateList")


# What each key kind reads back (docs/ARCHITECTURE.md, "API keys"): one of two shapes, told
# apart by `additionalProperties: false` on the public one.
ADVOCATE_ENROLMENT = PolymorphicProxySerializer(
    component_name="AdvocateEnrolment",
    serializers=[AdvocateOutputSerializer, PublicAdvocateSerializer],
    resource_type_field_name=None,
)
REFERRAL_WITH_OFFER = PolymorphicProxySerializer(
    component_name="ReferralRecorded",
    serializers=[ReferralWithOfferSerializer, PublicReferralWithOfferSerializer],
    resource_type_field_name=None,
)


def _secret_key(request: Request) -> bool:
    return getattr(request.auth, "kind", None) == "secret"


def _text_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise invalid(f"{name} cannot contain NUL characters.", name)
    return value


@functools.cache
def accepted_fields(schema: type[serializers.Serializer[Any]]) -> frozenset[str]:
    # Once per serializer class: building its fields costs ~300 function calls, on every
    # `POST /api/v1/conversions` otherwise (issue 19).
    return frozenset(schema().fields)


class TrackingApiView(MerchantAPIView):
    """Body limits, SpecError as 400, and per-method key kinds plus CORS for the browser."""

    # Methods a publishable key may call (from its allowed origins); others need a secret key.
    publishable_methods: frozenset[str] = frozenset()
    # Answer CORS preflights for this view (referral_saas.api.cors).
    cors_enabled = False

    def get_permissions(self) -> Sequence[BasePermission]:
        if self.request.method in self.publishable_methods:
            return [SecretOrPublishableKey()]
        return [SecretKeyOnly()]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise ApiError(
                status_code=413,
                type="invalid_request_error",
                code="payload_too_large",
                message=f"The request body is larger than {MAX_BODY_BYTES} bytes.",
            )
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, SpecError):
            return spec_error_response(exc)
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.cors_enabled:
            # `_auth`, not `auth`: reading `auth` would authenticate (again) here.
            allow_origin(request._request, response, getattr(request, "_auth", None))
        return response

    @staticmethod
    def body(request: Request, schema: type[serializers.Serializer[Any]]) -> dict[str, Any]:
        """The JSON object body, refused (400 naming each) for any field that `schema`, the
        serializer its OpenAPI request body is generated from, does not declare: what the
        documentation lists is exactly what is accepted. The values are checked by the service."""
        data = json_object_body(request)
        fields = accepted_fields(schema)
        unknown = sorted(str(name) for name in data if name not in fields)
        if unknown:
            raise SpecError({name: "Unknown field." for name in unknown})
        return data


# --- Advocates -------------------------------------------------------------------------------


def _advocates(advocates: Sequence[Advocate], request: Request) -> list[dict[str, Any]]:
    serializer = AdvocateDetailSerializer(
        instance=advocates,  # type: ignore[arg-type]
        many=True,
        context={"request": request},
    )
    return list(serializer.data)


class AdvocateListApi(TrackingApiView):
    publishable_methods = frozenset({"POST"})
    cors_enabled = True

    @extend_schema(
        operation_id="advocates_list",
        summary="List advocates",
        description="Newest first, each with its stats. Filter by `program` (id) and `email`. "
        "Secret keys only.",
        parameters=[
            *ADVOCATE_LIST["parameters"],
            OpenApiParameter("program", str, description="A program id."),
            OpenApiParameter("email", str, description="Exact email (case-insensitive)."),
        ],
        responses=error_responses(400) | {200: ADVOCATE_LIST["responses"]},
        examples=[
            ex.response(
                "A page of advocates",
                {"data": [{**ex.ADVOCATE, "stats": ex.STATS}], "next_cursor": None},
                200,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        advocates = advocate_list(
            program=_text_param(request, "program"), email=_text_param(request, "email")
        )
        return Response(paginate(request, advocates, lambda page: _advocates(page, request)))

    @extend_schema(
        operation_id="advocates_create",
        summary="Enrol an advocate",
        description="Enrols the email in an active program and returns the advocate with "
        "its referral code and link (201). Enrolling the same email again returns the same "
        "advocate (200). Secret or publishable key (from an allowed Origin). With a "
        "publishable key the answer is a `PublicAdvocate`: the code and links only, never the "
        "advocate's name, email, customer id or locale (anyone can send any email with a "
        "publishable key). Another merchant's program is 404." + BODY_NOTE,
        request=AdvocateInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 404, 413, idempotent=True)
        | {200: ADVOCATE_ENROLMENT, 201: ADVOCATE_ENROLMENT},
        examples=[
            ex.request(
                "Enrol",
                {"program": ex.ADVOCATE["program"], "email": "maria@example.com", "name": "Maria"},
            ),
            ex.response("Advocate", ex.ADVOCATE, 200, 201),
            ex.response(
                "Invalid", ex.error("email", "'maria@' is not a valid email address."), 400
            ),
            ex.not_found("program"),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, AdvocateInputSerializer)
        program_id = data.get("program")
        if not isinstance(program_id, str) or not program_id:
            raise SpecError({"program": "The id of a program is required."})
        program = Program.objects.filter(public_id=program_id).first()  # the key's merchant only
        if program is None:
            raise NotFound("No such program.")
        enrolment = services.advocate_enroll(
            program=program,
            email=data.get("email"),
            name=data.get("name", ""),
            customer_id=data.get("customer_id", ""),
            locale=data.get("locale"),
            # hosted's consumer of `advocate.created` sends the welcome email for this origin
            origin="api",
        )
        serializer = AdvocateOutputSerializer if _secret_key(request) else PublicAdvocateSerializer
        return Response(
            serializer(instance=enrolment.advocate, context={"request": request}).data,
            status=status.HTTP_201_CREATED if enrolment.created else status.HTTP_200_OK,
        )


class AdvocateDetailApi(TrackingApiView):
    @extend_schema(
        operation_id="advocates_retrieve",
        summary="Retrieve an advocate",
        description="With stats: clicks, referrals and attributed conversions.",
        responses=error_responses(404) | {200: AdvocateDetailSerializer},
        examples=[
            ex.response("Advocate", {**ex.ADVOCATE, "stats": ex.STATS}, 200),
            ex.not_found("advocate"),
        ],
    )
    def get(self, request: Request, advocate_id: str) -> Response:
        advocate = None if "\x00" in advocate_id else advocate_get(advocate_id)
        if advocate is None:
            raise NotFound("No such advocate.")
        return Response(
            AdvocateDetailSerializer(instance=advocate, context={"request": request}).data
        )


# --- Clicks and referrals --------------------------------------------------------------------


class ClickApi(TrackingApiView):
    publishable_methods = frozenset({"POST"})
    cors_enabled = True

    @extend_schema(
        operation_id="clicks_create",
        summary="Record a click",
        description="A visit through an advocate's link. The IP address is never stored, only "
        "a keyed hash and its truncated prefix. Secret or publishable key." + BODY_NOTE,
        request=ClickInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 413, idempotent=True) | {201: ClickOutputSerializer},
        examples=[
            ex.request(
                "Click",
                {"code": "MARIA-7KQ2XP", "landing_url": "https://shop.example.com/?ref=MARIA"},
            ),
            ex.response("Click", ex.CLICK, 201),
            ex.response("Invalid", ex.error("code", "No advocate has this referral code."), 400),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, ClickInputSerializer)
        click = services.click_record(
            code=data.get("code"),
            landing_url=data.get("landing_url", ""),
            visitor_id=data.get("visitor_id", ""),
            ip=client_ip(request._request),
            user_agent=request.headers.get("User-Agent", ""),
            referer=request.headers.get("Referer", ""),
        )
        return Response(ClickOutputSerializer(instance=click).data, status=status.HTTP_201_CREATED)


class ReferralApi(TrackingApiView):
    publishable_methods = frozenset({"POST"})
    cors_enabled = True

    @extend_schema(
        operation_id="referrals_create",
        summary="Record a referral",
        description="Ties a friend (by email) to the advocate of `code` or `click_id` (201). "
        "The first referrer of a friend in a program wins: telling us again, even about "
        "another advocate, returns the first referral unchanged (200). Secret or publishable "
        "key; with a publishable key the answer is a `PublicReferral` (its id only: not who "
        "referred the friend, nor what was reported about them). In a two-sided program "
        "the answer carries `friend_reward`: the friend's own reward, issued at once through "
        "its fulfilment method, with its `fulfilment.code` (the same one however often, or "
        "however concurrently, the same friend asks: one per program and normalised email); "
        "or null, and `friend_reward_reason` says why (self-referral, a throwaway address, "
        "velocity, an existing customer of a new-customers-only program; `held` when it is "
        "checked first)." + BODY_NOTE,
        request=ReferralWithOfferInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 413, idempotent=True)
        | {200: REFERRAL_WITH_OFFER, 201: REFERRAL_WITH_OFFER},
        examples=[
            ex.request("By click", {"click_id": ex.CLICK["id"], "email": "luca@example.com"}),
            ex.request("By code", {"code": "MARIA-7KQ2XP", "email": "luca@example.com"}),
            ex.response("Referral", ex.REFERRAL, 200, 201),
            ex.response("Invalid", ex.error("email", "An advocate cannot refer themselves."), 400),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, ReferralWithOfferInputSerializer)
        result = services.referral_record(
            code=data.get("code"),
            click_id=data.get("click_id"),
            email=data.get("email"),
            customer_id=data.get("customer_id", ""),
            name=data.get("name", ""),
        )
        locale = data.get("locale")
        if locale is not None and locale not in result.referral.program.locales:
            raise invalid("Must be one of the program's locales.", "locale")
        # The friend's own reward, issued now (or the one issued before): tracking.offers.
        # The velocity per IP counts browsers (publishable key), not the shop's server.
        answer = offers.offer_issue(
            referral=result.referral,
            email=result.referral.email,
            ip_hash="" if _secret_key(request) else services.ip_hash(client_ip(request)),
            locale=locale or "",
        )
        serializer = (
            ReferralWithOfferSerializer
            if _secret_key(request)
            else PublicReferralWithOfferSerializer
        )
        return Response(
            serializer(instance=result.referral, context={"offer": answer}).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


# --- Refunds (conversions are served by rewards.api.conversions) ----------------------------


def _get_conversion(conversion_id: str) -> Conversion:
    # The key's merchant only. (PostgreSQL cannot compare text with a NUL: not found.)
    conversion = None if "\x00" in conversion_id else conversion_get(conversion_id)
    if conversion is None:
        raise NotFound("No such conversion.")
    return conversion


class RefundApi(TrackingApiView):
    @extend_schema(
        operation_id="conversions_refund",
        summary="Refund a conversion",
        description="Refunds `amount` (omitted: all that remains) of the order; the "
        "conversion's `refunded_amount` grows, and its status becomes `refunded` once the "
        "whole amount is refunded. Refunds never exceed the order, also concurrently (400 on "
        "`amount`). The same `external_id` reported again returns the same refund." + BODY_NOTE,
        request=RefundInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        # 200: the same `external_id` reported again returns the first refund.
        responses=error_responses(400, 404, 413, idempotent=True)
        | {200: RefundOutputSerializer, 201: RefundOutputSerializer},
        examples=[
            ex.request("Partial", {"amount": 2000, "external_id": "re_3PqX"}),
            ex.request("Full", {}),
            ex.response("Refund", ex.REFUND, 201),
            ex.response(
                "Too much",
                ex.error("amount", "At most 6900 can still be refunded on this order."),
                400,
            ),
            ex.not_found("conversion"),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request, conversion_id: str) -> Response:
        conversion = _get_conversion(conversion_id)
        data = self.body(request, RefundInputSerializer)
        result = services.refund_record(
            conversion=conversion,
            amount=data.get("amount"),
            external_id=data.get("external_id", ""),
        )
        return Response(
            RefundOutputSerializer(instance=result.refund).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
