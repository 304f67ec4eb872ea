from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Merchant, User
from referral_saas.admin import ReadOnlyTenantModelAdmin, TenantModelAdmin


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "is_active", "is_staff", "date_joined", "last_login")
    search_fields = ("email",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "public_id", "require_owner_mfa", "created_at")
    search_fields = ("name", "slug", "public_id")
    readonly_fields = ("public_id", "created_at")
    exclude = ("stripe_webhook_secret",)  # a credential: set by the owner, never displayed


@admin.register(Membership)
class MembershipAdmin(TenantModelAdmin):
    list_display = ("user", "merchant", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "merchant__slug")
    raw_id_fields = ("user", "merchant")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyTenantModelAdmin):
    list_display = (
        "email",
        "merchant",
        "role",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    search_fields = ("email", "merchant__slug")
    exclude = ("token_hash",)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyTenantModelAdmin):
    list_display = (
        "masked",
        "merchant",
        "kind",
        "name",
        "created_at",
        "last_used_at",
        "revoked_at",
        "expires_at",
    )
    list_filter = ("kind",)
    search_fields = ("merchant__slug", "name", "last4")
    exclude = ("key_hash",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyTenantModelAdmin):
    list_display = ("created_at", "merchant", "action", "actor_label", "target_type", "target_id")
    list_filter = ("action",)
    search_fields = ("merchant__slug", "actor_label", "target_id")
