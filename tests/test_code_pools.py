"""Code pools: CSV upload with a line-numbered report, counts, claiming one code per reward, and
the dashboard pages (viewers read, admins write, outsiders get 404)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Merchant, Role
from programs import pools
from programs.models import CodePool, PoolCode, Program
from programs.pools import RejectedLine, UploadReport
from programs.specs import SpecError
from referral_saas import tenancy
from tests.browser import PASSWORD, RESULTS
from tests.conftest import World, login
from tests.factories import MerchantFactory, UserFactory, add_member, make_program


@pytest.fixture
def program(world: World) -> Program:
    return make_program(world.acme)


@pytest.fixture
def pool(world: World, program: Program) -> CodePool:
    with tenancy.merchant_context(world.acme):
        return CodePool.objects.create(program=program, name="Spring coupons")


@pytest.fixture
def in_acme(world: World) -> Iterator[Merchant]:
    with tenancy.merchant_context(world.acme) as merchant:
        yield merchant


def csv_file(content: bytes | str, name: str = "codes.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def codes_in(merchant: Merchant, pool: CodePool) -> list[str]:
    with tenancy.merchant_context(merchant):
        return list(
            PoolCode.objects.filter(pool=pool).order_by("pk").values_list("code", flat=True)
        )


def upload_events(merchant: Merchant) -> list[dict[str, Any]]:
    with tenancy.merchant_context(merchant):
        return list(
            AuditEvent.objects.filter(action="code_pool.uploaded")
            .order_by("pk")
            .values_list("data", flat=True)
        )


def add_codes(merchant: Merchant, pool: CodePool, *codes: str) -> None:
    with tenancy.merchant_context(merchant):
        PoolCode.objects.bulk_create([PoolCode(pool=pool, code=code) for code in codes])


# --- Upload: the report ------------------------------------------------------------------------


@pytest.mark.django_db
def test_upload_reports_every_rejected_line_by_number_and_keeps_the_valid_codes(
    world: World, pool: CodePool
) -> None:
    # given a pool that already holds OLD-1, and an Excel-style export: BOM, header, CRLF
    add_codes(world.acme, pool, "OLD-1")
    lines = [
        "Code,Note",  # 1: header, skipped
        "  SPRING-001 ,first",  # 2: trimmed
        "SPRING_002",  # 3
        "",  # 4: blank line
        "   ",  # 5: blank line (whitespace only)
        ",orphan note",  # 6: blank first cell
        "SPRING-001",  # 7: duplicate of line 2
        "OLD-1",  # 8: already in the pool
        "bad code!",  # 9: space and !
        "X" * 65,  # 10: too long
        "Y" * 64,  # 11: exactly the limit
        "ÉTÉ-10",  # 12: non-ASCII letters
        "spring-001",  # 13: duplicate of line 2 (shops match codes case-insensitively)
        "SPRING_002",  # 14: duplicate of line 3
    ]
    content = "\ufeff" + "\r\n".join(lines) + "\r\n"

    # when
    with tenancy.merchant_context(world.acme):
        report = pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file(content))

    # then
    assert report == UploadReport(
        accepted=3,
        rejected=[
            RejectedLine(4, "", "Blank line."),
            RejectedLine(5, "", "Blank line."),
            RejectedLine(6, "", "The first column (the code) is empty."),
            RejectedLine(7, "SPRING-001", "Duplicate of line 2."),
            RejectedLine(8, "OLD-1", "Already in the pool."),
            RejectedLine(9, "bad code!", "Only letters A-Z, digits, “-” and “_” are allowed."),
            RejectedLine(10, "X" * 65, "Longer than 64 characters."),
            RejectedLine(12, "ÉTÉ-10", "Only letters A-Z, digits, “-” and “_” are allowed."),
            RejectedLine(13, "spring-001", "Duplicate of line 2."),
            RejectedLine(14, "SPRING_002", "Duplicate of line 3."),
        ],
        total_lines=14,
        rejected_by_reason={
            "blank_line": 2,
            "empty_code": 1,
            "too_long": 1,
            "invalid_characters": 2,
            "duplicate_in_file": 3,
            "already_in_pool": 1,
        },
    )
    assert codes_in(world.acme, pool) == [
        "OLD-1",
        "SPRING-001",
        "SPRING_002",
        "Y" * 64,
    ]
    assert upload_events(world.acme) == [
        {
            "file_name": "codes.csv",
            "total_lines": 14,
            "accepted": 3,
            "rejected": 10,
            "rejected_by_reason": report.rejected_by_reason,
        }
    ]


@pytest.mark.django_db
def test_one_code_per_line_without_header_lf_or_cr_endings_and_no_final_newline(
    world: World, pool: CodePool, in_acme: Merchant
) -> None:
    report = pools.code_pool_upload(
        actor=world.alice, pool=pool, file=csv_file("A1\nB2\rC3\r\nD4", name="codes.txt")
    )

    assert report == UploadReport(accepted=4, rejected=[], total_lines=4)
    assert codes_in(world.acme, pool) == ["A1", "B2", "C3", "D4"]


@pytest.mark.django_db
def test_header_is_only_skipped_on_the_first_line(
    world: World, pool: CodePool, in_acme: Merchant
) -> None:
    report = pools.code_pool_upload(
        actor=world.alice, pool=pool, file=csv_file('"CODE"\nA1\ncode\n')
    )

    # "code" on line 3 is an ordinary code (letters only), not a second header
    assert report == UploadReport(accepted=2, rejected=[], total_lines=3)
    assert codes_in(world.acme, pool) == ["A1", "code"]


@pytest.mark.django_db
def test_uploading_the_same_file_twice_adds_nothing_the_second_time(
    world: World, pool: CodePool, in_acme: Merchant
) -> None:
    pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file("A1\nB2\n"))

    report = pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file("A1\nB2\n"))

    assert report.accepted == 0
    assert report.rejected == [
        RejectedLine(1, "A1", "Already in the pool."),
        RejectedLine(2, "B2", "Already in the pool."),
    ]
    assert codes_in(world.acme, pool) == ["A1", "B2"]


@pytest.mark.django_db
def test_a_code_in_another_pool_is_no_duplicate(
    world: World, program: Program, pool: CodePool, in_acme: Merchant
) -> None:
    other = CodePool.objects.create(program=program, name="Summer")
    add_codes(world.acme, other, "A1")

    report = pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file("A1\n"))

    assert (report.accepted, report.rejected) == (1, [])


# --- Upload: refused files (nothing written) ---------------------------------------------------


def assert_refused(world: World, pool: CodePool, content: bytes, message: str) -> None:
    with tenancy.merchant_context(world.acme), pytest.raises(SpecError) as raised:
        pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file(content))
    assert raised.value.errors == {"file": message}
    assert codes_in(world.acme, pool) == []
    assert upload_events(world.acme) == []


@pytest.mark.django_db
@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\r\n\r\n  \n"])
def test_an_empty_file_is_refused(world: World, pool: CodePool, content: bytes) -> None:
    assert_refused(world, pool, content, "The file is empty.")


@pytest.mark.django_db
def test_a_binary_file_is_refused(world: World, pool: CodePool) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
    assert_refused(
        world,
        pool,
        png,
        "This is not a text file (a spreadsheet, perhaps). Save it as “CSV UTF-8” and upload that.",
    )


@pytest.mark.django_db
def test_a_utf16_export_is_refused_as_binary(world: World, pool: CodePool) -> None:
    assert_refused(
        world,
        pool,
        "code\nA1\n".encode("utf-16"),
        "This is not a text file (a spreadsheet, perhaps). Save it as “CSV UTF-8” and upload that.",
    )


@pytest.mark.django_db
def test_a_file_that_is_not_utf8_is_refused(world: World, pool: CodePool) -> None:
    assert_refused(
        world,
        pool,
        b"A1\nCAF\xc9\n",  # Latin-1
        "This file is not UTF-8 text (byte 7 is not valid). Save it as “CSV UTF-8” and upload "
        "that.",
    )


@pytest.mark.django_db
def test_too_many_lines_are_refused(
    world: World, pool: CodePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pools, "MAX_LINES", 3)
    # three lines (with a header) are fine...
    with tenancy.merchant_context(world.acme):
        report = pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file("code\nA\nB\n"))
    assert report.accepted == 2
    # ...four are not, and none of them is written
    with tenancy.merchant_context(world.acme), pytest.raises(SpecError) as raised:
        pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file("C\nD\nE\nF\n"))
    assert raised.value.errors == {"file": "The file has more than 3 lines; split it."}
    assert codes_in(world.acme, pool) == ["A", "B"]
    assert len(upload_events(world.acme)) == 1


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_refused(
    world: World, pool: CodePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pools, "MAX_UPLOAD_BYTES", 2 * 1024 * 1024)
    assert_refused(world, pool, b"A1\n" * (700 * 1024), "The file is larger than 2 MB; split it.")


# --- Upload: the race with a concurrent upload -------------------------------------------------


@pytest.mark.django_db
def test_a_code_added_between_the_lookup_and_the_insert_is_reported_not_doubled(
    world: World, pool: CodePool, in_acme: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given B2 lands in the pool after this upload looked (as if another upload committed it)
    real_lookup = pools._codes_already_in_pool
    lookups: list[list[str]] = []

    def lookup_then_race(pool: CodePool, codes: list[str]) -> set[str]:
        lookups.append(codes)
        if len(lookups) == 1:
            found = real_lookup(pool, codes)
            add_codes(world.acme, pool, "B2")
            return found
        return real_lookup(pool, codes)

    monkeypatch.setattr(pools, "_codes_already_in_pool", lookup_then_race)

    # when
    report = pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file("A1\nB2\nC3\n"))

    # then the unique constraint stopped the insert, and the retry reported B2
    assert len(lookups) == 2
    assert report.accepted == 2
    assert report.rejected == [RejectedLine(2, "B2", "Already in the pool.")]
    assert sorted(codes_in(world.acme, pool)) == ["A1", "B2", "C3"]


def _wait_until_blocked_on_a_lock(timeout: float = 10) -> None:
    """Until some other backend of this database waits on a lock (the unique index)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            # pg_stat_activity is a snapshot held for the transaction unless cleared.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            row = cursor.fetchone()
            if row is not None and row[0] > 0:
                return
            time.sleep(0.02)
    raise AssertionError("the second upload never blocked on the first one's uncommitted rows")


def _in_thread(merchant: Merchant, work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def run() -> None:
        try:
            with tenancy.merchant_context(merchant):
                result.append(work())
        except BaseException as error:  # surfaced by the assertions
            result.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_uploads_of_the_same_code_insert_it_once_and_report_it(
    world: World, pool: CodePool
) -> None:
    # given a first upload that has inserted B2 but not committed yet
    with tenancy.merchant_context(world.acme), transaction.atomic():
        first = pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file("B2\nX9\n"))
        # when a second upload of A1, B2 runs: it cannot see B2 yet, so it tries to insert it
        # and PostgreSQL makes it wait on the unique index for this transaction
        thread, result = _in_thread(
            world.acme,
            lambda: pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file("A1\nB2\n")),
        )
        _wait_until_blocked_on_a_lock()
    # ...and the first commits
    thread.join(timeout=20)

    # then the second heard of the conflict, rolled back to its savepoint and reported B2
    assert first.accepted == 2
    assert result == [
        UploadReport(
            accepted=1,
            rejected=[RejectedLine(2, "B2", "Already in the pool.")],
            total_lines=2,
            rejected_by_reason={"already_in_pool": 1},
        )
    ]
    assert sorted(codes_in(world.acme, pool)) == ["A1", "B2", "X9"]


# --- Counts ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stats_count_codes_and_flag_low_stock_at_the_threshold(
    world: World, program: Program, in_acme: Merchant, django_assert_num_queries: Any
) -> None:
    pool = pools.code_pool_create(
        actor=world.alice, program=program, name="Spring", low_stock_threshold=2
    )
    add_codes(world.acme, pool, "A", "B", "C", "D")
    pools.code_pool_claim(pool=pool, reward_public_id="rwd_1")

    with django_assert_num_queries(1):
        stats = pools.code_pool_stats(pool)
    assert stats == pools.PoolStats(remaining=3, assigned=1, total=4, low_stock=False)

    pools.code_pool_claim(pool=pool, reward_public_id="rwd_2")
    assert pools.code_pool_stats(pool) == pools.PoolStats(
        remaining=2, assigned=2, total=4, low_stock=True
    )


@pytest.mark.django_db
def test_the_pool_list_counts_every_pool_in_one_query(
    world: World, program: Program, in_acme: Merchant, django_assert_num_queries: Any
) -> None:
    # given three pools: stocked, low and empty, plus another program's pool
    stocked = CodePool.objects.create(program=program, name="Stocked", low_stock_threshold=1)
    low = CodePool.objects.create(program=program, name="Low", low_stock_threshold=5)
    empty = CodePool.objects.create(program=program, name="Empty")
    add_codes(world.acme, stocked, "A", "B", "C")
    add_codes(world.acme, low, "D", "E")
    pools.code_pool_claim(pool=stocked, reward_public_id="rwd_1")
    other_program = make_program(world.acme, slug="other")
    with tenancy.merchant_context(world.acme):
        CodePool.objects.create(program=other_program, name="Elsewhere")

    with django_assert_num_queries(1):
        summaries = pools.code_pool_list(program)

    assert [(s.pool.name, s.stats) for s in summaries] == [
        ("Stocked", pools.PoolStats(remaining=2, assigned=1, total=3, low_stock=False)),
        ("Low", pools.PoolStats(remaining=2, assigned=0, total=2, low_stock=True)),
        ("Empty", pools.PoolStats(remaining=0, assigned=0, total=0, low_stock=True)),
    ]
    assert summaries[2].pool == empty


# --- Claim -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_claim_hands_out_each_code_once_and_is_idempotent_per_reward(
    world: World, pool: CodePool, in_acme: Merchant
) -> None:
    add_codes(world.acme, pool, "A", "B")

    first = pools.code_pool_claim(pool=pool, reward_public_id="rwd_1")
    again = pools.code_pool_claim(pool=pool, reward_public_id="rwd_1")
    second = pools.code_pool_claim(pool=pool, reward_public_id="rwd_2")
    none_left = pools.code_pool_claim(pool=pool, reward_public_id="rwd_3")
    still_mine = pools.code_pool_claim(pool=pool, reward_public_id="rwd_2")

    assert (first, again, second, none_left, still_mine) == ("A", "A", "B", None, "B")
    assigned = PoolCode.objects.filter(pool=pool).order_by("code")
    assert list(assigned.values_list("code", "assigned_to")) == [("A", "rwd_1"), ("B", "rwd_2")]
    assert all(code.assigned_at is not None for code in assigned)


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_skip_locked_codes_and_get_different_ones(
    world: World, pool: CodePool
) -> None:
    add_codes(world.acme, pool, "A", "B", "C")
    # given one claim whose transaction is still open (its row is locked)
    with tenancy.merchant_context(world.acme), transaction.atomic():
        held = pools.code_pool_claim(pool=pool, reward_public_id="rwd_1")
        # when another reward claims at the same time: it must not wait for the first
        thread, result = _in_thread(
            world.acme, lambda: pools.code_pool_claim(pool=pool, reward_public_id="rwd_2")
        )
        thread.join(timeout=10)
        assert not thread.is_alive(), "the second claim waited for the first one's row lock"
    # then they got different codes
    assert (held, result) == ("A", ["B"])
    with tenancy.merchant_context(world.acme):
        assert dict(PoolCode.objects.filter(pool=pool).values_list("code", "assigned_to")) == {
            "A": "rwd_1",
            "B": "rwd_2",
            "C": "",
        }


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_for_the_same_reward_get_the_same_code(
    world: World, pool: CodePool
) -> None:
    add_codes(world.acme, pool, "A", "B")
    with tenancy.merchant_context(world.acme), transaction.atomic():
        held = pools.code_pool_claim(pool=pool, reward_public_id="rwd_1")
        # a retried task for the same reward waits for the first claim to commit...
        thread, result = _in_thread(
            world.acme, lambda: pools.code_pool_claim(pool=pool, reward_public_id="rwd_1")
        )
        _wait_until_blocked_on_a_lock()
    thread.join(timeout=10)
    # ...then finds that claim instead of taking a second code
    assert (held, result) == ("A", ["A"])
    with tenancy.merchant_context(world.acme):
        assert PoolCode.objects.filter(assigned_to="rwd_1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_many_concurrent_claims_hand_out_every_code_exactly_once(
    world: World, pool: CodePool
) -> None:
    add_codes(world.acme, pool, *[f"C{n}" for n in range(8)])
    start = threading.Barrier(10)

    def claim(reward: str) -> Callable[[], str | None]:
        def work() -> str | None:
            start.wait(timeout=10)
            return pools.code_pool_claim(pool=pool, reward_public_id=reward)

        return work

    runs = [_in_thread(world.acme, claim(f"rwd_{n}")) for n in range(10)]
    for thread, _ in runs:
        thread.join(timeout=20)
    handed = [result[0] for _, result in runs]

    assert sorted(code for code in handed if code is not None) == [f"C{n}" for n in range(8)]
    assert handed.count(None) == 2


# --- Create ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_validates_name_and_threshold(
    world: World, program: Program, pool: CodePool, in_acme: Merchant
) -> None:
    with pytest.raises(SpecError) as raised:
        pools.code_pool_create(
            actor=world.alice, program=program, name="  ", low_stock_threshold=-1
        )
    assert raised.value.errors == {
        "name": "Give the pool a name (up to 80 characters).",
        "low_stock_threshold": "A whole number from 0 to 1,000,000.",
    }
    with pytest.raises(SpecError) as raised:
        pools.code_pool_create(actor=world.alice, program=program, name="spring COUPONS")
    assert raised.value.errors == {"name": "This program already has a pool with that name."}
    assert list(CodePool.objects.values_list("name", flat=True)) == ["Spring coupons"]


# --- Dashboard ---------------------------------------------------------------------------------


def pool_url(name: str, world: World, program: Program, **kwargs: str) -> str:
    return reverse(
        name,
        kwargs={"merchant_slug": world.acme.slug, "program_id": program.public_id, **kwargs},
    )


@pytest.mark.django_db
def test_admin_uploads_and_sees_the_report_in_the_response(
    client: Client, world: World, program: Program, pool: CodePool
) -> None:
    # given an admin (not owner) of Acme
    dana = UserFactory(email="dana@example.com")
    add_member(world.acme, dana, Role.ADMIN)
    login(client, dana)
    add_codes(world.acme, pool, "OLD")

    response = client.post(
        pool_url("code_pool_upload", world, program, pool_id=pool.public_id),
        {"file": csv_file("code\nNEW-1\nbad code\nOLD\nNEW-1\n")},
    )

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    report = response.context["report"]
    assert report.accepted == 1
    assert report.rejected == [
        RejectedLine(3, "bad code", "Only letters A-Z, digits, “-” and “_” are allowed."),
        RejectedLine(4, "OLD", "Already in the pool."),
        RejectedLine(5, "NEW-1", "Duplicate of line 2."),
    ]
    html = response.content.decode()
    assert 'data-accepted="1"' in html
    assert 'data-rejected-line="3"' in html
    assert "Duplicate of line 2." in html
    assert '<dd data-stat="remaining">2</dd>' in html
    assert codes_in(world.acme, pool) == ["OLD", "NEW-1"]


@pytest.mark.django_db
def test_a_refused_file_is_shown_next_to_the_field(
    client: Client, world: World, program: Program, pool: CodePool
) -> None:
    login(client, world.alice)
    response = client.post(
        pool_url("code_pool_upload", world, program, pool_id=pool.public_id),
        {"file": csv_file(b"\x00\x01\x02", name="codes.xlsx")},
    )
    assert response.status_code == 400
    assert response.context["upload_form"].errors == {
        "file": [
            "This is not a text file (a spreadsheet, perhaps). Save it as “CSV UTF-8” and "
            "upload that."
        ]
    }
    assert codes_in(world.acme, pool) == []


@pytest.mark.django_db
def test_viewer_reads_pools_but_gets_403_on_upload_and_create_and_nothing_changes(
    client: Client, world: World, program: Program, pool: CodePool
) -> None:
    add_codes(world.acme, pool, "A", "B")
    login(client, world.bob)

    listing = client.get(pool_url("code_pool_list", world, program))
    page = client.get(pool_url("code_pool_detail", world, program, pool_id=pool.public_id))
    upload = client.post(
        pool_url("code_pool_upload", world, program, pool_id=pool.public_id),
        {"file": csv_file("C\nD\n")},
    )
    create = client.post(
        pool_url("code_pool_create", world, program), {"name": "New", "low_stock_threshold": 5}
    )

    assert (listing.status_code, page.status_code) == (200, 200)
    assert listing.context["may_manage"] is False
    assert "Create a pool" not in listing.content.decode()
    assert "Upload codes" not in page.content.decode()
    assert (upload.status_code, create.status_code) == (403, 403)
    assert codes_in(world.acme, pool) == ["A", "B"]
    with tenancy.merchant_context(world.acme):
        assert list(CodePool.objects.values_list("name", flat=True)) == ["Spring coupons"]
        assert not AuditEvent.objects.filter(action__startswith="code_pool.").exists()


@pytest.mark.django_db
def test_list_shows_remaining_of_total_and_a_low_stock_badge(
    client: Client, world: World, program: Program, pool: CodePool
) -> None:
    add_codes(world.acme, pool, "A", "B", "C")
    login(client, world.alice)

    response = client.get(pool_url("code_pool_list", world, program))

    html = response.content.decode()
    assert response.status_code == 200
    assert '3 <span class="muted">of 3</span>' in html
    assert "data-low-stock>Low stock</span>" in html  # 3 left <= the default threshold of 20


@pytest.mark.django_db
def test_admin_creates_a_pool_from_the_dashboard(
    client: Client, world: World, program: Program
) -> None:
    login(client, world.alice)

    response = client.post(
        pool_url("code_pool_create", world, program), {"name": "Autumn", "low_stock_threshold": 3}
    )

    with tenancy.merchant_context(world.acme):
        created = CodePool.objects.get()
        assert (created.program_id, created.name, created.low_stock_threshold) == (
            program.pk,
            "Autumn",
            3,
        )
        assert AuditEvent.objects.filter(
            action="code_pool.created", target_id=created.public_id
        ).exists()
    assert response.status_code == 302
    assert response["Location"] == pool_url(
        "code_pool_detail", world, program, pool_id=created.public_id
    )


@pytest.mark.django_db
def test_the_pool_page_remembers_the_last_upload(
    client: Client, world: World, program: Program, pool: CodePool
) -> None:
    login(client, world.alice)
    client.post(
        pool_url("code_pool_upload", world, program, pool_id=pool.public_id),
        {"file": csv_file("A\nA\n")},
    )

    page = client.get(pool_url("code_pool_detail", world, program, pool_id=pool.public_id))

    assert "1 added, 1 rejected of 2 lines" in page.content.decode()


@pytest.mark.django_db
def test_outsider_gets_404_on_every_pool_page_and_nothing_changes(
    client: Client, world: World, program: Program, pool: CodePool
) -> None:
    login(client, world.charlie)
    globex_program = make_program(world.globex)
    answers = [
        client.get(pool_url("code_pool_list", world, program)).status_code,
        client.get(
            pool_url("code_pool_detail", world, program, pool_id=pool.public_id)
        ).status_code,
        client.post(
            pool_url("code_pool_upload", world, program, pool_id=pool.public_id),
            {"file": csv_file("A\n")},
        ).status_code,
        client.post(pool_url("code_pool_create", world, program), {"name": "Mine"}).status_code,
        # his own merchant with Acme's ids, and his own program with Acme's pool
        client.get(
            reverse(
                "code_pool_detail",
                kwargs={
                    "merchant_slug": world.globex.slug,
                    "program_id": program.public_id,
                    "pool_id": pool.public_id,
                },
            )
        ).status_code,
        client.post(
            reverse(
                "code_pool_upload",
                kwargs={
                    "merchant_slug": world.globex.slug,
                    "program_id": globex_program.public_id,
                    "pool_id": pool.public_id,
                },
            ),
            {"file": csv_file("A\n")},
        ).status_code,
    ]

    assert answers == [404] * 6
    assert codes_in(world.acme, pool) == []
    with tenancy.merchant_context(world.acme):
        assert CodePool.objects.count() == 1
    with tenancy.merchant_context(world.globex):
        assert CodePool.objects.count() == 0


# --- In a real browser -------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_create_a_pool_and_upload_codes_in_a_browser(browser: Any, live_server: Any) -> None:
    merchant = MerchantFactory(name="Acme Coffee", slug="acme")
    add_member(merchant, UserFactory(email="alice@example.com", password=PASSWORD), Role.OWNER)
    program = make_program(merchant)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    console_errors: list[str] = []  # a CSP violation is reported here
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/m/*/")

    # create a pool
    page.goto(f"{live_server.url}/m/acme/programs/{program.public_id}/pools/")
    page.get_by_label("Name").fill("Spring coupons")
    page.get_by_label("Warn when codes left reach").fill("2")
    page.get_by_role("button", name="Create pool").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Spring coupons"

    # upload a file with one bad line
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "codes.csv", "mimeType": "text/csv", "buffer": b"code\nA1\nB2\nC3\nA1\n"}]
    )
    page.get_by_role("button", name="Upload").click()
    report = page.locator("[data-upload-report]")
    assert report.locator("[data-accepted]").get_attribute("data-accepted") == "3"
    assert report.locator("tbody tr").all_inner_texts() == ["5\tA1\tDuplicate of line 2."]
    assert page.locator("[data-stat='remaining']").inner_text() == "3"
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "code-pool-upload.png"), full_page=True)

    # the list shows the pool
    page.get_by_role("link", name="← Code pools of Give 10, get 10").click()
    row = page.locator("tr[data-pool]", has_text="Spring coupons")
    assert row.locator("[data-remaining]").inner_text() == "3 of 3"
    page.screenshot(path=str(RESULTS / "code-pool-list.png"), full_page=True)
    assert console_errors == []
    context.close()


def test_codes_differing_only_in_case_are_one_coupon(world: World, pool: CodePool) -> None:
    # given a pool holding SAVE10 (shops match coupon codes case-insensitively)
    add_codes(world.acme, pool, "SAVE10")
    # when a file repeats it in another case, and repeats itself in another case
    report = _upload(world, pool, "save10\nWelcome1\nWELCOME1\n")
    # then each repeat is reported and only one new coupon is stored
    assert report.accepted == 1
    assert [(r.line_number, r.code, r.reason) for r in report.rejected] == [
        (1, "save10", "Already in the pool."),
        (3, "WELCOME1", "Duplicate of line 2."),
    ]
    assert codes_in(world.acme, pool) == ["SAVE10", "Welcome1"]


def test_semicolon_and_tab_separated_files_are_read(world: World, pool: CodePool) -> None:
    assert _upload(world, pool, "code;value\nA1;10\nA2;10\n").accepted == 2
    assert _upload(world, pool, "B1\t10\nB2\t10\n").accepted == 2


def test_the_database_allows_one_code_per_reward(world: World, pool: CodePool) -> None:
    from django.db import IntegrityError

    add_codes(world.acme, pool, "X1", "X2")
    with tenancy.merchant_context(world.acme):
        PoolCode.objects.filter(pool=pool, code="X1").update(assigned_to="rew_1")
        with pytest.raises(IntegrityError), transaction.atomic():
            PoolCode.objects.filter(pool=pool, code="X2").update(assigned_to="rew_1")


def _upload(world: World, pool: CodePool, content: str) -> UploadReport:
    with tenancy.merchant_context(world.acme):
        return pools.code_pool_upload(actor=world.alice, pool=pool, file=csv_file(content))
