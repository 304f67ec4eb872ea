"""The bench's own PostgreSQL database and Redis database: created fresh, emptied, dropped."""

import os
import time

import psycopg
import redis
from psycopg import sql

POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
# Overridable so that several people benchmarking on one machine do not drop each other's
# database or flush each other's Redis (never passed on to the servers: BENCH_* is not inherited).
DATABASE_NAME = os.environ.get("BENCH_DATABASE_NAME") or "referral_saas_bench"
DATABASE_URL = f"{POSTGRES_SERVER}/{DATABASE_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14"


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=10)


def recreate_database(database: str = DATABASE_NAME) -> None:
    """An empty bench database; whatever an earlier (maybe interrupted) run left is dropped."""
    with _admin_connection() as connection:
        name = sql.Identifier(database)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(database: str = DATABASE_NAME) -> None:
    with _admin_connection() as connection:
        name = sql.Identifier(database)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def flush_redis(url: str = REDIS_URL) -> None:
    """Empty the bench's Redis database (queues, rate limits, counters of earlier runs)."""
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        client.flushdb()
    finally:
        client.close()


def queued_messages() -> int:
    """Messages waiting in the bench's Redis lists (Celery's queues are Redis lists)."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
    try:
        return sum(
            int(client.llen(key))
            for key in client.scan_iter(count=1000)
            if client.type(key) == b"list"
        )
    finally:
        client.close()


def wait_for_empty_queues(timeout_s: float) -> int:
    """Wait until the workers have taken every queued message; the number left at the timeout."""
    deadline = time.monotonic() + timeout_s
    left = queued_messages()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = queued_messages()
    return left
