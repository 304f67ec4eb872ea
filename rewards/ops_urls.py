"""Dashboard routes for the review queue, conversions and rewards. Parameter names the
cross-tenant test fills by name: merchant_slug, conversion_id (Conversion.public_id),
reward_id (Reward.public_id)."""

from django.urls import path

from rewards import review_views, reward_views

urlpatterns = [
    path("m/<slug:merchant_slug>/review/", review_views.review_queue, name="review_queue"),
    path("m/<slug:merchant_slug>/review/decide/", review_views.review_decide, name="review_decide"),
    path("m/<slug:merchant_slug>/review/what-if/", review_views.what_if_report, name="what_if"),
    path("m/<slug:merchant_slug>/conversions/", review_views.conversion_list, name="conversions"),
    path(
        "m/<slug:merchant_slug>/conversions/<str:conversion_id>/",
        review_views.conversion_detail,
        name="conversion_detail",
    ),
    path("m/<slug:merchant_slug>/rewards/", reward_views.reward_list, name="rewards"),
    path(
        "m/<slug:merchant_slug>/rewards/manual-payouts.csv",
        reward_views.reward_payout_export,
        name="reward_payout_export",
    ),
    path(
        "m/<slug:merchant_slug>/rewards/<str:reward_id>/",
        reward_views.reward_detail,
        name="reward_detail",
    ),
    path(
        "m/<slug:merchant_slug>/rewards/<str:reward_id>/approve/",
        reward_views.reward_approve,
        name="reward_approve",
    ),
    path(
        "m/<slug:merchant_slug>/rewards/<str:reward_id>/reject/",
        reward_views.reward_reject,
        name="reward_reject",
    ),
    path(
        "m/<slug:merchant_slug>/rewards/<str:reward_id>/fulfil/",
        reward_views.reward_fulfil,
        name="reward_fulfil",
    ),
    path(
        "m/<slug:merchant_slug>/rewards/<str:reward_id>/void/",
        reward_views.reward_void,
        name="reward_void",
    ),
    path(
        "m/<slug:merchant_slug>/rewards/<str:reward_id>/retry/",
        reward_views.reward_retry,
        name="reward_retry",
    ),
]
