from django.urls import path

from accounts import language, testmode_views, views

# Under /m/ the only parameter names are merchant_slug, key_id (ApiKey.public_id),
# member_id (Membership.pk) and invitation_id (Invitation.public_id): the cross-tenant test
# fills them by name.
urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard_home, name="dashboard_home"),
    path("account/language/", language.language_set, name="language_set"),
    path("merchants/new/", views.merchant_create, name="merchant_create"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path(
        "invitations/pending/<str:invitation_id>/accept/",
        views.invitation_accept_pending,
        name="invitation_accept_pending",
    ),
    path("m/<slug:merchant_slug>/team/", views.team, name="team"),
    path("m/<slug:merchant_slug>/team/invite/", views.team_invite, name="team_invite"),
    path(
        "m/<slug:merchant_slug>/team/members/<int:member_id>/role/",
        views.member_change_role,
        name="member_change_role",
    ),
    path(
        "m/<slug:merchant_slug>/team/members/<int:member_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "m/<slug:merchant_slug>/team/invitations/<str:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("m/<slug:merchant_slug>/api-keys/", views.api_keys, name="api_keys"),
    path(
        "m/<slug:merchant_slug>/test-mode/",
        testmode_views.test_mode_switch,
        name="test_mode_switch",
    ),
    path("m/<slug:merchant_slug>/test-data/", testmode_views.test_data, name="test_data"),
    path("m/<slug:merchant_slug>/api-keys/new/", views.api_key_create, name="api_key_create"),
    path(
        "m/<slug:merchant_slug>/api-keys/<str:key_id>/revoke/",
        views.api_key_revoke,
        name="api_key_revoke",
    ),
    path(
        "m/<slug:merchant_slug>/api-keys/<str:key_id>/roll/",
        views.api_key_roll,
        name="api_key_roll",
    ),
    path("m/<slug:merchant_slug>/audit/", views.audit_log, name="audit_log"),
    path("m/<slug:merchant_slug>/settings/", views.merchant_settings, name="merchant_settings"),
    path(
        "m/<slug:merchant_slug>/settings/profile/",
        views.merchant_profile_update,
        name="merchant_profile_update",
    ),
    path(
        "m/<slug:merchant_slug>/settings/security/",
        views.merchant_security_update,
        name="merchant_security_update",
    ),
]
