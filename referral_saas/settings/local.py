"""Developer settings: `make run`. Embedded defaults (SQLite, in-process tasks) unless
DATABASE_URL / REDIS_URL point at real servers."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("LOG_FORMAT", "text")

from referral_saas.settings.base import *  # noqa: F403
from referral_saas.settings.base import env

SECRET_KEY = SECRET_KEY or "local-development-only-secret-key-not-for-production-use-0123456789"  # noqa: F405
ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]"]  # noqa: F405
# Link-local and private webhook targets are allowed only here and in tests.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=True)
