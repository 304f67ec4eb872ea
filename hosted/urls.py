"""Hosted advocate and friend pages. Included at the root before programs.urls."""

from django.urls import path

from hosted.views import (
    consent,
    dashboard,
    email_templates,
    held_emails,
    join,
    landing,
    portal,
    referral,
)

LANDING = "p/<slug:merchant_slug>/<slug:program_slug>/"

PROGRAM = "m/<slug:merchant_slug>/programs/<str:program_id>/"

urlpatterns = [
    path("m/<slug:merchant_slug>/test-emails/", held_emails.held_emails, name="held_emails"),
    path(LANDING, landing.program_landing, name="program_landing"),
    path(f"{LANDING}brand.css", landing.program_brand_css, name="program_brand_css"),
    path(f"{LANDING}logo", landing.program_logo, name="program_logo"),
    path(f"{PROGRAM}preview/", landing.program_preview, name="program_preview"),
    path(f"{PROGRAM}preview/brand.css", landing.program_preview_css, name="program_preview_css"),
    path("r/<str:code>", referral.referral, name="hosted_referral"),
    path("r/<str:code>/claim", referral.claim, name="hosted_claim"),
    path("r/<str:code>/qr.svg", referral.qr_svg, name="hosted_qr_svg"),
    path("r/<str:code>/qr.png", referral.qr_png, name="hosted_qr_png"),
    path(f"{LANDING}join", join.join, name="hosted_join"),
    path(f"{LANDING}link", join.resend, name="hosted_resend"),
    path(f"{LANDING}welcome/<str:token>", join.welcome, name="hosted_welcome"),
    path(f"{LANDING}share-<str:locale>.png", referral.share_image, name="hosted_share_image"),
    path("portal/<str:token>/", portal.portal, name="hosted_portal"),
    path("portal/<str:token>/invite", portal.invite, name="hosted_invite"),
    path("portal/<str:token>/new-link", portal.new_link, name="hosted_portal_new_link"),
    path("consent", consent.consent, name="hosted_consent"),
    path("opt-out/<str:token>", consent.opt_out, name="hosted_opt_out"),
    # The merchant's switches; parameter names as tests/test_outsider.py fills them.
    path(
        "m/<slug:merchant_slug>/programs/<str:program_id>/hosted/",
        dashboard.program_hosted_settings,
        name="program_hosted_settings",
    ),
    # Kind and locale travel as query strings (`?kind=welcome&locale=it`).
    path(
        "m/<slug:merchant_slug>/programs/<str:program_id>/emails/",
        email_templates.program_email_templates,
        name="program_email_templates",
    ),
    path(
        "m/<slug:merchant_slug>/programs/<str:program_id>/emails/preview/",
        email_templates.program_email_preview,
        name="program_email_preview",
    ),
]
