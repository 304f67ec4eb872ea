"""Settings of the baseline: no middleware, no auth, no sessions, JSON in and out.

It reads the same environment variables as the project's production settings and talks to the
same PostgreSQL database, so a baseline endpoint can run the project's SQL against the rows the
scenario's seed hook created. The connection policy (DATABASE_POOL, DATABASE_CONN_MAX_AGE) follows
the project's settings/base.py: a difference there would show up as a ratio that has nothing to do
with the project.
"""

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set for the benchmark baseline")
    return value


def _database_from_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        **_connection_policy(),
    }


def _connection_policy() -> dict[str, Any]:
    # The same variables, defaults and pool sizes as referral_saas/settings/base.py.
    if os.environ.get("DATABASE_POOL", "false").lower() in {"1", "true", "yes", "on"}:
        return {
            "CONN_MAX_AGE": 0,
            "OPTIONS": {"pool": {"min_size": 1, "max_size": 8, "timeout": 10}},
        }
    return {"CONN_MAX_AGE": int(os.environ.get("DATABASE_CONN_MAX_AGE", "0"))}


SECRET_KEY = _required("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = [host.strip() for host in _required("DJANGO_ALLOWED_HOSTS").split(",")]

INSTALLED_APPS = ["rest_framework", "bench.baseline"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.baseline.urls"
WSGI_APPLICATION = "bench.baseline.wsgi.application"

DATABASES = {"default": _database_from_url(_required("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}

# Errors (a 500 in a baseline endpoint) go to the gunicorn log the harness prints on failure.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}
