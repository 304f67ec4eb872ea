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
    """The visitor's address. Behind `TRUSTED_PROXY_COUNT` proxies, REMOTE_ADDR is the nearest
    proxy and the client is that many entries from the right of X-Forwarded-For (entries further
    left were written by the client and prove nothing). With no proxies configured the header is
    ignored, so a client cannot spoof its address."""
    from django.conf import settings

    remote = str(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-proxies] if len(hops) >= proxies else remote
