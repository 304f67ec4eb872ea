"""Code pools: merchant-made coupon codes, uploaded as CSV and handed out one per reward by the
`code_pool` fulfilment method.

Writes (`code_pool_create`, `code_pool_upload`, `code_pool_claim`) and the reads that count codes
(`code_pool_stats`, `code_pool_list`) live together here because they share one invariant: a
code is in a pool at most once (the `pool_code_unique` constraint) and is handed to at most one
reward. Everything runs inside the current merchant (`referral_saas.tenancy`); permission to call
a write is checked by the caller. Validation errors are raised as `programs.specs.SpecError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Upper
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from programs.models import CodePool, PoolCode, Program
from programs.specs import SpecError, plain_text
from referral_saas import tenancy
from referral_saas.db import xact_lock_id

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_LINES = 100_000
CODE_MAX_LENGTH = 64  # PoolCode.code's max_length
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
NAME_MAX_LENGTH = 80
MAX_THRESHOLD = 1_000_000
# A rejected code is echoed back in the report; a 100,000-character "code" need not be.
SHOWN_CODE_LENGTH = 70
INSERT_BATCH = 2_000
LOOKUP_BATCH = 5_000
# Each retry follows a concurrent upload that committed some of the same codes; the set of codes
# only grows, so a few rounds always settle unless someone is uploading in a tight loop.
MAX_INSERT_ATTEMPTS = 5

# Why a line was rejected: the key counts it (report summary, audit), the message shows it.
BLANK = "blank_line"
EMPTY_CODE = "empty_code"
TOO_LONG = "too_long"
INVALID_CHARACTERS = "invalid_characters"
DUPLICATE_IN_FILE = "duplicate_in_file"
ALREADY_IN_POOL = "already_in_pool"
REASON_LABELS = {
    BLANK: "Blank line",
    EMPTY_CODE: "Empty first column",
    TOO_LONG: f"Longer than {CODE_MAX_LENGTH} characters",
    INVALID_CHARACTERS: "Characters other than letters, digits, - and _",
    DUPLICATE_IN_FILE: "Repeated in the file",
    ALREADY_IN_POOL: "Already in the pool",
}


class RejectedLine(NamedTuple):
    line_number: int
    code: str  # as found (trimmed, shortened if very long); "" for a blank line or cell
    reason: str


@dataclass(frozen=True)
class UploadReport:
    accepted: int
    rejected: list[RejectedLine]
    total_lines: int
    # Rejections per reason key (BLANK, TOO_LONG...): the summary a 100,000-line report needs.
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def reason_summary(self) -> list[tuple[str, int]]:
        return [(REASON_LABELS[key], count) for key, count in self.rejected_by_reason.items()]


@dataclass(frozen=True)
class PoolStats:
    remaining: int
    assigned: int
    total: int
    low_stock: bool


@dataclass(frozen=True)
class PoolSummary:
    pool: CodePool
    stats: PoolStats


# --- Create ------------------------------------------------------------------------------------


@transaction.atomic
def code_pool_create(
    *,
    actor: User | None,
    program: Program,
    name: str,
    low_stock_threshold: int = 20,
    request: HttpRequest | None = None,
) -> CodePool:
    """Create an empty pool for `program`. Audited as `code_pool.created`."""
    if program.merchant_id != tenancy.get_current_merchant().pk:
        raise tenancy.CrossTenantWrite(f"code_pool_create() for program {program.public_id}")
    errors: dict[str, str] = {}
    clean_name = plain_text(name.strip()) if isinstance(name, str) else ""
    if not clean_name or len(clean_name) > NAME_MAX_LENGTH:
        errors["name"] = f"Give the pool a name (up to {NAME_MAX_LENGTH} characters)."
    elif CodePool.objects.filter(program=program, name__iexact=clean_name).exists():
        errors["name"] = "This program already has a pool with that name."
    if (
        not isinstance(low_stock_threshold, int)
        or isinstance(low_stock_threshold, bool)
        or not 0 <= low_stock_threshold <= MAX_THRESHOLD
    ):
        errors["low_stock_threshold"] = f"A whole number from 0 to {MAX_THRESHOLD:,}."
    if errors:
        raise SpecError(errors)
    pool = CodePool.objects.create(
        program=program, name=clean_name, low_stock_threshold=low_stock_threshold
    )
    audit_record(
        action="code_pool.created",
        actor=actor,
        target=pool,
        data={"program": program.public_id, "name": pool.name},
        request=request,
    )
    return pool


# --- Upload ------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    candidates: list[tuple[int, str]]  # (line number, code): valid and first in the file
    rejected: list[RejectedLine]
    reasons: Counter[str]
    total_lines: int


def _read_text(file: File) -> str:
    """The upload as text, or a SpecError naming why it is not a UTF-8 text file."""
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise SpecError(
            {"file": f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it."}
        )
    # NUL never occurs in text but is everywhere in spreadsheets, archives and UTF-16 exports.
    if b"\x00" in data:
        raise SpecError(
            {
                "file": "This is not a text file (a spreadsheet, perhaps). Save it as "
                "“CSV UTF-8” and upload that."
            }
        )
    try:
        text = data.decode("utf-8-sig")  # strips one leading byte-order mark, if any
    except UnicodeDecodeError as error:
        raise SpecError(
            {
                "file": f"This file is not UTF-8 text (byte {error.start + 1} is not valid). "
                "Save it as “CSV UTF-8” and upload that."
            }
        ) from error
    if not text.strip():
        raise SpecError({"file": "The file is empty."})
    return text


def _shown(code: str) -> str:
    return code if len(code) <= SHOWN_CODE_LENGTH else code[:SHOWN_CODE_LENGTH] + "…"


def _delimiter(text: str) -> str:
    """Comma, or what the first line uses instead (European Excel writes `;`, some tools tab)."""
    first = text.split("\n", 1)[0]
    for candidate in (";", "\t"):
        if candidate in first and "," not in first:
            return candidate
    return ","


def _parse(text: str) -> _Parsed:
    """Check every line on its own and against the earlier lines (not yet against the pool)."""
    parsed = _Parsed(candidates=[], rejected=[], reasons=Counter(), total_lines=0)
    first_seen: dict[str, int] = {}

    def reject(line: int, code: str, reason: str, message: str) -> None:
        parsed.rejected.append(RejectedLine(line, _shown(code), message))
        parsed.reasons[reason] += 1

    # newline="" lets csv see \n, \r\n and \r alike and count physical lines (line_num), so the
    # numbers in the report are the ones the merchant's editor shows.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    while True:
        line = reader.line_num + 1  # where this row starts
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise SpecError({"file": f"Line {line} is not readable as CSV: {error}."}) from error
        if reader.line_num > MAX_LINES:
            raise SpecError({"file": f"The file has more than {MAX_LINES:,} lines; split it."})
        cells = [cell.strip() for cell in row]
        code = cells[0] if cells else ""
        if line == 1 and code.casefold() == "code":
            continue  # the optional header row
        if not any(cells):
            reject(line, "", BLANK, "Blank line.")
        elif not code:
            reject(line, "", EMPTY_CODE, "The first column (the code) is empty.")
        elif len(code) > CODE_MAX_LENGTH:
            reject(line, code, TOO_LONG, f"Longer than {CODE_MAX_LENGTH} characters.")
        elif not CODE_PATTERN.fullmatch(code):
            reject(
                line, code, INVALID_CHARACTERS, "Only letters A-Z, digits, “-” and “_” are allowed."
            )
        elif code.upper() in first_seen:
            reject(line, code, DUPLICATE_IN_FILE, f"Duplicate of line {first_seen[code.upper()]}.")
        else:
            first_seen[code.upper()] = line
            parsed.candidates.append((line, code))
    parsed.total_lines = reader.line_num
    return parsed


def _codes_already_in_pool(pool: CodePool, codes: list[str]) -> set[str]:
    """The codes (upper-cased: codes match case-insensitively) that the pool already holds."""
    found: set[str] = set()
    for start in range(0, len(codes), LOOKUP_BATCH):
        batch = [code.upper() for code in codes[start : start + LOOKUP_BATCH]]
        found.update(
            PoolCode.objects.filter(pool=pool)
            .annotate(key=Upper("code"))
            .filter(key__in=batch)
            .values_list("key", flat=True)
        )
    return found


def _insert_new_codes(pool: CodePool, codes: list[str]) -> set[str]:
    """Insert the codes not yet in the pool; return the ones that were already there.

    Another upload may commit some of the same codes between our look-up and our INSERT. The
    unique constraint then fails the INSERT (PostgreSQL makes it wait for that transaction, so
    the rows are committed when we hear of them): roll back to the savepoint, look again, and
    insert the rest. Never a double row, never a 500."""
    existing = _codes_already_in_pool(pool, codes)
    # Insert in one global order: two uploads sharing codes then wait for each other on the
    # unique index instead of each holding a code the other needs (a deadlock, i.e. a 500).
    in_order = sorted(codes)
    for _attempt in range(MAX_INSERT_ATTEMPTS):
        rows = [PoolCode(pool=pool, code=code) for code in in_order if code.upper() not in existing]
        try:
            with transaction.atomic():  # the savepoint
                PoolCode.objects.bulk_create(rows, batch_size=INSERT_BATCH, ignore_conflicts=False)
        except IntegrityError:
            found = _codes_already_in_pool(pool, codes)
            if found <= existing:
                raise  # not a duplicate code (the pool itself went away?): a real error
            existing = found
        else:
            return existing
    raise SpecError(
        {"file": "Another upload to this pool kept adding the same codes. Upload again."}
    )


@transaction.atomic
def code_pool_upload(
    *, actor: User | None, pool: CodePool, file: File, request: HttpRequest | None = None
) -> UploadReport:
    """Add the codes of a CSV file (first column; optional `code` header; one code per line is
    fine too) to `pool`, and report every rejected line by number.

    All valid codes are inserted in one transaction; a code already in the pool, even one a
    concurrent upload just added, is reported, never inserted twice. A file that is too large,
    too long, not UTF-8 text or empty raises SpecError and writes nothing. Side effects: the
    PoolCode rows, and the audit event `code_pool.uploaded` with the counts."""
    parsed = _parse(_read_text(file))
    codes = [code for _line, code in parsed.candidates]
    existing = _insert_new_codes(pool, codes) if codes else set()
    rejected = parsed.rejected
    for line, code in parsed.candidates:
        if code.upper() in existing:
            rejected.append(RejectedLine(line, code, "Already in the pool."))
            parsed.reasons[ALREADY_IN_POOL] += 1
    rejected.sort(key=lambda item: item.line_number)
    report = UploadReport(
        accepted=len(codes) - len(existing),
        rejected=rejected,
        total_lines=parsed.total_lines,
        rejected_by_reason={
            key: parsed.reasons[key] for key in REASON_LABELS if parsed.reasons[key]
        },
    )
    audit_record(
        action="code_pool.uploaded",
        actor=actor,
        target=pool,
        data={
            "file_name": str(getattr(file, "name", "") or "")[:120],
            "total_lines": report.total_lines,
            "accepted": report.accepted,
            "rejected": len(report.rejected),
            "rejected_by_reason": report.rejected_by_reason,
        },
        request=request,
    )
    return report


# --- Counts ------------------------------------------------------------------------------------


def _stats(pool: CodePool, *, total: int, assigned: int) -> PoolStats:
    remaining = total - assigned
    return PoolStats(
        remaining=remaining,
        assigned=assigned,
        total=total,
        low_stock=remaining <= pool.low_stock_threshold,
    )


def code_pool_stats(pool: CodePool) -> PoolStats:
    """Remaining, assigned and total codes of one pool (one query)."""
    counts = PoolCode.objects.filter(pool=pool).aggregate(
        total=Count("pk"), assigned=Count("pk", filter=Q(assigned_at__isnull=False))
    )
    return _stats(pool, total=counts["total"], assigned=counts["assigned"])


def _count_codes(*, assigned_only: bool) -> Coalesce:
    codes = PoolCode.objects.filter(pool=OuterRef("pk"))
    if assigned_only:
        codes = codes.filter(assigned_at__isnull=False)
    count = codes.order_by().values("pool").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(count, output_field=IntegerField()), Value(0))


def code_pool_list(program: Program) -> list[PoolSummary]:
    """The program's pools, oldest first, with their counts — all in one query."""
    pools = (
        CodePool.objects.filter(program=program)
        .annotate(
            code_total=_count_codes(assigned_only=False),
            code_assigned=_count_codes(assigned_only=True),
        )
        .order_by("created_at", "pk")
    )
    return [
        PoolSummary(pool, _stats(pool, total=pool.code_total, assigned=pool.code_assigned))
        for pool in pools
    ]


# --- Claim -------------------------------------------------------------------------------------


def _claim_lock_key(pool: CodePool, reward_public_id: str) -> int:
    digest = hashlib.sha256(f"code-pool-claim:{pool.pk}:{reward_public_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def code_pool_claim(*, pool: CodePool, reward_public_id: str) -> str | None:
    """Hand one unassigned code of `pool` to the reward `reward_public_id` and return it, or
    None when the pool is empty. Idempotent on `reward_public_id`: a second call (a retried
    task) returns the code already handed to that reward.

    Concurrent claims for different rewards skip each other's locked rows (FOR UPDATE SKIP
    LOCKED) instead of queueing; claims for the same reward are serialised by a transaction-level
    advisory lock on (pool, reward), so two of them cannot both take a code. Side effect: sets
    `assigned_at`/`assigned_to` on one PoolCode row."""
    if not reward_public_id:
        raise ValueError("code_pool_claim() needs the reward's public id")
    with transaction.atomic():
        xact_lock_id(_claim_lock_key(pool, reward_public_id))
        mine = PoolCode.objects.filter(pool=pool, assigned_to=reward_public_id)
        already = mine.values_list("code", flat=True).first()
        if already is not None:
            return already
        free = (
            PoolCode.objects.select_for_update(skip_locked=True)
            .filter(pool=pool, assigned_at__isnull=True)
            .order_by("pk")
            .values_list("pk", "code")
            .first()
        )
        if free is None:
            return None
        pk, code = free
        claimed = PoolCode.objects.filter(pk=pk, assigned_at__isnull=True).update(
            assigned_at=timezone.now(), assigned_to=reward_public_id
        )
        if claimed != 1:  # impossible while we hold the row lock; refuse rather than double-hand
            raise RuntimeError(f"code {pk} of pool {pool.public_id} changed under its row lock")
        return code
