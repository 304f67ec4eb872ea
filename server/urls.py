from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults

from referral_saas import health
from referral_saas.api.errors import error_body
from tracking.hooks import stripe_hook

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("server.api_urls")),
    path("hooks/stripe/<str:merchant_id>/", stripe_hook, name="stripe_hook"),
    path("", include("hosted.urls")),
    path("", include("billing.urls")),
    path("", include("programs.urls")),
    path("", include("programs.pool_urls")),
    path("", include("webhooks.urls")),
    path("", include("rewards.ops_urls")),
    path("", include("rewards.advocate_urls")),
    path("", include("payouts.urls")),
    path("", include("retention.urls")),
    path("", include("integrations.urls")),
    path("", include("analytics.urls")),
    path("", include("accounts.urls")),
]


def _api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _api_request(request):
        return JsonResponse(
            error_body(
                type="invalid_request_error", code="resource_missing", message="No such endpoint."
            ),
            status=404,
        )
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _api_request(request):
        return JsonResponse(
            error_body(
                type="api_error", code="internal_error", message="Something went wrong on our side."
            ),
            status=500,
        )
    return defaults.server_error(request)
