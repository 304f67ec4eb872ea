"""Production settings: real PostgreSQL and Redis, HTTPS, strict validation at start-up."""

from django.core.exceptions import ImproperlyConfigured

from referral_saas.settings.base import *  # noqa: F403
from referral_saas.settings.base import env

DEBUG = False
WEBHOOKS_ALLOW_PRIVATE_TARGETS = False

_problems: list[str] = []
if len(SECRET_KEY) < 50:  # noqa: F405
    _problems.append("DJANGO_SECRET_KEY must be set to at least 50 random characters")
if not ALLOWED_HOSTS:  # noqa: F405
    _problems.append("DJANGO_ALLOWED_HOSTS must list the public host names")
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":  # noqa: F405
    _problems.append("DATABASE_URL must point at PostgreSQL in production")
if not REDIS_URL:  # noqa: F405
    _problems.append("REDIS_URL must be set in production (broker, cache, rate limits)")
if _problems:
    raise ImproperlyConfigured("Invalid production configuration: " + "; ".join(_problems))

# Without the pool, keep each thread's connection between requests: a new PostgreSQL connection
# per request (Django's default, 0) costs a TCP and auth handshake on every hot-path request.
# No CONN_HEALTH_CHECKS: that is a `SELECT 1` per request; a dead connection fails one request
# and is replaced.
if not DATABASE_POOL and "DATABASE_CONN_MAX_AGE" not in env.ENVIRON:  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
