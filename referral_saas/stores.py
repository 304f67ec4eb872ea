"""Which store fulfilment methods a merchant can use now, as a port: the configuration parser
(`programs`) refuses `shopify_discount_code` while no Shopify shop is connected, but sits below
`integrations`, which knows. `IntegrationsConfig.ready()` installs the answer with `install()`;
without the integrations app no store is ever connected.
"""

from __future__ import annotations

from collections.abc import Callable

Answer = Callable[[int], frozenset[str]]


def _none(merchant_id: int) -> frozenset[str]:
    return frozenset()


_answer: Answer = _none


def install(answer: Answer) -> None:
    global _answer
    _answer = answer


def connected_store_methods(*, merchant_id: int) -> frozenset[str]:
    """The store fulfilment methods (`shopify_discount_code`, `woocommerce_coupon`) whose store
    this merchant has connected."""
    return _answer(merchant_id)
