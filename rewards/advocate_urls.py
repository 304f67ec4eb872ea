"""Dashboard routes for advocates and CSV exports. Parameter names the cross-tenant test fills
by name: merchant_slug, advocate_id (Advocate.public_id)."""

from django.urls import path

from rewards import advocate_views, exports, test_conversions

urlpatterns = [
    path(
        "m/<slug:merchant_slug>/test-data/conversion/",
        test_conversions.test_conversion_create,
        name="test_conversion_create",
    ),
    path("m/<slug:merchant_slug>/advocates/", advocate_views.advocate_list, name="advocates"),
    path(
        "m/<slug:merchant_slug>/advocates/leaderboard/",
        advocate_views.advocate_leaderboard,
        name="advocate_leaderboard",
    ),
    path(
        "m/<slug:merchant_slug>/advocates/<str:advocate_id>/",
        advocate_views.advocate_detail,
        name="advocate_detail",
    ),
    path(
        "m/<slug:merchant_slug>/advocates/<str:advocate_id>/block/",
        advocate_views.advocate_block_view,
        name="advocate_block",
    ),
    path(
        "m/<slug:merchant_slug>/advocates/<str:advocate_id>/unblock/",
        advocate_views.advocate_unblock_view,
        name="advocate_unblock",
    ),
    path("m/<slug:merchant_slug>/exports/", exports.exports_index, name="exports"),
    path(
        "m/<slug:merchant_slug>/exports/advocates.csv",
        exports.export_advocates,
        name="export_advocates",
    ),
    path(
        "m/<slug:merchant_slug>/exports/referrals.csv",
        exports.export_referrals,
        name="export_referrals",
    ),
    path(
        "m/<slug:merchant_slug>/exports/conversions.csv",
        exports.export_conversions,
        name="export_conversions",
    ),
    path(
        "m/<slug:merchant_slug>/exports/rewards.csv",
        exports.export_rewards,
        name="export_rewards",
    ),
]
