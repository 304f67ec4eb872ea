"""What one request of the `conversions` scenario costs, counted rather than timed: Python
function calls, SQL statements and Redis commands, for the project (with and without an
`Idempotency-Key`, and a replay) or the baseline. Counts do not move with the machine's load, so
they compare two versions of the code on a shared machine where wall time cannot.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<yours> REDIS_URL=redis://127.0.0.1:6379/<n> \\
        .venv/bin/python bench/request_cost.py --migrate --requests 200
    ... bench/request_cost.py --side baseline      # after a project run has seeded the database

The database must be one you own: `--migrate` migrates it and the scenario's merchant is seeded
once (kept). Requests go through the WSGI application gunicorn serves (`referral_saas.wsgi`,
production settings as the bench sets them; `bench.baseline.wsgi` for the baseline), in this
process, with the API key warm in the process's cache as under load. Each figure is the mean over
`--requests` requests after `--warmup` requests.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.harness import UNREACHABLE_RATE_LIMIT  # noqa: E402 - after the path is set

PROJECT_SETTINGS = "referral_saas.settings.production"
BASELINE_SETTINGS = "bench.baseline.settings"


def _environment(side: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE=PROJECT_SETTINGS if side == "project" else BASELINE_SETTINGS,
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        API_RATE_LIMIT_REDIS_URL=os.environ["REDIS_URL"],
        API_RATE_LIMIT_SECRET=UNREACHABLE_RATE_LIMIT,
        API_RATE_LIMIT_PUBLISHABLE=UNREACHABLE_RATE_LIMIT,
        DATABASE_POOL="false",
        DATABASE_CONN_MAX_AGE="60",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
    )


class Counts:
    def __init__(self) -> None:
        self.calls = 0
        self.sql: list[str] = []
        self.redis: list[str] = []


@contextmanager
def counting(counts: Counts) -> Iterator[None]:
    import redis
    from django.db import connection

    original = redis.Redis.execute_command

    def redis_command(self: redis.Redis, *args: Any, **options: Any) -> Any:
        counts.redis.append(str(args[0]))
        return original(self, *args, **options)

    def sql(execute: Any, statement: str, params: Any, many: bool, context: Any) -> Any:
        counts.sql.append(statement.split()[0].upper())
        return execute(statement, params, many, context)

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            counts.calls += 1

    redis.Redis.execute_command = redis_command  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(sql):
            sys.setprofile(profile)
            try:
                yield
            finally:
                sys.setprofile(None)
    finally:
        redis.Redis.execute_command = original  # type: ignore[method-assign]


def _call(application: Callable[..., Any], path: str, body: bytes, headers: dict[str, str]) -> int:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "HTTP_HOST": "127.0.0.1",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }
    statuses: list[str] = []
    result = application(environ, lambda status, response_headers, *_: statuses.append(status))
    b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return int(statuses[0].split()[0])


def _seed() -> dict[str, str]:
    from accounts.models import Merchant
    from bench.scenarios.conversions import API_KEY, seed
    from referral_saas.tenancy import merchant_context
    from tracking.models import Advocate

    merchant = Merchant.objects.filter(slug="bench-conversions").first()
    if merchant is None:
        return dict(seed())
    with merchant_context(merchant):
        return {"api_key": API_KEY, "code": Advocate.objects.get().code}


def measure(side: str, variant: str, requests: int, warmup: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import close_old_connections

    if side == "project":
        from referral_saas.wsgi import application

        seeded = _seed()
        path = "/api/v1/conversions"
    else:
        from bench.baseline.wsgi import application
        from bench.scenarios.conversions import API_KEY

        seeded = {"api_key": API_KEY, "code": ""}
        path = "/conversions"
    nonce = secrets.token_hex(4)
    numbers = itertools.count()

    def one(counts: Counts | None) -> int:
        number = next(numbers)
        order = f"cost-{side}-{variant}-{nonce}-{number}"
        body = json.dumps(
            {
                "order_id": "cost-replayed" if variant == "replay" else order,
                "amount": 4999,
                "currency": "EUR",
                "customer": {"email": "buyer@example.com"},
                "code": seeded["code"],
            }
        ).encode()
        headers = {"Authorization": f"Bearer {seeded['api_key']}"}
        if variant == "idempotency-key":
            headers["Idempotency-Key"] = order
        if variant == "replay":
            headers["Idempotency-Key"] = f"cost-replayed-{nonce}"
        if counts is None:
            return _call(application, path, body, headers)
        with counting(counts):
            return _call(application, path, body, headers)

    statuses = {one(None) for _ in range(warmup)}
    counts = Counts()
    statuses |= {one(counts) for _ in range(requests)}
    close_old_connections()
    return {
        "side": side,
        "variant": variant,
        "statuses": sorted(statuses),
        "python_calls": round(counts.calls / requests, 1),
        "sql_statements": round(len(counts.sql) / requests, 2),
        "redis_commands": round(len(counts.redis) / requests, 2),
        "sql_kinds": sorted(set(counts.sql)),
        "redis_kinds": sorted(set(counts.redis)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", choices=["project", "baseline"], default="project")
    parser.add_argument(
        "--variant",
        choices=["plain", "idempotency-key", "replay"],
        action="append",
        help="project requests to count (repeatable; default: all three)",
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--migrate", action="store_true", help="migrate the database first")
    options = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        parser.error("set DATABASE_URL (a PostgreSQL database you own) and REDIS_URL")
    _environment(options.side)
    if options.migrate:
        import django
        from django.core.management import call_command

        os.environ["DJANGO_SETTINGS_MODULE"] = PROJECT_SETTINGS
        django.setup()
        call_command("migrate", verbosity=0)
    variants = ["plain"] if options.side == "baseline" else options.variant
    for variant in variants or ["plain", "idempotency-key", "replay"]:
        print(json.dumps(measure(options.side, variant, options.requests, options.warmup)))


if __name__ == "__main__":
    main()
