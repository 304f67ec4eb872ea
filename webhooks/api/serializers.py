"""Serializers of the webhook-endpoint API. Input is validated by `webhooks.services` (naming the
field at fault), so the input serializers only document request bodies for OpenAPI."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from programs.api.serializers import NamedEnumField
from webhooks.models import WEBHOOK_EVENTS, WebhookEndpoint
from webhooks.services import MAX_GRACE_HOURS


class WebhookEndpointObjectField(NamedEnumField):
    enum_name = "WebhookEndpointObjectEnum"
    values = ("webhook_endpoint",)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> str:
        return self.values[0]


class WebhookEventField(NamedEnumField):
    enum_name = "WebhookEventEnum"
    values = WEBHOOK_EVENTS


class WebhookEndpointInputSerializer(serializers.Serializer[dict[str, Any]]):
    url = serializers.CharField(
        max_length=2000,
        help_text="https only. Hosts resolving to private, loopback or link-local addresses "
        "are refused.",
    )
    events = serializers.ListField(
        child=WebhookEventField(),
        required=False,
        help_text="The event types to send; empty or omitted: every event.",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


class RotateSecretInputSerializer(serializers.Serializer[dict[str, Any]]):
    grace_hours = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_GRACE_HOURS,
        help_text="How long the old secret keeps signing too (default 24; 0: not at all).",
    )


@extend_schema_serializer(component_name="WebhookEndpoint")
class WebhookEndpointOutputSerializer(serializers.Serializer[WebhookEndpoint]):
    id = serializers.CharField(source="public_id")
    object = WebhookEndpointObjectField()
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(
        child=WebhookEventField(), help_text="Subscribed event types; empty: every event."
    )
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField(
        help_text="Why we stopped sending (e.g. failing for days); empty while enabled."
    )
    secret_prefix = serializers.CharField(
        help_text="The start of the signing secret: the secret itself is shown only once."
    )
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="After a rotation, until when deliveries are signed with the old secret too.",
    )
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="WebhookEndpointWithSecret")
class WebhookEndpointWithSecretSerializer(WebhookEndpointOutputSerializer):
    """As created or rotated: the only responses that carry the whole secret."""

    secret = serializers.CharField(
        help_text="`whsec_…` (Standard Webhooks). Shown only in this response: store it now."
    )
