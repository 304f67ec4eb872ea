from django.contrib import admin

from referral_saas.admin import ReadOnlyTenantModelAdmin
from tracking.models import Advocate, Click


@admin.register(Advocate)
class AdvocateAdmin(ReadOnlyTenantModelAdmin):
    list_display = ("code", "email", "merchant", "program", "created_at")
    search_fields = ("code", "email", "merchant__slug")


@admin.register(Click)
class ClickAdmin(ReadOnlyTenantModelAdmin):
    list_display = ("public_id", "merchant", "advocate", "ip_prefix", "created_at")
    search_fields = ("public_id", "merchant__slug")
