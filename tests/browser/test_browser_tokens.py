"""The whole journey in a real browser (Playwright driving Debian's Chromium): sign up, verify the
email from the outbox, sign in, generate a token, see it once, use it against the API, delete it
through the sudo prompt, and watch the API refuse it.

Chromium comes from the distribution (``apt-get install chromium``, done by scripts/test), never
from Playwright's own download, which cannot work on a machine without internet access.

Set ``TOKENFORGE_SCREENSHOTS=1`` to write the README's screenshots into docs/images/; normal runs
leave the tree untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from browsing import BROWSER_MARKS, shot
from live import LiveServer
from tokenforge.accounts.services import get_user
from tokenforge.clock import FixedClock
from tokenforge.repos.services import create_repository
from webui import PASSWORD, outbox_link

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def api(server: LiveServer, path: str, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v3{path}", headers={"Authorization": f"token {token}"}, timeout=30)


def sign_up_verify_and_sign_in(page: Page, server: LiveServer, login: str, *, screenshot: bool = False) -> None:
    p = page
    url = server.url
    p.goto(f"{url}/signup")
    p.get_by_label("Username").fill(login)
    p.get_by_label("Email address").fill(f"{login}@example.com")
    p.get_by_label("Password").fill(PASSWORD)
    if screenshot:
        shot(p, "sign-up.png")
    p.get_by_role("button", name="Create account").click()
    p.wait_for_url(f"{url}/settings/emails")
    assert "Unverified" in p.content()

    # The verification link, as the mail outbox holds it (no SMTP server configured).
    p.goto(outbox_link(server.settings, f"{login}@example.com"))
    p.wait_for_url(f"{url}/settings/emails")
    assert "is verified" in p.content()

    # Sign out and back in, as a person coming back later would.
    p.goto(f"{url}/logout")
    p.get_by_role("button", name="Sign out").click()
    p.wait_for_url(f"{url}/")
    p.goto(f"{url}/login")
    p.get_by_label("Username or email address").fill(login)
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Sign in").click()
    p.wait_for_url(f"{url}/settings/tokens")


def shown_token(page: Page, prefix: str) -> str:
    p = page
    assert "You won't be able to see it again" in p.content()
    secret: str = p.locator("#new-token").input_value()
    assert secret.startswith(prefix)
    # The copy button is an enhancement: present and working once the script has run.
    copy = p.locator("button[data-copy]")
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(copy).to_have_text("Copied!")
    return secret


def delete_with_sudo(page: Page, server: LiveServer, clock: FixedClock, token_name: str) -> None:
    p = page
    # Past the sudo window: the password was last entered (at sign-in) too long ago.
    clock.advance(timedelta(minutes=server.settings.sudo_minutes + 1))
    p.get_by_role("link", name=token_name).click()
    p.get_by_role("link", name="Delete").first.click()
    p.get_by_role("button", name="I understand, delete this token").click()
    assert p.get_by_role("heading", name="Confirm access").is_visible()
    # A wrong password first: refused, nothing deleted, asked again.
    p.get_by_label("Password").fill("not my password")
    p.get_by_role("button", name="Confirm").click()
    assert "Incorrect password." in p.content()
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Confirm").click()
    assert f"Deleted personal access token “{token_name}”" in p.content()


def test_classic_token_journey(page: Page, server: tuple[LiveServer, FixedClock]) -> None:
    live, clock = server
    p = page
    sign_up_verify_and_sign_in(p, live, "octo-cat", screenshot=True)

    p.get_by_role("link", name="Generate new token").first.click()
    p.get_by_label("Note").fill("laptop")
    p.get_by_label("repo", exact=True).check()
    # Checking a parent scope checks its children (the script's enhancement).
    assert p.get_by_label("public_repo").is_checked()
    p.get_by_label("workflow").check()
    p.get_by_label("Expiration").select_option("30")
    shot(p, "new-classic-token.png")
    p.get_by_role("button", name="Generate token").click()

    secret = shown_token(p, "ghp_")
    shot(p, "token-shown-once.png")
    response = api(live, "/user", secret)
    assert response.status_code == 200
    assert response.json()["login"] == "octo-cat"
    assert response.headers["X-OAuth-Scopes"] == "repo, workflow"

    p.get_by_role("link", name="Back to your tokens").click()
    listing = p.content()
    assert "laptop" in listing
    assert secret not in listing
    assert re.search(r"Expires on \w{3}, \w{3} \d{1,2} \d{4}", listing)
    shot(p, "classic-tokens.png")

    delete_with_sudo(p, live, clock, "laptop")
    assert "You have no personal access tokens (classic)" in p.content()
    assert api(live, "/user", secret).status_code == 401


def test_fine_grained_token_journey(page: Page, server: tuple[LiveServer, FixedClock]) -> None:
    live, clock = server
    p = page
    sign_up_verify_and_sign_in(p, live, "mona")
    with live.services.db.unit_of_work() as session:
        mona = get_user(session, "mona")
        for name in ("dotfiles", "diary"):
            create_repository(session, live.settings, owner=mona, name=name, private=True, now=clock.now())

    p.get_by_role("link", name="Fine-grained tokens").click()
    p.get_by_role("link", name="Generate new token").first.click()
    p.get_by_label("Token name").fill("deploy dotfiles")
    p.get_by_label("Description").fill("Pulls my dotfiles onto new machines")
    # The picker appears only for "Only select repositories" (without the script it is always shown).
    assert not p.get_by_label("mona/dotfiles").is_visible()
    p.get_by_text("Only select repositories").click()
    p.get_by_label("mona/dotfiles").check()
    p.get_by_label("Contents", exact=True).select_option("read")
    # metadata: read is mandatory and shown as such.
    assert p.locator("#perm-metadata").is_disabled()
    shot(p, "new-fine-grained-token.png")
    p.get_by_role("button", name="Generate token").click()

    secret = shown_token(p, "github_pat_")
    assert api(live, "/repos/mona/dotfiles", secret).status_code == 200
    assert api(live, "/repos/mona/diary", secret).status_code == 404  # not selected: invisible

    p.get_by_role("link", name="Back to your tokens").click()
    listing = p.content()
    assert secret not in listing
    assert "1 selected repository" in listing
    assert "Read-only: Contents, Metadata" in listing
    shot(p, "fine-grained-tokens.png")

    p.get_by_role("link", name="deploy dotfiles").click()
    details = p.content()
    assert "mona/dotfiles" in details
    assert secret not in details
    shot(p, "token-page.png")
    p.get_by_role("link", name="Fine-grained tokens").click()

    delete_with_sudo(p, live, clock, "deploy dotfiles")
    assert api(live, "/repos/mona/dotfiles", secret).status_code == 401
