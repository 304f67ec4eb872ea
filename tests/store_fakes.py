"""HTTP fakes of the two stores, served on 127.0.0.1 for the integrations tests, written from
their public documentation:

- Shopify: OAuth (`/admin/oauth/authorize` redirecting back with a real HMAC-signed query,
  `/admin/oauth/access_token`), the access-token revocation
  (`DELETE /admin/api_permissions/current.json`) and the Admin GraphQL API at one version
  (`/admin/api/<version>/graphql.json`) for the operations we use: `shop`,
  `webhookSubscriptionCreate/Delete`, `webhookSubscriptions`, `discountCodeBasicCreate`,
  `discountCodeDeactivate`, `codeDiscountNodes(query: "title:'…'")`. Answers carry
  `extensions.cost` with a throttle status, and `throttle_next` makes calls answer `THROTTLED`
  like Shopify's leaky bucket. Operations are recognised by their root field (no full GraphQL
  parser); the variables are checked against the documented input types we send.
  `webhook(topic, payload)` makes a delivery signed like Shopify's (`X-Shopify-Hmac-Sha256`).
- WooCommerce REST API v3 (`/wp-json/wc/v3/`): HTTP Basic with the key pair; `webhooks` and
  `coupons` (list, create, delete with `force=true`), its error shapes (`code`, `message`,
  `data.status`), coupon codes lower-cased as WooCommerce stores them.
  `delivery(webhook, order)` makes a delivery signed like WooCommerce's
  (`X-WC-Webhook-Signature`) with the secret we gave that webhook.

Every request is recorded (`calls`) so tests can assert what was, and was not, called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit


@dataclass
class Call:
    method: str
    path: str
    operation: str = ""  # GraphQL root field, or the REST resource
    auth: str = ""


class _Fake:
    url = ""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.ids = itertools.count(1001)

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


def _handler(fake: _Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, data, extra = fake.handle(self.command, self.path, self.headers, body)
            raw = b"" if data is None else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(fake: _Fake) -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


# --- Shopify ---------------------------------------------------------------------------------

SHOPIFY_TOPICS = {"ORDERS_PAID", "REFUNDS_CREATE", "APP_UNINSTALLED"}


class FakeShopify(_Fake):
    def __init__(self, *, api_key: str, api_secret: str, version: str, shop: str) -> None:
        super().__init__()
        self.api_key, self.api_secret, self.version, self.shop = api_key, api_secret, version, shop
        self.codes: dict[str, str] = {}  # installation code → shop
        self.tokens: dict[str, str] = {}  # live access token → shop
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.discounts: dict[str, dict[str, Any]] = {}
        self.throttle_next = 0

    # Test helpers
    def installation_code(self, shop: str | None = None) -> str:
        code = uuid.uuid4().hex
        self.codes[code] = shop or self.shop
        return code

    def callback_query(
        self,
        *,
        state: str,
        shop: str | None = None,
        code: str | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        """The query Shopify appends to our redirect URI after consent, signed (hex HMAC of
        the sorted other parameters)."""
        params = {
            "code": code or self.installation_code(shop),
            "host": base64.b64encode(f"{shop or self.shop}/admin".encode()).decode(),
            "shop": shop or self.shop,
            "state": state,
            "timestamp": str(int(time.time())),
        }
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        key = (secret or self.api_secret).encode()
        params["hmac"] = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
        return params

    def uninstall(self) -> None:
        """The merchant removes the app in Shopify: every token dies."""
        with self.lock:
            self.tokens.clear()

    def webhook(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        webhook_id: str | None = None,
        secret: str | None = None,
        shop: str | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        body = json.dumps(payload).encode()
        digest = hmac.new((secret or self.api_secret).encode(), body, hashlib.sha256).digest()
        return body, {
            "HTTP_X_SHOPIFY_TOPIC": topic,
            "HTTP_X_SHOPIFY_HMAC_SHA256": base64.b64encode(digest).decode(),
            "HTTP_X_SHOPIFY_SHOP_DOMAIN": shop or self.shop,
            "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or str(uuid.uuid4()),
            "HTTP_X_SHOPIFY_API_VERSION": self.version,
        }

    def graphql_calls(self) -> list[str]:
        return [c.operation for c in self.calls if c.path.endswith("graphql.json")]

    # Server
    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(path)
        token = headers.get("X-Shopify-Access-Token", "")
        with self.lock:
            if parts.path == "/admin/oauth/authorize" and method == "GET":
                self.calls.append(Call(method, parts.path, "authorize"))
                return self._authorize(dict(parse_qsl(parts.query)))
            if parts.path == "/admin/oauth/access_token" and method == "POST":
                self.calls.append(Call(method, parts.path, "access_token"))
                return self._access_token(json.loads(body or b"{}"))
            if parts.path == "/admin/api_permissions/current.json" and method == "DELETE":
                self.calls.append(Call(method, parts.path, "revoke", token))
                if token not in self.tokens:
                    return 401, {"errors": "[API] Invalid API key or access token"}, {}
                self.tokens.pop(token)
                return 200, {}, {}
            if parts.path == f"/admin/api/{self.version}/graphql.json" and method == "POST":
                request = json.loads(body or b"{}")
                operation = _root_field(request.get("query", ""))
                self.calls.append(Call(method, parts.path, operation, token))
                if token not in self.tokens:
                    return (
                        401,
                        {
                            "errors": "[API] Invalid API key or access token "
                            "(unrecognized login or wrong password)"
                        },
                        {},
                    )
                if self.throttle_next > 0:
                    self.throttle_next -= 1
                    return (
                        200,
                        {
                            "errors": [
                                {
                                    "message": "Throttled",
                                    "extensions": {
                                        "code": "THROTTLED",
                                        "documentation": "https://shopify.dev/api/usage/rate-limits",
                                    },
                                }
                            ],
                            "extensions": {
                                "cost": {
                                    "requestedQueryCost": 10,
                                    "actualQueryCost": None,
                                    "throttleStatus": {
                                        "maximumAvailable": 2000.0,
                                        "currentlyAvailable": 5,
                                        "restoreRate": 100.0,
                                    },
                                }
                            },
                        },
                        {},
                    )
                data = self._graphql(operation, request.get("variables") or {})
                if isinstance(data, tuple):
                    return data
                return (
                    200,
                    {
                        "data": data,
                        "extensions": {
                            "cost": {
                                "requestedQueryCost": 10,
                                "actualQueryCost": 10,
                                "throttleStatus": {
                                    "maximumAvailable": 2000.0,
                                    "currentlyAvailable": 1990,
                                    "restoreRate": 100.0,
                                },
                            }
                        },
                    },
                    {},
                )
            self.calls.append(Call(method, parts.path, "unknown"))
            return 404, {"errors": "Not Found"}, {}

    def _authorize(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if query.get("client_id") != self.api_key or not query.get("redirect_uri"):
            return (
                400,
                {
                    "errors": "Oauth error invalid_request: "
                    "The redirect_uri is missing or not whitelisted"
                },
                {},
            )
        params = self.callback_query(state=query.get("state", ""))
        return 302, None, {"Location": f"{query['redirect_uri']}?{urlencode(params)}"}

    def _access_token(self, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        shop = self.codes.pop(str(data.get("code")), None)
        if (
            data.get("client_id") != self.api_key
            or data.get("client_secret") != self.api_secret
            or shop is None
        ):
            return (
                400,
                {
                    "error": "invalid_request",
                    "error_description": "The authorization code was not found or was already used",
                },
                {},
            )
        token = f"shpat_{uuid.uuid4().hex}"
        self.tokens[token] = shop
        return (
            200,
            {"access_token": token, "scope": "read_orders,read_customers,write_discounts"},
            {},
        )

    def _graphql(self, operation: str, variables: dict[str, Any]) -> Any:
        if operation == "shop":
            return {
                "shop": {"myshopifyDomain": self.shop},
                "webhookSubscriptions": {
                    "nodes": [
                        {
                            "id": hook_id,
                            "topic": hook["topic"],
                            "endpoint": {"callbackUrl": hook["callbackUrl"]},
                        }
                        for hook_id, hook in self.webhooks.items()
                    ]
                },
            }
        if operation == "webhookSubscriptionCreate":
            topic, sub = variables.get("topic"), variables.get("sub") or {}
            if topic not in SHOPIFY_TOPICS:
                return (
                    200,
                    {
                        "errors": [
                            {
                                "message": "Variable $topic of type WebhookSubscriptionTopic! "
                                f"was provided invalid value {topic}"
                            }
                        ]
                    },
                    {},
                )
            if not str(sub.get("callbackUrl", "")).startswith(("https://", "http://")):
                return {
                    "webhookSubscriptionCreate": {
                        "webhookSubscription": None,
                        "userErrors": [
                            {
                                "field": ["webhookSubscription", "callbackUrl"],
                                "message": "Address is invalid",
                            }
                        ],
                    }
                }
            if any(
                h["topic"] == topic and h["callbackUrl"] == sub["callbackUrl"]
                for h in self.webhooks.values()
            ):
                return {
                    "webhookSubscriptionCreate": {
                        "webhookSubscription": None,
                        "userErrors": [
                            {
                                "field": ["webhookSubscription", "callbackUrl"],
                                "message": "Address for this topic has already been taken",
                            }
                        ],
                    }
                }
            hook_id = f"gid://shopify/WebhookSubscription/{next(self.ids)}"
            self.webhooks[hook_id] = {
                "topic": topic,
                "callbackUrl": sub["callbackUrl"],
                "format": sub.get("format"),
            }
            return {
                "webhookSubscriptionCreate": {
                    "webhookSubscription": {"id": hook_id, "topic": topic},
                    "userErrors": [],
                }
            }
        if operation == "webhookSubscriptionDelete":
            hook_id = str(variables.get("id"))
            if self.webhooks.pop(hook_id, None) is None:
                return {
                    "webhookSubscriptionDelete": {
                        "deletedWebhookSubscriptionId": None,
                        "userErrors": [
                            {"field": ["id"], "message": "Webhook subscription does not exist"}
                        ],
                    }
                }
            return {
                "webhookSubscriptionDelete": {
                    "deletedWebhookSubscriptionId": hook_id,
                    "userErrors": [],
                }
            }
        if operation == "codeDiscountNodes":
            wanted = str(variables.get("query", ""))
            nodes = [
                {
                    "id": gid,
                    "codeDiscount": {
                        "title": d["title"],
                        "codes": {"nodes": [{"code": d["code"]}]},
                    },
                }
                for gid, d in self.discounts.items()
                if wanted == f"title:'{d['title']}'"
            ]
            return {"codeDiscountNodes": {"nodes": nodes[:1]}}
        if operation == "discountCodeBasicCreate":
            discount = variables.get("discount") or {}
            missing = [
                k for k in ("title", "code", "startsAt", "customerGets") if not discount.get(k)
            ]
            if missing or not (discount.get("customerSelection") or discount.get("context")):
                return {
                    "discountCodeBasicCreate": {
                        "codeDiscountNode": None,
                        "userErrors": [
                            {
                                "field": [
                                    "basicCodeDiscount",
                                    (missing or ["customerSelection"])[0],
                                ],
                                "code": "BLANK",
                                "message": "can't be blank",
                            }
                        ],
                    }
                }
            if any(
                d["code"].lower() == str(discount["code"]).lower() for d in self.discounts.values()
            ):
                return {
                    "discountCodeBasicCreate": {
                        "codeDiscountNode": None,
                        "userErrors": [
                            {
                                "field": ["basicCodeDiscount", "code"],
                                "code": "TAKEN",
                                "message": "Code must be unique. Please try a different code.",
                            }
                        ],
                    }
                }
            gid = f"gid://shopify/DiscountCodeNode/{next(self.ids)}"
            self.discounts[gid] = {**discount, "status": "ACTIVE"}
            return {
                "discountCodeBasicCreate": {
                    "codeDiscountNode": {
                        "id": gid,
                        "codeDiscount": {"codes": {"nodes": [{"code": discount["code"]}]}},
                    },
                    "userErrors": [],
                }
            }
        if operation == "discountCodeDeactivate":
            gid = str(variables.get("id"))
            if gid not in self.discounts:
                return {
                    "discountCodeDeactivate": {
                        "codeDiscountNode": None,
                        "userErrors": [
                            {
                                "field": ["id"],
                                "code": "INVALID",
                                "message": "Discount does not exist",
                            }
                        ],
                    }
                }
            self.discounts[gid]["status"] = "EXPIRED"
            return {"discountCodeDeactivate": {"codeDiscountNode": {"id": gid}, "userErrors": []}}
        return (
            200,
            {"errors": [{"message": f"Field '{operation}' doesn't exist on type 'QueryRoot'"}]},
            {},
        )


def _root_field(query: str) -> str:
    """The first field inside the operation's braces: `mutation x($a: T) { field(...) {…} }`."""
    inside = query[query.index("{") + 1 :] if "{" in query else ""
    name = ""
    for char in inside.strip():
        if char.isalnum() or char == "_":
            name += char
        else:
            break
    return name


@contextmanager
def fake_shopify(
    *, api_key: str, api_secret: str, version: str, shop: str
) -> Iterator[FakeShopify]:
    with serve(
        FakeShopify(api_key=api_key, api_secret=api_secret, version=version, shop=shop)
    ) as fake:
        yield fake


# --- WooCommerce -----------------------------------------------------------------------------

WOO_TOPICS = {
    "order.created",
    "order.updated",
    "order.deleted",
    "order.restored",
    "coupon.created",
    "coupon.updated",
    "product.created",
    "customer.created",
}


class FakeWooCommerce(_Fake):
    def __init__(self, *, key: str, secret: str) -> None:
        super().__init__()
        self.key, self.secret = key, secret
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.coupons: dict[int, dict[str, Any]] = {}

    def delivery(
        self,
        webhook: dict[str, Any],
        order: dict[str, Any],
        *,
        delivery_id: str | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        body = json.dumps(order).encode()
        digest = hmac.new((secret or webhook["secret"]).encode(), body, hashlib.sha256).digest()
        return body, {
            "HTTP_X_WC_WEBHOOK_SOURCE": self.url + "/",
            "HTTP_X_WC_WEBHOOK_TOPIC": webhook["topic"],
            "HTTP_X_WC_WEBHOOK_RESOURCE": "order",
            "HTTP_X_WC_WEBHOOK_EVENT": webhook["topic"].split(".")[1],
            "HTTP_X_WC_WEBHOOK_SIGNATURE": base64.b64encode(digest).decode(),
            "HTTP_X_WC_WEBHOOK_ID": str(webhook["id"]),
            "HTTP_X_WC_WEBHOOK_DELIVERY_ID": delivery_id or uuid.uuid4().hex,
        }

    def hook(self, topic: str) -> dict[str, Any]:
        return next(h for h in self.webhooks.values() if h["topic"] == topic)

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(path)
        query = dict(parse_qsl(parts.query))
        prefix = "/wp-json/wc/v3"
        resource = parts.path.removeprefix(prefix)
        with self.lock:
            self.calls.append(
                Call(
                    method,
                    parts.path,
                    resource.strip("/").split("/")[0],
                    headers.get("Authorization", ""),
                )
            )
            expected = "Basic " + base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
            if not parts.path.startswith(prefix):
                return (
                    404,
                    {
                        "code": "rest_no_route",
                        "message": "No route was found matching the URL and request method.",
                        "data": {"status": 404},
                    },
                    {},
                )
            if headers.get("Authorization") != expected:
                return (
                    401,
                    {
                        "code": "woocommerce_rest_cannot_view",
                        "message": "Sorry, you cannot list resources.",
                        "data": {"status": 401},
                    },
                    {},
                )
            data = json.loads(body) if body else {}
            if resource == "/webhooks":
                if method == "GET":
                    return 200, list(self.webhooks.values())[: int(query.get("per_page", 10))], {}
                if method == "POST":
                    return self._webhook_create(data)
            if resource.startswith("/webhooks/") and method == "DELETE":
                hook = self.webhooks.pop(int(resource.split("/")[2]), None)
                if hook is None:
                    return (
                        404,
                        {
                            "code": "woocommerce_rest_shop_webhook_invalid_id",
                            "message": "Invalid ID.",
                            "data": {"status": 404},
                        },
                        {},
                    )
                return 200, hook, {}
            if resource == "/coupons":
                if method == "GET":
                    code = query.get("code", "").lower()
                    return (
                        200,
                        [c for c in self.coupons.values() if not code or c["code"] == code],
                        {},
                    )
                if method == "POST":
                    return self._coupon_create(data)
            if resource.startswith("/coupons/") and method == "DELETE":
                if query.get("force") != "true":
                    return (
                        501,
                        {
                            "code": "woocommerce_rest_trash_not_supported",
                            "message": "Coupons do not support trashing.",
                            "data": {"status": 501},
                        },
                        {},
                    )
                coupon = self.coupons.pop(int(resource.split("/")[2]), None)
                if coupon is None:
                    return (
                        404,
                        {
                            "code": "woocommerce_rest_shop_coupon_invalid_id",
                            "message": "Invalid ID.",
                            "data": {"status": 404},
                        },
                        {},
                    )
                return 200, coupon, {}
            return (
                404,
                {
                    "code": "rest_no_route",
                    "message": "No route was found matching the URL and request method.",
                    "data": {"status": 404},
                },
                {},
            )

    def _webhook_create(self, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if data.get("topic") not in WOO_TOPICS:
            return (
                400,
                {
                    "code": "rest_invalid_param",
                    "message": "Invalid parameter(s): topic",
                    "data": {"status": 400},
                },
                {},
            )
        if not str(data.get("delivery_url", "")).startswith(("http://", "https://")):
            return (
                400,
                {
                    "code": "rest_invalid_param",
                    "message": "Invalid parameter(s): delivery_url",
                    "data": {"status": 400},
                },
                {},
            )
        hook_id = next(self.ids)
        resource, event = data["topic"].split(".")
        hook = {
            "id": hook_id,
            "name": data.get("name", ""),
            "status": data.get("status", "active"),
            "topic": data["topic"],
            "resource": resource,
            "event": event,
            "hooks": [f"woocommerce_{event}_{resource}"],
            "delivery_url": data["delivery_url"],
            "secret": data.get("secret") or uuid.uuid4().hex,
        }
        self.webhooks[hook_id] = hook
        return 201, hook, {}

    def _coupon_create(self, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        code = str(data.get("code", "")).strip().lower()  # wc_format_coupon_code
        if not code:
            return (
                400,
                {
                    "code": "woocommerce_rest_empty_coupon_code",
                    "message": "The coupon code cannot be empty.",
                    "data": {"status": 400},
                },
                {},
            )
        if any(c["code"] == code for c in self.coupons.values()):
            return (
                400,
                {
                    "code": "woocommerce_rest_coupon_code_already_exists",
                    "message": "The coupon code already exists",
                    "data": {"status": 400},
                },
                {},
            )
        if data.get("discount_type") not in ("percent", "fixed_cart", "fixed_product"):
            return (
                400,
                {
                    "code": "rest_invalid_param",
                    "message": "Invalid parameter(s): discount_type",
                    "data": {"status": 400},
                },
                {},
            )
        coupon_id = next(self.ids)
        coupon = {
            "id": coupon_id,
            "code": code,
            "amount": str(data.get("amount", "0")),
            "discount_type": data["discount_type"],
            "description": data.get("description", ""),
            "usage_limit": data.get("usage_limit"),
            "usage_limit_per_user": data.get("usage_limit_per_user"),
            "date_expires_gmt": data.get("date_expires_gmt"),
            "email_restrictions": data.get("email_restrictions", []),
            "usage_count": 0,
        }
        self.coupons[coupon_id] = coupon
        return 201, coupon, {}


@contextmanager
def fake_woocommerce(*, key: str, secret: str) -> Iterator[FakeWooCommerce]:
    with serve(FakeWooCommerce(key=key, secret=secret)) as fake:
        yield fake
