"""What-if: a program's current rules over its past conversions, changing nothing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from programs.models import Program
from programs.services import program_config
from rewards import recurring
from rewards.attribution import Attribution
from rewards.pipeline.common import EVALUATED
from rewards.pipeline.decide import decide
from tracking.models import Conversion


@dataclass(frozen=True)
class WhatIfChange:
    conversion: Conversion
    before: str
    after: str
    reasons: list[dict[str, Any]]


@dataclass(frozen=True)
class WhatIfReport:
    examined: int
    changes: list[WhatIfChange]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for change in self.changes:
            counts[f"{change.before}→{change.after}"] += 1
        return dict(counts)


def what_if(*, program: Program, limit: int = 1000) -> WhatIfReport:
    """Run the program's current rules (qualification and fraud) over its last `limit`
    evaluated conversions and report which decisions would change. Changes nothing: every
    read runs in a transaction that is rolled back."""
    config = program_config(program)
    changes = []
    examined = 0
    with transaction.atomic():
        conversions = list(
            Conversion.objects.filter(program=program, status__in=EVALUATED)
            .select_related("advocate", "referral", "referral__click")
            .order_by("-occurred_at")[:limit]
        )
        for conversion in conversions:
            if conversion.advocate is None:
                continue
            examined += 1
            attribution = Attribution(
                advocate=conversion.advocate,
                referral=conversion.referral,
                click=conversion.referral.click if conversion.referral else None,
                by=conversion.attributed_by or "stored",
                renewal_of=recurring.subscription_anchor(conversion)
                if conversion.attributed_by == recurring.RENEWAL
                else None,
            )
            decision = decide(
                conversion,
                attribution=attribution,
                program=program,
                config=config,
                plan_rewards=False,
                check_status=False,
            )
            before = conversion.status
            if decision.status != before:
                changes.append(
                    WhatIfChange(conversion, before, str(decision.status), decision.reasons)
                )
        transaction.set_rollback(True)
    return WhatIfReport(examined=examined, changes=changes)
