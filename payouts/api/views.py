"""`/api/v1/payouts`: list and retrieve payouts, and mark a SEPA or manual payout paid.
Secret keys only. The response shape is the public contract (DESIGN.md §3, "Payouts and
commissions"); it is also the `data` of the payout.* webhook events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from payouts import services
from payouts.models import Payout, PayoutMethod, PayoutStatus
from payouts.selectors import payout_data, payout_get, payout_list, payouts_data
from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.requests import choice_param
from referral_saas.api.schema import IDEMPOTENCY_KEY, error_responses
from tracking.api import examples as ex
from tracking.api.views import BODY_NOTE, TrackingApiView, _text_param


class PayoutOutputSerializer(serializers.Serializer[Payout]):
    """Documents the payout; `selectors.payout_data` writes it."""

    id = serializers.CharField(help_text="`po_…`")
    object = serializers.CharField(help_text="Always `payout`.")
    advocate = serializers.CharField(help_text="The advocate paid (`adv_…`).")
    amount = serializers.IntegerField(
        help_text="Minor units: the rewards earned minus rewards refunded after an earlier "
        "payout (carried over)."
    )
    currency = serializers.CharField()
    method = serializers.ChoiceField(choices=PayoutMethod.values)
    status = serializers.ChoiceField(choices=PayoutStatus.values)
    failure_reason = serializers.CharField(
        allow_null=True, help_text="Why it failed (`failed` only), e.g. PayPal's reason."
    )
    rewards = serializers.ListField(
        child=serializers.CharField(),
        help_text="The rewards it pays (`rwd_…`), and those it deducts.",
    )
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)


class MarkPaidInputSerializer(serializers.Serializer[dict[str, Any]]):
    reference = serializers.CharField(
        required=False,
        max_length=64,
        help_text="Your reference for the payment (the bank's, or the transfer's).",
    )


PAYOUT_LIST = list_schema(PayoutOutputSerializer, "PayoutList")
PAYOUT: dict[str, Any] = {
    "id": "po_3kTq9ZbW2xNc8VmRr5Ls",
    "object": "payout",
    "advocate": ex.ADVOCATE["id"],
    "amount": 4500,
    "currency": "EUR",
    "method": "sepa_credit_transfer",
    "status": "due",
    "failure_reason": None,
    "rewards": ["rwd_8sLq2XzT5mNc7VbWr3Kp", "rwd_2hVn6TqW9pLx4ZcMs7Bd"],
    "created_at": "2026-12-22T10:30:04.000000Z",
    "paid_at": None,
}


def _payouts(payouts: Sequence[Payout]) -> list[dict[str, Any]]:
    return payouts_data(list(payouts))


def _get(payout_id: str) -> Payout:
    payout = payout_get(payout_id)  # the key's merchant only
    if payout is None:
        raise NotFound("No such payout.")
    return payout


class PayoutListApi(TrackingApiView):
    @extend_schema(
        operation_id="payouts_list",
        summary="List payouts",
        description="Newest first. Filter by `status` and `advocate` (id).",
        parameters=[
            *PAYOUT_LIST["parameters"],
            OpenApiParameter("status", str, enum=PayoutStatus.values),
            OpenApiParameter("advocate", str, description="An advocate id."),
        ],
        responses=error_responses(400) | {200: PAYOUT_LIST["responses"]},
        examples=[ex.response("A page of payouts", {"data": [PAYOUT], "next_cursor": None}, 200)],
    )
    def get(self, request: Request) -> Response:
        payouts = payout_list(
            status=choice_param(request, "status", PayoutStatus.values),
            advocate=_text_param(request, "advocate"),
        )
        return Response(paginate(request, payouts, _payouts))


class PayoutDetailApi(TrackingApiView):
    @extend_schema(
        operation_id="payouts_retrieve",
        summary="Retrieve a payout",
        responses=error_responses(404) | {200: PayoutOutputSerializer},
        examples=[ex.response("Payout", PAYOUT, 200), ex.not_found("payout")],
    )
    def get(self, request: Request, payout_id: str) -> Response:
        return Response(payout_data(_get(payout_id)))


class PayoutMarkPaidApi(TrackingApiView):
    @extend_schema(
        operation_id="payouts_mark_paid",
        summary="Mark a payout paid",
        description="For payouts you pay yourself (`sepa_credit_transfer` once the file is "
        "uploaded to your bank, or `manual`): a `due` or `processing` payout becomes `paid` "
        "and its rewards `issued`. Marking a paid payout again returns it unchanged (200). "
        "Stripe and PayPal payouts are confirmed by the provider: 400 on `method`; a failed "
        "payout: 400 on `status`." + BODY_NOTE,
        request=MarkPaidInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 404, 413, idempotent=True) | {200: PayoutOutputSerializer},
        examples=[
            ex.request("With the bank's reference", {"reference": "SEPA-2026-12-22"}),
            ex.response(
                "Paid",
                {**PAYOUT, "status": "paid", "paid_at": "2026-12-23T09:00:00.000000Z"},
                200,
            ),
            ex.response(
                "Paid by its provider",
                ex.error("method", "A paypal payout is marked paid by its provider, not by hand."),
                400,
            ),
            ex.not_found("payout"),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request, payout_id: str) -> Response:
        payout = _get(payout_id)  # before the body: "not yours" answers as absent
        data = self.body(request, MarkPaidInputSerializer)
        reference = data.get("reference") or ""
        if not isinstance(reference, str) or len(reference) > 64:
            raise services.SpecError({"reference": "A string of at most 64 characters."})
        paid = services.payout_mark_paid(
            payout=payout, request=request._request, reference=reference
        )
        return Response(payout_data(paid))
