"""Request and response examples shown on the API docs page (/api/v1/docs/)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

CREATE_TWO_SIDED: dict[str, Any] = {
    "name": "Give 10, get 10",
    "slug": "give-10",
    "type": "two_sided",
    "currency": "EUR",
    "default_locale": "it",
    "locales": ["en", "it", "ro", "pl"],
    "destination_url": "https://shop.example.com/",
    "allowed_domains": ["shop.example.com"],
    "advocate_reward": {
        "kind": "account_credit",
        "amount": 1000,
        "currency": "EUR",
        "fulfilment": "generated_code",
        "expires_after_days": 90,
    },
    "friend_reward": {"kind": "percent_discount", "percent": 15, "fulfilment": "generated_code"},
    "rules": {"hold_days": 30, "min_order_amount": 5000, "max_rewards_per_advocate": 20},
    "fraud": {"self_referral": "reject", "disposable_email": "review"},
    "copy": {"it": {"headline": "Regala 10 €, ricevi 10 €"}},
}
CREATE_TIERED: dict[str, Any] = {
    "name": "Ambassador ladder",
    "type": "tiered",
    "currency": "EUR",
    "destination_url": "https://shop.example.com/",
    "allowed_domains": ["example.com"],
    "tiers": [
        {"threshold": 1, "reward": {"kind": "account_credit", "amount": 1000}},
        {"threshold": 5, "reward": {"kind": "cash", "amount": 7500, "fulfilment": "manual"}},
        {
            "threshold": 10,
            "reward": {"kind": "free_product", "label": "One year of Pro"},
            "repeat": False,
        },
    ],
}
UPDATE_RULES: dict[str, Any] = {"rules": {"hold_days": 14}}
UPDATE_NAME: dict[str, Any] = {"name": "Give 15, get 15"}

PROGRAM: dict[str, Any] = {
    "id": "prg_4KfX2mQ9rT7wZ1bN8cVd",
    "object": "program",
    "name": "Give 10, get 10",
    "slug": "give-10",
    "type": "two_sided",
    "status": "draft",
    "currency": "EUR",
    "default_locale": "it",
    "locales": ["en", "it", "ro", "pl"],
    "destination_url": "https://shop.example.com/",
    "allowed_domains": ["shop.example.com"],
    "advocate_reward": {
        "kind": "account_credit",
        "amount": 1000,
        "currency": "EUR",
        "fulfilment": "generated_code",
        "code_prefix": "",
        "code_length": 10,
        "expires_after_days": 90,
    },
    "friend_reward": {
        "kind": "percent_discount",
        "percent": 15,
        "fulfilment": "generated_code",
        "code_prefix": "",
        "code_length": 10,
        "expires_after_days": None,
    },
    "tiers": [],
    "rules": {
        "attribution_window_days": 30,
        "min_order_amount": 5000,
        "first_purchase_only": True,
        "new_customers_only": True,
        "one_referrer_per_friend": True,
        "hold_days": 30,
        "max_rewards_per_advocate": 20,
        "max_rewards_period": "month",
        "budget_amount": None,
        "budget_action": "pause_program",
    },
    "fraud": {
        "self_referral": "reject",
        "disposable_email": "review",
        "velocity": "review",
        "fast_conversion": "review",
        "duplicate_friend": "reject",
        "existing_customer": "reject",
        "blocked_country": "reject",
        "blocked_email_domain": "reject",
        "same_ip_user_agent": "score_only",
        "thresholds": {
            "velocity_per_advocate_per_day": 10,
            "velocity_per_ip_per_day": 5,
            "min_seconds_click_to_conversion": 30,
            "blocked_countries": [],
            "blocked_email_domains": [],
        },
    },
    "variants": [],
    "branding": {"brand_color": "#3b2fc9", "accent_color": "#0f7b5f", "logo_url": None},
    "copy": {"it": {"headline": "Regala 10 €, ricevi 10 €", "description": "", "terms": ""}},
    "summary": "Il tuo amico riceve il 15% di sconto; tu ricevi 10 € di credito quando "
    "acquista almeno 50 €.",
    "headline": "Regala il 15%, ricevi 10 €",
    "starts_at": None,
    "ends_at": None,
    "version": 1,
    "landing_url": "https://app.example.com/p/acme/give-10/",
    "created_at": "2026-03-01T09:30:00.000000Z",
    "updated_at": "2026-03-01T09:30:00.000000Z",
}
VALIDATION_ERROR: dict[str, Any] = {
    "error": {
        "type": "invalid_request_error",
        "code": "invalid",
        "message": "Must be between 1 and 100.",
        "param": "friend_reward.percent",
        "errors": [
            {"param": "friend_reward.percent", "message": "Must be between 1 and 100."},
            {"param": "rules.hold_days", "message": "Must be between 0 and 90."},
        ],
    }
}
TRANSITION_ERROR: dict[str, Any] = {
    "error": {
        "type": "invalid_request_error",
        "code": "invalid",
        "message": "A archived program cannot activate.",
        "param": "status",
        "errors": [{"param": "status", "message": "A archived program cannot activate."}],
    }
}
NOT_FOUND: dict[str, Any] = {
    "error": {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "message": "No such program.",
        "param": None,
    }
}


def program_example(status_code: int, **changes: Any) -> OpenApiExample:
    return OpenApiExample(
        "Program",
        value={**PROGRAM, **changes},
        response_only=True,
        status_codes=[str(status_code)],
    )


def error_examples(*, validation: dict[str, Any] | None = None) -> list[OpenApiExample]:
    examples = [
        OpenApiExample("Not found", value=NOT_FOUND, response_only=True, status_codes=["404"])
    ]
    if validation is not None:
        examples.append(
            OpenApiExample("Invalid", value=validation, response_only=True, status_codes=["400"])
        )
    return examples
