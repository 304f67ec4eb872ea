"""The benchmark run: fresh database, migrate, seed, both servers up, wrk against each, report.

Both servers are started once per run with identical gunicorn settings. Every scenario gets a
probe and a warm-up per side, then rounds that alternate baseline and project. Everything the run
starts is stopped on the way out, whether it ends normally, fails, or is interrupted.
"""

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from psycopg import Error
from redis import RedisError

from bench import processes, report, services, wrk
from bench.processes import REPO_ROOT, ManagedProcess, ProcessError
from bench.report import ScenarioOutcome
from bench.scenario import SIDES, Request, Scenario, Side
from bench.scenarios import discover
from bench.wrk import LoadResult

RESULTS_DIR = REPO_ROOT / "bench" / "results"
LOGS_DIR = RESULTS_DIR / "logs"

PROJECT_SETTINGS = "referral_saas.settings.production"
PROJECT_APP = "referral_saas.wsgi:application"
PROJECT_CELERY_APP = "referral_saas"
BASELINE_SETTINGS = "bench.baseline.settings"
BASELINE_APP = "bench.baseline.wsgi:application"

# Both servers must answer this before any load; the project's and the baseline's touch no DB.
READY_PROBE = Request(
    method="GET", path="/healthz", headers={}, body=None, lua=None, expected_status=200
)
# Variables of the caller's shell that would change what the servers run or how.
_NOT_INHERITED_PREFIXES = ("DJANGO_", "CELERY_", "BENCH_", "GUNICORN_", "API_RATE_LIMIT_")
# The project's per-key rate limit (100 requests/s for a secret key by default) is far below what
# one key sends under load: raised out of reach, so that every request is still counted (one
# Redis round trip, part of the project's cost) and none is refused with a 429.
UNREACHABLE_RATE_LIMIT = str(10**9)
_NOT_INHERITED_NAMES = frozenset(
    {"DATABASE_URL", "DATABASE_POOL", "DATABASE_CONN_MAX_AGE", "REDIS_URL", "WEB_CONCURRENCY"}
)


# wrk connections for a scenario that does not state its own (Scenario.connections).
DEFAULT_CONNECTIONS = 16


class BenchError(RuntimeError):
    """The run cannot go on (bad arguments, the project is not there, ...)."""


@dataclass(frozen=True, kw_only=True)
class Options:
    scenarios: list[str]
    duration_s: int
    rounds: int
    warmup_s: int
    connections: int | None  # None: each scenario's own, else DEFAULT_CONNECTIONS
    threads: int
    web_workers: int
    web_threads: int
    celery_concurrency: int
    database_pool: bool
    baseline_only: bool
    keep_database: bool
    list_scenarios: bool

    @property
    def round_s(self) -> int:
        return self.duration_s // self.rounds

    def connections_for(self, scenario: Scenario) -> int:
        return self.connections or scenario.connections or DEFAULT_CONNECTIONS

    def threads_for(self, scenario: Scenario) -> int:
        # Each wrk thread needs a connection; a scenario may state fewer than --threads.
        return min(self.threads, self.connections_for(scenario))

    @property
    def sides(self) -> tuple[Side, ...]:
        return ("baseline",) if self.baseline_only else SIDES


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Load the project and the bare-stack baseline with wrk on loopback and "
        "report requests/s, p50/p99 and the project/baseline ratios per scenario.",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="a scenario to run (repeatable; default: all)",
    )
    parser.add_argument(
        "--duration", type=_positive, default=10, help="seconds of load per side (all rounds)"
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=2,
        help="alternate the sides this many times, splitting --duration between rounds",
    )
    parser.add_argument("--warmup", type=_positive, default=3, help="seconds of warm-up per side")
    parser.add_argument(
        "--connections",
        type=_positive,
        default=None,
        help=f"wrk connections (default: the scenario's own, else {DEFAULT_CONNECTIONS})",
    )
    parser.add_argument("--threads", type=_positive, default=2, help="wrk threads")
    parser.add_argument("--web-workers", type=_positive, default=2, help="gunicorn workers")
    parser.add_argument("--web-threads", type=_positive, default=4, help="threads per worker")
    parser.add_argument(
        "--celery-concurrency", type=_positive, default=2, help="Celery worker processes"
    )
    parser.add_argument(
        "--database-pool",
        action="store_true",
        help="psycopg pool in both servers instead of persistent connections (CONN_MAX_AGE=60)",
    )
    parser.add_argument(
        "--baseline-only",
        action="store_true",
        help="measure only the baseline (to check the harness without the project)",
    )
    parser.add_argument(
        "--keep-database", action="store_true", help="do not drop the bench database afterwards"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    arguments = parser.parse_args(argv)
    if arguments.duration < arguments.rounds:
        parser.error("--duration must give every round at least one second")
    if arguments.connections is not None and arguments.threads > arguments.connections:
        parser.error("--threads cannot exceed --connections (each wrk thread needs one)")
    return Options(
        scenarios=arguments.scenario,
        duration_s=arguments.duration,
        rounds=arguments.rounds,
        warmup_s=arguments.warmup,
        connections=arguments.connections,
        threads=arguments.threads,
        web_workers=arguments.web_workers,
        web_threads=arguments.web_threads,
        celery_concurrency=arguments.celery_concurrency,
        database_pool=arguments.database_pool,
        baseline_only=arguments.baseline_only,
        keep_database=arguments.keep_database,
        list_scenarios=arguments.list,
    )


def _select(registry: Mapping[str, Scenario], names: Sequence[str]) -> list[Scenario]:
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise BenchError(f"unknown scenario(s) {unknown}; known: {sorted(registry)}")
    return [registry[name] for name in (names or list(registry))]


def _environment(settings_module: str, secret_key: str, options: Options) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_NOT_INHERITED_PREFIXES) and name not in _NOT_INHERITED_NAMES
    }
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        DJANGO_SECRET_KEY=secret_key,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DATABASE_URL=services.DATABASE_URL,
        REDIS_URL=services.REDIS_URL,
        API_RATE_LIMIT_REDIS_URL=services.REDIS_URL,
        API_RATE_LIMIT_SECRET=UNREACHABLE_RATE_LIMIT,
        API_RATE_LIMIT_PUBLISHABLE=UNREACHABLE_RATE_LIMIT,
        # Persistent connections, as a deployment runs (the settings' default, 0, reconnects per
        # request); the baseline's settings read the same two variables.
        DATABASE_POOL="true" if options.database_pool else "false",
        DATABASE_CONN_MAX_AGE="60",
        # Set, not inherited, so that a developer's .env (read by the settings) cannot change it.
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
        BENCH_WEB_WORKERS=str(options.web_workers),
        BENCH_WEB_THREADS=str(options.web_threads),
        PYTHONUNBUFFERED="1",
    )
    return env


def _raise_on_sigterm() -> None:
    """Turn SIGTERM (and SIGHUP) into KeyboardInterrupt so the `finally` clean-ups run."""

    def interrupt(signal_number: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal_number}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


def _git_commit() -> str | None:
    completed = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        return None  # not a git checkout, or no commit yet
    return completed.stdout.strip() or None


class Run:
    def __init__(self, options: Options, scenarios: list[Scenario], wrk_path: str) -> None:
        self.options = options
        self.scenarios = scenarios
        self.wrk_path = wrk_path
        self.python = Path(sys.executable)
        secret_key = "bench-" + secrets.token_urlsafe(60)
        self.env: dict[Side, dict[str, str]] = {
            "project": _environment(PROJECT_SETTINGS, secret_key, options),
            "baseline": _environment(BASELINE_SETTINGS, secret_key, options),
        }
        self.ports: dict[Side, int] = {}
        self.servers: dict[Side, ManagedProcess] = {}
        self.params: dict[str, dict[str, str]] = {}

    def execute(self, outcomes: list[ScenarioOutcome]) -> None:
        with ExitStack() as stack:
            self._prepare_data(stack)
            self._start_servers(stack)
            for scenario in self.scenarios:
                outcome = ScenarioOutcome(scenario=scenario)
                outcomes.append(outcome)
                self._measure(scenario, outcome)
                print("\n" + report.scenario_table(outcome) + "\n", flush=True)

    def _prepare_data(self, stack: ExitStack) -> None:
        print(f"bench: fresh database {services.DATABASE_NAME}, Redis {services.REDIS_URL}")
        services.flush_redis()
        services.recreate_database()
        if not self.options.keep_database:
            stack.callback(services.drop_database)
        if self.options.baseline_only:
            seeded = [scenario.name for scenario in self.scenarios if scenario.seed is not None]
            if seeded:
                raise BenchError(f"--baseline-only cannot seed {seeded}: seeds need the project")
            return
        if not (REPO_ROOT / "referral_saas" / "settings" / "production.py").exists():
            raise BenchError(f"the project is not there: no {PROJECT_SETTINGS} under {REPO_ROOT}")
        print("bench: migrate", flush=True)
        processes.run_to_completion(
            name="migrate",
            command=[str(self.python), "manage.py", "migrate", "--noinput"],
            env=self.env["project"],
            log_path=LOGS_DIR / "migrate.log",
            timeout_s=900,
        )
        # As a deployment does: production serves static files from the collected manifest
        # (var/staticfiles/, ignored by git); without it WhiteNoise warns on every start and
        # pages that use {% static %} fail.
        print("bench: collectstatic", flush=True)
        processes.run_to_completion(
            name="collectstatic",
            command=[str(self.python), "manage.py", "collectstatic", "--noinput"],
            env=self.env["project"],
            log_path=LOGS_DIR / "collectstatic.log",
            timeout_s=300,
        )
        for scenario in self.scenarios:
            if scenario.seed is not None:
                print(f"bench: seed {scenario.name}", flush=True)
                self.params[scenario.name] = self._seed(scenario)

    def _seed(self, scenario: Scenario) -> dict[str, str]:
        output = LOGS_DIR / f"seed-{scenario.name}.json"
        processes.run_to_completion(
            name=f"seed of {scenario.name}",
            command=[str(self.python), "-m", "bench.seed", scenario.name, str(output)],
            env=self.env["project"],
            log_path=LOGS_DIR / f"seed-{scenario.name}.log",
            timeout_s=900,
        )
        params: dict[str, str] = json.loads(output.read_text())
        return params

    def _start_servers(self, stack: ExitStack) -> None:
        apps: dict[Side, str] = {"project": PROJECT_APP, "baseline": BASELINE_APP}
        for side in self.options.sides:
            port = processes.free_port()
            server = processes.start(
                name=f"{side} gunicorn",
                command=processes.gunicorn_command(python=self.python, app=apps[side], port=port),
                env=self.env[side],
                log_path=LOGS_DIR / f"gunicorn-{side}.log",
            )
            stack.callback(server.stop)
            self.ports[side], self.servers[side] = port, server
            print(f"bench: {side} on http://127.0.0.1:{port} (pid {server.popen.pid})", flush=True)
        for side, server in self.servers.items():
            processes.wait_until_answers(server, self.ports[side], READY_PROBE)

    def _measure(self, scenario: Scenario, outcome: ScenarioOutcome) -> None:
        params = self.params.get(scenario.name, {})
        requests = {side: scenario.request_for(side, params) for side in self.options.sides}
        outcome.connections = self.options.connections_for(scenario)
        outcome.threads = self.options.threads_for(scenario)
        with ExitStack() as stack:
            workers = scenario.needs_workers and "project" in requests
            if workers:
                self._start_workers(stack)
            options = self.options
            print(
                f"bench: {scenario.name}: {options.warmup_s} s warm-up per side, then "
                f"{options.rounds} x {options.round_s} s per side; wrk {outcome.connections} "
                f"connections, {outcome.threads} threads",
                flush=True,
            )
            for side, request in requests.items():
                error = self._probe(side, request) or self._warm_up(scenario, side, request)
                if error:
                    self._fail(outcome, side, error)
                    return
            # Sides alternate round by round, so that a drift in the machine's speed (a noisy
            # neighbour, CPU throttling) lands on both sides instead of skewing the ratio.
            rounds = options.rounds
            for number in range(1, rounds + 1):
                for side, request in requests.items():
                    result = self._load(scenario, side, request, number)
                    outcome.rounds.setdefault(side, []).append(result)
                    print(
                        f"bench: {scenario.name} round {number}/{rounds} {side:<8} "
                        f"{result.requests_per_s:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                        f"p99 {result.p99_ms:7.2f} ms",
                        flush=True,
                    )
                    if side == "project" and workers:
                        self._drain_queues()
                    if result.failed:
                        # A benchmark of error responses measures the error path, not the endpoint.
                        self._fail(outcome, side, _describe_errors(result))
                        return

    def _fail(self, outcome: ScenarioOutcome, side: Side, error: str) -> None:
        outcome.errors.append(f"{side}: {error}")
        server = self.servers[side]
        tail = server.log_tail()
        if tail:
            print(f"bench: last lines of {server.log_path}:\n{tail}", flush=True)

    def _probe(self, side: Side, request: Request) -> str | None:
        """One request checked for its exact status: wrk alone would take a 404 as success."""
        status, body = processes.send(self.ports[side], request)
        if status == request.expected_status:
            return None
        return (
            f"{request.method} {request.path} answered {status}, expected "
            f"{request.expected_status}: {body[:500]!r}"
        )

    def _warm_up(self, scenario: Scenario, side: Side, request: Request) -> str | None:
        result, _ = self._wrk(scenario, side, request, self.options.warmup_s)
        return f"during warm-up: {_describe_errors(result)}" if result.failed else None

    def _load(self, scenario: Scenario, side: Side, request: Request, number: int) -> LoadResult:
        result, raw = self._wrk(scenario, side, request, self.options.round_s)
        (LOGS_DIR / f"wrk-{scenario.name}-{side}-{number}.txt").write_text(raw)
        return result

    def _wrk(
        self, scenario: Scenario, side: Side, request: Request, duration_s: int
    ) -> tuple[LoadResult, str]:
        return wrk.run(
            wrk=self.wrk_path,
            port=self.ports[side],
            request=request,
            script_path=LOGS_DIR / f"wrk-{scenario.name}-{side}.lua",
            duration_s=duration_s,
            connections=self.options.connections_for(scenario),
            threads=self.options.threads_for(scenario),
        )

    def _start_workers(self, stack: ExitStack) -> None:
        command = [
            str(self.python),
            "-m",
            "celery",
            f"--app={PROJECT_CELERY_APP}",
            "worker",
            f"--concurrency={self.options.celery_concurrency}",
            "--pool=prefork",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname=bench-{os.getpid()}@%h",
        ]
        workers = processes.start(
            name="celery workers",
            command=command,
            env=self.env["project"],
            log_path=LOGS_DIR / "celery.log",
        )
        stack.callback(workers.stop)
        # Registered after stop, so it runs first: the project's deferred work is part of its
        # cost, and a backlog left running would steal CPU from whatever is measured next.
        stack.callback(self._drain_queues)
        self._wait_for_workers(workers)

    def _wait_for_workers(self, workers: ManagedProcess, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        ping = [
            str(self.python),
            "-m",
            "celery",
            f"--app={PROJECT_CELERY_APP}",
            "inspect",
            "ping",
            f"--destination=bench-{os.getpid()}@{platform.node()}",
            "--timeout=2",
        ]
        while time.monotonic() < deadline:
            if workers.popen.poll() is not None:
                raise ProcessError(
                    f"Celery workers exited with {workers.popen.returncode}; last lines of "
                    f"{workers.log_path}:\n{workers.log_tail()}"
                )
            completed = subprocess.run(
                ping, env=self.env["project"], capture_output=True, timeout=60, check=False
            )
            if completed.returncode == 0:
                return
            time.sleep(1)
        raise ProcessError(f"Celery workers did not answer a ping within {timeout_s:.0f} s")

    def _drain_queues(self) -> None:
        left = services.wait_for_empty_queues(timeout_s=120)
        if left:
            print(f"bench: warning: {left} messages still queued after 120 s", flush=True)


def _cpu_times() -> tuple[int, int] | None:
    """Busy and total jiffies of all CPUs since boot (Linux), or None elsewhere."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _busy_cpus(sample_s: float = 1.0) -> float | None:
    """How many CPUs' worth of work other processes do right now (the load average lags)."""
    before = _cpu_times()
    time.sleep(sample_s)
    after = _cpu_times()
    if before is None or after is None or after[1] == before[1]:
        return None
    share = (after[0] - before[0]) / (after[1] - before[1])
    return share * (os.cpu_count() or 1)


def _describe_errors(result: LoadResult) -> str:
    return (
        f"{result.bad_status} responses with status >= 400 and socket errors "
        f"{result.socket_errors} in {result.requests} requests"
    )


def _run_metadata(options: Options, wrk_path: str | None, started_at: datetime) -> dict[str, Any]:
    return {
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "git_commit": _git_commit(),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wrk": wrk.version(wrk_path) if wrk_path else None,
        },
        "load": {
            "duration_s": options.duration_s,
            "rounds": options.rounds,
            "round_s": options.round_s,
            "warmup_s": options.warmup_s,
            # None: each scenario's own (see the scenario's "connections" and "threads").
            "connections": options.connections,
            "threads": options.threads,
            "target": "127.0.0.1",
        },
        "servers": {
            "gunicorn_config": "bench/gunicorn_conf.py",
            "workers": options.web_workers,
            "threads": options.web_threads,
            "celery_concurrency": options.celery_concurrency,
            "database_pool": options.database_pool,
            "database_conn_max_age": None if options.database_pool else 60,
            "project": {"settings": PROJECT_SETTINGS, "app": PROJECT_APP},
            "baseline": {"settings": BASELINE_SETTINGS, "app": BASELINE_APP},
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    registry = discover()
    if options.list_scenarios:
        for scenario in registry.values():
            print(f"{scenario.name:<20} {scenario.description}")
        return 0
    started_at = datetime.now(UTC)
    outcomes: list[ScenarioOutcome] = []
    wrk_path: str | None = None
    failure: str | None = None
    _raise_on_sigterm()
    busy_before = _busy_cpus()
    if busy_before is not None and busy_before > 0.5:
        print(
            f"bench: note: {busy_before:.1f} of {os.cpu_count()} CPUs were busy before the run; "
            "other processes will compete with the servers, expect noisy numbers",
            flush=True,
        )
    try:
        scenarios = _select(registry, options.scenarios)
        wrk_path = wrk.ensure_installed()
        LOGS_DIR.mkdir(parents=True, exist_ok=True)
        Run(options, scenarios, wrk_path).execute(outcomes)
    except KeyboardInterrupt:
        print("\nbench: interrupted; servers and workers stopped", file=sys.stderr)
        return 130
    except (BenchError, ProcessError, wrk.WrkError, OSError, Error, RedisError) as error:
        failure = str(error)
    # Written on failure too, so that latest.json never shows the numbers of an earlier run.
    run = {
        **_run_metadata(options, wrk_path, started_at),
        "busy_cpus_before": busy_before,
        "error": failure,
    }
    for path in (
        RESULTS_DIR / "latest.json",
        RESULTS_DIR / f"run-{started_at:%Y%m%dT%H%M%SZ}.json",
    ):
        report.write_json(path, run, outcomes)
    print(report.summary_table(outcomes))
    print(f"\nbench: results in {RESULTS_DIR.relative_to(REPO_ROOT) / 'latest.json'}")
    if failure is not None:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    if not all(outcome.ok for outcome in outcomes):
        print("bench: FAILED: a benchmark of error responses is meaningless", file=sys.stderr)
        return 1
    return 0
