"""Runs one scenario's seed hook inside the project's Django settings (a subprocess of the harness).

Usage: python -m bench.seed SCENARIO OUTPUT_JSON. The parameters go to a file, not stdout, because
the project's logging may write to stdout.
"""

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.seed SCENARIO OUTPUT_JSON", file=sys.stderr)
        return 2
    name, output = argv
    import django

    django.setup()

    from bench.scenario import BUILTIN_PARAMS
    from bench.scenarios import discover

    scenario = discover()[name]
    params = dict(scenario.seed()) if scenario.seed is not None else {}
    for key, value in params.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"seed of {name} must return str -> str, got {key!r}: {value!r}")
        if key in BUILTIN_PARAMS:
            raise ValueError(f"seed of {name} returns {key!r}, which the harness fills itself")
    Path(output).write_text(json.dumps(params))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
