from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.shortcuts import resolve_url

from accounts.mail import product_site


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request: HttpRequest) -> str:
        return resolve_url("dashboard_home")

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """allauth names the site from the request's Host when `django.contrib.sites` is not
        installed ("Hello from 127.0.0.1"): sign-up, verification and reset emails name the
        product and its public address instead."""
        super().send_mail(template_prefix, email, {"current_site": product_site(), **context})
