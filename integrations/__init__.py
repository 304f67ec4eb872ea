"""Store integrations: Shopify and WooCommerce connected to a merchant (see models.py, the
provider interface in providers/base.py and docs/ARCHITECTURE.md "Store integrations")."""
