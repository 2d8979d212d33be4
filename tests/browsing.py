"""Settings of the browser journeys (tests/browser/): which Chromium, how it is started, and where
screenshots go."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page

CHROMIUM = os.environ.get("TOKENFORGE_CHROMIUM", "/usr/bin/chromium")
# Without the networking switches Chromium keeps trying to reach Google's services, which this
# machine's closed network refuses (and which no test should depend on).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IMAGES = Path(__file__).parents[1] / "docs" / "images"
# TOKENFORGE_SCREENSHOTS=1 refreshes the docs' screenshots; normal runs leave the tree untouched.
SCREENSHOTS = os.environ.get("TOKENFORGE_SCREENSHOTS") == "1"

# Each browser module's pytestmark: slow, and skipped (saying why) where there is no Chromium.
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"no Chromium at {CHROMIUM} (scripts/test installs it)"),
]


def shot(page: Page, name: str) -> None:
    """Write docs/images/<name> when asked to (TOKENFORGE_SCREENSHOTS=1)."""
    if SCREENSHOTS:
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / name), full_page=True)
