"""The one error type for bad input, in every app.

`InvalidInput.errors` maps each field path (`"slug"`, `"advocate_reward.amount"`,
`"tiers[1].threshold"`) to one message a person can act on. Services raise it; the API answers
400 naming the first path as `error.param` (`programs.api` and `tracking.api` views), and the
dashboard shows each message beside its field. `programs.specs.SpecError` is this class under
its old name, kept for one release.
"""

from __future__ import annotations


class InvalidInput(Exception):
    """Invalid input: `errors` maps each field path to one message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
