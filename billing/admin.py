from django.contrib import admin

from billing.models import BillingEvent, Subscription
from referral_saas.admin import TenantModelAdmin


@admin.register(Subscription)
class SubscriptionAdmin(TenantModelAdmin):
    list_display = ("merchant", "plan", "status", "grace_period_ends_at", "current_period_end")
    list_filter = ("plan", "status")
    search_fields = ("merchant__name", "merchant__slug", "stripe_customer_id")
    # The plan follows Stripe: edits here would be overwritten by the next webhook.
    readonly_fields = (
        "stripe_customer_id",
        "stripe_subscription_id",
        "stripe_subscription_created",
        "stripe_price_id",
        "synced_at",
    )


@admin.register(BillingEvent)
class BillingEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "type", "outcome", "merchant_public_id", "received_at")
    list_filter = ("type", "outcome")
    search_fields = ("event_id", "stripe_customer_id", "merchant_public_id")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
