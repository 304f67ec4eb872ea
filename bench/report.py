"""Results of a run: the tables printed per scenario and the JSON written to bench/results/."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scenario import SIDES, Scenario, Side
from bench.wrk import LoadResult


@dataclass
class ScenarioOutcome:
    scenario: Scenario
    results: dict[Side, LoadResult] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def ratio(self, metric: str) -> float | None:
        """project / baseline for `metric` (a LoadResult field), when both sides were measured."""
        project, baseline = self.results.get("project"), self.results.get("baseline")
        if project is None or baseline is None:
            return None
        denominator = float(getattr(baseline, metric))
        return float(getattr(project, metric)) / denominator if denominator else None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "description": self.scenario.description,
            "method": self.scenario.method,
            "project_path": self.scenario.project_path,
            "baseline_path": self.scenario.baseline_path,
            "needs_workers": self.scenario.needs_workers,
            "ok": self.ok,
            "errors": self.errors,
            "results": {side: result.as_json() for side, result in self.results.items()},
            "ratio": {
                "requests_per_s": self.ratio("requests_per_s"),
                "p50_ms": self.ratio("p50_ms"),
                "p99_ms": self.ratio("p99_ms"),
            },
        }


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _metric(result: LoadResult | None, metric: str, digits: int) -> str:
    return "-" if result is None else _number(float(getattr(result, metric)), digits)


def scenario_table(outcome: ScenarioOutcome) -> str:
    scenario = outcome.scenario
    header = (
        f"{'side':<10}{'req/s':>11}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'non-2xx/3xx':>13}{'socket err':>12}"
    )
    lines = [f"== {scenario.name}: {scenario.description}", header, "-" * len(header)]
    for side in ("project", "baseline"):
        result = outcome.results.get(side)
        if result is None:
            lines.append(f"{side:<10}{'not measured':>11}")
            continue
        lines.append(
            f"{side:<10}{result.requests_per_s:>11.1f}{result.p50_ms:>10.2f}"
            f"{result.p99_ms:>10.2f}{result.bad_status:>13}{result.socket_error_total:>12}"
        )
    lines.append(
        f"{'ratio':<10}{_number(outcome.ratio('requests_per_s'), 3):>11}"
        f"{_number(outcome.ratio('p50_ms'), 3):>10}{_number(outcome.ratio('p99_ms'), 3):>10}"
    )
    lines.extend(f"FAILED: {error}" for error in outcome.errors)
    return "\n".join(lines)


def summary_table(outcomes: list[ScenarioOutcome]) -> str:
    header = (
        f"{'scenario':<20}{'project req/s':>15}{'baseline req/s':>16}{'ratio':>8}"
        f"{'project p99':>13}{'baseline p99':>14}{'ratio':>8}  status"
    )
    lines = [header, "-" * len(header)]
    for outcome in outcomes:
        project, baseline = outcome.results.get("project"), outcome.results.get("baseline")
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
    return "\n".join(lines)


def write_json(path: Path, run: dict[str, Any], outcomes: list[ScenarioOutcome]) -> None:
    document = {
        **run,
        "sides": list(SIDES),
        "ok": all(outcome.ok for outcome in outcomes),
        "scenarios": [outcome.as_json() for outcome in outcomes],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)
