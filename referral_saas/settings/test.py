"""Test settings: the real PostgreSQL and Redis, as CI has them."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/referral_saas")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# Under pytest-xdist each worker (gw0, gw1, …) gets its own Redis database (15, 14, …): tests
# clear the cache, and Celery workers started by a test must not take another worker's tasks.
# Done once per worker: processes a test starts (a Celery worker) inherit the rewritten URL.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if (
    _xdist_worker.startswith("gw")
    and os.environ["REDIS_URL"]
    and os.environ.get("TEST_REDIS_URL_PER_WORKER") != _xdist_worker
):
    _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    if _db.isdigit():
        os.environ["REDIS_URL"] = f"{_base}/{int(_db) - int(_xdist_worker[2:])}"
    os.environ["TEST_REDIS_URL_PER_WORKER"] = _xdist_worker
os.environ.setdefault("LOG_FORMAT", "text")
os.environ.setdefault("WHITENOISE_USE_FINDERS", "true")
# Suites post quickly on one key (fuzz tests); rate-limit tests set their own limits.
os.environ.setdefault("API_RATE_LIMIT_SECRET", "100000")
os.environ.setdefault("API_RATE_LIMIT_PUBLISHABLE", "100000")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Tests change keys and merchants behind the services' back (ORM updates, expired fixtures), which
# a warm API key cache would not see; tests/test_hot_paths*.py turn it on.
os.environ.setdefault("API_KEY_CACHE_SECONDS", "0")

from referral_saas.settings.base import *  # noqa: E402, F403

SECRET_KEY = "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run in the test process right after commit; tests that need a real worker start one.
# A worker process started by a test sets TEST_CELERY_EAGER=false so the tasks it sends go
# through the broker like in production.
CELERY_TASK_ALWAYS_EAGER = os.environ.get("TEST_CELERY_EAGER", "true") == "true"
# Eager tests evaluate each conversion right after its commit; tests of the dispatcher turn
# this off to see the outbox at work.
PIPELINE_EVALUATE_ON_COMMIT = os.environ.get("TEST_PIPELINE_EVALUATE_ON_COMMIT", "true") == "true"
WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests must not be slowed or flaked by login throttling unless a test turns it on.
ACCOUNT_RATE_LIMITS = {k: v for k, v in ACCOUNT_RATE_LIMITS.items() if k != "confirm_email"}  # noqa: F405

# On the embedded default (`DATABASE_URL=sqlite:///…`, the journey tests), the test database is
# a file beside it, not memory: live-server and concurrency tests open one connection per thread.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    _name = str(DATABASES["default"]["NAME"])  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": _name.replace(".sqlite3", "") + "_test.sqlite3"}  # noqa: F405
