"""Secrets at rest: credentials we must be able to read back (signing secrets: we compute HMACs
with them) are stored encrypted with an application key, so a copy of the database or of a
backup alone reveals none of them.

`EncryptedTextField` encrypts with Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`,
authenticated: a changed byte is refused, not decrypted to garbage) under the first key of
`FIELD_ENCRYPTION_KEYS`, and decrypts with any of them (`MultiFernet`), so keys rotate by putting
a new key first (every save re-encrypts with the first key). Without configured keys, one key
is derived from `SECRET_KEY` with HKDF: set `FIELD_ENCRYPTION_KEYS` before changing
`SECRET_KEY`, with the old derived key last, or stored secrets can no longer be read.

Stored form: `enc1:<fernet token>`. A value without the prefix is a row written before this
field existed; it is read as is and encrypted on its next save (and by the migrations that
introduced the field).
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "enc1:"


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"referral-saas field encryption"
    )
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    try:
        fernets = [Fernet(key.encode()) for key in keys] or [Fernet(_derived_key(secret_key))]
    except ValueError as error:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 bytes each, e.g. "
            "from `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)"
        ) from error
    return MultiFernet(fernets)


def fernet() -> MultiFernet:
    keys = tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) or ())
    return _fernet(keys, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    """The plaintext of a stored value (a value without the prefix predates encryption)."""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS: the key that "
            "encrypted it is missing (keep old keys after the new one while rotating)."
        ) from None


class EncryptedTextField(models.TextField):
    """A text column holding a secret, encrypted at rest; the model attribute is plaintext.
    The empty string stays empty (so "is it set?" needs no decryption). Not for lookups."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return value if value is None else decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "" or str(value).startswith(PREFIX):
            return value
        return encrypt(str(value))


# --- For the migrations that turn a plaintext column into an encrypted one -------------------


def encrypt_rows(apps: Any, app_label: str, model_name: str, fields: tuple[str, ...]) -> None:
    """Rows written before encryption hold plaintext: re-save each value, which the field
    encrypts. Idempotent: encrypted values are read back and encrypted again."""
    model = apps.get_model(app_label, model_name)
    for row in model._base_manager.all().only("pk", *fields).iterator():
        changes = {name: getattr(row, name) for name in fields if getattr(row, name)}
        if changes:
            model._base_manager.filter(pk=row.pk).update(**changes)


def decrypt_rows(
    apps: Any, schema_editor: Any, app_label: str, model_name: str, fields: tuple[str, ...]
) -> None:
    """Back to plaintext (the reverse migration), with raw SQL: the column goes back to the
    plain field afterwards."""
    model = apps.get_model(app_label, model_name)
    table = model._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        for name in fields:
            column = model._meta.get_field(name).column
            cursor.execute(f"SELECT id, {column} FROM {table}")  # noqa: S608
            for pk, value in cursor.fetchall():
                if value:
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608
                        [decrypt(value), pk],
                    )
