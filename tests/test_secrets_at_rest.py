"""Signing secrets are encrypted at rest (`referral_saas.crypto`): a copy of the database reveals
none of them, the application reads them back, a changed byte is refused, rows written before
encryption are read as they are and encrypted by the migration."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from accounts.models import Merchant
from referral_saas import crypto, tenancy
from tests.conftest import World
from tracking.stripe_events import stripe_webhook_secret_set
from webhooks.models import WebhookEndpoint
from webhooks.services import endpoint_create, endpoint_rotate_secret


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_webhook_secrets_are_stored_encrypted_and_read_back(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        endpoint = endpoint_create(url="https://hooks.shop.example/in")
        secret = endpoint.secret
        rotated = endpoint_rotate_secret(endpoint=endpoint, grace_hours=24)
        stored = WebhookEndpoint.objects.get(pk=endpoint.pk)

    assert secret.startswith("whsec_")
    assert stored.previous_secret == secret
    assert stored.secret == rotated.secret != secret
    for column in ("secret", "previous_secret"):
        value = raw("rewards_webhookendpoint", column, endpoint.pk)
        assert value.startswith(crypto.PREFIX)
        assert "whsec_" not in value
        assert secret not in value


def test_the_merchants_stripe_secret_is_stored_encrypted(world: World) -> None:
    plaintext = "whsec_" + "a1b2c3d4" * 4
    with tenancy.merchant_context(world.acme):
        stripe_webhook_secret_set(actor=world.alice, secret=plaintext)

    assert Merchant.objects.get(pk=world.acme.pk).stripe_webhook_secret == plaintext
    value = raw("accounts_merchant", "stripe_webhook_secret", world.acme.pk)
    assert value.startswith(crypto.PREFIX)
    assert plaintext not in value


def test_a_changed_ciphertext_is_refused_not_decrypted_to_garbage() -> None:
    token = crypto.encrypt("whsec_secret")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]

    assert crypto.decrypt(token) == "whsec_secret"
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        crypto.decrypt(tampered)


def test_keys_rotate_newest_first_and_old_values_still_read(settings: Any) -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    written_with_old = crypto.encrypt("whsec_old")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    assert crypto.decrypt(written_with_old) == "whsec_old"
    settings.FIELD_ENCRYPTION_KEYS = [new]
    with pytest.raises(ImproperlyConfigured):
        crypto.decrypt(written_with_old)


def test_rows_from_before_encryption_are_read_and_then_encrypted_by_the_migration(
    world: World,
) -> None:
    with tenancy.merchant_context(world.acme):
        endpoint = endpoint_create(url="https://hooks.shop.example/legacy")
    with connection.cursor() as cursor:  # as a row written by the CharField column was
        cursor.execute(
            "UPDATE rewards_webhookendpoint SET secret = %s WHERE id = %s",
            ["whsec_legacyplaintext", endpoint.pk],
        )
    assert WebhookEndpoint.unscoped_all_merchants.get(pk=endpoint.pk).secret == (
        "whsec_legacyplaintext"
    )

    migration = importlib.import_module("webhooks.migrations.0002_encrypt_secrets")
    migration.encrypt_existing(django_apps, None)

    assert raw("rewards_webhookendpoint", "secret", endpoint.pk).startswith(crypto.PREFIX)
    stored = WebhookEndpoint.unscoped_all_merchants.get(pk=endpoint.pk)
    assert stored.secret == "whsec_legacyplaintext"
