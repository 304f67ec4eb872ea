"""OpenAPI examples of the tracking API's resources and errors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

ADVOCATE: dict[str, Any] = {
    "id": "adv_3kTq9ZpX2mWc7RbVn4Ls",
    "object": "advocate",
    "program": "prg_7hYd2KxQ9mVb3NcTr5Wz",
    "email": "maria@example.com",
    "name": "Maria",
    "customer_id": "cus_1042",
    "code": "MARIA-7KQ2XP",
    "locale": "it",
    "variant": None,
    "referral_url": "https://refer.example.com/r/MARIA-7KQ2XP",
    "portal_url": "https://refer.example.com/portal/WzEsImFkdl8za1RxOVpwWDJtV2M3UmJWbjRMcyJd:1xV64B:H2oS9k/",
    "qr_url": "https://refer.example.com/r/MARIA-7KQ2XP/qr.svg",
    "created_at": "2026-11-22T10:00:00.000000Z",
}
STATS = {"clicks": 14, "referrals": 3, "conversions": 1}
CLICK: dict[str, Any] = {
    "id": "clk_9pLm3QzX7cVb2NkTr4Hs",
    "object": "click",
    "program": ADVOCATE["program"],
    "advocate": ADVOCATE["id"],
    "created_at": "2026-11-22T10:05:00.000000Z",
}
REFERRAL: dict[str, Any] = {
    "id": "ref_5tGh8WqZ2mXc4VbNr7Ls",
    "object": "referral",
    "program": ADVOCATE["program"],
    "advocate": ADVOCATE["id"],
    "email": "luca@example.com",
    "customer_id": "",
    "name": "Luca",
    "click": CLICK["id"],
    "created_at": "2026-11-22T10:06:00.000000Z",
    # The friend's own reward, issued at once (two-sided programs; null and a reason otherwise).
    "friend_reward": {
        "id": "rwd_8cVb2NkTr4Hs9pLm3QzX",
        "object": "reward",
        "recipient": "friend",
        "kind": "percent_discount",
        "amount": None,
        "percent": 15,
        "points": None,
        "currency": None,
        "status": "issued",
        "fulfilment": {"method": "generated_code", "code": "K7QX2MZP9R"},
        "conversion": None,
        "expires_at": "2026-12-22T10:06:00Z",
        "created_at": "2026-11-22T10:06:00.000000Z",
    },
    "friend_reward_reason": None,
}
CONVERSION: dict[str, Any] = {
    "id": "conv_2bNv6XqT9kLm3ZcWr8Hp",
    "object": "conversion",
    "order_id": "ORD-10045",
    "amount": 8900,
    "currency": "EUR",
    "refunded_amount": 0,
    "status": "received",
    "program": None,
    "advocate": None,
    "referral": None,
    "customer": {"email": "luca@example.com", "id": "cus_2210", "name": "Luca"},
    "program_version": None,
    "risk_score": None,
    "reasons": [],
    "rewards": [],
    "referral_code": "MARIA-7KQ2XP",
    "click_id": "",
    "new_customer": True,
    "subscription_id": "",
    "metadata": {},
    "occurred_at": "2026-11-22T10:30:00.000000Z",
    "created_at": "2026-11-22T10:30:01.000000Z",
    "evaluated_at": None,
}
EVALUATED: dict[str, Any] = {
    **CONVERSION,
    "status": "qualified",
    "program": ADVOCATE["program"],
    "advocate": ADVOCATE["id"],
    "referral": REFERRAL["id"],
    "program_version": 3,
    "risk_score": 5,
    "reasons": [{"rule": "min_order_amount", "outcome": "pass", "detail": "8900 >= 5000"}],
    "evaluated_at": "2026-11-22T10:30:04.000000Z",
}
REFUND: dict[str, Any] = {
    "id": "rfd_6mKp2XzQ8vLc3NbTr9Ws",
    "object": "refund",
    "conversion": CONVERSION["id"],
    "amount": 2000,
    "external_id": "re_3PqX",
    "created_at": "2026-11-23T09:00:00.000000Z",
}


def error(param: str | None, message: str, code: str = "invalid") -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "invalid_request_error",
        "code": code,
        "message": message,
        "param": param,
    }
    if code == "invalid":
        body["errors"] = [{"param": param, "message": message}]
    return {"error": body}


def response(name: str, value: Any, *codes: int) -> OpenApiExample:
    return OpenApiExample(
        name, value=value, response_only=True, status_codes=[str(code) for code in codes]
    )


def request(name: str, value: Any) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


TOO_LARGE = response(
    "Body over 64 KB",
    error(None, "The request body is larger than 65536 bytes.", "payload_too_large"),
    413,
)


def not_found(what: str) -> OpenApiExample:
    return response("Not found", error(None, f"No such {what}.", "resource_missing"), 404)
