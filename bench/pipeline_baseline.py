"""The pipeline benchmark's baseline: a bare Celery app (no Django) whose one task does one
transaction of the same size as the project's evaluation of a conversion: read the advocate by
its code, insert the decided conversion, insert two rewards, bump the advocate's counter.

Started as `celery -A bench.pipeline_baseline worker` by bench/pipeline.py, on the same broker
and database server as the project's workers, with the same concurrency.
"""

from __future__ import annotations

import os

import psycopg
from celery import Celery

app = Celery(
    "bench_pipeline_baseline", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
)
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS bare_advocate (
    id bigserial PRIMARY KEY, code text UNIQUE NOT NULL, email text NOT NULL,
    qualified integer NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS bare_conversion (
    id bigserial PRIMARY KEY, order_id text UNIQUE NOT NULL, advocate_id bigint NOT NULL,
    amount bigint NOT NULL, status text NOT NULL, reasons jsonb NOT NULL,
    evaluated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS bare_reward (
    id bigserial PRIMARY KEY, conversion_id bigint NOT NULL, recipient text NOT NULL,
    amount bigint NOT NULL, status text NOT NULL, available_at timestamptz NOT NULL,
    UNIQUE (conversion_id, recipient));
"""

_connection: psycopg.Connection[tuple[object, ...]] | None = None


def _db() -> psycopg.Connection[tuple[object, ...]]:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["BARE_DATABASE_URL"])
    return _connection


@app.task(name="bare.evaluate")
def evaluate(order_id: str, code: str, amount: int) -> None:
    connection = _db()
    with connection.transaction():
        row = connection.execute(
            "SELECT id FROM bare_advocate WHERE code = %s FOR UPDATE", [code]
        ).fetchone()
        assert row is not None
        advocate_id = row[0]
        conversion = connection.execute(
            "INSERT INTO bare_conversion (order_id, advocate_id, amount, status, reasons, "
            "evaluated_at) VALUES (%s, %s, %s, 'qualified', '[]', now()) "
            "ON CONFLICT (order_id) DO NOTHING RETURNING id",
            [order_id, advocate_id, amount],
        ).fetchone()
        if conversion is None:
            return
        for recipient in ("advocate", "friend"):
            connection.execute(
                "INSERT INTO bare_reward (conversion_id, recipient, amount, status, "
                "available_at) VALUES (%s, %s, 1000, 'pending', now() + interval '30 days')",
                [conversion[0], recipient],
            )
        connection.execute(
            "UPDATE bare_advocate SET qualified = qualified + 1 WHERE id = %s", [advocate_id]
        )
