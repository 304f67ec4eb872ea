"""The floor of the stack: a JSON 200 that touches neither the database nor Redis.

The ratio here is the cost of the project's middleware, settings and URL resolution alone; every
other scenario's ratio should be read against it. (The project's view is a plain Django view and
the baseline's a DRF APIView, like every baseline endpoint, so this ratio slightly flatters the
project.)
"""

from bench.scenario import Scenario

SCENARIO = Scenario(
    name="healthz",
    description="GET /healthz: JSON status, no database work",
    project_path="/healthz",
    baseline_path="/healthz",
)
