"""Operator admin for tenant-owned models: the operator sees every merchant's rows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest


class TenantModelAdmin(admin.ModelAdmin):
    """Admin is the platform operator's tool, outside any merchant: it reads across tenants
    through the deliberately named unscoped manager."""

    list_select_related = ("merchant",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = self.model.unscoped_all_merchants.get_queryset()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset


class ReadOnlyTenantModelAdmin(TenantModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
