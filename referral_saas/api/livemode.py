"""`"livemode": true|false` on every object the API or a webhook returns (DESIGN §3 "Test mode").

An object is a JSON object with an `"object"` member (`"conversion"`, `"reward"`, …). Every object
in one response or one webhook belongs to one merchant, the current one, whose data space (live,
or its test twin) gives the value: no query, whatever the number of objects.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.generators import SchemaGenerator


def mark_livemode(data: Any, livemode: bool) -> Any:
    """Add `livemode` to every object in `data` (nested too), in place; returns `data`."""
    if isinstance(data, dict):
        if "object" in data:
            data.setdefault("livemode", livemode)
        for value in data.values():
            if isinstance(value, dict | list):
                mark_livemode(value, livemode)
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict | list):
                mark_livemode(item, livemode)
    return data


def document_livemode(
    result: dict[str, Any], generator: SchemaGenerator, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular post-processing hook: every component with an `object` property gets the
    `livemode` property the API adds to it."""
    for schema in result.get("components", {}).get("schemas", {}).values():
        properties = schema.get("properties")
        if properties and "object" in properties and "livemode" not in properties:
            properties["livemode"] = {
                "type": "boolean",
                "readOnly": True,
                "description": "False for objects of the test data space (test keys).",
            }
            if "object" in schema.get("required", []):
                schema["required"] = [*schema["required"], "livemode"]
    return result
