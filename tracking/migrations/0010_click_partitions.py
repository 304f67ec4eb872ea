"""Clicks partitioned by month on PostgreSQL (issue 19: the table that grows without bound).

On PostgreSQL `tracking_click` becomes a table partitioned by range of `created_at`, one
partition per calendar month (UTC) plus a DEFAULT partition, so inserts never fail for want of
a partition; `tracking.partitions` keeps months ahead created and retention drops whole months.
SQLite keeps one plain table: only the Django operations below apply there.

A partitioned table's primary key and unique constraints must include the partition key, so:
- the primary key in the database is (id, created_at); Django keeps `id` as its pk (ids still
  come from one identity sequence, so they stay unique, and Django never relies on the
  constraint for lookups);
- `public_id` is unique with `created_at` (`click_public_id_unique`), and alone by being 119
  random bits; its index leads with `public_id`, so lookups by public id use it. A separate
  non-partitioned lookup table was rejected: a second INSERT on the `/r/<code>` hot path;
- the foreign keys that point at clicks (`Referral.click` here, `ConsentRecord.click` in
  `hosted.0005`, applied before this one) lose their database constraint (a partitioned
  table's `id` alone is not unique to PostgreSQL). Their `on_delete=SET_NULL` is kept: Django
  does it for ORM deletes, `tracking.partitions.click_partition_drop` for dropped months.

Existing rows are copied into the new table (a partition for each month they cover), the
identity continues where it was, and every index and constraint of the old table is made
again on the new parent (each becomes a partitioned index, one per partition). On an empty
table (every test run) this is a handful of statements.

The SQL is written here, not imported from `tracking.partitions`: a migration must not follow
later edits of the code.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

import django.db.models.deletion
from django.db import migrations, models

import referral_saas.ids

TABLE = "tracking_click"
OLD = "tracking_click_before_partitions"
MONTHS_AHEAD = 3


def _month(year: int, month: int) -> datetime:
    index = year * 12 + month - 1
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _literal(moment: datetime) -> str:
    return "'" + moment.strftime("%Y-%m-%d %H:%M:%S+00") + "'"


def _definitions(cursor: Any, table: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The table's constraints (name, type, definition) and its other indexes' definitions."""
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = pg_index.indexrelid) "
        "ORDER BY indexrelid",
        [table],
    )
    return constraints, [definition for (definition,) in cursor.fetchall()]


def _rebuild(schema_editor: Any, *, partitioned: bool) -> None:
    """Move `tracking_click` into a new table, partitioned by month or plain, keeping its
    rows, identity, constraints and indexes (under their names)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        constraints, indexes = _definitions(cursor, TABLE)
        # Foreign keys from other tables to clicks (hosted's, if hosted.0005 has not run yet).
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE confrelid = %s::regclass AND contype = 'f'",
            [TABLE],
        )
        for table, name in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        # Free every name for the new table (and build its indexes after the copy, faster).
        for name, _kind, _definition in constraints:
            cursor.execute(f'ALTER TABLE {OLD} DROP CONSTRAINT "{name}"')
        for definition in indexes:
            name = re.search(r"INDEX (\S+) ON", definition)[1]  # type: ignore[index]
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [OLD])
        (old_sequence,) = cursor.fetchone()
        cursor.execute(f"ALTER SEQUENCE {old_sequence} RENAME TO {OLD}_id_seq")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY "
            f"INCLUDING CONSTRAINTS INCLUDING STORAGE)"
            + (" PARTITION BY RANGE (created_at)" if partitioned else "")
        )
        if partitioned:
            _partitions(cursor)
        # Table names are this module's constants (S608: no input reaches the SQL).
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")  # noqa: S608
        cursor.execute(f"SELECT last_value, is_called FROM {OLD}_id_seq")  # noqa: S608
        last_value, is_called = cursor.fetchone()
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)",
            [TABLE, last_value, is_called],
        )
        for name, kind, definition in constraints:
            if kind == "p":
                definition = "PRIMARY KEY (id, created_at)" if partitioned else "PRIMARY KEY (id)"
            elif kind == "u" and partitioned and "created_at" not in definition:
                raise RuntimeError(f"{name} ({definition}) must include created_at")
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        for definition in indexes:
            cursor.execute(re.sub(rf" ON (\S+\.)?{OLD} ", f" ON {TABLE} ", definition))
        cursor.execute(f"DROP TABLE {OLD}")


def _partitions(cursor: Any) -> None:
    """A partition for every month of the rows (UTC), the current one and MONTHS_AHEAD more,
    and the default."""
    cursor.execute(
        f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') FROM {OLD}"  # noqa: S608
    )
    now = datetime.now(UTC)
    months = {(moment.year, moment.month) for (moment,) in cursor.fetchall()}
    months |= {
        (_month(now.year, now.month + ahead).year, _month(now.year, now.month + ahead).month)
        for ahead in range(MONTHS_AHEAD + 1)
    }
    for year, month in sorted(months):
        low, high = _month(year, month), _month(year, month + 1)
        cursor.execute(
            f"CREATE TABLE {TABLE}_p{low:%Y_%m} PARTITION OF {TABLE} "
            f"FOR VALUES FROM ({_literal(low)}) TO ({_literal(high)})"
        )
    cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")


def partition(apps: Any, schema_editor: Any) -> None:
    _rebuild(schema_editor, partitioned=True)


def unpartition(apps: Any, schema_editor: Any) -> None:
    _rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0009_conversion_subscription_id"),
        # The consent records' constraint goes first (and comes back last when reversed): no
        # foreign key may point at the partitioned table. A migration graph edge, no import.
        ("hosted", "0005_consent_click_without_constraint"),
    ]

    operations = [
        migrations.AlterField(
            model_name="referral",
            name="click",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tracking.click",
            ),
        ),
        migrations.AlterField(
            model_name="click",
            name="public_id",
            field=models.CharField(
                default=functools.partial(referral_saas.ids.new_public_id, *("clk",), **{}),
                editable=False,
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="click",
            constraint=models.UniqueConstraint(
                fields=("public_id", "created_at"), name="click_public_id_unique"
            ),
        ),
        migrations.RunPython(partition, unpartition),
    ]
