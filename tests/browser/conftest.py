"""What every browser journey shares: Debian's Chromium driven by Playwright, and a live server.

Chromium comes from the distribution (``apt-get install chromium``, done by scripts/test), never
from Playwright's own download, which cannot work on a machine without internet access.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from browsing import CHROMIUM, CHROMIUM_ARGS
from live import LiveServer
from tokenforge.clock import FixedClock
from tokenforge.config import Settings
from webui import web_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def server(settings: Settings, database_url: str) -> Iterator[tuple[LiveServer, FixedClock]]:
    if not database_url.startswith("sqlite"):
        # The browser drives the same pages and services on either database; what differs by
        # database is covered by the functional web tests, which run on both. One browser run is
        # enough, and each takes several seconds.
        pytest.skip("browser journeys run on SQLite only; tests/functional/test_web_*.py cover PostgreSQL")
    with web_server(settings) as running:
        yield running
