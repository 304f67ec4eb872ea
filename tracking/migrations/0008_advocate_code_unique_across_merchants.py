"""Referral codes become unique across merchants, in the database.

`/r/<code>` names no merchant. Until now codes were unique per merchant and across merchants only
by a check before the write, so two merchants claiming one vanity code at once both got it (and
a generated code could repeat across merchants). While a code is shared, its link answers 404 for
everyone: nobody can tell whose it is.

Existing shared codes are resolved before the constraint is added, deterministically: **every**
holder of a code held at more than one merchant gets a fresh code derived from its public id
(`MARIA-7KQ2XP` -> `MARIA-<6 characters>`). Keeping the code for one holder (the oldest, say) was
rejected: links the others shared would then start sending their visitors to another merchant's
shop and credit another merchant's advocate, which is worse than the 404 those links already
give. The old code is not kept as an alias for the same reason. The advocates' portal and the
dashboard show the new code; the count is printed when the migration runs.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import migrations, models
from django.db.models import Count

# Copied from tracking.services at the time of writing (migrations must not follow later edits).
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
RANDOM_LENGTH = 6


def _fresh_code(old: str, public_id: str, attempt: int) -> str:
    prefix = (old.rsplit("-", 1)[0] if "-" in old else old)[:33] or "REF"
    digest = hashlib.sha256(f"{public_id}:{attempt}".encode()).digest()
    suffix = "".join(CODE_ALPHABET[byte % len(CODE_ALPHABET)] for byte in digest[:RANDOM_LENGTH])
    return f"{prefix}-{suffix}"


def resolve_shared_codes(apps: Any, schema_editor: Any) -> None:
    # The historical model's manager is a plain one: every merchant's rows, as needed here.
    Advocate = apps.get_model("tracking", "Advocate")
    shared = sorted(
        Advocate.objects.values("code")
        .annotate(merchants=Count("merchant", distinct=True))
        .filter(merchants__gt=1)
        .values_list("code", flat=True)
    )
    renamed = 0
    for code in shared:
        for advocate in Advocate.objects.filter(code=code).order_by("created_at", "pk"):
            attempt = 0
            new = _fresh_code(code, advocate.public_id, attempt)
            while Advocate.objects.filter(code=new).exists():
                attempt += 1
                new = _fresh_code(code, advocate.public_id, attempt)
            Advocate.objects.filter(pk=advocate.pk).update(code=new)
            renamed += 1
    if renamed and schema_editor.connection.vendor == "postgresql":
        # The constraint is added in this same transaction: run the deferred foreign-key checks
        # the updates queued now, or PostgreSQL refuses to ALTER a table with pending triggers.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    if renamed:
        print(  # the operator must know links changed
            f"\n  tracking.0008: {len(shared)} referral code(s) were held at more than one "
            f"merchant; their {renamed} advocates got new codes (old links already answered 404)."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0007_analytics_indexes"),
    ]

    operations = [
        migrations.RunPython(resolve_shared_codes, migrations.RunPython.noop),
        # Added before the old index is dropped, so `/r/<code>` is never without an index.
        migrations.AddConstraint(
            model_name="advocate",
            constraint=models.UniqueConstraint(fields=("code",), name="advocate_code_unique"),
        ),
        migrations.RemoveConstraint(
            model_name="advocate",
            name="advocate_unique_code",
        ),
        migrations.RemoveIndex(
            model_name="advocate",
            name="advocate_code_lookup",
        ),
    ]
