from django.contrib import admin

from programs.models import Program
from referral_saas.admin import TenantModelAdmin


@admin.register(Program)
class ProgramAdmin(TenantModelAdmin):
    list_display = ("name", "merchant", "slug", "type", "status", "currency", "created_at")
    list_filter = ("status", "type")
    search_fields = ("name", "slug", "merchant__slug", "public_id")
