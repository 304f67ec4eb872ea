"""Dashboard forms: they parse input; the services in `accounts.services` decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest

from accounts.models import ApiKeyKind, Role, User


class MerchantSignupForm(forms.Form):
    """allauth's sign-up form plus the business name; sign-up creates the merchant."""

    business_name = forms.CharField(
        max_length=120,
        required=False,
        label="Business name",
        help_text="Invited to join a team? Leave this empty and accept the invitation after "
        "signing in.",
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
        label="Business name",
        widget=forms.TextInput(
            attrs={"placeholder": "Acme Coffee", "autocomplete": "organization"}
        ),
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleChangeForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyCreateForm(forms.Form):
    kind = forms.ChoiceField(
        choices=ApiKeyKind.choices,
        initial=ApiKeyKind.SECRET,
        widget=forms.RadioSelect,
        help_text="Secret keys are for your servers. Publishable keys are safe in browsers, "
        "but only record clicks, referrals and enrolments from the origins you allow.",
    )
    name = forms.CharField(
        max_length=80,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Production server"}),
    )
    allowed_origins = forms.CharField(
        required=False,
        label="Allowed origins",
        help_text="Publishable keys only. One per line, e.g. https://shop.example.com",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://shop.example.com"}),
    )

    def clean_allowed_origins(self) -> list[str]:
        raw: str = self.cleaned_data.get("allowed_origins") or ""
        return [line for line in raw.replace(",", "\n").splitlines() if line.strip()]


GRACE_PERIOD_CHOICES = [
    (0, "Immediately"),
    (1, "After 1 hour"),
    (24, "After 24 hours"),
    (72, "After 3 days"),
    (168, "After 7 days"),
]


class ApiKeyRollForm(forms.Form):
    grace_hours = forms.TypedChoiceField(
        choices=GRACE_PERIOD_CHOICES,
        coerce=int,
        initial=24,
        label="Old key stops working",
    )


class MerchantSecurityForm(forms.Form):
    require_owner_mfa = forms.BooleanField(
        required=False,
        label="Require two-factor authentication for owners",
        help_text="Owners without an authenticator app are sent to set one up before they can "
        "use this merchant's dashboard.",
    )


class StripeWebhookSecretForm(forms.Form):
    """The signing secret of the merchant's Stripe endpoint. Write-only: never rendered back."""

    stripe_webhook_secret = forms.CharField(
        max_length=200,
        label="Signing secret",
        help_text="In Stripe: Developers → Webhooks → your endpoint → Signing secret (whsec_…).",
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "whsec_…"}),
    )

    def clean_stripe_webhook_secret(self) -> str:
        value: str = (self.cleaned_data.get("stripe_webhook_secret") or "").strip()
        if not value.startswith("whsec_") or len(value) <= 10 or any(c.isspace() for c in value):
            raise forms.ValidationError("A signing secret starts with whsec_ and has no spaces.")
        return value
