"""Reads behind the programs API: a page of programs with their current configuration and copy,
fetched in two queries for the whole page (not two per program)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db.models import Q, QuerySet

from programs.models import Program, ProgramCopy, ProgramVersion
from programs.selectors import program_list
from programs.services import copy_texts, program_config
from programs.specs import ProgramConfig


@dataclass(frozen=True)
class ProgramRecord:
    """A program as the API shows it: its row, its current configuration, its copy by locale."""

    program: Program
    config: ProgramConfig
    copy: dict[str, dict[str, str]]

    @property
    def object_name(self) -> str:
        return "program"

    @cached_property
    def configuration(self) -> dict[str, Any]:
        """The public JSON shape of the configuration (rewards, tiers, rules, fraud, variants)."""
        return self.config.to_dict()


def program_list_filtered(*, status: str | None, program_type: str | None) -> QuerySet[Program]:
    programs = program_list()
    if status is not None:
        programs = programs.filter(status=status)
    if program_type is not None:
        programs = programs.filter(type=program_type)
    return programs


def program_records(programs: Sequence[Program]) -> list[ProgramRecord]:
    """Attach the current version and the copy to each program: one query for the versions of
    the whole page and one for its copy."""
    if not programs:
        return []
    current = Q()
    for program in programs:
        current |= Q(program_id=program.pk, number=program.version)
    versions = {version.program_id: version for version in ProgramVersion.objects.filter(current)}
    copies: dict[int, dict[str, dict[str, str]]] = defaultdict(dict)
    rows = ProgramCopy.objects.filter(program_id__in=[program.pk for program in programs])
    for row in rows.order_by("locale"):
        copies[row.program_id][row.locale] = copy_texts(row)
    return [
        ProgramRecord(
            program=program,
            config=program_config(program, versions[program.pk]),
            copy=copies[program.pk],
        )
        for program in programs
    ]
