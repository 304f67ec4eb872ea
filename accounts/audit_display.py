"""The audit log in plain language: what happened and what changed, from the stored event.

Events keep their machine form (`action`, `data`) as the legal record; this module only reads
them. `data` shapes it understands, whoever wrote them:
- `{"changes": {field: {"from": old, "to": new}}}` → "Privacy policy URL: (none) → https://…";
- `{"from": old, "to": new}` → "Status: draft → active" (a role, a status, a plan);
- `{"fields": [...]}` → "Changed: reward for the friend, texts (headline, description, terms)";
- any other key → "Label: value", with labels for the keys our services write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.models import AuditEvent, Role

ACTIONS: dict[str, str] = {
    "merchant.created": "Business account created",
    "merchant.profile_updated": "Business details changed",
    "merchant.owner_mfa_required": "Two-factor authentication required for owners",
    "merchant.owner_mfa_optional": "Two-factor authentication made optional for owners",
    "merchant.stripe_webhook_secret_replaced": "Stripe signing secret saved",
    "retention.updated": "Data retention periods changed",
    "member.invited": "Team member invited",
    "member.joined": "Team member joined",
    "member.invitation_revoked": "Invitation revoked",
    "member.role_changed": "Role changed",
    "member.removed": "Team member removed",
    "api_key.created": "API key created",
    "api_key.revoked": "API key revoked",
    "api_key.rolled": "API key rolled",
    "program.created": "Program created",
    "program.updated": "Program edited",
    "program.logo_changed": "Program logo changed",
    "program.activated": "Program activated",
    "program.paused": "Program paused",
    "program.archived": "Program archived",
    "program.duplicated": "Program duplicated",
    "code_pool.created": "Code pool created",
    "code_pool.uploaded": "Codes uploaded",
    "email_template.updated": "Email template changed",
    "email_template.reset": "Email template reset to ours",
    "reward.approved": "Reward approved",
    "reward.rejected": "Reward rejected",
    "reward.voided": "Reward voided",
    "reward.issued": "Reward issued",
    "reward.retried": "Reward fulfilment retried",
    "conversion.review_approved": "Order approved in review",
    "conversion.review_rejected": "Order rejected in review",
    "advocate.blocked": "Advocate blocked",
    "advocate.unblocked": "Advocate unblocked",
    "webhook_endpoint.created": "Webhook endpoint added",
    "webhook_endpoint.updated": "Webhook endpoint changed",
    "webhook_endpoint.deleted": "Webhook endpoint deleted",
    "webhook_endpoint.secret_rotated": "Webhook signing secret rotated",
    "webhook_endpoint.disabled": "Webhook endpoint disabled",
    "webhook_endpoint.enabled": "Webhook endpoint enabled",
    "webhook_endpoint.recovered": "Webhook endpoint recovered",
    "webhook_delivery.replayed": "Webhook delivery replayed",
    "billing.checkout_started": "Plan checkout started",
    "billing.portal_opened": "Billing portal opened",
    "billing.payment_failed": "Payment failed",
    "billing.plan_changed": "Plan changed",
    "privacy.exported": "Personal data exported",
    "privacy.erased": "Personal data erased",
    "abtest.ended": "A/B test ended",
}

# What the keys of `data` (and the fields named in `fields`/`changes`) mean to a merchant.
LABELS: dict[str, str] = {
    "name": "Name",
    "slug": "Address (slug)",
    "type": "Type",
    "currency": "Currency",
    "default_locale": "Default language",
    "locales": "Languages",
    "destination_url": "Destination",
    "allowed_domains": "Allowed domains",
    "starts_at": "Start",
    "ends_at": "End",
    "branding": "Branding",
    "brand_color": "Brand colour",
    "accent_color": "Accent colour",
    "copy": "Texts (headline, description, terms)",
    "advocate_reward": "Reward for the advocate",
    "friend_reward": "Reward for the friend",
    "tiers": "Reward levels",
    "rules": "Rules",
    "fraud": "Fraud checks",
    "variants": "A/B variants",
    "version": "Configuration version",
    "privacy_policy_url": "Privacy policy URL",
    "sender_name": "Email sender name",
    "reply_to_email": "Reply-to address",
    "email": "Email",
    "user": "Person",
    "role": "Role",
    "invitation": "Invitation",
    "kind": "Kind",
    "key": "Key",
    "replacement": "Replacement key",
    "grace_hours": "Old key valid for",
    "program": "Program",
    "reason": "Reason",
    "previous_reason": "Reason it was blocked",
    "note": "Note",
    "url": "URL",
    "events": "Events",
    "description": "Description",
    "secret_prefix": "New secret starts with",
    "ending": "Ends with",
    "external_id": "External id",
    "last_error": "Last error",
    "locale": "Language",
    "plan": "Plan",
    "session": "Checkout session",
    "grace_period_ends_at": "Grace period ends",
    "since": "From",
    "until": "Until",
    "deliveries": "Deliveries",
    "email_sha256": "Email (hashed)",
    "erased": "Erased",
    "from": "From",
}
ROLE_NAMES = dict(Role.choices)
NONE = "(none)"


@dataclass(frozen=True)
class AuditLine:
    summary: str
    details: list[str]


def label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def value_text(key: str, value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "role" or (key in {"from", "to"} and value in ROLE_NAMES):
        return str(ROLE_NAMES.get(value, value))
    if key == "grace_hours" and isinstance(value, int):
        return "no longer (revoked at once)" if value == 0 else f"{value} hours"
    if isinstance(value, list):
        return ", ".join(value_text(key, item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {value_text(k, v)}" for k, v in value.items())
    return str(value)


def _summary(event: AuditEvent) -> str:
    if event.action in ACTIONS:
        return ACTIONS[event.action]
    subject, _, verb = event.action.partition(".")
    return f"{label(subject)}: {verb.replace('_', ' ')}" if verb else label(subject)


def describe(event: AuditEvent) -> AuditLine:
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
    details: list[str] = []
    rest = dict(data)
    changes = rest.pop("changes", None)
    if isinstance(changes, dict):
        for field, change in changes.items():
            if isinstance(change, dict) and {"from", "to"} <= set(change):
                before, after = value_text(field, change["from"]), value_text(field, change["to"])
                details.append(f"{label(field)}: {before} → {after}")
            else:
                details.append(f"{label(field)}: {value_text(field, change)}")
    if "from" in rest and "to" in rest:
        before, after = rest.pop("from"), rest.pop("to")
        details.append(
            f"{_from_to_label(event)}: {value_text('from', before)} → {value_text('to', after)}"
        )
    fields = rest.pop("fields", None)
    if isinstance(fields, list) and fields:
        named = [label(str(field)) for field in fields if field != "version"]
        if named:
            details.append("Changed: " + ", ".join(named))
    for key, value in rest.items():
        details.append(f"{label(key)}: {value_text(key, value)}")
    if not details and event.target_id:
        details.append(f"{label(event.target_type)} {event.target_id}")
    return AuditLine(summary=_summary(event), details=details)


def _from_to_label(event: AuditEvent) -> str:
    """What a bare `from`/`to` pair is a change of, by the action that wrote it."""
    subject = event.action.partition(".")[0]
    return {"member": "Role", "program": "Status", "billing": "Plan"}.get(subject, "Change")
