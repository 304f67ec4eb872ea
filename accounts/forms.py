from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest

from accounts.models import User


class MerchantSignupForm(forms.Form):
    """allauth's sign-up form plus the business name; sign-up creates the merchant."""

    business_name = forms.CharField(
        max_length=120,
        label="Business name",
        widget=forms.TextInput(attrs={"placeholder": "Acme Coffee", "autocomplete": "organization"}),
    )

    def signup(self, request: HttpRequest, user: User) -> None:
        from accounts.services import merchant_create

        merchant_create(name=self.cleaned_data["business_name"], owner=user, request=request)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
