"""Hot queries compiled once per process: the SQL of a queryset whose shape never changes, run
again with new values.

Compiling a queryset to SQL costs Django about 15 µs per selected column on every call: for the
referral link's lookup (an advocate joined to its program and merchant, ~60 columns) that is
~0.7 ms of CPU, more than PostgreSQL spends answering it. A `PreparedQuery` builds its queryset
once per database connection alias with marker values in place of its arguments, keeps the SQL
and the compiler, and on each call executes the SQL with the arguments where the markers were,
then turns the rows into instances exactly as Django's `ModelIterable` does (the same converters,
the same `select_related` population).

Only arguments that reach the SQL unchanged can be prepared (equality lookups); a lookup that
rewrites its value (`contains` wraps it in `%`) is refused when the query is first compiled.
The queryset is built with no current merchant, so a tenant-scoped manager raises instead of
baking one merchant's id into the SQL: prepared queries use the unscoped manager and say why.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models.query import get_related_populators

from referral_saas import tenancy

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # For each SQL parameter: the index of the call's argument, or None for a constant.
    slots: tuple[int | None, ...]
    constants: tuple[Any, ...]
    compiler: Any
    model: type[models.Model]
    fields_start: int
    fields_end: int
    init_list: tuple[str, ...]
    populators: tuple[Any, ...]


class PreparedQuery(Generic[M]):
    def __init__(self, build: Callable[..., models.QuerySet[M]], *, arguments: int) -> None:
        self._build = build
        self._arguments = arguments
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, using: str) -> _Compiled:
        markers = [f"prepared-{index}-{secrets.token_hex(8)}" for index in range(self._arguments)]
        token = tenancy._current_merchant.set(None)
        try:
            queryset = self._build(*markers)
        finally:
            tenancy._current_merchant.reset(token)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots = tuple(markers.index(p) if p in markers else None for p in params)
        missing = set(range(self._arguments)) - set(slots)
        if missing:
            raise ValueError(f"arguments {sorted(missing)} do not reach the SQL unchanged")
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Compiled(
            sql=sql,
            slots=slots,
            constants=tuple(params),
            compiler=compiler,
            model=klass_info["model"],
            fields_start=start,
            fields_end=end,
            init_list=tuple(column[0].target.attname for column in select[start:end]),
            populators=tuple(get_related_populators(klass_info, select, using)),  # type: ignore[call-arg]
        )

    def __call__(self, *arguments: Any, using: str = "default") -> list[M]:
        """The instances the queryset would return for `arguments`."""
        compiled = self._compiled.get(using)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(using) or self._compile(using)
                self._compiled[using] = compiled
        params = [
            arguments[slot] if slot is not None else constant
            for slot, constant in zip(compiled.slots, compiled.constants, strict=True)
        ]
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        instances: list[M] = []
        start, end = compiled.fields_start, compiled.fields_end
        for row in compiled.compiler.results_iter([rows]):
            instance = compiled.model.from_db(using, compiled.init_list, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, instance)
            instances.append(instance)  # type: ignore[arg-type]
        return instances
