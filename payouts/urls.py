"""Dashboard routes of payouts. Parameter names the cross-tenant test fills by name:
merchant_slug, payout_id (Payout.public_id), batch_id (PayoutBatch.public_id), program_id."""

from django.urls import path

from payouts import connect_views, portal, views

urlpatterns = [
    path("m/<slug:merchant_slug>/payouts/", views.payouts_page, name="payouts"),
    path("m/<slug:merchant_slug>/payouts/run/", views.payouts_run_view, name="payouts_run"),
    path(
        "m/<slug:merchant_slug>/payouts/settings/",
        views.payout_settings_update,
        name="payout_settings",
    ),
    path(
        "m/<slug:merchant_slug>/payouts/sepa/",
        views.sepa_file_create_view,
        name="payout_sepa_create",
    ),
    path(
        "m/<slug:merchant_slug>/payouts/files/<str:batch_id>/pain.xml",
        views.sepa_file_download,
        {"kind": "xml"},
        name="payout_sepa_xml",
    ),
    path(
        "m/<slug:merchant_slug>/payouts/files/<str:batch_id>/payouts.csv",
        views.sepa_file_download,
        {"kind": "csv"},
        name="payout_sepa_csv",
    ),
    path(
        "m/<slug:merchant_slug>/payouts/minimum/<str:program_id>/",
        views.program_minimum_update,
        name="payout_minimum",
    ),
    path(
        "m/<slug:merchant_slug>/payouts/<str:payout_id>/mark-paid/",
        views.payout_mark_paid_view,
        name="payout_mark_paid",
    ),
    path(
        "m/<slug:merchant_slug>/settings/stripe/connect/",
        connect_views.stripe_connect_start,
        name="stripe_connect",
    ),
    path(
        "m/<slug:merchant_slug>/settings/stripe/disconnect/",
        connect_views.stripe_disconnect,
        name="stripe_disconnect",
    ),
    path(
        "stripe/connect/callback/",
        connect_views.stripe_connect_callback,
        name="stripe_connect_callback",
    ),
    path("portal/<str:token>/payouts/", portal.payout_details_page, name="portal_payouts"),
    path(
        "portal/<str:token>/payouts/stripe/",
        portal.stripe_onboarding_start,
        name="portal_payouts_stripe",
    ),
    path(
        "portal/<str:token>/payouts/stripe/return/",
        portal.stripe_onboarding_return,
        name="portal_payouts_stripe_return",
    ),
]
