"""Which kinds of API key an endpoint accepts.

Secret keys (`sk_…`) may do everything; publishable keys (`pk_…`) only what an endpoint opts into,
and only from the key's allowed browser origins (checked at authentication).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:
    from accounts.models import ApiKey


def api_key_of(request: Request) -> ApiKey:
    """The authenticated key (set by `accounts.api_auth.ApiKeyAuthentication`)."""
    return cast("ApiKey", request.auth)


class _KeyKinds(BasePermission):
    kinds: frozenset[str] = frozenset()
    message = "This API key cannot be used for this request."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.auth is None:
            return False
        key = api_key_of(request)
        if key.kind not in self.kinds:
            self.message = (
                "Publishable keys cannot be used for this endpoint; use a secret key from "
                "your server."
                if key.kind == "publishable"
                else self.message
            )
            return False
        return True


class SecretKeyOnly(_KeyKinds):
    kinds = frozenset({"secret"})


class SecretOrPublishableKey(_KeyKinds):
    kinds = frozenset({"secret", "publishable"})
