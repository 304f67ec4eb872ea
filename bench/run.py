"""Entry point of the benchmark harness: `.venv/bin/python bench/run.py --help`."""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, Python puts bench/ on sys.path, not the repository root that holds
    # the `bench` package (and the project the servers import).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.harness import main

    raise SystemExit(main())
