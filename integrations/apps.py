from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Store integrations: Shopify, WooCommerce"

    def ready(self) -> None:
        from integrations.fulfilment import register_store_methods
        from integrations.selectors import connected_store_methods
        from referral_saas import stores

        # The store discount codes are fulfilment methods of the rewards registry (rewards sits
        # below us and cannot import them): advocate and friend rewards alike issue through it.
        register_store_methods()
        # And the program parser asks, through a port, which of them this merchant can use.
        stores.install(connected_store_methods)
