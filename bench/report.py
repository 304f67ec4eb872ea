"""Results of a run: the tables printed per scenario and the JSON written to bench/results/."""

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.scenario import SIDES, Scenario, Side, Target
from bench.wrk import LoadResult


@dataclass(frozen=True, kw_only=True)
class SideSummary:
    """One side over all its rounds: throughput over the whole time, latencies as round medians."""

    rounds: int
    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    bad_status: int
    socket_errors: int

    @classmethod
    def of(cls, results: list[LoadResult]) -> "SideSummary":
        requests = sum(result.requests for result in results)
        duration_s = sum(result.duration_s for result in results)
        return cls(
            rounds=len(results),
            requests=requests,
            duration_s=duration_s,
            requests_per_s=requests / duration_s if duration_s else 0.0,
            p50_ms=statistics.median(result.p50_ms for result in results),
            p99_ms=statistics.median(result.p99_ms for result in results),
            bad_status=sum(result.bad_status for result in results),
            socket_errors=sum(result.socket_error_total for result in results),
        )


@dataclass
class ScenarioOutcome:
    scenario: Scenario
    rounds: dict[Side, list[LoadResult]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # The wrk load actually used (the scenario's own or the command line's).
    connections: int | None = None
    threads: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, side: Side) -> SideSummary | None:
        results = self.rounds.get(side)
        return SideSummary.of(results) if results else None

    def ratio(self, metric: str) -> float | None:
        """project / baseline of `metric` (a SideSummary field), when both sides were measured."""
        project, baseline = self.summary("project"), self.summary("baseline")
        if project is None or baseline is None:
            return None
        denominator = float(getattr(baseline, metric))
        return float(getattr(project, metric)) / denominator if denominator else None

    def target_value(self, target: Target) -> float | None:
        if target.metric == "ratio":
            return self.ratio("requests_per_s")
        if target.metric == "p99_ratio":
            return self.ratio("p99_ms")
        project = self.summary("project")
        return None if project is None else project.p99_ms

    def target_results(self) -> list[tuple[Target, float | None, bool | None]]:
        """Each target with the measured value and whether it was met (None: not measured, or
        the run failed, so the numbers mean nothing)."""
        results: list[tuple[Target, float | None, bool | None]] = []
        for target in self.scenario.targets:
            value = self.target_value(target)
            met = None if value is None or not self.ok else target.met(value)
            results.append((target, value, met))
        return results

    def as_json(self) -> dict[str, Any]:
        summaries = {side: self.summary(side) for side in SIDES}
        return {
            "name": self.scenario.name,
            "description": self.scenario.description,
            "method": self.scenario.method,
            "project_path": self.scenario.project_path,
            "baseline_path": self.scenario.baseline_path,
            "needs_workers": self.scenario.needs_workers,
            "connections": self.connections,
            "threads": self.threads,
            "ok": self.ok,
            "errors": self.errors,
            "summary": {side: asdict(summary) for side, summary in summaries.items() if summary},
            "ratio": {
                "requests_per_s": self.ratio("requests_per_s"),
                "p50_ms": self.ratio("p50_ms"),
                "p99_ms": self.ratio("p99_ms"),
            },
            "targets": [
                {"metric": target.metric, "limit": target.limit, "value": value, "met": met}
                for target, value, met in self.target_results()
            ],
            # Each round's pair (baseline, then project a few seconds later): their spread shows
            # how much the machine moved during the run.
            "round_ratios_requests_per_s": [
                project.requests_per_s / baseline.requests_per_s
                for baseline, project in zip(
                    self.rounds.get("baseline", []), self.rounds.get("project", []), strict=False
                )
                if baseline.requests_per_s
            ],
            "rounds": {
                side: [result.as_json() for result in results]
                for side, results in self.rounds.items()
            },
        }


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _metric(summary: SideSummary | None, metric: str, digits: int) -> str:
    return "-" if summary is None else _number(float(getattr(summary, metric)), digits)


def _verdict(met: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[met]


def _targets(outcome: ScenarioOutcome) -> str:
    """`ratio >= 0.6 PASS, p99 <= 50 ms FAIL`, or "" for a scenario without targets."""
    return ", ".join(
        f"{target.describe()} {_verdict(met)}" for target, _, met in outcome.target_results()
    )


def scenario_table(outcome: ScenarioOutcome) -> str:
    scenario = outcome.scenario
    header = (
        f"{'side':<10}{'req/s':>11}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'non-2xx/3xx':>13}{'socket err':>12}"
    )
    lines = [f"== {scenario.name}: {scenario.description}"]
    if outcome.connections is not None:
        lines[0] += f" ({outcome.connections} connections)"
    lines += [header, "-" * len(header)]
    for side in ("project", "baseline"):
        summary = outcome.summary(side)
        if summary is None:
            lines.append(f"{side:<10}{'-':>11}")
            continue
        lines.append(
            f"{side:<10}{summary.requests_per_s:>11.1f}{summary.p50_ms:>10.2f}"
            f"{summary.p99_ms:>10.2f}{summary.bad_status:>13}{summary.socket_errors:>12}"
        )
    lines.append(
        f"{'ratio':<10}{_number(outcome.ratio('requests_per_s'), 3):>11}"
        f"{_number(outcome.ratio('p50_ms'), 3):>10}{_number(outcome.ratio('p99_ms'), 3):>10}"
    )
    for target, value, met in outcome.target_results():
        if value is None:
            measured = "-"
        elif target.metric in {"ratio", "p99_ratio"}:
            measured = f"{value:.3f}"
        else:
            measured = f"{value:.2f} ms"
        lines.append(f"target: {target.describe():<16} measured {measured:<10} {_verdict(met)}")
    lines.extend(f"FAILED: {error}" for error in outcome.errors)
    return "\n".join(lines)


def summary_table(outcomes: list[ScenarioOutcome]) -> str:
    header = (
        f"{'scenario':<20}{'project req/s':>15}{'baseline req/s':>16}{'ratio':>8}"
        f"{'project p99':>13}{'baseline p99':>14}{'ratio':>8}  status"
    )
    lines = [header, "-" * len(header)]
    for outcome in outcomes:
        project, baseline = outcome.summary("project"), outcome.summary("baseline")
        lines.append(
            f"{outcome.scenario.name:<20}"
            f"{_metric(project, 'requests_per_s', 1):>15}"
            f"{_metric(baseline, 'requests_per_s', 1):>16}"
            f"{_number(outcome.ratio('requests_per_s'), 3):>8}"
            f"{_metric(project, 'p99_ms', 2):>13}"
            f"{_metric(baseline, 'p99_ms', 2):>14}"
            f"{_number(outcome.ratio('p99_ms'), 3):>8}"
            f"  {'ok' if outcome.ok else 'FAILED'}"
        )
        targets = _targets(outcome)
        if targets:
            lines[-1] += f"  targets: {targets}"
    return "\n".join(lines)


def write_json(path: Path, run: dict[str, Any], outcomes: list[ScenarioOutcome]) -> None:
    document = {
        **run,
        "ok": run.get("error") is None and all(outcome.ok for outcome in outcomes),
        "scenarios": [outcome.as_json() for outcome in outcomes],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)
