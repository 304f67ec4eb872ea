"""Shared pieces of the browser tests (the `browser` fixture itself is in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Without the network flags Chromium keeps dialling out, and this machine refuses it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULTS = Path(__file__).resolve().parent.parent / "test-results"
PASSWORD = "a-long-Secret-passphrase-42"
DESKTOP = {"width": 1280, "height": 860}
MOBILE = {"width": 390, "height": 844}


def shot(page: Any, name: str) -> None:
    """A full-page screenshot in test-results/ (gitignored), to look at after a run."""
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)
