from django.urls import path

from billing import views

BILLING = "m/<slug:merchant_slug>/billing/"

urlpatterns = [
    path("hooks/billing/stripe/", views.billing_stripe_hook, name="billing_stripe_hook"),
    path(BILLING, views.billing_overview, name="billing_overview"),
    path(f"{BILLING}checkout/", views.billing_checkout, name="billing_checkout"),
    path(f"{BILLING}portal/", views.billing_portal, name="billing_portal"),
    path(f"{BILLING}invoices/", views.billing_invoices, name="billing_invoices"),
    path(f"{BILLING}banners/", views.billing_banners, name="billing_banners"),
]
