"""What payouts adds to other apps at start-up: the advocate's payout details and payouts in a
data subject's privacy export, and their removal on erasure (tracking's privacy registry, so
tracking never imports payouts)."""

from __future__ import annotations

from typing import Any

from payouts.details import payout_details_erase, payout_details_export
from payouts.models import Payout
from payouts.selectors import payouts_data


def export_section(rows: Any) -> list[dict[str, Any]]:
    """Per advocate row of the subject: their payout details and payouts."""
    sections = []
    for advocate in rows.advocates:
        payouts = list(
            Payout.objects.filter(advocate=advocate).select_related("advocate").order_by("pk")
        )
        sections.append(
            {
                "advocate": advocate.public_id,
                "details": payout_details_export(advocate),
                "payouts": payouts_data(payouts),
            }
        )
    return sections


def erase_section(rows: Any) -> int:
    return payout_details_erase(list(rows.advocates))


def register() -> None:
    from tracking import privacy

    privacy.export_section_register("payouts", export_section)
    privacy.erase_section_register("payout_details", erase_section)
