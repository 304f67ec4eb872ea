"""DRF authentication from `Authorization: Bearer <key>`."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.models import ApiKey, ApiKeyKind
from accounts.services import api_key_lookup


class ApiKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the `ApiKey` (and `request.user` to None: keys are not users).

    Publishable keys are accepted only with an `Origin` header among the key's allowed origins,
    so a key copied out of a storefront page cannot be used from elsewhere in a browser.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, plaintext = header.partition(" ")
        if scheme.lower() != "bearer" or not plaintext.strip():
            raise exceptions.AuthenticationFailed(
                "Send your API key as 'Authorization: Bearer <key>'."
            )
        # A POST's `Idempotency-Key` claim rides in the same Redis round trip as the rate limit
        # (`MerchantAPIView.initial` prepared it).
        claim = getattr(request._request, "api_idempotency_pending", None)
        found = api_key_lookup(plaintext.strip(), claim=claim)
        # The rate limit was counted in the lookup's round trip when the key came from the
        # cache; `MerchantAPIView` judges it after the permissions, as for any request.
        request._request.api_rate_counted = found.counted  # type: ignore[attr-defined]
        key = found.key
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        if key.kind == ApiKeyKind.PUBLISHABLE:
            origin = request.META.get("HTTP_ORIGIN", "").rstrip("/").lower()
            if origin not in key.allowed_origins:
                raise exceptions.PermissionDenied(
                    "This publishable key is not allowed from this origin."
                )
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
