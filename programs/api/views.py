"""`/api/v1/programs`: list, create, retrieve, update, and the lifecycle actions (activate,
pause, archive, duplicate). Each handler parses, calls one service and serialises; the services
validate the body and name every field at fault (`programs.specs.SpecError`), which is answered
as a 400 in the error envelope with an added `errors` list of every problem."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import MerchantAPIView
from programs import services
from programs.api import examples
from programs.api.selectors import program_list_filtered, program_records
from programs.api.serializers import ProgramInputSerializer, ProgramOutputSerializer
from programs.models import Program, ProgramStatus, ProgramType
from programs.selectors import program_get
from programs.specs import SpecError, collect_warnings
from referral_saas.api.errors import validation_error_body
from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.requests import choice_param, json_object_body
from referral_saas.api.schema import IDEMPOTENCY_KEY, error_responses

LIST_SCHEMA = list_schema(ProgramOutputSerializer, "ProgramList")
ERRORS = error_responses(400, 404)


def spec_error_response(error: SpecError) -> Response:
    """The envelope with the first problem, plus every problem in `errors`."""
    problems: list[dict[str, Any]] = [
        {"param": path, "message": message, "code": "invalid"}
        for path, message in error.errors.items()
    ] or [{"param": None, "message": str(error), "code": "invalid"}]
    return Response(validation_error_body(problems), status=status.HTTP_400_BAD_REQUEST)


class ProgramApiView(MerchantAPIView):
    """Answers `SpecError` from the services as a 400 naming the field path."""

    warnings: list[dict[str, str]] | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # What the services fix up rather than refuse (HTML removed from copy) is returned in
        # the written program's `warnings`, not done silently.
        with collect_warnings() as self.warnings:
            return super().dispatch(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, SpecError):
            return spec_error_response(exc)
        return super().handle_exception(exc)

    def serialize(self, programs: Sequence[Program]) -> list[dict[str, Any]]:
        serializer = ProgramOutputSerializer(
            instance=program_records(programs),  # type: ignore[arg-type]
            many=True,
            context={"merchant_slug": self.merchant.slug, "warnings": self.warnings or []},
        )
        return list(serializer.data)

    def render_one(self, program: Program, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(self.serialize([program])[0], status=status_code)

    def get_program(self, program_id: str) -> Program:
        # Scoped to the key's merchant: another merchant's id is "not found" like a missing one.
        program = program_get(program_id)
        if program is None:
            raise NotFound("No such program.")
        return program

    @staticmethod
    def http_request(request: Request) -> HttpRequest:
        return request._request  # the audit log reads the client address from it


class ProgramListApi(ProgramApiView):
    @extend_schema(
        operation_id="programs_list",
        summary="List programs",
        description="Newest first. Filter by `status` and `type`.",
        parameters=[
            *LIST_SCHEMA["parameters"],
            OpenApiParameter("status", str, enum=ProgramStatus.values),
            OpenApiParameter("type", str, enum=ProgramType.values),
        ],
        responses=error_responses(400) | {200: LIST_SCHEMA["responses"]},
        examples=[
            OpenApiExample(
                "A page of programs",
                value={"data": [examples.PROGRAM], "next_cursor": None},
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request: Request) -> Response:
        programs = program_list_filtered(
            status=choice_param(request, "status", ProgramStatus.values),
            program_type=choice_param(request, "type", ProgramType.values),
        )
        return Response(paginate(request, programs, self.serialize))

    @extend_schema(
        operation_id="programs_create",
        summary="Create a program",
        description="Creates a draft (version 1). Every invalid field is listed in "
        "`error.errors`; `error.param` names the first.",
        request=ProgramInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, idempotent=True) | {201: ProgramOutputSerializer},
        examples=[
            OpenApiExample("Two-sided", value=examples.CREATE_TWO_SIDED, request_only=True),
            OpenApiExample("Tiered", value=examples.CREATE_TIERED, request_only=True),
            examples.program_example(201),
            *examples.error_examples(validation=examples.VALIDATION_ERROR)[1:],
        ],
    )
    def post(self, request: Request) -> Response:
        program = services.program_create_with_status(
            actor=None, data=json_object_body(request), request=self.http_request(request)
        )
        return self.render_one(program, status.HTTP_201_CREATED)


class ProgramDetailApi(ProgramApiView):
    @extend_schema(
        operation_id="programs_retrieve",
        summary="Retrieve a program",
        responses=error_responses(404) | {200: ProgramOutputSerializer},
        examples=[examples.program_example(200), *examples.error_examples()],
    )
    def get(self, request: Request, program_id: str) -> Response:
        return self.render_one(self.get_program(program_id))

    @extend_schema(
        operation_id="programs_update",
        summary="Update a program",
        description="Partial update. Rewards, tiers and variants are replaced whole; rules and "
        "fraud merge key by key. Changing the configuration (rewards, tiers, rules, fraud, "
        "variants) of a program that has been live adds a version: earlier conversions keep "
        "the version they were judged by. `type` and `currency` are fixed once live. "
        "`status` (`active`, `paused`, `archived`) performs the same lifecycle transition as "
        "`/activate`, `/pause` and `/archive`, with the same checks and errors; it is applied "
        "after the other fields, and if it is refused nothing changes.",
        request=ProgramInputSerializer,
        responses=ERRORS | {200: ProgramOutputSerializer},
        examples=[
            OpenApiExample(
                "Change the hold period", value=examples.UPDATE_RULES, request_only=True
            ),
            OpenApiExample("Rename", value=examples.UPDATE_NAME, request_only=True),
            examples.program_example(200, status="active", version=2),
            *examples.error_examples(validation=examples.VALIDATION_ERROR),
        ],
    )
    def patch(self, request: Request, program_id: str) -> Response:
        program = services.program_update_with_status(
            actor=None,
            program=self.get_program(program_id),
            data=json_object_body(request),
            request=self.http_request(request),
        )
        return self.render_one(program)


def _transition_schema(verb: str, description: str, result: str) -> Any:
    return extend_schema(
        operation_id=f"programs_{verb}",
        summary=f"{verb.capitalize()} a program",
        description=description,
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 404, idempotent=True) | {200: ProgramOutputSerializer},
        examples=[
            examples.program_example(200, status=result),
            *examples.error_examples(validation=examples.TRANSITION_ERROR),
        ],
    )


class ProgramActivateApi(ProgramApiView):
    @_transition_schema(
        "activate", "From draft or paused. Refused if the end date has passed.", "active"
    )
    def post(self, request: Request, program_id: str) -> Response:
        program = services.program_activate(
            actor=None, program=self.get_program(program_id), request=self.http_request(request)
        )
        return self.render_one(program)


class ProgramPauseApi(ProgramApiView):
    @_transition_schema("pause", "From active: new referrals stop being rewarded.", "paused")
    def post(self, request: Request, program_id: str) -> Response:
        program = services.program_pause(
            actor=None, program=self.get_program(program_id), request=self.http_request(request)
        )
        return self.render_one(program)


class ProgramArchiveApi(ProgramApiView):
    @_transition_schema("archive", "From any status but archived; final.", "archived")
    def post(self, request: Request, program_id: str) -> Response:
        program = services.program_archive(
            actor=None, program=self.get_program(program_id), request=self.http_request(request)
        )
        return self.render_one(program)


class ProgramDuplicateApi(ProgramApiView):
    @extend_schema(
        operation_id="programs_duplicate",
        summary="Duplicate a program",
        description="A new draft (version 1) with the same settings, copy and current "
        "configuration; code pools are not copied.",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(404, idempotent=True) | {201: ProgramOutputSerializer},
        examples=[
            examples.program_example(
                201, name="Give 10, get 10 (copy)", slug="give-10-copy", status="draft"
            ),
            *examples.error_examples(),
        ],
    )
    def post(self, request: Request, program_id: str) -> Response:
        program = services.program_duplicate(
            actor=None, program=self.get_program(program_id), request=self.http_request(request)
        )
        return self.render_one(program, status.HTTP_201_CREATED)
