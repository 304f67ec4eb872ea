"""The friend's offer in the answer of `POST /api/v1/referrals` (DESIGN.md §3, "Friend
offer"): the referral as before plus `friend_reward` (the friend's own reward with its code,
issued before purchase; null when there is none) and `friend_reward_reason` (why there is no
code to show: `self_referral`, `held`, …; null when the code is there)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from programs.api.serializers import LocaleField
from referral_saas.api.schema import ClosedObjectSerializer
from tracking.api.serializers import (
    PublicReferralSerializer,
    ReferralInputSerializer,
    ReferralOutputSerializer,
)


@extend_schema_serializer(component_name="ReferralInput")
class ReferralWithOfferInputSerializer(ReferralInputSerializer):
    locale = LocaleField(
        required=False, help_text="The friend's language, for the email with their code."
    )


class FriendRewardFulfilmentSerializer(serializers.Serializer[Any]):
    method = serializers.CharField()
    code = serializers.CharField(required=False, help_text="The friend's code, once issued.")


@extend_schema_serializer(component_name="FriendReward")
class FriendRewardSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    object = serializers.CharField(help_text='Always "reward".')
    recipient = serializers.CharField(help_text='Always "friend".')
    kind = serializers.CharField()
    amount = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)
    points = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    status = serializers.CharField(
        help_text="issued (code below), held (checked first), redeemed, expired, …"
    )
    fulfilment = FriendRewardFulfilmentSerializer()
    conversion = serializers.CharField(
        allow_null=True, help_text="The order that spent it (null until then)."
    )
    expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class FriendRewardReasonSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(
        help_text="no_friend_offer, self_referral, disposable_email, velocity, "
        "existing_customer, held, issuing, redeemed, expired, voided"
    )
    message = serializers.CharField(help_text="A sentence the friend can be shown.")


class _WithOffer(serializers.Serializer[Any]):
    friend_reward = serializers.SerializerMethodField()
    friend_reward_reason = serializers.SerializerMethodField()

    @extend_schema_field(FriendRewardSerializer(allow_null=True))
    def get_friend_reward(self, instance: Any) -> dict[str, Any] | None:
        answer = self.context.get("offer")
        return answer.friend_reward if answer is not None else None

    @extend_schema_field(FriendRewardReasonSerializer(allow_null=True))
    def get_friend_reward_reason(self, instance: Any) -> dict[str, str] | None:
        answer = self.context.get("offer")
        return answer.reason if answer is not None else None


@extend_schema_serializer(component_name="Referral")
class ReferralWithOfferSerializer(ReferralOutputSerializer, _WithOffer):
    pass


@extend_schema_serializer(component_name="PublicReferral")
class PublicReferralWithOfferSerializer(
    PublicReferralSerializer, _WithOffer, ClosedObjectSerializer
):
    pass
