"""The API base class: authenticates the key, then runs the handler inside its merchant, with
the per-key rate limit and `Idempotency-Key` handling every endpoint gets."""

from __future__ import annotations

from contextvars import Token
from typing import TYPE_CHECKING, Any

from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import idempotency
from accounts.services import audit_actor_activate, audit_actor_deactivate
from referral_saas import tenancy
from referral_saas.api.errors import ApiError
from referral_saas.api.idempotency_store import PendingClaim
from referral_saas.api.livemode import mark_livemode
from referral_saas.api.permissions import api_key_of
from referral_saas.api.ratelimit import Counted, RateLimit, rate_limit_check, rate_limit_count
from referral_saas.api.requests import query_params_check

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from accounts.models import Merchant


def body_too_large(limit: int) -> ApiError:
    return ApiError(
        status_code=413,
        type="invalid_request_error",
        code="payload_too_large",
        message=f"The request body is larger than {limit} bytes.",
    )


class MerchantAPIView(APIView):
    """Every `/api/v1/` view derives from this. The merchant comes only from the API key.

    After authentication: the key's rate limit (429 beyond it), then for POST the
    `Idempotency-Key` claim (replay, 409 or 422 without running the handler); the response is
    stored under the key in `finalize_response`.
    """

    _merchant_token: Token[Merchant | None] | None = None
    _actor_token: Token[str] | None = None
    _rate_limit: RateLimit | None = None
    _idempotency_claim: idempotency.HeldClaim | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Refused before anything reads the body. DRF parses an unread body straight from the
        # stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check: only this one applies then.
        length = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and (not length.isdigit() or int(length) > limit):
            raise body_too_large(limit)
        # The `Idempotency-Key` claim rides in the rate limit's Redis round trip, made during
        # authentication for a cached key: prepared now, a bad header answered where it always
        # was (after authentication, permissions and the rate limit).
        pending, bad_header = None, None
        if request.method == "POST":
            try:
                pending = idempotency.idempotency_pending(request._request)
            except ApiError as error:
                bad_header = error
        request._request.api_idempotency_pending = pending  # type: ignore[attr-defined]
        try:
            counted = self._checks(request, pending, *args, **kwargs)
        except BaseException:
            # Refused after Redis took the claim, before the handler: never replay a refusal.
            made = getattr(request._request, "api_rate_counted", None)
            if made is not None and made.claim is not None and made.claim.kind == "claimed":
                idempotency.idempotency_release(made.claim)
            raise
        if bad_header is not None:
            raise bad_header
        if pending is not None:
            self._idempotency_claim = idempotency.idempotency_begin(
                merchant_id=api_key_of(request).merchant_id,
                pending=pending,
                outcome=None if counted is None else counted.claim,
            )

    def _checks(
        self, request: Request, pending: PendingClaim | None, *args: Any, **kwargs: Any
    ) -> Counted | None:
        """Authentication, permissions, the merchant, the rate limit (counted with the claim of
        `pending` when the key lookup did not count it) and the query; the count."""
        super().initial(request, *args, **kwargs)  # authentication + permissions + throttles
        if any("\x00" in str(value) for value in kwargs.values()):
            # No id contains NUL, and PostgreSQL would refuse the lookup (a 500): not found.
            raise NotFound("No such object.")
        key = api_key_of(request)
        self._merchant_token = tenancy.activate(key.merchant)
        # Audit events written during this request name the key that acted.
        self._actor_token = audit_actor_activate(f"API key {key.masked}")
        # Counted already when the key came from the cache (one Redis round trip for both).
        counted: Counted | None = getattr(request._request, "api_rate_counted", None)
        if counted is None:
            counted = rate_limit_count(key, claim=pending)
            request._request.api_rate_counted = counted  # type: ignore[attr-defined]
        self._rate_limit = rate_limit_check(key, counted)
        query_params_check(request)  # bodies are checked by the parser, when a view reads one
        return counted

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._rate_limit is not None:
            for name, value in self._rate_limit.headers().items():
                response.headers.setdefault(name, value)
        if self._merchant_token is not None and isinstance(response.data, dict | list):
            mark_livemode(response.data, tenancy.get_current_merchant().livemode)
        claim, self._idempotency_claim = self._idempotency_claim, None
        if claim is not None:
            idempotency.idempotency_finish(claim, response)
        return response

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._idempotency_claim is not None:
                # An exception escaped DRF's handler: free the key so the client can retry.
                idempotency.idempotency_release(self._idempotency_claim)
                self._idempotency_claim = None
            self._rate_limit = None
            if self._actor_token is not None:
                audit_actor_deactivate(self._actor_token)
                self._actor_token = None
            if self._merchant_token is not None:
                tenancy.deactivate(self._merchant_token)
                self._merchant_token = None

    @property
    def merchant(self) -> Merchant:
        return tenancy.get_current_merchant()
