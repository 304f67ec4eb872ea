"""The provider interface: what every store integration can do, in the store's own terms on one
side and ours on the other. Services (`integrations.services`, `integrations.inbound`) and the
fulfilment methods speak only this interface; each provider module speaks its gateway.

- `connect(integration)`: check the credentials just entered with one call and create the
  store's webhook subscriptions pointing at us; returns them (`[{"topic", "id"}]`).
- `verify(integration, body, headers)` and `map(body, headers)`: an inbound delivery's
  signature over the raw body, then the delivery turned into an `Inbound` (an order to record,
  refunds, an uninstall, a privacy request, or nothing for us).
- `discount_create` / `discount_deactivate`: a single-use code in the shop for a reward, found
  again (not duplicated) when a retry asks for the same reward.
- `disconnect(integration)`: remove what we created in the shop (webhooks) and our access.
- `health(integration)`: one live call: are we still installed, are our webhooks there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from integrations.models import Integration


class StoreError(Exception):
    """A store call failed: `message` fits the merchant; `retriable` when trying later may help;
    `uninstalled` when the store told us we are no longer installed."""

    def __init__(self, message: str, *, retriable: bool = True, uninstalled: bool = False):
        super().__init__(message)
        self.message = message
        self.retriable = retriable
        self.uninstalled = uninstalled


@dataclass(frozen=True)
class Order:
    """A paid order, in the fields `tracking.services.conversion_record` takes."""

    order_id: str  # ours: "<provider>-<the store's order id>" (unique per merchant)
    amount: int  # minor units
    currency: str
    email: str
    customer_id: str = ""
    name: str = ""
    codes: tuple[str, ...] = ()  # discount codes used, then `ref` hints, strongest first
    new_customer: bool | None = None
    occurred_at: datetime | None = None
    ip: str | None = None
    user_agent: str | None = None
    # Refunds the store already reports on the order (WooCommerce sends them with the order).
    refunds: tuple[RefundLine, ...] = ()


@dataclass(frozen=True)
class RefundLine:
    external_id: str  # ours: "<provider>-refund-<the store's refund id>"
    amount: int


class Kind:
    ORDER = "order"  # record the order (and reconcile the refunds it carries)
    REFUND = "refund"
    UNINSTALLED = "uninstalled"
    DATA_REQUEST = "data_request"
    CUSTOMER_REDACT = "customer_redact"
    SHOP_REDACT = "shop_redact"
    PING = "ping"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Inbound:
    kind: str
    topic: str
    order: Order | None = None
    order_id: str = ""  # for refunds: our order id of the refunded order
    refunds: tuple[RefundLine, ...] = ()
    email: str = ""  # for privacy requests
    note: str = ""  # why it is ignored


@dataclass(frozen=True)
class Discount:
    code: str
    external_id: str


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    webhooks: list[str] = field(default_factory=list)
    uninstalled: bool = False  # the store refused our credentials: we are no longer installed


class StoreProvider(Protocol):
    name: str
    label: str
    fulfilment_method: str

    def connect(self, integration: Integration) -> list[dict[str, str]]: ...

    def verify(self, integration: Integration, body: bytes, headers: Mapping[str, str]) -> bool: ...

    def map(self, body: bytes, headers: Mapping[str, str]) -> Inbound: ...

    def discount_create(
        self,
        integration: Integration,
        *,
        reward_id: str,
        code: str,
        percent: int | None,
        amount: int | None,
        currency: str,
        expires_at: datetime | None,
    ) -> Discount: ...

    def discount_deactivate(self, integration: Integration, *, external_id: str) -> None: ...

    def disconnect(self, integration: Integration) -> None: ...

    def health(self, integration: Integration) -> Health: ...


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object from a store's payload, or an empty one (payloads are never trusted)."""
    return value if isinstance(value, dict) else {}


def discount_title(reward_id: str) -> str:
    """The discount's title (Shopify) or description (WooCommerce) names the reward, so a retry
    after a lost answer finds the code it made instead of making a second one."""
    return f"Referral reward {reward_id}"
