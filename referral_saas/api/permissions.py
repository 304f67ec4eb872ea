"""Which kinds of API key an endpoint accepts.

Secret keys (`sk_…`) may do everything; publishable keys (`pk_…`) only what an endpoint opts into,
and only from the key's allowed browser origins (checked at authentication).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class _KeyKinds(BasePermission):
    kinds: frozenset[str] = frozenset()
    message = "This API key cannot be used for this request."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if key is None:
            return False
        if key.kind not in self.kinds:
            self.message = (
                "Publishable keys cannot be used for this endpoint; use a secret key from "
                "your server." if key.kind == "publishable" else self.message
            )
            return False
        return True


class SecretKeyOnly(_KeyKinds):
    kinds = frozenset({"secret"})


class SecretOrPublishableKey(_KeyKinds):
    kinds = frozenset({"secret", "publishable"})
