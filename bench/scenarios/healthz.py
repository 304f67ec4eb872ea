"""The floor of the stack: a JSON 200 that touches neither the database nor Redis.

The ratio here is the cost of the project's middleware, settings and URL resolution alone; every
other scenario's ratio should be read against it. (The project's view is a plain Django view and
the baseline's a DRF APIView, like every baseline endpoint, so this ratio slightly flatters the
project.) Its targets say the fixed cost stays where it is (issue 19: "healthz unchanged"): the
project answers it before any other middleware, so at least the baseline's throughput and a p99
no worse than 1.3 times the baseline's.
"""

from bench.scenario import Scenario, Target

SCENARIO = Scenario(
    name="healthz",
    description="GET /healthz: JSON status, no database work",
    project_path="/healthz",
    baseline_path="/healthz",
    targets=(Target(metric="ratio", limit=1.0), Target(metric="p99_ratio", limit=1.3)),
)
