"""The API base class: authenticates the key, then runs the handler inside its merchant."""

from __future__ import annotations

from contextvars import Token
from typing import TYPE_CHECKING, Any

from rest_framework.request import Request
from rest_framework.views import APIView

from referral_saas import tenancy
from referral_saas.api.permissions import api_key_of

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from accounts.models import Merchant


class MerchantAPIView(APIView):
    """Every `/api/v1/` view derives from this. The merchant comes only from the API key."""

    _merchant_token: Token[Merchant | None] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication + permissions + throttles
        self._merchant_token = tenancy.activate(api_key_of(request).merchant)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._merchant_token is not None:
                tenancy.deactivate(self._merchant_token)
                self._merchant_token = None

    @property
    def merchant(self) -> Merchant:
        return tenancy.get_current_merchant()
