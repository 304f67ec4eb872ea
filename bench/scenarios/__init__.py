"""The scenario registry: every module in this package defines one `SCENARIO`.

Adding a scenario is adding a module here (and its baseline endpoint under
`bench/baseline/endpoints/`), never editing a list.
"""

import importlib
import pkgutil

from bench.scenario import Scenario


def discover() -> dict[str, Scenario]:
    """All scenarios by name, in module name order."""
    found: dict[str, Scenario] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if not isinstance(scenario, Scenario):
            raise TypeError(f"{module.__name__} must define SCENARIO = Scenario(...)")
        if scenario.name != module_info.name:
            raise ValueError(
                f"{module.__name__} declares scenario {scenario.name!r}; name it after its module"
            )
        found[scenario.name] = scenario
    return found
