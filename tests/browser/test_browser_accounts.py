"""Signing in, in a real browser (Playwright driving Debian's Chromium): what a person sees when
too many wrong passwords lock the form, and that it opens again when the window has passed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page

import factories
from browsing import BROWSER_MARKS
from tokenforge.config import Settings
from webui import PASSWORD, web_server

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def sign_in(page: Page, url: str, login: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username or email address").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_locked_sign_in_form_says_so_and_opens_after_the_window(
    page: Page, settings: Settings, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("browser journeys run on SQLite only; tests/functional/test_web_accounts.py covers PostgreSQL")
    with web_server(settings, sign_in_failures_per_login=2) as (server, clock):
        with server.services.db.unit_of_work() as session:
            factories.user(session, "alice", clock.now(), password=PASSWORD)
        for guess in ("winter2026", "summer2026"):
            sign_in(page, server.url, "alice", guess)
            assert "Incorrect username or password." in page.content()
        sign_in(page, server.url, "alice", PASSWORD)
        assert "Maximum number of login attempts exceeded. Please try again later." in page.content()
        assert page.url == f"{server.url}/login"  # not signed in
        assert page.get_by_label("Username or email address").input_value() == "alice"
        clock.advance(timedelta(seconds=server.settings.password_window_seconds))
        sign_in(page, server.url, "alice", PASSWORD)
        page.wait_for_url(f"{server.url}/settings/tokens")
