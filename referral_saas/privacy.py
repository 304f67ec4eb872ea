"""Personal-data helpers shared by every app: we never store a raw IP address."""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest


def truncate_ip(raw: str | None) -> str:
    """IPv4 to its /24, IPv6 to its /48; '' for anything unparseable."""
    if not raw:
        return ""
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR is the proxy in production; gunicorn is run with forwarded-allow-ips so
    # X-Forwarded-For's first hop is trusted only from the proxy.
    return str(request.META.get("REMOTE_ADDR", ""))
