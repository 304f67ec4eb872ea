"""The layers contract (pyproject.toml, import-linter) holds, fails on an upward import, and
leaves no import cycle between apps; the plan-limits port is filled by billing."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from itertools import permutations
from pathlib import Path

import grimp
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_contract_is_the_layers_of_the_architecture_with_no_exceptions() -> None:
    (contract,) = CONFIG["contracts"]
    assert contract["type"] == "layers"
    assert contract["layers"][-6:] == [
        "rewards",
        "tracking",
        "programs",
        "accounts",
        "events",
        "referral_saas",
    ]
    assert contract["layers"][0] == "server"
    assert "ignore_imports" not in contract  # no list of exceptions to grow
    installed = {
        name.split(".")[0]
        for name in settings.INSTALLED_APPS
        if (ROOT / name.split(".")[0]).is_dir()
    }
    assert installed <= set(CONFIG["root_packages"])  # every app of ours is in a layer


def test_an_upward_import_fails_the_contract() -> None:
    probe = ROOT / "programs" / "_upward_import_probe.py"
    probe.write_text("import rewards.models  # noqa: F401 - programs sits below rewards\n")
    try:
        result = _lint()
    finally:
        probe.unlink()
    assert result.returncode == 1, result.stdout
    assert "programs is not allowed to import rewards" in result.stdout
    assert "programs._upward_import_probe -> rewards.models" in result.stdout


def test_the_tree_keeps_the_contract() -> None:
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*CONFIG["root_packages"], exclude_type_checking_imports=True)


def test_no_import_cycle_between_apps(graph: grimp.ImportGraph) -> None:
    both_ways = [
        (a, b)
        for a, b in permutations(CONFIG["root_packages"], 2)
        if a < b
        and graph.chain_exists(importer=a, imported=b, as_packages=True)
        and graph.chain_exists(importer=b, imported=a, as_packages=True)
    ]
    assert both_ways == []


def test_billing_fills_the_plan_limits_port() -> None:
    from billing import limits as billing_limits
    from referral_saas import limits

    assert limits.installed() is billing_limits
