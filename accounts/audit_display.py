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

from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent, Role

ACTIONS: dict[str, Any] = {
    "merchant.created": _("Business account created"),
    "merchant.profile_updated": _("Business details changed"),
    "merchant.owner_mfa_required": _("Two-factor authentication required for owners"),
    "merchant.owner_mfa_optional": _("Two-factor authentication made optional for owners"),
    "merchant.stripe_webhook_secret_replaced": _("Stripe signing secret saved"),
    "retention.updated": _("Data retention periods changed"),
    "member.invited": _("Team member invited"),
    "member.joined": _("Team member joined"),
    "member.invitation_revoked": _("Invitation revoked"),
    "member.role_changed": _("Role changed"),
    "member.removed": _("Team member removed"),
    "api_key.created": _("API key created"),
    "api_key.revoked": _("API key revoked"),
    "api_key.rolled": _("API key rolled"),
    "program.created": _("Program created"),
    "program.updated": _("Program edited"),
    "program.logo_changed": _("Program logo changed"),
    "program.activated": _("Program activated"),
    "program.paused": _("Program paused"),
    "program.archived": _("Program archived"),
    "program.duplicated": _("Program duplicated"),
    "code_pool.created": _("Code pool created"),
    "code_pool.uploaded": _("Codes uploaded"),
    "email_template.updated": _("Email template changed"),
    "email_template.reset": _("Email template reset to ours"),
    "reward.approved": _("Reward approved"),
    "reward.rejected": _("Reward rejected"),
    "reward.voided": _("Reward voided"),
    "reward.issued": _("Reward issued"),
    "reward.retried": _("Reward fulfilment retried"),
    "conversion.review_approved": _("Order approved in review"),
    "conversion.review_rejected": _("Order rejected in review"),
    "advocate.blocked": _("Advocate blocked"),
    "advocate.unblocked": _("Advocate unblocked"),
    "webhook_endpoint.created": _("Webhook endpoint added"),
    "webhook_endpoint.updated": _("Webhook endpoint changed"),
    "webhook_endpoint.deleted": _("Webhook endpoint deleted"),
    "webhook_endpoint.secret_rotated": _("Webhook signing secret rotated"),
    "webhook_endpoint.disabled": _("Webhook endpoint disabled"),
    "webhook_endpoint.enabled": _("Webhook endpoint enabled"),
    "webhook_endpoint.recovered": _("Webhook endpoint recovered"),
    "webhook_delivery.replayed": _("Webhook delivery replayed"),
    "billing.checkout_started": _("Plan checkout started"),
    "billing.portal_opened": _("Billing portal opened"),
    "billing.payment_failed": _("Payment failed"),
    "billing.plan_changed": _("Plan changed"),
    "privacy.exported": _("Personal data exported"),
    "privacy.erased": _("Personal data erased"),
    "abtest.ended": _("A/B test ended"),
}

# What the keys of `data` (and the fields named in `fields`/`changes`) mean to a merchant.
LABELS: dict[str, Any] = {
    "name": _("Name"),
    "slug": _("Address (slug)"),
    "type": _("Type"),
    "currency": _("Currency"),
    "default_locale": _("Default language"),
    "locales": _("Languages"),
    "destination_url": _("Destination"),
    "allowed_domains": _("Allowed domains"),
    "starts_at": _("Start"),
    "ends_at": _("End"),
    "branding": _("Branding"),
    "brand_color": _("Brand colour"),
    "accent_color": _("Accent colour"),
    "copy": _("Texts (headline, description, terms)"),
    "advocate_reward": _("Reward for the advocate"),
    "friend_reward": _("Reward for the friend"),
    "tiers": _("Reward levels"),
    "rules": _("Rules"),
    "fraud": _("Fraud checks"),
    "variants": _("A/B variants"),
    "version": _("Configuration version"),
    "privacy_policy_url": _("Privacy policy URL"),
    "sender_name": _("Email sender name"),
    "reply_to_email": _("Reply-to address"),
    "email": _("Email"),
    "user": _("Person"),
    "role": _("Role"),
    "invitation": _("Invitation"),
    "kind": _("Kind"),
    "key": _("Key"),
    "replacement": _("Replacement key"),
    "grace_hours": _("Old key valid for"),
    "program": _("Program"),
    "reason": _("Reason"),
    "previous_reason": _("Reason it was blocked"),
    "note": _("Note"),
    "url": _("URL"),
    "events": _("Events"),
    "description": _("Description"),
    "secret_prefix": _("New secret starts with"),
    "ending": _("Ends with"),
    "external_id": _("External id"),
    "last_error": _("Last error"),
    "locale": _("Language"),
    "plan": _("Plan"),
    "session": _("Checkout session"),
    "grace_period_ends_at": _("Grace period ends"),
    "since": _("From"),
    "until": _("Until"),
    "deliveries": _("Deliveries"),
    "email_sha256": _("Email (hashed)"),
    "erased": _("Erased"),
    "from": _("From"),
}
ROLE_NAMES = dict(Role.choices)
NONE = "(none)"


@dataclass(frozen=True)
class AuditLine:
    summary: str
    details: list[str]


def label(key: str) -> str:
    return str(LABELS.get(key) or key.replace("_", " ").capitalize())


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
        return str(ACTIONS[event.action])
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
