"""The API base class: authenticates the key, then runs the handler inside its merchant."""

from __future__ import annotations

from contextvars import Token
from typing import TYPE_CHECKING, Any

from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.services import audit_actor_activate, audit_actor_deactivate
from referral_saas import tenancy
from referral_saas.api.permissions import api_key_of

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from accounts.models import Merchant


class MerchantAPIView(APIView):
    """Every `/api/v1/` view derives from this. The merchant comes only from the API key."""

    _merchant_token: Token[Merchant | None] | None = None
    _actor_token: Token[str] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication + permissions + throttles
        key = api_key_of(request)
        self._merchant_token = tenancy.activate(key.merchant)
        # Audit events written during this request name the key that acted.
        self._actor_token = audit_actor_activate(f"API key {key.masked}")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._actor_token is not None:
                audit_actor_deactivate(self._actor_token)
                self._actor_token = None
            if self._merchant_token is not None:
                tenancy.deactivate(self._merchant_token)
                self._merchant_token = None

    @property
    def merchant(self) -> Merchant:
        return tenancy.get_current_merchant()
