"""`/api/v1/` tracking endpoints: advocates, clicks, referrals, conversions and refunds.

Each handler checks the body's shape (a JSON object of known fields, at most 64 KB), calls one
`tracking.services` function and serialises. The services validate every value and name the
field at fault (`SpecError`), answered as a 400 in the error envelope like the programs API.
Advocate enrolment, clicks and referrals also accept publishable keys from the browser (with
CORS, see `referral_saas.api.cors`); everything else needs a secret key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from programs.api.views import spec_error_response
from programs.models import Program
from programs.specs import SpecError
from referral_saas.api.cors import allow_origin
from referral_saas.api.errors import ApiError
from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.permissions import SecretKeyOnly, SecretOrPublishableKey
from referral_saas.api.requests import choice_param, invalid, json_object_body
from referral_saas.api.schema import IDEMPOTENCY_KEY, error_responses
from referral_saas.api.views import MerchantAPIView
from referral_saas.privacy import client_ip
from tracking import services
from tracking.api import examples as ex
from tracking.api.selectors import advocate_get, advocate_list, conversion_get, conversion_list
from tracking.api.serializers import (
    AdvocateDetailSerializer,
    AdvocateInputSerializer,
    AdvocateOutputSerializer,
    ClickInputSerializer,
    ClickOutputSerializer,
    ConversionInputSerializer,
    ConversionOutputSerializer,
    PublicAdvocateSerializer,
    PublicReferralSerializer,
    ReferralInputSerializer,
    ReferralOutputSerializer,
    RefundInputSerializer,
    RefundOutputSerializer,
)
from tracking.models import Advocate, Conversion, ConversionStatus

MAX_BODY_BYTES = 64 * 1024
BODY_NOTE = (
    " Unknown fields are refused (400 naming the field); a body over 64 KB is refused with 413."
)
ADVOCATE_LIST = list_schema(AdvocateDetailSerializer, "AdvocateList")
CONVERSION_LIST = list_schema(ConversionOutputSerializer, "ConversionList")


# What each key kind reads back (docs/ARCHITECTURE.md, "API keys"): one of two shapes, told
# apart by `additionalProperties: false` on the public one.
ADVOCATE_ENROLMENT = PolymorphicProxySerializer(
    component_name="AdvocateEnrolment",
    serializers=[AdvocateOutputSerializer, PublicAdvocateSerializer],
    resource_type_field_name=None,
)
REFERRAL_RECORDED = PolymorphicProxySerializer(
    component_name="ReferralRecorded",
    serializers=[ReferralOutputSerializer, PublicReferralSerializer],
    resource_type_field_name=None,
)


def _secret_key(request: Request) -> bool:
    return getattr(request.auth, "kind", None) == "secret"


def _text_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise invalid(f"{name} cannot contain NUL characters.", name)
    return value


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
    def body(request: Request, fields: set[str]) -> dict[str, Any]:
        data = json_object_body(request)
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
        data = self.body(request, {"program", "email", "name", "customer_id", "locale"})
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
        data = self.body(request, {"code", "landing_url", "visitor_id"})
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
        "referred the friend, nor what was reported about them)." + BODY_NOTE,
        request=ReferralInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 413, idempotent=True)
        | {200: REFERRAL_RECORDED, 201: REFERRAL_RECORDED},
        examples=[
            ex.request("By click", {"click_id": ex.CLICK["id"], "email": "luca@example.com"}),
            ex.request("By code", {"code": "MARIA-7KQ2XP", "email": "luca@example.com"}),
            ex.response("Referral", ex.REFERRAL, 200, 201),
            ex.response("Invalid", ex.error("email", "An advocate cannot refer themselves."), 400),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, {"code", "click_id", "email", "customer_id", "name"})
        result = services.referral_record(
            code=data.get("code"),
            click_id=data.get("click_id"),
            email=data.get("email"),
            customer_id=data.get("customer_id", ""),
            name=data.get("name", ""),
        )
        serializer = ReferralOutputSerializer if _secret_key(request) else PublicReferralSerializer
        return Response(
            serializer(instance=result.referral).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


# --- Conversions and refunds -----------------------------------------------------------------


def _conversions(conversions: Sequence[Conversion]) -> list[dict[str, Any]]:
    serializer = ConversionOutputSerializer(instance=conversions, many=True)  # type: ignore[arg-type]
    return list(serializer.data)


def _get_conversion(conversion_id: str) -> Conversion:
    # The key's merchant only. (PostgreSQL cannot compare text with a NUL: not found.)
    conversion = None if "\x00" in conversion_id else conversion_get(conversion_id)
    if conversion is None:
        raise NotFound("No such conversion.")
    return conversion


CONVERSION_FIELDS = {
    "order_id",
    "amount",
    "currency",
    "customer",
    "code",
    "click_id",
    "occurred_at",
    "new_customer",
    "metadata",
    "visitor_id",
    "ip",
    "user_agent",
    "country",
    "payment_fingerprint",
}


class ConversionListApi(TrackingApiView):
    @extend_schema(
        operation_id="conversions_list",
        summary="List conversions",
        description="Newest first. Filter by `status` and `program` (id).",
        parameters=[
            *CONVERSION_LIST["parameters"],
            OpenApiParameter("status", str, enum=ConversionStatus.values),
            OpenApiParameter("program", str, description="A program id."),
        ],
        responses=error_responses(400) | {200: CONVERSION_LIST["responses"]},
        examples=[
            ex.response("A page of conversions", {"data": [ex.EVALUATED], "next_cursor": None}, 200)
        ],
    )
    def get(self, request: Request) -> Response:
        conversions = conversion_list(
            status=choice_param(request, "status", ConversionStatus.values),
            program=_text_param(request, "program"),
        )
        return Response(paginate(request, conversions, _conversions))

    @extend_schema(
        operation_id="conversions_create",
        summary="Report a conversion",
        description="Stores the order as `received` and answers 202 at once; attribution and "
        "the decision follow asynchronously (see GET). Idempotent by `order_id`: posting the "
        "same order again, or concurrently, returns the first conversion with 200 and never "
        "a second reward. Secret keys only." + BODY_NOTE,
        request=ConversionInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 413, idempotent=True)
        | {
            200: ConversionOutputSerializer,
            202: inline_serializer(
                name="ConversionReceived",
                fields={
                    "id": serializers.CharField(),
                    "object": serializers.CharField(default="conversion"),
                    "order_id": serializers.CharField(),
                    "status": serializers.CharField(default="received"),
                    "created_at": serializers.DateTimeField(),
                },
            ),
        },
        examples=[
            ex.request(
                "Order",
                {
                    "order_id": "ORD-10045",
                    "amount": 8900,
                    "currency": "EUR",
                    "customer": {"email": "luca@example.com", "id": "cus_2210", "name": "Luca"},
                    "code": "MARIA-7KQ2XP",
                    "new_customer": True,
                },
            ),
            ex.response(
                "Received",
                {
                    "id": ex.CONVERSION["id"],
                    "object": "conversion",
                    "order_id": ex.CONVERSION["order_id"],
                    "status": "received",
                    "created_at": ex.CONVERSION["created_at"],
                },
                202,
            ),
            ex.response("Already received", ex.CONVERSION, 200),
            ex.response(
                "Invalid", ex.error("customer.email", "'luca@' is not a valid email address."), 400
            ),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, CONVERSION_FIELDS)
        result = services.conversion_record(
            order_id=data.get("order_id"),
            amount=data.get("amount"),
            currency=data.get("currency"),
            customer=data.get("customer"),
            code=data.get("code"),
            click_id=data.get("click_id"),
            occurred_at=data.get("occurred_at"),
            new_customer=data.get("new_customer"),
            metadata=data.get("metadata"),
            visitor_id=data.get("visitor_id"),
            ip=data.get("ip"),
            user_agent=data.get("user_agent"),
            country=data.get("country"),
            payment_fingerprint=data.get("payment_fingerprint"),
        )
        conversion = result.conversion
        if result.created:
            # The hot path: the contract's small acknowledgement, built without a serializer
            # (the full resource costs ~1 ms of CPU per request; GET it when needed).
            return Response(
                {
                    "id": conversion.public_id,
                    "object": "conversion",
                    "order_id": conversion.order_id,
                    "status": conversion.status,
                    "created_at": conversion.created_at,
                },
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(ConversionOutputSerializer(instance=conversion).data)


class ConversionDetailApi(TrackingApiView):
    @extend_schema(
        operation_id="conversions_retrieve",
        summary="Retrieve a conversion",
        description="With its status, decision reasons and the rewards created for it (one per "
        "recipient and tier).",
        responses=error_responses(404) | {200: ConversionOutputSerializer},
        examples=[ex.response("Evaluated", ex.EVALUATED, 200), ex.not_found("conversion")],
    )
    def get(self, request: Request, conversion_id: str) -> Response:
        return Response(ConversionOutputSerializer(instance=_get_conversion(conversion_id)).data)


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
        data = self.body(request, {"amount", "external_id"})
        result = services.refund_record(
            conversion=conversion,
            amount=data.get("amount"),
            external_id=data.get("external_id", ""),
        )
        return Response(
            RefundOutputSerializer(instance=result.refund).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
