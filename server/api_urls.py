"""`/api/v1/` routes. Each app contributes its views here."""

from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.api.test_data import TestDataApi
from accounts.api.views import MerchantApi
from payouts.api.views import PayoutDetailApi, PayoutListApi, PayoutMarkPaidApi
from programs.api.views import (
    ProgramActivateApi,
    ProgramArchiveApi,
    ProgramDetailApi,
    ProgramDuplicateApi,
    ProgramListApi,
    ProgramPauseApi,
)
from rewards.api.conversions import ConversionDetailApi, ConversionListApi
from rewards.api.rewards import (
    RewardApproveApi,
    RewardDetailApi,
    RewardFulfilApi,
    RewardListApi,
    RewardRejectApi,
)
from tracking.api.privacy import PrivacyEraseApi, PrivacyExportApi
from tracking.api.views import (
    AdvocateDetailApi,
    AdvocateListApi,
    ClickApi,
    ReferralApi,
    RefundApi,
)
from webhooks.api.deliveries import WebhookDeliveryListApi
from webhooks.api.views import (
    WebhookEndpointDetailApi,
    WebhookEndpointListApi,
    WebhookEndpointRotateSecretApi,
)

# Swagger UI injects <style> elements; allow inline styles on the docs page only.
docs_view = csp_update({"style-src": ["'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(
        url_name="api_schema", authentication_classes=[], permission_classes=[]
    )
)

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api_schema",
    ),
    path("docs/", docs_view, name="api_docs"),
    path("merchant", MerchantApi.as_view(), name="api_merchant"),
    path("test-data", TestDataApi.as_view(), name="api_test_data"),
    path("programs", ProgramListApi.as_view(), name="api_programs"),
    path("programs/<str:program_id>", ProgramDetailApi.as_view(), name="api_program"),
    path(
        "programs/<str:program_id>/activate",
        ProgramActivateApi.as_view(),
        name="api_program_activate",
    ),
    path("programs/<str:program_id>/pause", ProgramPauseApi.as_view(), name="api_program_pause"),
    path(
        "programs/<str:program_id>/archive",
        ProgramArchiveApi.as_view(),
        name="api_program_archive",
    ),
    path(
        "programs/<str:program_id>/duplicate",
        ProgramDuplicateApi.as_view(),
        name="api_program_duplicate",
    ),
    path("advocates", AdvocateListApi.as_view(), name="api_advocates"),
    path("advocates/<str:advocate_id>", AdvocateDetailApi.as_view(), name="api_advocate"),
    path("clicks", ClickApi.as_view(), name="api_clicks"),
    path("referrals", ReferralApi.as_view(), name="api_referrals"),
    path("conversions", ConversionListApi.as_view(), name="api_conversions"),
    path("conversions/<str:conversion_id>", ConversionDetailApi.as_view(), name="api_conversion"),
    path(
        "conversions/<str:conversion_id>/refunds",
        RefundApi.as_view(),
        name="api_conversion_refunds",
    ),
    path("rewards", RewardListApi.as_view(), name="api_rewards"),
    path("rewards/<str:reward_id>", RewardDetailApi.as_view(), name="api_reward"),
    path("rewards/<str:reward_id>/approve", RewardApproveApi.as_view(), name="api_reward_approve"),
    path("rewards/<str:reward_id>/reject", RewardRejectApi.as_view(), name="api_reward_reject"),
    path("rewards/<str:reward_id>/fulfil", RewardFulfilApi.as_view(), name="api_reward_fulfil"),
    path("payouts", PayoutListApi.as_view(), name="api_payouts"),
    path("payouts/<str:payout_id>", PayoutDetailApi.as_view(), name="api_payout"),
    path(
        "payouts/<str:payout_id>/mark-paid",
        PayoutMarkPaidApi.as_view(),
        name="api_payout_mark_paid",
    ),
    path("webhook-endpoints", WebhookEndpointListApi.as_view(), name="api_webhook_endpoints"),
    path(
        "webhook-endpoints/<str:endpoint_id>",
        WebhookEndpointDetailApi.as_view(),
        name="api_webhook_endpoint",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret",
        WebhookEndpointRotateSecretApi.as_view(),
        name="api_webhook_endpoint_rotate_secret",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/deliveries",
        WebhookDeliveryListApi.as_view(),
        name="api_webhook_endpoint_deliveries",
    ),
    path("privacy/export", PrivacyExportApi.as_view(), name="api_privacy_export"),
    path("privacy/erase", PrivacyEraseApi.as_view(), name="api_privacy_erase"),
]
