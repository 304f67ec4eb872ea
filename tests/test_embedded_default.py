"""The embedded default (`make run`: SQLite, tasks in-process) is a runtime we support, and the
public contract holds on both databases.

- SQLite runs in WAL mode with IMMEDIATE transactions and a busy timeout;
- `make run` itself (gunicorn threads on a fresh SQLite file, the demo seeded) answers 32
  concurrent POSTs of one order with one conversion and no 5xx, and approves and rejects rewards
  through the API (`scripts/probe_embedded.py`, the newcomer's first hour);
- `PATCH /api/v1/programs/<id>` with `status` performs the lifecycle transition (same checks and
  errors as `/activate|pause|archive`) or answers 400 naming the field; never ignores it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from programs.models import Program, ProgramStatus
from referral_saas import tenancy
from tests.conftest import World, make_key, on_sqlite
from tests.factories import make_program

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = "/api/v1/programs"


def call(client: Client, method: str, path: str, key: str, body: Any = None) -> Any:
    return getattr(client, method)(
        path,
        data=None if body is None else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def draft_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Give 10, get 10",
        "type": "two_sided",
        "currency": "EUR",
        "destination_url": "https://shop.example.com/",
        "allowed_domains": ["shop.example.com"],
        "advocate_reward": {"kind": "account_credit", "amount": 1000},
        "friend_reward": {"kind": "account_credit", "amount": 1000},
    }
    body.update(changes)
    return body


@pytest.fixture
def key(world: World) -> str:
    return make_key(world.acme).plaintext


def reload(program_id: str) -> Program:
    return Program.unscoped_all_merchants.get(public_id=program_id)


# --- SQLite settings ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_sqlite_is_in_wal_mode_with_immediate_transactions_and_a_busy_timeout() -> None:
    if not on_sqlite():
        pytest.skip("checks the embedded default; `make test` runs it on SQLite (-m journey)")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal = cursor.fetchone()[0]
        cursor.execute("PRAGMA busy_timeout")
        busy = cursor.fetchone()[0]
    assert journal == "wal"
    assert busy >= 5000
    assert connection.transaction_mode == "IMMEDIATE"


# --- make run itself -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_make_run_takes_32_concurrent_duplicate_orders_and_reward_decisions(
    tmp_path: Path,
) -> None:
    """The whole `scripts/run` on a fresh SQLite file: migrate, seed, gunicorn; then the probe."""
    if not on_sqlite():
        pytest.skip("runs once, in the embedded-default pass of `make test` (-m journey)")
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PORT": str(port)}
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        text = ""
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "Serving on" in text and _answers(port):
                break
            assert server.poll() is None, text[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail(f"make run did not come up:\n{text[-3000:]}")
        assert "runserver" not in text
        secret = re.search(r"Live secret key:\s+(sk_live_\w+)", text)
        assert secret, text[-3000:]
        probe = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "probe_embedded.py"),
                "--base",
                f"http://127.0.0.1:{port}",
                "--key",
                secret.group(1),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        summary = json.loads(probe.stdout)
        assert summary["orders"]["server_errors"] == 0, summary
        assert summary["orders"]["conversions_listed"] == 1, summary
        assert summary["orders"]["statuses"].get("202") == 1, summary
        assert summary["rewards"]["approve"]["http"] == 200, summary
        assert summary["rewards"]["approve"]["status"] == "approved", summary
        assert summary["rewards"]["reject"]["http"] == 200, summary
        assert summary["rewards"]["reject"]["status"] == "rejected", summary
        assert probe.returncode == 0, probe.stdout + probe.stderr
        served = log.read_text(errors="replace")
        assert " 500 " not in served, served[-3000:]
        assert "Traceback" not in served, served[-3000:]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --- PATCH status: the contract's field is never ignored ---------------------------------------


def test_patch_status_activates_through_the_lifecycle(
    client: Client, world: World, key: str
) -> None:
    created = call(client, "post", PROGRAMS, key, draft_body()).json()
    assert created["status"] == "draft"

    response = call(client, "patch", f"{PROGRAMS}/{created['id']}", key, {"status": "active"})

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "active"
    assert reload(created["id"]).status == ProgramStatus.ACTIVE
    with tenancy.merchant_context(world.acme):
        assert AuditEvent.objects.filter(action="program.activated").count() == 1


def test_patch_status_pauses_and_archives_like_the_action_endpoints(
    client: Client, world: World, key: str
) -> None:
    program = make_program(world.acme)
    path = f"{PROGRAMS}/{program.public_id}"

    paused = call(client, "patch", path, key, {"status": "paused"})
    archived = call(client, "patch", path, key, {"status": "archived"})
    again = call(client, "patch", path, key, {"status": "active"})

    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    # the same refusal as POST …/activate on an archived program
    action = call(client, "post", f"{path}/activate", key)
    assert again.status_code == action.status_code == 400
    assert again.json()["error"]["param"] == action.json()["error"]["param"] == "status"
    assert reload(program.public_id).status == ProgramStatus.ARCHIVED


def test_patch_refused_transition_changes_nothing_else(
    client: Client, world: World, key: str
) -> None:
    program = make_program(world.acme, status=ProgramStatus.PAUSED)
    with tenancy.merchant_context(world.acme):
        Program.objects.filter(pk=program.pk).update(ends_at=timezone.now() - timedelta(days=1))
    path = f"{PROGRAMS}/{program.public_id}"

    response = call(client, "patch", path, key, {"name": "Renamed", "status": "active"})
    action = call(client, "post", f"{path}/activate", key)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == action.json()["error"]["param"] == "ends_at"
    after = reload(program.public_id)
    assert after.status == ProgramStatus.PAUSED
    assert after.name == program.name


@pytest.mark.parametrize("value", ["live", "", 3, None, ["active"]])
def test_patch_status_with_a_bad_value_is_400_naming_the_field(
    client: Client, world: World, key: str, value: Any
) -> None:
    program = make_program(world.acme, status=ProgramStatus.PAUSED)

    response = call(client, "patch", f"{PROGRAMS}/{program.public_id}", key, {"status": value})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "status"
    assert reload(program.public_id).status == ProgramStatus.PAUSED


def test_patch_status_back_to_draft_is_refused(client: Client, world: World, key: str) -> None:
    program = make_program(world.acme)

    response = call(client, "patch", f"{PROGRAMS}/{program.public_id}", key, {"status": "draft"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "status"
    assert "duplicate" in response.json()["error"]["message"]
    assert reload(program.public_id).status == ProgramStatus.ACTIVE


def test_a_fetched_program_sent_back_unchanged_keeps_its_status(
    client: Client, world: World, key: str
) -> None:
    program = make_program(world.acme)
    path = f"{PROGRAMS}/{program.public_id}"
    fetched = call(client, "get", path, key).json()

    response = call(client, "patch", path, key, {"status": fetched["status"], "name": "Renamed"})

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "active"
    assert reload(program.public_id).name == "Renamed"
    with tenancy.merchant_context(world.acme):
        assert not AuditEvent.objects.filter(action__startswith="program.activ").exists()


def test_create_with_status_active_is_created_live_or_not_at_all(
    client: Client, world: World, key: str
) -> None:
    live = call(client, "post", PROGRAMS, key, draft_body(status="active"))
    ended = call(
        client,
        "post",
        PROGRAMS,
        key,
        draft_body(
            name="Ended",
            status="active",
            starts_at="2020-01-01T00:00:00Z",
            ends_at="2020-02-01T00:00:00Z",
        ),
    )

    assert live.status_code == 201, live.json()
    assert live.json()["status"] == "active"
    assert ended.status_code == 400
    assert ended.json()["error"]["param"] == "ends_at"
    assert not Program.unscoped_all_merchants.filter(name="Ended").exists()


# --- The audit log is append-only on both databases ------------------------------------------


def test_the_audit_log_refuses_updates_on_either_database(world: World) -> None:
    """Deletes are refused on PostgreSQL too (tests/test_settings_and_ops.py); SQLite cannot
    refuse them without refusing Django's flush (see accounts/migrations/0007)."""
    from django.db import DatabaseError, transaction

    from accounts.services import audit_record

    with tenancy.merchant_context(world.acme):
        event = audit_record(action="api_key.created", actor=world.alice)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
        assert AuditEvent.objects.get(pk=event.pk).action == "api_key.created"
