from __future__ import annotations

from django.db.models import QuerySet

from programs.models import Program


def program_list() -> QuerySet[Program]:
    return Program.objects.all()


def program_get(public_id: str) -> Program | None:
    return Program.objects.filter(public_id=public_id).first()
