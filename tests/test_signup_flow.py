"""Sign-up, email verification, login, password reset and login throttling (allauth, our pages)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Merchant, Role, User
from referral_saas import tenancy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-Secret-passphrase-42"


def sign_up(client: Client, email: str = "dora@example.com", business: str = "Dora's Donuts"):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD, "business_name": business},
    )


def link_in(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/\S+/)", body)
    assert match is not None, body
    return match.group(1)


def test_signup_page_has_business_name_field(client: Client) -> None:
    response = client.get(reverse("account_signup"))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<label for="id_business_name">Business name' in body
    assert 'name="business_name"' in body
    assert '<link rel="stylesheet" href="/static/css/app.css">' in body


def test_signup_verify_and_land_on_dashboard(client: Client) -> None:
    # given a visitor signs up with a business name
    response = sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")

    # then a merchant exists with them as owner, audited, and a verification email is sent
    user = User.objects.get(email="dora@example.com")
    merchant = Merchant.objects.get(name="Dora's Donuts")
    with tenancy.merchant_context(merchant):
        assert list(Membership.objects.values_list("user", "role")) == [(user.pk, Role.OWNER)]
        assert list(AuditEvent.objects.values_list("action", flat=True)) == ["merchant.created"]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dora@example.com"]
    confirm_path = link_in(mail.outbox[0].body)
    assert "_auth_user_id" not in client.session

    # when they follow the link: GET shows a form, POST confirms
    page = client.get(confirm_path)
    assert page.status_code == 200
    assert "dora@example.com" in page.content.decode()
    assert user.emailaddress_set.get().verified is False  # type: ignore[attr-defined]
    confirmed = client.post(confirm_path, follow=True)

    # then they are logged in and on their merchant's overview
    assert user.emailaddress_set.get().verified is True  # type: ignore[attr-defined]
    assert client.session["_auth_user_id"] == str(user.pk)
    assert confirmed.redirect_chain[-1][0] == reverse(
        "merchant_overview", kwargs={"merchant_slug": merchant.slug}
    )
    assert confirmed.status_code == 200
    assert "Dora&#x27;s Donuts" in confirmed.content.decode()


def test_login_before_verification_is_refused(client: Client) -> None:
    sign_up(client)
    client.logout()
    mail.outbox.clear()

    response = client.post(
        reverse("account_login"), {"login": "dora@example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("dashboard_home"))["Location"].startswith(reverse("account_login"))


def test_verified_user_logs_in_to_dashboard(client: Client) -> None:
    UserFactory(email="vera@example.com", password=PASSWORD)
    response = client.post(
        reverse("account_login"), {"login": "vera@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard_home")


def test_password_reset_email_arrives(client: Client) -> None:
    UserFactory(email="vera@example.com", password=PASSWORD)

    response = client.post(reverse("account_reset_password"), {"email": "vera@example.com"})

    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["vera@example.com"]
    reset_path = link_in(mail.outbox[0].body)
    page = client.get(reset_path, follow=True)
    assert page.status_code == 200
    assert 'name="password1"' in page.content.decode()


def test_repeated_failed_logins_are_throttled(client: Client) -> None:
    UserFactory(email="vera@example.com", password=PASSWORD)
    failures = [
        client.post(reverse("account_login"), {"login": "vera@example.com", "password": "wrong"})
        for _ in range(5)
    ]
    assert [r.status_code for r in failures] == [200] * 5

    # then even the right password is refused for this account for a while
    refused = client.post(
        reverse("account_login"), {"login": "vera@example.com", "password": PASSWORD}
    )

    assert refused.status_code == 200
    assert "Too many failed login attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
