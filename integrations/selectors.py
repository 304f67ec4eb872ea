"""Reads of the integrations that other apps ask for (through ports)."""

from __future__ import annotations

from integrations.models import Integration, IntegrationStatus
from integrations.providers import PROVIDERS


def connected_store_methods(merchant_id: int) -> frozenset[str]:
    """The fulfilment methods of the stores this merchant has connected (one query)."""
    # Explicitly filtered by merchant: the port is asked with an id, not inside a context.
    providers = Integration.unscoped_all_merchants.filter(
        merchant_id=merchant_id, status=IntegrationStatus.CONNECTED
    ).values_list("provider", flat=True)
    return frozenset(PROVIDERS[name].fulfilment_method for name in providers)
