"""Pagination that never counts: dashboard lists over tables with millions of rows.

Django's `Paginator` runs `COUNT(*)` over the whole filtered set on every page, which grows
with the merchant's history. Here a page fetches one row more than it shows (`LIMIT n+1`) to
know whether there is a next page, so a page costs one indexed query however big the table.
Pages are numbered (offset), which is fine for the first few hundred pages people click
through; exports are the way to read everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet

T = TypeVar("T")
MAX_PAGE = 10_000


@dataclass(frozen=True)
class BoundedPage(Generic[T]):
    rows: list[T]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def previous_number(self) -> int:
        return self.number - 1


def page_number(value: Any) -> int:
    """The requested page, forgiving: junk or out-of-range values mean the first/last page."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), MAX_PAGE)


def bounded_page(queryset: QuerySet[Any], *, number: int, size: int) -> BoundedPage[Any]:
    start = (number - 1) * size
    rows = list(queryset[start : start + size + 1])
    return BoundedPage(rows=rows[:size], number=number, has_next=len(rows) > size)
