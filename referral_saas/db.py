"""The one place where SQL differs between PostgreSQL (production, CI) and SQLite (the embedded
default of `make run`). Everything else writes portable ORM or SQL and calls these.

- `JsonArrayAppend(field, items)`: append to a JSON array column inside an UPDATE (no read).
  PostgreSQL `field || '[...]'::jsonb`; SQLite `json_insert(field, '$[#]', json(?))` per item.
- `xact_lock(key)`: a lock held until the transaction ends. PostgreSQL takes an advisory lock
  on the key; SQLite needs none, because every transaction there begins `IMMEDIATE` (see
  settings) and so already holds the database's single write lock until it ends.
- `JsonArrayContains(field, value)`: a JSON array column holds `value` (PostgreSQL `@>`, which
  its GIN indexes serve; SQLite `json_each`).
- `skip_locked()`: the `FOR UPDATE SKIP LOCKED` suffix of a raw claim query; empty on SQLite,
  where the transaction's write lock already keeps two claimers apart.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models import BooleanField, F, Func
from django.db.models.fields.json import JSONField


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


class _VendorFunc(Func):
    """An expression written only for the two databases we run on (`as_postgresql`,
    `as_sqlite`): any other vendor is refused rather than given the wrong SQL."""

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        raise NotImplementedError(f"{type(self).__name__} has no SQL for {connection.vendor}")


class JsonArrayAppend(_VendorFunc):
    """`<field>` with `items` appended, computed by the database in the UPDATE itself."""

    output_field = JSONField()

    def __init__(self, field: str, items: list[Any]) -> None:
        super().__init__(F(field))
        self.items = list(items)

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        column_sql, params = compiler.compile(self.source_expressions[0])
        return f"({column_sql} || %s::jsonb)", [*params, json.dumps(self.items)]

    def as_sqlite(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        column_sql, params = compiler.compile(self.source_expressions[0])
        sql, all_params = f"coalesce({column_sql}, '[]')", list(params)
        for item in self.items:
            sql = f"json_insert({sql}, '$[#]', json(%s))"
            all_params.append(json.dumps(item))
        return sql, all_params


class JsonArrayContains(_VendorFunc):
    """True where the JSON array `<field>` has `value` among its elements."""

    output_field = BooleanField()

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(F(field))
        self.value = value

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        column_sql, params = compiler.compile(self.source_expressions[0])
        return f"({column_sql} @> %s::jsonb)", [*params, json.dumps([self.value])]

    def as_sqlite(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        column_sql, params = compiler.compile(self.source_expressions[0])
        # column_sql is the compiled column reference, never user input.
        sql = f"EXISTS (SELECT 1 FROM json_each({column_sql}) WHERE json_each.value = %s)"  # noqa: S608
        return sql, [*params, self.value]


def xact_lock(key: str) -> None:
    """Hold a lock on `key` until the current transaction ends (call inside `atomic`)."""
    if not is_postgresql():
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def xact_lock_id(key: int) -> None:
    """`xact_lock` for a numeric key (a 64-bit signed integer)."""
    if not is_postgresql():
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def skip_locked() -> str:
    """The row-lock suffix of a raw `SELECT` that claims rows."""
    return "FOR UPDATE SKIP LOCKED" if is_postgresql() else ""


__all__ = [
    "JsonArrayAppend",
    "JsonArrayContains",
    "is_postgresql",
    "skip_locked",
    "xact_lock",
    "xact_lock_id",
]
