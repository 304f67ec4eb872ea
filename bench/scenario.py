"""What a benchmark scenario declares, and the concrete request it turns into for each side.

A scenario module under `bench/scenarios/` defines one module-level `SCENARIO = Scenario(...)`.
It is imported by the harness *without* Django configured, so a `seed` hook imports the project's
models inside the function body; the hook runs in a subprocess set up with the project's settings.
"""

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Side = Literal["project", "baseline"]
SIDES: tuple[Side, ...] = ("baseline", "project")  # the order in which each scenario is measured

# Runs with the project's Django settings against the freshly migrated bench database. Returns
# string parameters substituted (string.Template, `$name`) into the paths, headers, body and Lua.
SeedHook = Callable[[], Mapping[str, str]]

# Filled by the harness itself, on top of the seed's parameters: the side the request goes to, so
# that a scenario writing rows with a unique key can keep the two sides' keys apart.
BUILTIN_PARAMS = frozenset({"side"})

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True, kw_only=True)
class Request:
    """One side's request, with the seed parameters already substituted."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: str | None
    lua: str | None
    expected_status: int


@dataclass(frozen=True, kw_only=True)
class Target:
    """A goal the issue sets for a scenario, reported PASS or FAIL next to the numbers.

    A missed target never fails the run (a benchmark reports; the exit code is about whether the
    numbers mean anything). `metric` is "ratio" (project / baseline requests/s, at least `limit`),
    "p99_ratio" (project p99 / baseline p99 latency, at most `limit`: the tail measured against
    the bare stack's in the same run) or "p99_ms" (the project's p99 latency in ms, at most
    `limit`).
    """

    metric: Literal["ratio", "p99_ratio", "p99_ms"]
    limit: float

    def describe(self) -> str:
        if self.metric == "ratio":
            return f"ratio >= {self.limit:g}"
        if self.metric == "p99_ratio":
            return f"p99 ratio <= {self.limit:g}"
        return f"p99 <= {self.limit:g} ms"

    def met(self, value: float) -> bool:
        return value >= self.limit if self.metric == "ratio" else value <= self.limit


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A named load: the same request shape sent to the project and to the baseline."""

    name: str
    description: str
    project_path: str
    baseline_path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    # Extra wrk Lua appended after the generated method/headers/body lines, e.g. a `request()`
    # function that makes every request unique. It must not define `done()` or print to stdout.
    lua: str | None = None
    seed: SeedHook | None = None
    # Start Celery workers for the project side: the scenario's cost includes the work it defers.
    needs_workers: bool = False
    # Checked on one probe request per side before the load; wrk itself only counts >= 400.
    expected_status: int = 200
    # wrk connections for this scenario when --connections is not given (the harness's default
    # otherwise): a scenario whose issue states a concurrency measures at that concurrency.
    connections: int | None = None
    # The goals for this scenario, printed with PASS/FAIL; they never fail the run.
    targets: tuple[Target, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"scenario name {self.name!r} must match {_NAME.pattern}")
        if self.method not in _METHODS:
            raise ValueError(f"scenario {self.name}: unsupported method {self.method!r}")
        for path in (self.project_path, self.baseline_path):
            # A path, never a URL: the harness alone decides the host, and it is always loopback.
            if not path.startswith("/") or path.startswith("//"):
                raise ValueError(f"scenario {self.name}: path {path!r} must start with one '/'")
        if self.connections is not None and self.connections < 1:
            raise ValueError(f"scenario {self.name}: connections must be at least 1")

    def request_for(self, side: Side, params: Mapping[str, str]) -> Request:
        """The request for one side, with `$name` placeholders filled from the seed parameters
        and `$side` ("project" or "baseline")."""
        values = {**params, "side": side}

        def fill(text: str) -> str:
            return string.Template(text).substitute(values)

        path = self.project_path if side == "project" else self.baseline_path
        return Request(
            method=self.method,
            path=fill(path),
            headers={name: fill(value) for name, value in self.headers.items()},
            body=None if self.body is None else fill(self.body),
            lua=None if self.lua is None else fill(self.lua),
            expected_status=self.expected_status,
        )
