"""The friend's offer, as the tracking API asks for it: a port that the rewards app fills in at
start-up (`RewardsConfig.ready` calls `register`), so tracking records the referral and answers
with the friend's reward without importing the layer above it.

The issuer takes the referral just recorded (or found again) and the request's evidence, and
returns the `friend_reward` object of the API's answer (None when there is none) and, when it
has no code to show, the reason `{"code", "message"}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracking.models import Referral


@dataclass(frozen=True)
class OfferAnswer:
    friend_reward: dict[str, Any] | None
    reason: dict[str, str] | None


Issuer = Callable[..., OfferAnswer]

_issuer: list[Issuer] = []


def register(issuer: Issuer) -> None:
    """Called once, by the app that issues friends' rewards."""
    _issuer[:] = [issuer]


def offer_issue(
    *, referral: Referral, email: str, ip_hash: str = "", locale: str = ""
) -> OfferAnswer:
    """The friend's reward for this referral (issued now, or the one issued before)."""
    if not _issuer:
        return OfferAnswer(None, None)
    return _issuer[0](referral=referral, email=email, ip_hash=ip_hash, locale=locale)
