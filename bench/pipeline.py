"""End-to-end reward-pipeline throughput, against a bare Celery task, measured in one run.

    .venv/bin/python bench/pipeline.py                       # 3000 conversions per side
    .venv/bin/python bench/pipeline.py --conversions 5000 --rounds 2

Project side: N conversions are accepted by the API's own service (`conversion_record`: one
INSERT each, status `received`, exactly what POST /api/v1/conversions stores) while no worker
runs. Then the clock starts: the dispatcher (`conversions_dispatch`, what beat runs every second)
claims them in batches and enqueues evaluation tasks; two Celery worker processes (prefork,
production settings) attribute, qualify, run the fraud rules, create two rewards per conversion
and write the outbound-webhook outbox. The clock stops when no conversion is `received` any more.

Baseline side: a bare Celery app (bench/pipeline_baseline.py, no Django) with two worker
processes, whose task does one transaction of similar size (SELECT … FOR UPDATE the advocate,
INSERT the conversion, INSERT two rewards, UPDATE the advocate). The clock runs from the first
enqueue to the last row.

Both sides use the same PostgreSQL server (a fresh database of its own, dropped at the end)
and Redis database 13. Prints conversions/s per side and the ratio; writes
bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench import processes, services  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results"
ADVOCATES = 100
# Its own database and Redis database, so it can run while `make bench` runs.
DATABASE_NAME = "referral_saas_bench_pipeline"
DATABASE_URL = f"{services.POSTGRES_SERVER}/{DATABASE_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/13"


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="referral_saas.settings.production",
        DJANGO_SECRET_KEY="bench-" + secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DATABASE_URL=DATABASE_URL,
        DATABASE_POOL="false",
        DATABASE_CONN_MAX_AGE="60",
        REDIS_URL=REDIS_URL,
        BARE_DATABASE_URL=DATABASE_URL,
        PIPELINE_EVALUATE_ON_COMMIT="false",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_workers(app: str, env: dict[str, str], concurrency: int, name: str) -> Any:
    hostname = f"{name}-{os.getpid()}"
    workers = processes.start(
        name=f"{name} workers",
        command=[
            sys.executable,
            "-m",
            "celery",
            f"--app={app}",
            "worker",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname={hostname}@%h",
        ],
        env=env,
        log_path=RESULTS / "logs" / f"pipeline-{name}.log",
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ping = subprocess.run(
            [
                sys.executable,
                "-m",
                "celery",
                f"--app={app}",
                "inspect",
                "ping",
                f"--destination={hostname}@{platform.node()}",
                "--timeout=2",
            ],
            env=env,
            capture_output=True,
            check=False,
        )
        if ping.returncode == 0:
            return workers
        if workers.popen.poll() is not None:
            raise SystemExit(f"{name} workers died:\n{workers.log_tail()}")
        time.sleep(0.5)
    workers.stop()
    raise SystemExit(f"{name} workers did not answer a ping")


def seed_project(conversions: int, offset: int) -> tuple[Any, list[int]]:
    from accounts.models import Merchant
    from programs.services import program_activate, program_create
    from referral_saas.tenancy import merchant_context
    from tracking.models import Advocate
    from tracking.services import advocate_enroll, conversion_record

    merchant, _ = Merchant.objects.get_or_create(slug="bench-pipeline", defaults={"name": "Bench"})
    with merchant_context(merchant):
        advocates = list(Advocate.objects.all())
        if not advocates:
            from billing.models import Subscription

            # A plan whose monthly conversion limit the run stays under (Free allows 100).
            Subscription.objects.update_or_create(defaults={"plan": "scale", "status": "active"})
            program = program_create(
                actor=None,
                data={
                    "name": "Give 10, get 10",
                    "slug": "give-10",
                    "type": "two_sided",
                    "currency": "EUR",
                    "default_locale": "en",
                    "locales": ["en"],
                    "destination_url": "https://shop.example.com/",
                    "allowed_domains": ["shop.example.com"],
                    "advocate_reward": {"kind": "account_credit", "amount": 1000},
                    "friend_reward": {"kind": "fixed_discount", "amount": 1000},
                    "fraud": {"velocity": "off"},
                },
            )
            program = program_activate(actor=None, program=program)
            advocates = [
                advocate_enroll(program=program, email=f"advocate{n}@example.com").advocate
                for n in range(ADVOCATES)
            ]
        ids = []
        for n in range(conversions):
            advocate = advocates[n % len(advocates)]
            ids.append(
                conversion_record(
                    order_id=f"bench-{offset + n}",
                    amount=5000,
                    currency="EUR",
                    customer={"email": f"friend{offset + n}@example.org"},
                    code=advocate.code,
                ).conversion.pk
            )
    return merchant, ids


def measure_project(
    conversions: int, offset: int, env: dict[str, str], concurrency: int
) -> dict[str, Any]:
    from django.db import connection

    from rewards import pipeline

    _merchant, ids = seed_project(conversions, offset)
    workers = start_workers("referral_saas", env, concurrency, "project")
    try:
        started = time.monotonic()
        while True:
            pipeline.conversions_dispatch(limit=500)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM tracking_conversion WHERE id = ANY(%s) "
                    "AND status = 'received'",
                    [ids],
                )
                left = cursor.fetchone()[0]
            if left == 0:
                break
            if time.monotonic() - started > 600:
                raise SystemExit(f"project: {left} conversions still received after 600 s")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        workers.stop()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, count(*) FROM tracking_conversion WHERE id = ANY(%s) GROUP BY status",
            [ids],
        )
        statuses = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM rewards_reward WHERE conversion_id = ANY(%s)", [ids])
        rewards = cursor.fetchone()[0]
    return {
        "conversions": conversions,
        "seconds": round(elapsed, 3),
        "per_second": round(conversions / elapsed, 1),
        "statuses": statuses,
        "rewards": rewards,
    }


def _scalar(db: Any, query: str) -> int:
    row = db.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def measure_baseline(
    conversions: int, offset: int, env: dict[str, str], concurrency: int
) -> dict[str, Any]:
    import psycopg

    from bench import pipeline_baseline

    with psycopg.connect(DATABASE_URL, autocommit=True) as db:
        db.execute(pipeline_baseline.SCHEMA)
        if _scalar(db, "SELECT count(*) FROM bare_advocate") == 0:
            for n in range(ADVOCATES):
                db.execute(
                    "INSERT INTO bare_advocate (code, email) VALUES (%s, %s)",
                    [f"BARE-{n:06d}", f"advocate{n}@example.com"],
                )
    workers = start_workers("bench.pipeline_baseline", env, concurrency, "baseline")
    try:
        with psycopg.connect(DATABASE_URL, autocommit=True) as db:
            before = _scalar(db, "SELECT count(*) FROM bare_conversion")
            started = time.monotonic()
            for n in range(conversions):
                pipeline_baseline.evaluate.apply_async(
                    args=(f"bench-{offset + n}", f"BARE-{n % ADVOCATES:06d}", 5000)
                )
            while True:
                done = _scalar(db, "SELECT count(*) FROM bare_conversion") - before
                if done >= conversions:
                    break
                if time.monotonic() - started > 600:
                    raise SystemExit(f"baseline: only {done} done after 600 s")
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            rewards = _scalar(db, "SELECT count(*) FROM bare_reward")
    finally:
        workers.stop()
    return {
        "conversions": conversions,
        "seconds": round(elapsed, 3),
        "per_second": round(conversions / elapsed, 1),
        "rewards_total": rewards,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversions", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes per side")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    env = environment()
    os.environ.update(env)
    services.recreate_database(DATABASE_NAME)
    services.flush_redis(REDIS_URL)
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        env=env,
        check=True,
    )
    import django

    django.setup()
    rounds = []
    try:
        for number in range(args.rounds):
            offset = number * args.conversions
            baseline = measure_baseline(args.conversions, offset, env, args.concurrency)
            project = measure_project(args.conversions, offset, env, args.concurrency)
            rounds.append({"baseline": baseline, "project": project})
            print(
                f"round {number + 1}: project {project['per_second']:.1f} conversions/s "
                f"({project['seconds']} s, {project['rewards']} rewards, {project['statuses']}); "
                f"baseline {baseline['per_second']:.1f}/s ({baseline['seconds']} s)",
                flush=True,
            )
    finally:
        if not args.keep_database:
            from django.db import connections

            connections.close_all()
            services.drop_database(DATABASE_NAME)
    project_rate = sum(r["project"]["per_second"] for r in rounds) / len(rounds)
    baseline_rate = sum(r["baseline"]["per_second"] for r in rounds) / len(rounds)
    ratio = project_rate / baseline_rate
    print(
        f"\npipeline: project {project_rate:.1f} conversions/s, bare Celery baseline "
        f"{baseline_rate:.1f}/s, ratio {ratio:.3f} ({args.concurrency} worker processes each, "
        f"{args.conversions} conversions per round, {args.rounds} round(s))"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline.json").write_text(
        json.dumps({"rounds": rounds, "ratio": round(ratio, 3)}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
