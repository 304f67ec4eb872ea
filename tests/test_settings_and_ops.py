"""Settings are validated at start-up; production passes `check --deploy`; ops endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from accounts.models import AuditEvent
from accounts.services import audit_record
from referral_saas import tenancy
from tests.conftest import World

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "referral_saas.settings.production",
    "DJANGO_SECRET_KEY": "x" * 20 + "production-secret-key-for-the-deploy-check-0123456789",
    "DJANGO_ALLOWED_HOSTS": "referrals.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/referral_saas",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def _python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the project's Python in a child process with only `env`'s Django settings."""
    ours = ("DJANGO_", "DATABASE_", "REDIS_", "LOG_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _python("manage.py", *args, env=env)


def test_production_settings_pass_the_deploy_check() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS must list"),
        ({"DATABASE_URL": "sqlite:////tmp/x.db"}, "DATABASE_URL must point at PostgreSQL"),
        ({"REDIS_URL": ""}, "REDIS_URL must be set"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must start with redis://"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL must be a postgres://"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be a logging level name"),
        ({"CELERY_TASK_TIME_LIMIT": "ten"}, "CELERY_TASK_TIME_LIMIT"),
    ],
)
def test_invalid_settings_stop_the_process_with_a_clear_message(
    override: dict[str, str], complaint: str
) -> None:
    result = _manage("check", env={**PRODUCTION_ENV, **override})
    assert result.returncode != 0
    assert complaint in result.stderr


def test_security_headers_on_pages(client: Client, world: World) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert len(response["X-Request-Id"]) == 32


def test_hsts_and_https_redirect_in_production() -> None:
    script = (
        "import django; django.setup(); from django.test import Client;"
        "r = Client().get('/api/v1/programs', secure=True, HTTP_HOST='referrals.example.com');"
        "h = Client().get('/healthz', HTTP_HOST='referrals.example.com');"
        "p = Client().get('/accounts/login/', HTTP_HOST='referrals.example.com');"
        "print(r['Strict-Transport-Security'], h.status_code, p.status_code)"
    )
    result = _python("-c", script, env={**PRODUCTION_ENV, "LOG_LEVEL": "ERROR"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "max-age=31536000;",
        "includeSubDomains;",
        "preload",
        "200",
        "301",
    ]


def test_logs_are_one_json_object_per_line() -> None:
    script = (
        "import django, logging; django.setup();"
        "logging.getLogger('referral_saas.test').warning('hello %s', 'world')"
    )
    result = _python("-c", script, env={**PRODUCTION_ENV, "LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record["message"] == "hello world"
    assert record["level"] == "WARNING"
    assert record["logger"] == "referral_saas.test"


def test_audit_log_is_append_only_in_the_database(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        event = audit_record(action="api_key.created", actor=world.alice)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
        assert AuditEvent.objects.get(pk=event.pk).action == "api_key.created"
    assert connection.vendor == "postgresql"


def test_openapi_schema_validates_without_warnings(tmp_path: Path) -> None:
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = out.read_text()
    assert "/api/v1/programs/{program_id}:" in schema
    assert "next_cursor" in schema
    assert "bearerFormat" in schema


def test_api_docs_are_self_hosted(client: Client) -> None:
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn.jsdelivr.net" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
