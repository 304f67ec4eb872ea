from django.contrib import admin

from hosted.models import CodeAlias, ConsentRecord, FriendOptOut, HostedSettings, SentEmail
from referral_saas.admin import TenantModelAdmin


@admin.register(HostedSettings)
class HostedSettingsAdmin(TenantModelAdmin):
    list_display = ("program", "merchant", "friend_emails_enabled", "friend_email_capture")
    list_filter = ("friend_emails_enabled", "friend_email_capture")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(TenantModelAdmin):
    list_display = ("created_at", "merchant", "program", "choice", "text_version", "locale")
    list_filter = ("choice", "text_version")
    readonly_fields = [f.name for f in ConsentRecord._meta.fields]


@admin.register(FriendOptOut)
class FriendOptOutAdmin(TenantModelAdmin):
    list_display = ("email", "merchant", "created_at")
    search_fields = ("email",)


@admin.register(SentEmail)
class SentEmailAdmin(TenantModelAdmin):
    list_display = ("key", "kind", "status", "merchant", "created_at", "sent_at")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in SentEmail._meta.fields]


@admin.register(CodeAlias)
class CodeAliasAdmin(TenantModelAdmin):
    list_display = ("code", "advocate", "merchant", "created_at")
    search_fields = ("code",)
