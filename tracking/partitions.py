"""Monthly partitions of `tracking_click` on PostgreSQL (the embedded SQLite keeps one table).

Clicks are the table that grows without bound, so on PostgreSQL it is range-partitioned by
`created_at`, one partition per calendar month (UTC), named `tracking_click_pYYYY_MM`, plus a
DEFAULT partition (`tracking_click_default`) that catches any month without its own, so an
INSERT never fails for want of a partition (migration `tracking.0009` made the table).

- **Ahead of time**: the beat task `click_partitions_ensure_task` (daily) creates the current
  month and the next `MONTHS_AHEAD`; it moves nothing. A month whose rows already sit in the
  default partition (the task did not run for months) is left there and logged: PostgreSQL
  refuses a new partition over rows of the default, and those rows are still read correctly,
  just without pruning.
- **Dropped whole** by retention (`retention.services.clicks_expired_drop`, which decides which
  months may go): `click_partition_drop` detaches the month (a short lock on the parent, so
  no new reference to its clicks can be made), then nulls the rows that pointed at its clicks
  (the foreign keys to a partitioned table carry no database constraint: `on_delete=SET_NULL`
  is done here, as Django does it for ORM deletes), then drops it. A month detached but not
  dropped (a crash between the two) is finished by the next run.

The primary key in the database is (id, created_at) (PostgreSQL requires the partition key in
it); ids come from one identity sequence, so `id` alone stays unique and is Django's pk.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connections, models, transaction
from django.utils import timezone

from referral_saas.celery import app
from tracking.models import Click

logger = logging.getLogger(__name__)

PARENT = "tracking_click"
DEFAULT_PARTITION = "tracking_click_default"
MONTHS_AHEAD = 3
# How long DDL on the parent may wait for its lock: `/r/<code>` INSERTs queue behind a waiting
# ACCESS EXCLUSIVE request, so give up (and try again next run) rather than stall them.
LOCK_TIMEOUT = "3s"
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    low: datetime
    high: datetime


def month_start(moment: datetime | date, *, months: int = 0) -> datetime:
    """Midnight UTC of the first day of `moment`'s month (UTC), `months` months later."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(low: datetime) -> str:
    return f"{PARENT}_p{low:%Y_%m}"


def is_partitioned(using: str = "default") -> bool:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [PARENT]
        )
        return cursor.fetchone() is not None


def _timestamp(text: str) -> datetime:
    # pg_get_expr prints bounds in the session's time zone (Django's connections use UTC).
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def click_partitions(using: str = "default") -> list[Partition]:
    """The monthly partitions attached to `tracking_click`, oldest first (not the default)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, pg_get_expr(child.relpartbound, child.oid)
            FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE pg_inherits.inhparent = to_regclass(%s)
            """,
            [PARENT],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound or "")
        if match:
            found.append(Partition(name, _timestamp(match[1]), _timestamp(match[2])))
    return sorted(found, key=lambda partition: partition.low)


def _literal(moment: datetime) -> str:
    return "'" + moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00") + "'"


def click_partitions_ensure(
    *,
    now: datetime | None = None,
    start: datetime | None = None,
    until: datetime | None = None,
    months_ahead: int = MONTHS_AHEAD,
    using: str = "default",
) -> list[str]:
    """Create the monthly partitions from `start`'s month (default: now's) to `months_ahead`
    months after `until`'s (default: now's) that do not exist yet. Idempotent; returns the
    names created. Nothing on SQLite."""
    if not is_partitioned(using):
        return []
    now = now or timezone.now()
    first = month_start(start or now)
    last = month_start(until or now, months=months_ahead)
    existing = {partition.low for partition in click_partitions(using)}
    created = []
    low = first
    while low <= last:
        high = month_start(low, months=1)
        if low not in existing and _create(low, high, using):
            created.append(partition_name(low))
        low = high
    return created


def _create(low: datetime, high: datetime, using: str) -> bool:
    name = partition_name(low)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(
            f"SELECT 1 FROM {DEFAULT_PARTITION} "  # noqa: S608 (our constant)
            "WHERE created_at >= %s AND created_at < %s LIMIT 1",
            [low, high],
        )
        if cursor.fetchone() is not None:
            logger.warning(
                "click partition %s not created: the default partition holds clicks of that "
                "month (they stay there, read without pruning)",
                name,
            )
            return False
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ({_literal(low)}) TO ({_literal(high)})"
        )
    return True


def _referencing() -> list[tuple[str, str]]:
    """(table, column) of every foreign key to Click; each must be SET_NULL (what a dropped
    partition can honour without asking)."""
    found = []
    # include_hidden: these relations are `related_name="+"`, left out of `related_objects`.
    relations = [
        field
        for field in Click._meta.get_fields(include_hidden=True)
        if isinstance(field, models.ForeignObjectRel)
    ]
    for relation in relations:
        field = relation.field
        if field.remote_field.on_delete is not models.SET_NULL:
            raise RuntimeError(f"{field} must be on_delete=SET_NULL to drop click partitions")
        found.append((relation.related_model._meta.db_table, str(field.column)))
    return found


def click_partition_drop(partition: Partition, using: str = "default") -> int:
    """Detach and drop one monthly partition, nulling every reference to its clicks first (see
    the module docstring). Returns how many clicks it held."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # PostgreSQL refuses DDL on a table with deferred foreign-key checks still queued
        # (only inside a caller's transaction that wrote clicks, such as a test): run them.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {partition.name}")
    return _drop_detached(partition.name, using)


def _drop_detached(name: str, using: str) -> int:
    # Names come from our models and the catalogue (pg_class), never from input (S608).
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608
        (clicks,) = cursor.fetchone()
        for table, column in _referencing():
            cursor.execute(
                f"UPDATE {table} SET {column} = NULL "  # noqa: S608
                f"WHERE {column} IN (SELECT id FROM {name})"
            )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as above
        cursor.execute(f"DROP TABLE {name}")
    logger.info("click partition %s dropped (%s clicks)", name, clicks)
    return int(clicks)


def click_partitions_detached_finish(using: str = "default") -> int:
    """Drop the monthly partitions a crashed drop left detached. Returns the clicks dropped."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            r"""
            SELECT relname FROM pg_class
            WHERE relname ~ %s AND relkind = 'r' AND NOT relispartition
              AND relnamespace = current_schema()::regnamespace
            """,
            [rf"^{PARENT}_p\d{{4}}_\d{{2}}$"],
        )
        names = [name for (name,) in cursor.fetchall()]
    return sum(_drop_detached(name, using) for name in names)


@app.task(name="tracking.partitions.click_partitions_ensure_task", acks_late=True)
def click_partitions_ensure_task() -> str:
    """Daily: the current and next months' click partitions exist (idempotent, moves nothing)."""
    created = click_partitions_ensure()
    return f"created {', '.join(created) or 'none'}"
