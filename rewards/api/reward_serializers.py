"""The reward resource (DESIGN.md §3), shared by the rewards API and the conversion resource
(which lists its rewards), so it depends on neither's views."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from programs.api.serializers import FulfilmentMethodField, NamedEnumField, RewardKindField
from rewards.models import Reward, RewardRecipient, RewardStatus


class RewardObjectField(NamedEnumField):
    enum_name = "RewardObjectEnum"
    values = ("reward",)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> str:
        return self.values[0]


class RewardStatusField(NamedEnumField):
    enum_name = "RewardStatusEnum"
    values = tuple(RewardStatus.values)


class RewardRecipientField(NamedEnumField):
    enum_name = "RewardRecipientEnum"
    values = tuple(RewardRecipient.values)


class RewardReasonSerializer(serializers.Serializer[dict[str, Any]]):
    rule = serializers.CharField()
    outcome = serializers.CharField()
    detail = serializers.CharField()


class RewardFulfilmentSerializer(serializers.Serializer[Reward]):
    method = FulfilmentMethodField(source="fulfilment_method")
    code = serializers.CharField(
        source="fulfilment_code", required=False, help_text="The code delivered, once known."
    )
    external_id = serializers.CharField(
        source="fulfilment_external_id",
        required=False,
        help_text="Your id for the delivery (given when you confirm it), once known.",
    )

    def to_representation(self, instance: Reward) -> dict[str, Any]:
        data = super().to_representation(instance)
        return {key: value for key, value in data.items() if key == "method" or value}


@extend_schema_serializer(component_name="Reward")
class RewardOutputSerializer(serializers.Serializer[Reward]):
    id = serializers.CharField(source="public_id")
    object = RewardObjectField()
    recipient = RewardRecipientField()
    advocate = serializers.CharField(source="advocate.public_id")
    conversion = serializers.CharField(
        source="conversion.public_id",
        allow_null=True,
        help_text="The order it was earned by (null for a friend's offer not redeemed yet).",
    )
    tier = serializers.IntegerField(help_text="0 unless the program has tiers.")
    kind = RewardKindField()
    amount = serializers.IntegerField(
        allow_null=True, help_text="Minor units, for money kinds; else null."
    )
    percent = serializers.IntegerField(
        allow_null=True, help_text="For percent discounts; else null."
    )
    points = serializers.IntegerField(allow_null=True, help_text="For points; else null.")
    label = serializers.CharField(help_text="What it is, for products and donations.")  # type: ignore[assignment]
    currency = serializers.CharField(allow_null=True)
    status = RewardStatusField()
    available_at = serializers.DateTimeField(
        allow_null=True, help_text="When the hold ends (pending rewards)."
    )
    fulfilment = RewardFulfilmentSerializer(source="*")
    reasons = RewardReasonSerializer(many=True)
    created_at = serializers.DateTimeField()
    issued_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Reward) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["currency"] = data["currency"] or None
        return data
