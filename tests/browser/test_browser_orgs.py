"""The demo's review flow in a real browser (Playwright driving Debian's Chromium): bob's
fine-grained token for acme's private repository waits for approval; alice signs in, opens
Settings → acme → Pending requests and approves it with a reason; bob's token then reads the
private repository through the API. Then bob's side: his token page (expiry, last use, recent
addresses, a request for more access waiting beside the approved grant) and his security log.

The data is the demo's own seed (tokenforge.demo), so this is the flow the README describes.
``TOKENFORGE_SCREENSHOTS=1`` writes docs/images/org-requests.png, token-page-lifecycle.png and
security-log.png; normal runs leave the tree untouched.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from playwright.sync_api import Browser, Page, expect

from browsing import BROWSER_MARKS, shot
from live import LiveServer
from tokenforge import demo
from tokenforge.authz.subjects import RepositorySelection
from tokenforge.clock import FixedClock
from tokenforge.repos.services import get_repository
from tokenforge.tokens.models import Token
from tokenforge.tokens.services import update_fine_grained_token

pytestmark = BROWSER_MARKS


def new_page(browser: Browser) -> Page:
    return browser.new_context(viewport={"width": 1280, "height": 900}).new_page()


def api(server: LiveServer, path: str, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v3{path}", headers={"Authorization": f"token {token}"}, timeout=30)


def sign_in(page: Page, server: LiveServer, login: str, password: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Username or email address").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/settings/tokens")


def test_an_owner_approves_the_demo_request_in_the_browser(
    browser: Browser, server: tuple[LiveServer, FixedClock]
) -> None:
    live, clock = server
    with live.services.db.unit_of_work() as session:
        accounts = demo.seed(session, live.settings, now=clock.now())
    [bobs_token] = accounts.tokens.values()
    private = "/repos/acme/infrastructure"
    assert api(live, private, bobs_token).status_code == 404  # pending: public resources only
    assert api(live, "/repos/acme/website", bobs_token).status_code == 200

    # alice: Settings → acme → Pending requests → approve with a reason.
    p = new_page(browser)
    sign_in(p, live, "alice", accounts.passwords["alice"])
    p.get_by_role("link", name="Settings", exact=True).click()
    p.get_by_role("navigation", name="Settings").get_by_role("link", name="acme").click()
    expect(p.get_by_role("heading", name="acme · Personal access tokens")).to_be_visible()
    p.get_by_role("link", name="Pending requests").first.click()
    p.wait_for_url(f"{live.url}/organizations/acme/settings/personal-access-token-requests")
    row = p.locator("[data-request-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("website deploy")
    expect(row).to_contain_text("bob")
    expect(row).to_contain_text("CI needs to read the infrastructure repo.")
    expect(row).to_contain_text("acme/infrastructure")
    expect(row).to_contain_text("Read and write: Issues")
    p.get_by_label("Reason").fill("Approved for the CI pipeline; ask again if you need write access to code.")
    # "Select all" is the script's enhancement; the bulk button then acts on the ticked rows.
    p.get_by_label("Select all").check()
    expect(row.locator("input[type=checkbox]")).to_be_checked()
    shot(p, "org-requests.png")
    p.get_by_role("button", name="Approve selected").click()
    expect(p.get_by_text("Approved the request for “website deploy” by bob.")).to_be_visible()
    expect(p.get_by_text("No pending requests.")).to_be_visible()

    # At once, bob's token reads the private repository.
    response = api(live, private, bobs_token)
    assert response.status_code == 200
    assert response.json()["full_name"] == "acme/infrastructure"
    p.get_by_role("link", name="Active tokens").first.click()
    expect(p.locator("[data-token-id]")).to_contain_text("website deploy")
    p.context.close()

    # bob asks for more (contents: write) a day later; the approved access keeps working meanwhile.
    live.services.flush_usage()
    clock.advance(timedelta(days=1))
    with live.services.db.unit_of_work() as session:
        token = session.get(Token, 1)
        assert token is not None
        update_fine_grained_token(
            session,
            token=token,
            name=token.name,
            description=token.description,
            permissions={"contents": "write", "issues": "write"},
            repository_selection=RepositorySelection.SUBSET,
            repositories=[get_repository(session, "acme/infrastructure")],
            now=clock.now(),
            ip="192.0.2.10",
        )
    assert api(live, private, bobs_token).status_code == 200
    live.services.flush_usage()

    b = new_page(browser)
    sign_in(b, live, "bob", accounts.passwords["bob"])
    b.get_by_role("link", name="Fine-grained tokens").click()
    b.get_by_role("link", name="website deploy").click()
    details = b.locator("main")
    expect(details).to_contain_text("Expires on")
    expect(details).to_contain_text("Last used within the last week")
    expect(details).to_contain_text("127.0.0.1")
    expect(b.locator("#pending-request")).to_contain_text("Waiting for acme's approval")
    expect(b.locator("#pending-request")).to_contain_text("Contents: Read and write (approved: Read-only)")
    assert bobs_token not in b.content()
    shot(b, "token-page-lifecycle.png")

    b.get_by_role("link", name="Security log").click()
    log = b.locator("table.log-table")
    expect(log).to_contain_text("Access approved by acme")
    expect(log).to_contain_text("Reason: Approved for the CI pipeline")
    expect(log).to_contain_text("More access requested from acme")
    expect(log).to_contain_text("Approval requested from acme")
    expect(log).to_contain_text("Token created")
    assert bobs_token not in b.content()
    shot(b, "security-log.png")
    b.context.close()
