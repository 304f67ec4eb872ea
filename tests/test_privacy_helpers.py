"""The visitor's address is read safely behind proxies, and never stored raw."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from referral_saas.privacy import client_ip, truncate_ip


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "6.6.6.6", "10.0.0.9"),  # no proxy configured: the header is the client's word only
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the proxy appended the real client
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.9"),  # fewer hops than proxies: do not trust it
        (1, "", "10.0.0.9"),
    ],
)
def test_client_ip_behind_trusted_proxies(
    settings: object, proxies: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies  # type: ignore[attr-defined]
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("not an ip", ""),
        (None, ""),
    ],
)
def test_truncate_ip(raw: str | None, expected: str) -> None:
    assert truncate_ip(raw) == expected
