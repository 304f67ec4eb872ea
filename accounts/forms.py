"""Dashboard forms: they parse input; the services in `accounts.services` decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKeyKind, Role, User


class MerchantSignupForm(forms.Form):
    """allauth's sign-up form plus the business name; sign-up creates the merchant."""

    business_name = forms.CharField(
        max_length=120,
        required=False,
        label=_("Business name"),
        help_text=_(
            "Invited to join a team? Leave this empty and accept the invitation after signing in."
        ),
        widget=forms.TextInput(
            attrs={"placeholder": "Acme Coffee", "autocomplete": "organization"}
        ),
    )

    def clean(self) -> dict[str, Any]:
        from accounts.selectors import invitations_open_for_email

        cleaned: dict[str, Any] = super().clean() or {}
        name = (cleaned.get("business_name") or "").strip()
        email = cleaned.get("email") or ""
        if not name and email and not invitations_open_for_email(email).exists():
            self.add_error("business_name", "Give your business a name.")
        cleaned["business_name"] = name
        return cleaned

    def signup(self, request: HttpRequest, user: User) -> None:
        """Sign-up creates a merchant owned by the user, unless they came to join one."""
        from accounts.services import merchant_create

        if self.cleaned_data["business_name"]:
            merchant_create(name=self.cleaned_data["business_name"], owner=user, request=request)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class MerchantCreateForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        label=_("Business name"),
        widget=forms.TextInput(
            attrs={"placeholder": "Acme Coffee", "autocomplete": "organization"}
        ),
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"), widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleChangeForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyCreateForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=ApiKeyKind.choices,
        initial=ApiKeyKind.SECRET,
        widget=forms.RadioSelect,
        help_text=_(
            "Secret keys are for your servers. Publishable keys are safe in browsers, "
            "but only record clicks, referrals and enrolments from the origins you allow."
        ),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=80,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("Production server")}),
    )
    allowed_origins = forms.CharField(
        required=False,
        label=_("Allowed origins"),
        help_text=_("Publishable keys only. One per line, e.g. https://shop.example.com"),
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://shop.example.com"}),
    )

    def clean_allowed_origins(self) -> list[str]:
        raw: str = self.cleaned_data.get("allowed_origins") or ""
        return [line for line in raw.replace(",", "\n").splitlines() if line.strip()]


GRACE_PERIOD_CHOICES = [
    (0, _("Immediately")),
    (1, _("After 1 hour")),
    (24, _("After 24 hours")),
    (72, _("After 3 days")),
    (168, _("After 7 days")),
]


class ApiKeyRollForm(forms.Form):
    grace_hours = forms.TypedChoiceField(
        choices=GRACE_PERIOD_CHOICES,
        coerce=int,
        initial=24,
        label=_("Old key stops working"),
    )


def _refuse_control_characters(value: str, field: str) -> None:
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise forms.ValidationError(f"The {field} cannot contain line breaks or tabs.")


class MerchantProfileForm(forms.Form):
    """What advocates and friends see of the merchant. The one parser of these fields, for the
    Settings page and `PATCH /api/v1/merchant` alike; `accounts.services` saves what it cleans."""

    name = forms.CharField(
        max_length=120,
        label=_("Business name"),
        help_text=_("Shown on your referral pages and in the emails advocates and friends get."),
        error_messages={
            "required": "Give your business a name.",
            "max_length": "Keep the business name to %(limit_value)d characters or fewer.",
        },
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    privacy_policy_url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        label=_("Privacy policy URL"),
        help_text=_(
            "Linked from every referral page that asks for an email (footer and cookie "
            "banner), from the join form's consent and from every email. Leave empty to link none."
        ),
        error_messages={
            "invalid": "Enter the full address of your privacy policy, like "
            "https://shop.example.com/privacy.",
            "max_length": "Keep the privacy policy address to %(limit_value)d characters or fewer.",
        },
        widget=forms.URLInput(attrs={"placeholder": "https://shop.example.com/privacy"}),
    )
    sender_name = forms.CharField(
        max_length=80,
        required=False,
        label=_("Email sender name"),
        help_text=_(
            "The name advocates and friends see as the sender of their emails. Empty: "
            "your business name."
        ),
        error_messages={
            "max_length": "Keep the sender name to %(limit_value)d characters or fewer.",
        },
        widget=forms.TextInput(attrs={"placeholder": "Acme Coffee Rewards"}),
    )
    reply_to_email = forms.EmailField(
        max_length=254,
        required=False,
        label=_("Reply-to address"),
        help_text=_(
            "Where replies to those emails go. Empty: emails carry no reply address, "
            "so a reply does not reach you."
        ),
        error_messages={
            "invalid": "Enter an email address like support@shop.example.com.",
            "max_length": "Keep the reply-to address to %(limit_value)d characters or fewer.",
        },
        widget=forms.EmailInput(attrs={"placeholder": "support@shop.example.com"}),
    )

    def clean_name(self) -> str:
        value = self.cleaned_data["name"].strip()
        _refuse_control_characters(value, "business name")
        if not value:
            raise forms.ValidationError("Give your business a name.")
        return value

    def clean_privacy_policy_url(self) -> str:
        value: str = self.cleaned_data.get("privacy_policy_url") or ""
        if value and not value.lower().startswith(("https://", "http://")):
            raise forms.ValidationError(
                "The privacy policy address must start with https:// (or http://)."
            )
        return value

    def clean_sender_name(self) -> str:
        value = self.cleaned_data["sender_name"].strip()
        _refuse_control_characters(value, "sender name")
        if any(character in value for character in '@<>"'):
            # A name that looks like an address is how spoofed mail looks to spam filters.
            raise forms.ValidationError(
                'The sender name is a name, not an address: leave out @, < > and ".'
            )
        return value


class MerchantSecurityForm(forms.Form):
    require_owner_mfa = forms.BooleanField(
        required=False,
        label=_("Require two-factor authentication for owners"),
        help_text=_(
            "Owners without an authenticator app are sent to set one up before they can "
            "use this merchant's dashboard."
        ),
    )


class StripeWebhookSecretForm(forms.Form):
    """The signing secret of the merchant's Stripe endpoint. Write-only: never rendered back."""

    stripe_webhook_secret = forms.CharField(
        max_length=200,
        label=_("Signing secret"),
        help_text=_("In Stripe: Developers → Webhooks → your endpoint → Signing secret (whsec_…)."),
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "whsec_…"}),
    )

    def clean_stripe_webhook_secret(self) -> str:
        value: str = (self.cleaned_data.get("stripe_webhook_secret") or "").strip()
        if not value.startswith("whsec_") or len(value) <= 10 or any(c.isspace() for c in value):
            raise forms.ValidationError("A signing secret starts with whsec_ and has no spaces.")
        return value
