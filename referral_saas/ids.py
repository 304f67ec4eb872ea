"""Opaque public identifiers: a type prefix and 20 random base62 characters (~119 bits)."""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits


def random_string(length: int, alphabet: str = ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{random_string(20)}"
