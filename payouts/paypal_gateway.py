"""The one module that talks to PayPal (the Payouts REST API, v1).

- OAuth 2.0 client credentials: `POST /v1/oauth2/token` with the merchant's client id and
  secret (HTTP basic) and `grant_type=client_credentials` answers a bearer token, cached here
  until shortly before it expires.
- `POST /v1/payments/payouts` creates one batch. We send our batch id as both
  `sender_batch_header.sender_batch_id` and the `PayPal-Request-Id` header, and each payout's id
  as its item's `sender_item_id`: PayPal answers a repeated request id with the first
  response, and refuses a reused `sender_batch_id` with a link to the batch it already made,
  so a re-sent batch never pays twice.
- `GET /v1/payments/payouts/{payout_batch_id}` reads the batch back with each item's
  `transaction_status`.

Errors are `PayPalError` with `retriable` (network, 5xx, 429) or not (4xx).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

TIMEOUT_SECONDS = 20
# Item statuses (PayPal's `transaction_status`): final ones, and those that wait.
SUCCESS = "SUCCESS"
FAILED_STATUSES = frozenset({"FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED", "DENIED"})


class PayPalError(Exception):
    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable


@dataclass(frozen=True)
class BatchItem:
    sender_item_id: str
    payout_item_id: str
    transaction_status: str
    error: str


@dataclass(frozen=True)
class Batch:
    payout_batch_id: str
    batch_status: str
    items: tuple[BatchItem, ...] = ()


@dataclass(frozen=True)
class PayoutLine:
    sender_item_id: str
    receiver: str
    amount: str  # major units, e.g. "25.00"
    currency: str
    note: str


def _base() -> str:
    return str(getattr(settings, "PAYPAL_API_BASE", "") or "https://api-m.paypal.com").rstrip("/")


_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _request(method: str, url: str, **kwargs: Any) -> requests.Response:
    try:
        return requests.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as error:
        raise PayPalError(f"PayPal could not be reached: {error}", retriable=True) from None


def _error(response: requests.Response) -> PayPalError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("message") or body.get("error_description") or response.reason
    name = body.get("name") or body.get("error") or str(response.status_code)
    retriable = response.status_code >= 500 or response.status_code == 429
    return PayPalError(
        f"PayPal {'failed' if retriable else 'refused'}: {name}: {message}", retriable=retriable
    )


def access_token(client_id: str, client_secret: str) -> str:
    """A bearer token for the merchant's REST app (client credentials grant), cached."""
    if not client_id or not client_secret:
        raise PayPalError(
            "PayPal is not connected: add your REST app's client id and secret.", retriable=False
        )
    key = (_base(), client_id)
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
    response = _request(
        "POST",
        f"{_base()}/v1/oauth2/token",
        auth=(client_id, client_secret),
        data={"grant_type": "client_credentials"},
        headers={"Accept": "application/json"},
    )
    if response.status_code != 200:
        raise _error(response)
    body = response.json()
    token = str(body["access_token"])
    expires_in = int(body.get("expires_in") or 300)
    with _tokens_lock:
        _tokens[key] = (token, time.monotonic() + max(expires_in - 60, 0))
    return token


def forget_tokens() -> None:
    with _tokens_lock:
        _tokens.clear()


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _batch(body: dict[str, Any]) -> Batch:
    header = body.get("batch_header") or {}
    items = []
    for item in body.get("items") or []:
        errors = item.get("errors") or {}
        items.append(
            BatchItem(
                sender_item_id=str((item.get("payout_item") or {}).get("sender_item_id") or ""),
                payout_item_id=str(item.get("payout_item_id") or ""),
                transaction_status=str(item.get("transaction_status") or ""),
                error=str(errors.get("message") or errors.get("name") or ""),
            )
        )
    return Batch(
        payout_batch_id=str(header.get("payout_batch_id") or ""),
        batch_status=str(header.get("batch_status") or ""),
        items=tuple(items),
    )


def _already_made(response: requests.Response) -> str:
    """The batch id PayPal links to when a `sender_batch_id` was used before ("" if not that)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    for detail in body.get("details") or []:
        if str(detail.get("field", "")).upper().endswith("SENDER_BATCH_ID"):
            for link in detail.get("link") or detail.get("links") or []:
                href = str(link.get("href") or "")
                if "/v1/payments/payouts/" in href:
                    return href.rstrip("/").rsplit("/", 1)[-1]
    return ""


def batch_create(
    *,
    client_id: str,
    client_secret: str,
    sender_batch_id: str,
    lines: list[PayoutLine],
    email_subject: str,
) -> Batch:
    """Create the batch (or find the one this `sender_batch_id` already made)."""
    token = access_token(client_id, client_secret)
    body = {
        "sender_batch_header": {
            "sender_batch_id": sender_batch_id,
            "recipient_type": "EMAIL",
            "email_subject": email_subject[:255],
        },
        "items": [
            {
                "recipient_type": "EMAIL",
                "amount": {"value": line.amount, "currency": line.currency},
                "receiver": line.receiver,
                "sender_item_id": line.sender_item_id,
                "note": line.note[:4000],
            }
            for line in lines
        ],
    }
    response = _request(
        "POST",
        f"{_base()}/v1/payments/payouts",
        json=body,
        headers={**_headers(token), "PayPal-Request-Id": sender_batch_id},
    )
    if response.status_code in (200, 201):
        return _batch(response.json())
    existing = _already_made(response) if response.status_code == 400 else ""
    if existing:
        return Batch(payout_batch_id=existing, batch_status="")
    raise _error(response)


def batch_get(*, client_id: str, client_secret: str, payout_batch_id: str) -> Batch:
    token = access_token(client_id, client_secret)
    response = _request(
        "GET",
        f"{_base()}/v1/payments/payouts/{payout_batch_id}",
        params={"fields": "batch_header,items", "page_size": 1000},
        headers=_headers(token),
    )
    if response.status_code != 200:
        raise _error(response)
    return _batch(response.json())
