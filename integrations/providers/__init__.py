"""The store providers, by name (`Integration.provider`)."""

from __future__ import annotations

from integrations.providers.base import StoreProvider
from integrations.providers.shopify import ShopifyProvider
from integrations.providers.woocommerce import WooCommerceProvider

PROVIDERS: dict[str, StoreProvider] = {
    provider.name: provider for provider in (ShopifyProvider(), WooCommerceProvider())
}


def provider_for(name: str) -> StoreProvider:
    return PROVIDERS[name]
