"""Server time of the merchant overview on a large data set (issue 19: ≤ 100 ms median at 10M
clicks and 1M conversions; the clicks partitioned by month on PostgreSQL).

    DATABASE_URL=… .venv/bin/python manage.py generate_analytics_data --slug bench-analytics \
        --clicks 10000000 --conversions 1000000 --advocates 200000 --visitors 4000000
    DATABASE_URL=… .venv/bin/python bench/overview.py --slug bench-analytics --requests 30

Runs the whole Django stack in-process (Django's test client: middleware, session, the view,
templates) against the real database, so the figure is the server's time without the network.
Prints the median, p95 and max of N requests per period, and the query count of one request.
It measures; it asserts nothing (benchmarks are scripts, not timed unit tests).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referral_saas.settings.local")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Membership, Merchant, Role  # noqa: E402
from referral_saas import tenancy  # noqa: E402
from tracking import partitions, visitors  # noqa: E402
from tracking.models import Click, Conversion  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slug", default="bench-analytics")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--program", action="store_true", help="Also time the program page.")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="Empty the cache before each request: every view is the first after a roll-up "
        "(the stored roll-ups are read from the database, not from the cache).",
    )
    parser.add_argument(
        "--live-clicks",
        type=int,
        default=10_000,
        help="Clicks recorded since the last roll-up, counted live (rolled back at the end).",
    )
    args = parser.parse_args()
    settings.DEBUG = False  # no query log on the timed requests
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    merchant = Merchant.objects.get(slug=args.slug)
    with tenancy.merchant_context(merchant):
        owner = Membership.objects.filter(role=Role.OWNER).select_related("user").first()
        assert owner is not None
        clicks, conversions = Click.objects.count(), Conversion.objects.count()
        program = merchant_program()
    vacuum_live_partition()
    print(f"merchant {merchant.slug}: {clicks:,} clicks, {conversions:,} conversions")
    print(
        f"cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
        + (", emptied before each request (--cold)" if args.cold else "")
    )
    print_partitions()
    with transaction.atomic():
        if args.live_clicks:
            record_live_clicks(merchant, args.live_clicks)
        measure(args, merchant, owner, program)
        transaction.set_rollback(True)


def print_partitions() -> None:
    """The click partitions holding rows (PostgreSQL), with the planner's row estimates."""
    if not partitions.is_partitioned():
        print("clicks: one table (not partitioned)")
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, child.reltuples::bigint FROM pg_inherits
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE pg_inherits.inhparent = 'tracking_click'::regclass AND child.reltuples > 0
            ORDER BY child.relname
            """
        )
        held = ", ".join(f"{name} ~{rows:,}" for name, rows in cursor.fetchall())
    print(f"click partitions holding rows: {held or 'none'}")


def vacuum_live_partition() -> None:
    """VACUUM this month's click partition (PostgreSQL): an earlier run's live clicks were
    rolled back, and their dead index entries, which autovacuum clears in production, would
    otherwise be read by this run's count of the clicks since the roll-up (each run slower)."""
    if not partitions.is_partitioned():
        return
    name = partitions.partition_name(partitions.month_start(timezone.now()))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(name)}")


def record_live_clicks(merchant: Merchant, count: int) -> None:
    """Clicks recorded after the last roll-up (a busy day's worth in five minutes), from 5,000
    visitors, each with the sketch register `Click.save` stores (`tracking.visitors`)."""
    registers = [visitors.register_of(f"v:live{n}") for n in range(5000)]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO tracking_click (public_id, ip_hash, ip_prefix, user_agent, referer,
                visitor_id, visitor_register, created_at, advocate_id, merchant_id, program_id)
            SELECT format('clk_live_%%s', g), '', '', '', '', format('live%%s', g %% 5000),
                (%s::int[])[g %% 5000 + 1], now(), a.id, a.merchant_id, a.program_id
            FROM generate_series(1, %s) AS g
            JOIN LATERAL (SELECT id, merchant_id, program_id FROM tracking_advocate
                          WHERE merchant_id = %s ORDER BY id LIMIT 1) AS a ON true
            """,
            [registers, count, merchant.pk],
        )
    print(f"+ {count:,} clicks recorded since the last roll-up (counted live)")


def backend_cpu_reader():  # type: ignore[no-untyped-def]
    """A function giving the CPU time (ns) the database backend serving us has used so far, or
    None when it cannot be read (a server on another machine): /proc/<pid>/schedstat's first
    field, time on a CPU, not time waiting for one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    path = Path(f"/proc/{pid}/schedstat")
    if not path.exists():
        return None
    return lambda: int(path.read_text().split()[0])


def measure(
    args: argparse.Namespace, merchant: Merchant, owner: Membership, program: object
) -> None:
    """Wall time per request, and its CPU time (this process's, plus the database backend's
    when it runs on this machine): on a machine shared with other work the wall time includes
    waiting for a CPU, the CPU time is what the request costs whatever else runs."""
    client = Client()
    client.force_login(owner.user, backend="django.contrib.auth.backends.ModelBackend")
    base = reverse("merchant_overview", kwargs={"merchant_slug": merchant.slug})
    targets = [(f"overview {q or '(30 days)'}", base + q) for q in ("?days=7", "", "?days=90")]
    if args.program and program is not None:
        page = reverse(
            "program_analytics",
            kwargs={"merchant_slug": merchant.slug, "program_id": program.public_id},  # type: ignore[attr-defined]
        )
        targets.append(("program page (90 days + A/B)", page + "?days=90"))
    backend_cpu = backend_cpu_reader()
    print(
        f"{'page':38} {'median':>9} {'p95':>9} {'max':>9} {'queries':>8} "
        f"{'cpu median (app + db)':>24}"
    )
    for label, url in targets:
        for _ in range(args.warmup):
            assert client.get(url).status_code == 200
        timings, app_cpu, db_cpu = [], [], []
        for _ in range(args.requests):
            if args.cold:
                cache.clear()
            db_before = backend_cpu() if backend_cpu else 0
            cpu_before, started = time.process_time(), time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            app_cpu.append((time.process_time() - cpu_before) * 1000)
            db_cpu.append(((backend_cpu() - db_before) / 1e6) if backend_cpu else 0.0)
            assert response.status_code == 200, response.status_code
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        total_cpu = [app + db for app, db in zip(app_cpu, db_cpu, strict=True)]
        cpu = (
            f"{statistics.median(total_cpu):6.1f}ms ({statistics.median(app_cpu):.0f} + "
            f"{statistics.median(db_cpu):.0f})"
        )
        print(
            f"{label:38} {statistics.median(timings):7.1f}ms {percentile(timings, 0.95):7.1f}ms "
            f"{max(timings):7.1f}ms {len(queries.captured_queries):8} {cpu:>24}"
        )


def merchant_program():  # type: ignore[no-untyped-def]
    from programs.models import Program

    return Program.objects.order_by("pk").first()


if __name__ == "__main__":
    main()
