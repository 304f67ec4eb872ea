"""Who an email is from and where replies go, for every email the product sends.

Every email leaves from the one address the install is configured with (`DEFAULT_FROM_EMAIL`:
the domain whose SPF/DKIM the operator controls). Emails sent on a merchant's behalf (to
advocates and friends) carry the merchant's sender name with that address and the merchant's
own Reply-To, so the person sees the shop they know and a reply reaches the shop, not us.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from urllib.parse import urlsplit

from django.conf import settings

from accounts.models import Merchant


def sending_address() -> str:
    """The bare address of `DEFAULT_FROM_EMAIL` (validated at start-up to have one)."""
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def merchant_from_email(merchant: Merchant) -> str:
    """`"Sender name" <our address>`: the merchant's sender name, else its business name."""
    return formataddr((merchant.sender_name or merchant.name, sending_address()))


def merchant_reply_to(merchant: Merchant) -> list[str]:
    """The Reply-To of an email sent on the merchant's behalf; none when they set no address."""
    return [merchant.reply_to_email] if merchant.reply_to_email else []


@dataclass(frozen=True)
class ProductSite:
    """Stands in for `django.contrib.sites`' Site in allauth's emails: the product's name and
    public host, instead of whatever Host header the request that triggered the email had."""

    name: str
    domain: str


def product_site() -> ProductSite:
    return ProductSite(name=settings.PRODUCT_NAME, domain=urlsplit(settings.PUBLIC_BASE_URL).netloc)
