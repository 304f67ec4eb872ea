"""`/api/v1/rewards`: list and retrieve rewards, and the merchant's manual transitions
(approve, reject, confirm fulfilment). Secret keys only.

Each handler checks the body's shape (known fields only, at most 64 KB, as the tracking API),
calls one `rewards.services` transition and serialises. A transition the reward's status does
not allow is a 400 on `status` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.requests import choice_param
from referral_saas.api.schema import IDEMPOTENCY_KEY, error_responses
from rewards import services
from rewards.api.reward_serializers import RewardOutputSerializer
from rewards.models import Reward, RewardRecipient, RewardStatus
from rewards.selectors import reward_get, reward_list
from tracking.api import examples as ex
from tracking.api.views import BODY_NOTE, TrackingApiView, _text_param

REWARD_LIST = list_schema(RewardOutputSerializer, "RewardList")
REWARD: dict[str, Any] = {
    "id": "rwd_8sLq2XzT5mNc7VbWr3Kp",
    "object": "reward",
    "recipient": "advocate",
    "advocate": ex.ADVOCATE["id"],
    "conversion": ex.CONVERSION["id"],
    "tier": 0,
    "kind": "account_credit",
    "amount": 1000,
    "percent": None,
    "points": None,
    "label": "",
    "currency": "EUR",
    "status": "pending",
    "available_at": "2026-12-22T10:30:04.000000Z",
    "fulfilment": {"method": "webhook"},
    "reasons": [],
    "created_at": "2026-11-22T10:30:04.000000Z",
    "issued_at": None,
}
APPROVED = {
    **REWARD,
    "status": "approved",
    "reasons": [{"rule": "manual", "outcome": "approved", "detail": "Approved by the merchant."}],
}


class RejectInputSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(
        required=False, max_length=200, help_text="Why, kept in the reward's reasons."
    )


class FulfilInputSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField(required=False, max_length=200, help_text="The code delivered.")
    external_id = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Your id for the delivery: confirming again with it changes nothing (200).",
    )


class EmptyInputSerializer(serializers.Serializer[dict[str, Any]]):
    pass


def _rewards(rewards: Sequence[Reward]) -> list[dict[str, Any]]:
    serializer = RewardOutputSerializer(instance=rewards, many=True)  # type: ignore[arg-type]
    return list(serializer.data)


def _get_reward(reward_id: str) -> Reward:
    reward = reward_get(reward_id)  # the key's merchant only
    if reward is None:
        raise NotFound("No such reward.")
    return reward


def _reward(reward: Reward) -> Response:
    return Response(RewardOutputSerializer(instance=reward).data)


def _status_error(verb: str) -> Any:
    return ex.response(
        "Not allowed in this status",
        ex.error("status", f"A rejected reward cannot be {verb}."),
        400,
    )


class RewardListApi(TrackingApiView):
    @extend_schema(
        operation_id="rewards_list",
        summary="List rewards",
        description="Newest first. Filter by `status`, `recipient`, `advocate` (id) and "
        "`conversion` (id).",
        parameters=[
            *REWARD_LIST["parameters"],
            OpenApiParameter("status", str, enum=RewardStatus.values),
            OpenApiParameter("recipient", str, enum=RewardRecipient.values),
            OpenApiParameter("advocate", str, description="An advocate id."),
            OpenApiParameter("conversion", str, description="A conversion id."),
        ],
        responses=error_responses(400) | {200: REWARD_LIST["responses"]},
        examples=[ex.response("A page of rewards", {"data": [REWARD], "next_cursor": None}, 200)],
    )
    def get(self, request: Request) -> Response:
        rewards = reward_list(
            status=choice_param(request, "status", RewardStatus.values),
            recipient=choice_param(request, "recipient", RewardRecipient.values),
            advocate=_text_param(request, "advocate"),
            conversion=_text_param(request, "conversion"),
        )
        return Response(paginate(request, rewards, _rewards))


class RewardDetailApi(TrackingApiView):
    @extend_schema(
        operation_id="rewards_retrieve",
        summary="Retrieve a reward",
        responses=error_responses(404) | {200: RewardOutputSerializer},
        examples=[ex.response("Reward", REWARD, 200), ex.not_found("reward")],
    )
    def get(self, request: Request, reward_id: str) -> Response:
        return _reward(_get_reward(reward_id))


class RewardApproveApi(TrackingApiView):
    @extend_schema(
        operation_id="rewards_approve",
        summary="Approve a reward",
        description="A `pending` reward (before its hold ends) or a `held` one (fraud review) "
        "becomes `approved`. Any other status: 400 on `status`, nothing changes." + BODY_NOTE,
        request=EmptyInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 404, 413, idempotent=True) | {200: RewardOutputSerializer},
        examples=[
            ex.response("Approved", APPROVED, 200),
            _status_error("approved"),
            ex.not_found("reward"),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request, reward_id: str) -> Response:
        reward = _get_reward(reward_id)  # before the body: "not yours" answers as absent
        self.body(request, EmptyInputSerializer)
        return _reward(services.reward_approve(reward=reward, request=request._request))


class RewardRejectApi(TrackingApiView):
    @extend_schema(
        operation_id="rewards_reject",
        summary="Reject a reward",
        description="A `pending` or `held` reward becomes `rejected`, with your `reason` in "
        "its reasons. Any other status: 400 on `status`, nothing changes." + BODY_NOTE,
        request=RejectInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 404, 413, idempotent=True) | {200: RewardOutputSerializer},
        examples=[
            ex.request("With a reason", {"reason": "Same household as the advocate."}),
            ex.response(
                "Rejected",
                {
                    **REWARD,
                    "status": "rejected",
                    "reasons": [
                        {
                            "rule": "manual",
                            "outcome": "rejected",
                            "detail": "Same household as the advocate.",
                        }
                    ],
                },
                200,
            ),
            _status_error("rejected"),
            ex.not_found("reward"),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request, reward_id: str) -> Response:
        reward = _get_reward(reward_id)
        data = self.body(request, RejectInputSerializer)
        return _reward(
            services.reward_reject(
                reward=reward, reason=data.get("reason"), request=request._request
            )
        )


class RewardFulfilApi(TrackingApiView):
    @extend_schema(
        operation_id="rewards_fulfil",
        summary="Confirm a reward's fulfilment",
        description="For rewards you deliver yourself (fulfilment method `webhook` or "
        "`manual`): an `approved` reward becomes `issued`, with the `code` and your "
        "`external_id` for the delivery. Confirming again with the same `external_id` "
        "returns the reward unchanged (200). Other methods: 400 on `fulfilment`; other "
        "statuses: 400 on `status`." + BODY_NOTE,
        request=FulfilInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 404, 413, idempotent=True) | {200: RewardOutputSerializer},
        examples=[
            ex.request("Delivered", {"external_id": "credit_8812"}),
            ex.response(
                "Issued",
                {
                    **APPROVED,
                    "status": "issued",
                    "fulfilment": {"method": "webhook", "external_id": "credit_8812"},
                    "issued_at": "2026-12-22T11:00:00.000000Z",
                },
                200,
            ),
            _status_error("fulfilled"),
            ex.not_found("reward"),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request, reward_id: str) -> Response:
        reward = _get_reward(reward_id)
        data = self.body(request, FulfilInputSerializer)
        fulfilled, _changed = services.reward_fulfil(
            reward=reward,
            code=data.get("code"),
            external_id=data.get("external_id"),
            request=request._request,
        )
        return Response(RewardOutputSerializer(instance=fulfilled).data, status=status.HTTP_200_OK)
