"""`/api/v1/programs` (read side; the programs issue adds create and update)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from programs.models import Program
from programs.selectors import program_get, program_list
from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.views import MerchantAPIView


class ProgramOutputSerializer(serializers.Serializer[Program]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    slug = serializers.CharField()
    type = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    default_locale = serializers.CharField()
    locales = serializers.ListField(child=serializers.CharField())
    destination_url = serializers.CharField()
    allowed_domains = serializers.ListField(child=serializers.CharField())
    version = serializers.IntegerField()
    landing_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_object(self, program: Program) -> str:
        return "program"

    def get_landing_url(self, program: Program) -> str:
        merchant_slug = self.context["merchant_slug"]
        path = reverse("program_landing", args=[merchant_slug, program.slug])
        return settings.PUBLIC_BASE_URL + path


def _serialize(programs: Sequence[Program], merchant_slug: str) -> list[dict[str, Any]]:
    context = {"merchant_slug": merchant_slug}
    serializer = ProgramOutputSerializer(instance=list(programs), many=True, context=context)  # type: ignore[arg-type]
    return list(serializer.data)


class ProgramListApi(MerchantAPIView):
    @extend_schema(
        operation_id="programs_list", **list_schema(ProgramOutputSerializer, "ProgramList")
    )
    def get(self, request: Request) -> Response:
        page = paginate(request, program_list(), lambda rows: _serialize(rows, self.merchant.slug))
        return Response(page)


class ProgramDetailApi(MerchantAPIView):
    @extend_schema(operation_id="programs_retrieve", responses=ProgramOutputSerializer)
    def get(self, request: Request, program_id: str) -> Response:
        program = program_get(program_id)
        if program is None:
            raise NotFound("No such program.")
        return Response(_serialize([program], self.merchant.slug)[0])
