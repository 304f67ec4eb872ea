#!/usr/bin/env python3
"""Probe a running `make run` the way a newcomer's storefront would (stdlib only).

    .venv/bin/python scripts/probe_embedded.py --base http://127.0.0.1:8000 --key sk_live_…

1. N concurrent POSTs of one order (default 32) → exactly one conversion, no 5xx;
2. approve one pending or held reward and reject another through the API → 200 each.
Prints one JSON summary and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def call(base: str, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (the probe only talks to the given local URL)
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw.decode(errors="replace")[:200]


def concurrent_orders(base: str, key: str, count: int) -> dict[str, Any]:
    order_id = f"PROBE-{secrets.token_hex(4).upper()}"
    body = {
        "order_id": order_id,
        "amount": 4500,
        "currency": "EUR",
        "customer": {"email": f"{order_id.lower()}@example.com"},
    }
    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(
            pool.map(lambda _: call(base, key, "POST", "/api/v1/conversions", body), range(count))
        )
    statuses = Counter(status for status, _ in answers)
    ids = {answer.get("id") for _, answer in answers if isinstance(answer, dict)}
    listed = call(base, key, "GET", f"/api/v1/conversions?order_id={order_id}&limit=100")[1]
    matching = [row for row in listed.get("data", []) if row.get("order_id") == order_id]
    return {
        "order_id": order_id,
        "posts": count,
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for status, n in statuses.items() if status >= 500),
        "distinct_ids_answered": len(ids - {None}),
        "conversions_listed": len(matching),
    }


def decide_rewards(base: str, key: str) -> dict[str, Any]:
    waiting: list[dict[str, Any]] = []
    for state in ("held", "pending"):
        status, page = call(base, key, "GET", f"/api/v1/rewards?status={state}&limit=10")
        if status == 200:
            waiting += page.get("data", [])
    result: dict[str, Any] = {"waiting_rewards": len(waiting)}
    for verb, reward in zip(("approve", "reject"), waiting, strict=False):
        body = {"reason": "probe"} if verb == "reject" else {}
        status, answer = call(base, key, "POST", f"/api/v1/rewards/{reward['id']}/{verb}", body)
        result[verb] = {"reward": reward["id"], "http": status, "status": answer.get("status")}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="the secret key `make run` printed")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if not args.base.startswith(("http://127.0.0.1", "http://localhost")):
        parser.error("--base must be this machine (http://127.0.0.1:…)")
    summary = {
        "orders": concurrent_orders(args.base, args.key, args.concurrency),
        "rewards": decide_rewards(args.base, args.key),
    }
    print(json.dumps(summary, indent=2))
    orders, rewards = summary["orders"], summary["rewards"]
    ok = (
        orders["server_errors"] == 0
        and orders["conversions_listed"] == 1
        and orders["distinct_ids_answered"] == 1
        and all(rewards.get(verb, {}).get("http") == 200 for verb in ("approve", "reject"))
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
