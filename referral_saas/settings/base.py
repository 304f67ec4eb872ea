"""Settings shared by every environment.

Every value comes from the environment (see `.env.example`), is parsed by django-environ and is
validated here, at start-up, so a typo fails the process instead of a request.
"""

import re
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlparse

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
_dotenv = BASE_DIR / ".env"
if _dotenv.exists():
    environ.Env.read_env(_dotenv)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
# Keys (Fernet, comma-separated, newest first) that encrypt stored signing secrets; empty: one
# key derived from SECRET_KEY (see referral_saas/crypto.py before changing SECRET_KEY).
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base used in links we hand out (emails, referral URLs, API responses).
PUBLIC_BASE_URL: str = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# How many reverse proxies (load balancer, ingress) stand in front of the web processes: the
# client's address is read that many hops from the right of X-Forwarded-For. 0 = none.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if not 0 <= TRUSTED_PROXY_COUNT <= 5:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be between 0 and 5")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "events.apps.EventsConfig",
    "accounts",
    "programs",
    "tracking",
    "rewards",
    "hosted",
    "billing",
    "analytics",
    "webhooks.apps.WebhooksConfig",
    "payouts.apps.PayoutsConfig",
    "server.apps.ServerConfig",
    "retention.apps.RetentionConfig",
    "integrations.apps.IntegrationsConfig",
]

MIDDLEWARE = [
    "referral_saas.health.HealthCheckMiddleware",
    "referral_saas.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "referral_saas.middleware.CSPMiddleware",  # django-csp's, its header built once
    # Sessions, auth, messages and htmx as Django's, except on the two hot paths
    # (POST /api/v1/conversions, GET /r/<code>), which need none of them (issue 19).
    "referral_saas.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # the deploy check wants this very path
    "referral_saas.middleware.AuthenticationMiddleware",
    "accounts.language.UserLanguageMiddleware",  # the signed-in person's chosen language
    "referral_saas.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",  # allauth checks this very path is listed
    "referral_saas.middleware.HtmxMiddleware",
    "billing.middleware.PlanFeatureMiddleware",  # a feature the plan lacks: a message, not a 500
    "referral_saas.middleware.TenantContextGuardMiddleware",
    "referral_saas.api.cors.CorsPreflightMiddleware",
]

ROOT_URLCONF = "server.urls"
WSGI_APPLICATION = "referral_saas.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",  # LANGUAGE_CODE: <html lang>
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.dashboard",
            ],
        },
    },
]

# --- Data stores ----------------------------------------------------------------------------
# With no DATABASE_URL the embedded default is SQLite in var/; with no REDIS_URL, tasks run
# in-process and the cache is local memory. Tests and production require the real servers.
DATABASE_URL: str = env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASE_POOL = env.bool("DATABASE_POOL", default=False)
DATABASE_CONN_MAX_AGE = env.int("DATABASE_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if DATABASE_POOL:
        # psycopg's pool inside each web process; Celery workers turn it off (see celery.py).
        DATABASES["default"]["OPTIONS"] = {"pool": {"min_size": 1, "max_size": 8, "timeout": 10}}
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = DATABASE_CONN_MAX_AGE
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    # Concurrent writers wait for each other instead of failing with "database is locked":
    # every transaction takes the write lock when it begins (IMMEDIATE, so a reader never has to
    # upgrade mid-transaction, which SQLite cannot wait for), readers never block the writer
    # (WAL), and a writer waits up to 20 s for the lock (busy timeout).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
    # The analytics roll-ups' "one row per day and key" constraints treat NULL as a value, which
    # SQLite cannot enforce; the roll-up replaces a day's rows in one (IMMEDIATE, so serialised)
    # transaction, which keeps them unique there.
    SILENCED_SYSTEM_CHECKS = ["models.W047"]
else:
    raise ImproperlyConfigured(
        "DATABASE_URL must be a postgres:// or sqlite:/// URL, got scheme "
        f"{urlparse(DATABASE_URL).scheme!r}"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL: str = env.str("REDIS_URL", default="")
if REDIS_URL and urlparse(REDIS_URL).scheme not in {"redis", "rediss"}:
    raise ImproperlyConfigured(
        f"REDIS_URL must start with redis:// or rediss://, got {REDIS_URL!r}"
    )
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
# No broker configured: the embedded default runs every task in-process, right after commit.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "purge-expired-idempotency-records": {
        "task": "accounts.tasks.idempotency_records_purge_expired_task",
        "schedule": 3600.0,
    },
    "sweep-webhook-deliveries": {
        "task": "rewards.tasks_webhooks.webhook_deliveries_sweep_task",
        "schedule": 30.0,
    },
}
CELERY_BEAT_SCHEDULE.update(
    {
        # The outbox reader: received conversions → evaluation tasks.
        "pipeline-dispatch-conversions": {
            "task": "rewards.tasks.conversions_dispatch_task",
            "schedule": float(env.int("PIPELINE_DISPATCH_SECONDS", default=1)),
        },
        "pipeline-release-rewards": {
            "task": "rewards.tasks.rewards_release_task",
            "schedule": 60.0,
        },
        "pipeline-sweep": {"task": "rewards.tasks.pipeline_sweep_task", "schedule": 60.0},
    }
)
# Publishing must fail fast when the broker is down (callers never wait on it: every task's
# intent is a durable row that the sweeper re-enqueues).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TIMEZONE = "UTC"

# --- Reward pipeline ------------------------------------------------------------------------
# A received conversion handed to a worker is handed out again after this many seconds if the
# worker never decided it (lost task, dead worker, broker outage).
PIPELINE_LEASE_SECONDS = env.int("PIPELINE_LEASE_SECONDS", default=120)
# Without a broker (embedded mode) no dispatcher runs: evaluate right after each commit.
PIPELINE_EVALUATE_ON_COMMIT = env.bool("PIPELINE_EVALUATE_ON_COMMIT", default=not REDIS_URL)
REWARD_FULFILMENT_MAX_ATTEMPTS = env.int("REWARD_FULFILMENT_MAX_ATTEMPTS", default=6)
REWARD_FULFILMENT_LEASE_SECONDS = env.int("REWARD_FULFILMENT_LEASE_SECONDS", default=300)
# Reuse worker DB connections instead of closing them around every task (~4x throughput here).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT must be below CELERY_TASK_TIME_LIMIT")

# --- Auth, allauth --------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard_home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.MerchantSignupForm"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Referral SaaS] "
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# Login throttling (allauth keeps the counters in the cache: Redis when configured).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Referral SaaS")

# --- Email ----------------------------------------------------------------------------------
EMAIL_URL: str = env.str("EMAIL_URL", default="consolemail://")
vars().update(env.email_url_config(EMAIL_URL))
PRODUCT_NAME = "Referral SaaS"
# The one address every email leaves from (advocate emails pair it with the merchant's sender
# name and Reply-To). Unset: referrals@ the PUBLIC_BASE_URL host when that is a domain name, else
# the reserved, never-delivered example.invalid (RFC 2606): an install never claims an address
# that is not its own. Set it to an address of your domain before sending real mail.
_mail_host = urlparse(PUBLIC_BASE_URL).hostname or ""
_is_domain = re.fullmatch(r"(?=.*[a-z])[a-z0-9-]+(\.[a-z0-9-]+)+", _mail_host)
_mail_from = f"{PRODUCT_NAME} <referrals@{_mail_host if _is_domain else 'example.invalid'}>"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=_mail_from)
if "@" not in parseaddr(DEFAULT_FROM_EMAIL)[1]:
    raise ImproperlyConfigured("DEFAULT_FROM_EMAIL must be an address like Shop <news@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["referral_saas.api.permissions.SecretKeyOnly"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["referral_saas.api.parsers.JSONObjectParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "referral_saas.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Referral SaaS API",
    "DESCRIPTION": "Tracking and management API for referral programs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Self-hosted Swagger UI (no CDN: works offline and under our CSP).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SECURITY": [{"ApiKey": []}],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "referral_saas.api.livemode.document_livemode",
    ],
}
# How long a rolled API key stays valid by default (the merchant can pick another grace period).
API_KEY_DEFAULT_ROLL_GRACE_HOURS = env.int("API_KEY_DEFAULT_ROLL_GRACE_HOURS", default=24)
# Idempotency-Key: how long a first response is replayed, and when an unfinished request (a
# crashed process) is considered abandoned so a retry may run again.
IDEMPOTENCY_RETENTION_HOURS = env.int("IDEMPOTENCY_RETENTION_HOURS", default=24)
IDEMPOTENCY_ABANDONED_AFTER_SECONDS = env.int("IDEMPOTENCY_ABANDONED_AFTER_SECONDS", default=60)
if IDEMPOTENCY_RETENTION_HOURS < 24:
    raise ImproperlyConfigured("IDEMPOTENCY_RETENTION_HOURS must be at least 24 (the API contract)")
if IDEMPOTENCY_ABANDONED_AFTER_SECONDS < 1:
    raise ImproperlyConfigured("IDEMPOTENCY_ABANDONED_AFTER_SECONDS must be positive")
# Per-API-key rate limits: requests per window, counted in Redis (in process when no REDIS_URL).
API_RATE_LIMIT_WINDOW_SECONDS = env.int("API_RATE_LIMIT_WINDOW_SECONDS", default=1)
API_RATE_LIMIT_SECRET = env.int("API_RATE_LIMIT_SECRET", default=100)
# A publishable key is shared by every visitor of the shop's pages, so it gets more room.
API_RATE_LIMIT_PUBLISHABLE = env.int("API_RATE_LIMIT_PUBLISHABLE", default=300)
# A separate Redis for the counters if wanted; the limiter fails open when it is unreachable.
API_RATE_LIMIT_REDIS_URL: str = env.str("API_RATE_LIMIT_REDIS_URL", default="") or REDIS_URL
if min(API_RATE_LIMIT_WINDOW_SECONDS, API_RATE_LIMIT_SECRET, API_RATE_LIMIT_PUBLISHABLE) < 1:
    raise ImproperlyConfigured("API_RATE_LIMIT_* must be positive integers")
# How long a web process may answer from its own copy of an API key (accounts/api_key_cache.py):
# checked on every request against a version in the rate limiter's Redis, which revoking or
# rolling a key changes, so this bounds staleness only if Redis cannot be told. 0 = no cache;
# without a Redis there is none.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=10.0)
if not 0 <= API_KEY_CACHE_SECONDS <= 60:
    raise ImproperlyConfigured("API_KEY_CACHE_SECONDS must be between 0 and 60")

# --- Stripe: our platform account (SaaS billing; also the key reward fulfilment acts with) ----
# Billing is on when STRIPE_SECRET_KEY and at least one STRIPE_PRICE_* are set
# (billing.plans.billing_configured); otherwise the installation is self-hosted: no plan limits.
STRIPE_SECRET_KEY: str = env.str("STRIPE_SECRET_KEY", default="")
# Signing secret of our endpoint for POST /hooks/billing/stripe/ (whsec_…).
STRIPE_BILLING_WEBHOOK_SECRET: str = env.str("STRIPE_BILLING_WEBHOOK_SECRET", default="")
# Another API base (localstripe, a fake) for development and tests; empty = api.stripe.com.
STRIPE_API_BASE: str = env.str("STRIPE_API_BASE", default="").rstrip("/")
# The Stripe price id of each paid plan (billing/plans.py); empty = that plan is not on sale.
STRIPE_PRICE_GROWTH: str = env.str("STRIPE_PRICE_GROWTH", default="")
STRIPE_PRICE_SCALE: str = env.str("STRIPE_PRICE_SCALE", default="")
# Days a merchant keeps a paid plan after a failed payment before moving to Free.
BILLING_GRACE_PERIOD_DAYS = env.int("BILLING_GRACE_PERIOD_DAYS", default=7)
if STRIPE_SECRET_KEY and not STRIPE_SECRET_KEY.startswith(("sk_", "rk_")):
    raise ImproperlyConfigured("STRIPE_SECRET_KEY must be a secret (sk_…) or restricted (rk_…) key")
if STRIPE_BILLING_WEBHOOK_SECRET and not STRIPE_BILLING_WEBHOOK_SECRET.startswith("whsec_"):
    raise ImproperlyConfigured("STRIPE_BILLING_WEBHOOK_SECRET must be a signing secret (whsec_…)")
if STRIPE_API_BASE and urlparse(STRIPE_API_BASE).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(f"STRIPE_API_BASE must be an http(s) URL, got {STRIPE_API_BASE!r}")
if STRIPE_PRICE_GROWTH and STRIPE_PRICE_GROWTH == STRIPE_PRICE_SCALE:
    raise ImproperlyConfigured("STRIPE_PRICE_GROWTH and STRIPE_PRICE_SCALE must differ")
if not 1 <= BILLING_GRACE_PERIOD_DAYS <= 60:
    raise ImproperlyConfigured("BILLING_GRACE_PERIOD_DAYS must be between 1 and 60")
CELERY_BEAT_SCHEDULE["billing-grace-period-expiry"] = {
    "task": "billing.tasks.subscription_grace_sweep_task",
    "schedule": 300.0,
}
# Analytics roll-ups of closed days (the overview says when they last ran).
CELERY_BEAT_SCHEDULE["analytics-rollups"] = {
    "task": "analytics.tasks.rollups_refresh_all_task",
    "schedule": 300.0,
}
# Monthly click partitions (PostgreSQL): this month and the next ones exist before their clicks.
CELERY_BEAT_SCHEDULE["click-partitions-ahead"] = {
    "task": "tracking.partitions.click_partitions_ensure_task",
    "schedule": crontab(hour=2, minute=45),
}
CELERY_IMPORTS = ["tracking.partitions"]  # its task lives outside a tasks module
# Payouts: group owed balances, pay Stripe transfers, send and follow PayPal batches.
CELERY_BEAT_SCHEDULE["payouts-run"] = {
    "task": "payouts.tasks.payouts_run_all_task",
    "schedule": float(env.int("PAYOUTS_RUN_SECONDS", default=900)),
}
# PayPal's REST API (Payouts); tests point it at a local fake.
PAYPAL_API_BASE: str = env.str("PAYPAL_API_BASE", default="") or "https://api-m.paypal.com"
if urlparse(PAYPAL_API_BASE).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(f"PAYPAL_API_BASE must be an http(s) URL, got {PAYPAL_API_BASE!r}")
PAYOUT_LEASE_SECONDS = env.int("PAYOUT_LEASE_SECONDS", default=300)
# Stripe Connect OAuth (the merchant connects their own account): the platform's client id.
STRIPE_CONNECT_CLIENT_ID: str = env.str("STRIPE_CONNECT_CLIENT_ID", default="")
STRIPE_CONNECT_BASE: str = env.str("STRIPE_CONNECT_BASE", default="")
# Store integrations: our Shopify app's client id and secret (the secret also signs Shopify's
# webhooks to us). SHOPIFY_API_BASE_OVERRIDE sends every shop's calls to one base URL instead of
# https://<shop> (tests: a local fake); shop domains are still validated as *.myshopify.com.
SHOPIFY_API_KEY: str = env.str("SHOPIFY_API_KEY", default="")
SHOPIFY_API_SECRET: str = env.str("SHOPIFY_API_SECRET", default="")
SHOPIFY_API_BASE_OVERRIDE: str = env.str("SHOPIFY_API_BASE_OVERRIDE", default="").rstrip("/")
if SHOPIFY_API_BASE_OVERRIDE and urlparse(SHOPIFY_API_BASE_OVERRIDE).scheme not in {
    "http",
    "https",
}:
    raise ImproperlyConfigured("SHOPIFY_API_BASE_OVERRIDE must be an http(s) URL")
if bool(SHOPIFY_API_KEY) != bool(SHOPIFY_API_SECRET):
    raise ImproperlyConfigured("Set both SHOPIFY_API_KEY and SHOPIFY_API_SECRET, or neither")
# Retention: nightly, after the day closed (it rolls analytics up first, then clears).
CELERY_BEAT_SCHEDULE["retention-nightly"] = {
    "task": "retention.tasks.retention_run_all_task",
    "schedule": crontab(hour=3, minute=15),
}

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("it", "Italiano"), ("ro", "Română"), ("pl", "Polski")]
# The project's catalogue, then the fraud rules' advocate-facing sentences (app-level
# `locale/` directories of installed apps are found without being listed).
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "rewards" / "fraud" / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development and tests whitenoise serves straight from the app and static directories.
WHITENOISE_USE_FINDERS = DEBUG or env.bool("WHITENOISE_USE_FINDERS", default=False)
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))

# --- Security headers -----------------------------------------------------------------------
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Logging: one JSON object per line ------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be a logging level name, got {LOG_LEVEL!r}")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "referral_saas.request_id.RequestIdLogFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
