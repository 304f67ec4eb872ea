"""Plan limits, as a port the lower apps call and `billing` fills in.

Accounts (team seats), programs (plan features, the program limit), rewards (the monthly
conversion limit) and webhooks (the webhooks feature) must ask "may this merchant…?" but sit
below `billing`, which decides. They call the functions here; `BillingConfig.ready()` installs
billing's policy (`billing.limits`) with `install()`. An installation without the billing app has
no plan, so nothing is limited (`Unlimited`); `tests/test_layers.py` checks that billing's policy
is the one installed in this project.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class Feature:
    """The plan features the apps check (`require_feature`); billing's plans name them."""

    AB_TESTS = "ab_tests"
    STRIPE_FULFILMENT = "stripe_fulfilment"
    # Hosted pages without our "powered by" footer.
    CUSTOM_BRANDING = "custom_branding"
    WEBHOOKS = "webhooks"


class Policy(Protocol):
    """What billing answers. Each check raises the API error that names the limit."""

    def check_seat_available(self, *, email: str) -> None: ...

    def check_program_features(self, *, config: Any, keys: set[str] | None = None) -> None: ...

    def check_program_activation(self, *, program: Any) -> None: ...

    def conversion_over_limit(
        self, *, merchant_id: int, conversion_created_at: datetime, conversion_pk: int
    ) -> bool: ...

    def feature_enabled(self, *, merchant_id: int, feature: str) -> bool: ...

    def require_feature(self, *, merchant_id: int, feature: str) -> None: ...


class Unlimited:
    """No billing app: every check passes."""

    def check_seat_available(self, *, email: str) -> None:
        return None

    def check_program_features(self, *, config: Any, keys: set[str] | None = None) -> None:
        return None

    def check_program_activation(self, *, program: Any) -> None:
        return None

    def conversion_over_limit(
        self, *, merchant_id: int, conversion_created_at: datetime, conversion_pk: int
    ) -> bool:
        return False

    def feature_enabled(self, *, merchant_id: int, feature: str) -> bool:
        return True

    def require_feature(self, *, merchant_id: int, feature: str) -> None:
        return None


_policy: Policy = Unlimited()


def install(policy: Policy) -> None:
    global _policy
    _policy = policy


def installed() -> Policy:
    return _policy


def check_seat_available(*, email: str) -> None:
    _policy.check_seat_available(email=email)


def check_program_features(*, config: Any, keys: set[str] | None = None) -> None:
    _policy.check_program_features(config=config, keys=keys)


def check_program_activation(*, program: Any) -> None:
    _policy.check_program_activation(program=program)


def conversion_over_limit(
    *, merchant_id: int, conversion_created_at: datetime, conversion_pk: int
) -> bool:
    return _policy.conversion_over_limit(
        merchant_id=merchant_id,
        conversion_created_at=conversion_created_at,
        conversion_pk=conversion_pk,
    )


def feature_enabled(*, merchant_id: int, feature: str) -> bool:
    return _policy.feature_enabled(merchant_id=merchant_id, feature=feature)


def require_feature(*, merchant_id: int, feature: str) -> None:
    _policy.require_feature(merchant_id=merchant_id, feature=feature)
