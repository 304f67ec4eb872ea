"""The store discount codes as reward fulfilment methods: `shopify_discount_code` and
`woocommerce_coupon`, registered in `rewards.fulfilment` at start-up (rewards sits below us).

Issue: a single-use code in the merchant's connected store (usage limit 1, once per customer,
the reward's expiry), whose code is `rewards.fulfilment.reward_code` (derived from the reward's
id) and whose title names the reward: a retry after a lost answer finds the code it made. The
store enforces the expiry itself (`endsAt`, `date_expires`), so an expired code is dead there
without a call; `deactivate` (an expired friend offer) and `reverse` (clawback) withdraw it
anyway: deactivated on Shopify, deleted on WooCommerce.
A store that tells us we were uninstalled is disconnected and gets no further calls.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.models import Integration
from integrations.providers import PROVIDERS
from integrations.providers.base import StoreError, StoreProvider
from integrations.services import integration_connected, integration_disconnect
from rewards import fulfilment
from rewards.fulfilment import FulfilmentError, Issued
from rewards.models import Reward


def _uninstalled(integration: Integration, error: StoreError) -> None:
    if error.uninstalled:
        integration_disconnect(
            integration=integration, reason="The store refused our access.", remote=False
        )


class StoreDiscountCode:
    issues_code = True  # a friend's offer before purchase can hand it out at once

    def __init__(self, provider: StoreProvider) -> None:
        self.provider = provider
        self.name = provider.fulfilment_method

    def _integration(self) -> Integration:
        integration = integration_connected(self.provider.name)
        if integration is None:
            raise FulfilmentError(
                f"No {self.provider.label} store is connected: connect it on the Integrations "
                "page, then retry this reward.",
                retriable=False,
            )
        return integration

    def issue(self, reward: Reward) -> Issued:
        integration = self._integration()
        days = reward.spec.get("expires_after_days")
        try:
            discount = self.provider.discount_create(
                integration,
                reward_id=reward.public_id,
                code=fulfilment.reward_code(reward),
                percent=reward.percent,
                amount=reward.amount,
                currency=reward.currency,
                expires_at=timezone.now() + timedelta(days=int(days)) if days else None,
            )
        except StoreError as error:
            _uninstalled(integration, error)
            raise FulfilmentError(error.message, retriable=error.retriable) from None
        return Issued(code=discount.code, external_id=discount.external_id)

    def reverse(self, reward: Reward) -> str:
        integration = integration_connected(self.provider.name)
        if integration is None or not reward.fulfilment_external_id:
            return fulfilment.RECORDED_ONLY
        try:
            self.provider.discount_deactivate(
                integration, external_id=reward.fulfilment_external_id
            )
        except StoreError as error:
            _uninstalled(integration, error)
            raise FulfilmentError(error.message, retriable=error.retriable) from None
        return f"The {self.provider.label} code was deactivated."

    def deactivate(self, reward: Reward) -> str:
        """An unused code whose offer expired (the store's own expiry date also stops it)."""
        return self.reverse(reward)


def register_store_methods() -> None:
    for provider in PROVIDERS.values():
        fulfilment.register(StoreDiscountCode(provider))
