"""The token lifecycle in the web UI (issue 7): the security log page, the header's expiry
warning, expired tokens with their regenerate action, last use on the token pages, and the mail
sent when a token is created or regenerated from the web."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

import factories
from live import LiveServer
from smtp import Inbox, smtp_server
from tokenforge.accounts.services import get_user
from tokenforge.clock import FixedClock
from tokenforge.config import Settings
from tokenforge.jobs import maintenance
from tokenforge.mail import mailer_for
from tokenforge.orgs.review import review, revoke_grants
from tokenforge.orgs.services import get_org
from tokenforge.tokens.models import TokenRequest
from webui import PASSWORD, WebClient, csrf_of, field_errors, secret_in, web_server

LOG = "/settings/security-log"
NEW_CLASSIC = "/settings/tokens/new"
NEW_FINE = "/settings/personal-access-tokens/new"


@dataclass
class Site:
    server: LiveServer
    clock: FixedClock
    inbox: Inbox
    clients: list[WebClient] = field(default_factory=list)

    def signed_in(self, login: str) -> WebClient:
        with self.server.services.db.unit_of_work() as session:
            factories.user(session, login, self.clock.now(), password=PASSWORD)
        client = WebClient(self.server.url)
        self.clients.append(client)
        client.login(login)
        return client

    def api(self, path: str, secret: str) -> httpx.Response:
        return httpx.get(f"{self.server.url}/api/v3{path}", headers={"Authorization": f"token {secret}"}, timeout=30)


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    with smtp_server() as (inbox, smtp_url), web_server(settings, smtp_url=smtp_url) as (server, clock):
        running = Site(server, clock, inbox)
        try:
            yield running
        finally:
            for client in running.clients:
                client.close()


def classic(client: WebClient, note: str, expiration: str = "30") -> str:
    response = client.submit(NEW_CLASSIC, NEW_CLASSIC, {"note": note, "scopes": ["repo"], "expiration": expiration})
    assert response.status_code == 200, field_errors(response.text) or response.text[:2000]
    return secret_in(response.text)


def events(page: str) -> list[str]:
    """The event names in the log's table, top to bottom."""
    return [html.unescape(e) for e in re.findall(r"<td><strong>([^<]+)</strong>", page)]


# -- the security log ---------------------------------------------------------------------------------


def test_the_log_lists_what_was_done_through_the_ui_and_never_a_secret(site: Site) -> None:
    alice = site.signed_in("alice")
    first = classic(alice, "laptop")
    page = alice.page("/settings/tokens/1/regenerate")
    second = secret_in(alice.post("/settings/tokens/1/regenerate", {"expiration": "90"}, csrf=csrf_of(page)).text)
    edit = alice.page("/settings/tokens/1")
    assert (
        alice.post("/settings/tokens/1", {"note": "laptop 2", "scopes": ["gist"]}, csrf=csrf_of(edit)).status_code
        == 303
    )
    fine = alice.submit(
        NEW_FINE,
        NEW_FINE,
        {"name": "ci", "expiration": "30", "repository_selection": "none", "resource_owner": "alice"},
    )
    third = secret_in(fine.text)
    confirm = alice.page("/settings/tokens/1/delete")
    assert alice.post("/settings/tokens/1/delete", {}, csrf=csrf_of(confirm)).status_code == 303

    log = alice.page(LOG)
    assert events(log) == [
        "Token deleted",
        "Token created",
        "Token edited",
        "Token regenerated",
        "Token created",
        "Signed in",
        "Account created",
    ]
    assert 'laptop 2&nbsp;<span class="muted">#1</span>' in log  # a deleted token: its name, no link
    assert '<a href="/settings/personal-access-tokens/2">ci</a>&nbsp;<span class="muted">#2</span>' in log
    assert log.count("<code>127.0.0.1</code>") >= 5
    assert "Classic; scopes: repo" in log
    assert "Fine-grained; resource owner alice" in log
    assert re.search(r"Expires on \w{3}, \w{3} \d{1,2} \d{4}", log)
    for secret in (first, second, third):
        assert secret not in log
        assert secret[-8:] not in log
    assert "Security log" in log
    assert 'href="/settings/security-log" aria-current="page"' in log


def test_organization_reviews_appear_in_the_requesters_log(site: Site) -> None:
    bob = site.signed_in("bob")
    site.signed_in("alice")
    with site.server.services.db.unit_of_work() as s:
        now = site.clock.now()
        alice_user, bob_user = get_user(s, "alice"), get_user(s, "bob")
        acme = factories.org(s, "acme", alice_user, now, members=[bob_user])
        infra = factories.repo(s, site.server.settings, acme, "infra", now, private=True)
        factories.fine_grained(
            s, site.server.settings, bob_user, now, resource_owner=acme, name="a", repositories=[infra]
        )
        factories.fine_grained(
            s, site.server.settings, bob_user, now, resource_owner=acme, name="b", repositories=[infra]
        )
    with site.server.services.db.unit_of_work() as s:
        acme, alice_user = get_org(s, "acme"), get_user(s, "alice")
        first, second = s.scalars(select(TokenRequest.id).order_by(TokenRequest.id)).all()
        review(s, org=acme, request_ids=[first], approve=True, now=now, actor=alice_user, reason="fine")
        review(s, org=acme, request_ids=[second], approve=False, now=now, actor=alice_user, reason="Too <broad>")
    with site.server.services.db.unit_of_work() as s:
        revoke_grants(s, org=get_org(s, "acme"), token_ids=[1], now=now, actor=get_user(s, "alice"))
    log = bob.page(LOG)
    names = events(log)
    assert names.count("Approval requested from acme") == 2
    assert "Access approved by acme" in names
    assert "Access denied by acme" in names
    assert "Access revoked by acme" in names
    assert "Reason: Too &lt;broad&gt;" in log
    assert "Reason: fine" in log
    assert re.search(r"<td>alice</td>", log)  # the owner who reviewed
    # Only bob's events: alice's own sign-in and account are not in his log.
    assert names.count("Signed in") == 1
    assert names.count("Account created") == 1


def test_expiry_and_removal_by_the_servers_jobs_are_logged(site: Site) -> None:
    alice = site.signed_in("alice")
    classic(alice, "short", expiration="7")
    classic(alice, "forever", expiration="none")
    mailer = mailer_for(site.server.settings)
    db, settings = site.server.services.db, site.server.settings
    maintenance.run(db, settings, mailer, now=site.clock.now() + timedelta(days=7, minutes=1))
    maintenance.run(db, settings, mailer, now=site.clock.now() + timedelta(days=settings.unused_token_days + 1))
    log = alice.page(LOG)
    names = events(log)
    assert names[:2] == ["Token removed: unused", "Token removed: unused"]
    assert "Token expired" in names
    assert re.search(r"<td>Tokenforge</td>", log)  # the server's jobs, not a person


def test_the_log_is_paginated_newest_first(site: Site) -> None:
    alice = site.signed_in("alice")
    with site.server.services.db.unit_of_work() as s:
        user = get_user(s, "alice")
        for n in range(35):
            site.clock.advance(timedelta(seconds=1))
            factories.classic(s, site.server.settings, user, site.clock.now(), "gist", note=f"token {n:02}")
    first = alice.page(LOG)
    assert len(events(first)) == 30
    assert "token 34" in first
    assert "token 05" in first
    assert "token 04" not in first
    assert 'rel="next" href="/settings/security-log?page=2"' in first
    second = alice.page(LOG + "?page=2")
    assert len(events(second)) == 7  # five tokens, the sign-in, the account
    assert "token 04" in second
    assert 'rel="prev" href="/settings/security-log"' in second
    assert 'rel="next"' not in second
    assert "Nothing on this page." in alice.page(LOG + "?page=9")
    for odd in ("abc", "0", "-1", "99999999999999999999", "1.5"):
        assert events(alice.page(f"{LOG}?page={odd}")) == events(first)


def test_the_log_is_for_signed_in_users_only(site: Site) -> None:
    anonymous = WebClient(site.server.url)
    site.clients.append(anonymous)
    assert anonymous.get(LOG).headers["location"] == "/login?return_to=%2Fsettings%2Fsecurity-log"


# -- expiry in the web UI -------------------------------------------------------------------------------


def test_the_header_warns_about_a_token_that_expires_within_a_week(site: Site) -> None:
    alice = site.signed_in("alice")
    bob = site.signed_in("bob")
    classic(alice, "later", expiration="30")
    assert "expiry-warning" not in alice.page("/settings/emails")
    classic(alice, "soon", expiration="7")
    site.clock.advance(timedelta(days=2))
    for path in ("/", "/settings/emails", LOG, "/settings/tokens"):
        page = alice.page(path)
        assert 'class="expiry-warning"' in page, path
        assert 'Your personal access token “<a href="/settings/tokens/2">soon</a>” expires on' in page
        assert '<a href="/settings/tokens/2/regenerate">regenerate it</a>' in page
    assert "expiry-warning" not in bob.page("/settings/emails")  # alice's token, not bob's
    # Expired: no longer "expires soon"; the list marks it and offers to regenerate it.
    site.clock.advance(timedelta(days=6))
    assert "expiry-warning" not in alice.page("/settings/emails")
    listing = alice.page("/settings/tokens")
    assert re.search(r"Expired on \w{3}, \w{3} \d{1,2} \d{4}", listing)
    assert '<a class="btn btn-small" href="/settings/tokens/2/regenerate">Regenerate token</a>' in listing
    assert '<a class="btn btn-small" href="/settings/tokens/1/regenerate">' not in listing
    assert "Regenerate token" in alice.page("/settings/tokens/2")


def test_an_expired_fine_grained_token_is_regenerated_from_the_list(site: Site) -> None:
    alice = site.signed_in("alice")
    response = alice.submit(
        NEW_FINE, NEW_FINE, {"name": "ci", "expiration": "7", "repository_selection": "none", "resource_owner": "alice"}
    )
    old = secret_in(response.text)
    site.clock.advance(timedelta(days=8))
    assert site.api("/user", old).status_code == 401
    listing = alice.page("/settings/personal-access-tokens")
    assert '<span class="label label-danger">Expired</span>' in listing
    assert 'href="/settings/personal-access-tokens/1/regenerate">Regenerate token</a>' in listing
    page = alice.page("/settings/personal-access-tokens/1")
    assert "It no longer works anywhere" in page
    form = alice.page("/settings/personal-access-tokens/1/regenerate")
    # Eight days after signing in: the password again (sudo mode), in the same POST.
    regenerated = alice.post(
        "/settings/personal-access-tokens/1/regenerate",
        {"expiration": "30", "sudo_password": PASSWORD},
        csrf=csrf_of(form),
    )
    new = secret_in(regenerated.text)
    assert site.api("/user", new).status_code == 200
    assert "Expired" not in alice.page("/settings/personal-access-tokens").split("<main")[1]


def test_the_token_page_shows_last_use_and_recent_addresses(site: Site) -> None:
    alice = site.signed_in("alice")
    response = alice.submit(
        NEW_FINE,
        NEW_FINE,
        {"name": "ci", "expiration": "30", "repository_selection": "none", "resource_owner": "alice"},
    )
    secret = secret_in(response.text)
    page = alice.page("/settings/personal-access-tokens/1")
    assert "<dt>Last used</dt><dd>Never used</dd>" in page
    assert site.api("/user", secret).status_code == 200
    site.server.services.flush_usage()
    site.clock.advance(timedelta(days=3))
    page = alice.page("/settings/personal-access-tokens/1")
    assert re.search(
        r"Last used within the last week <span class=\"muted\">\(\w{3}, \w{3} \d{1,2} \d{4}, \d\d:\d\d UTC\)", page
    )
    assert "<code>127.0.0.1</code>" in page
    assert "Last used within the last week" in alice.page("/settings/personal-access-tokens")


# -- mail on creation and regeneration ------------------------------------------------------------------


def test_creating_and_regenerating_from_the_web_mails_the_owner(site: Site) -> None:
    alice = site.signed_in("alice")
    first = classic(alice, "laptop")
    fine = secret_in(
        alice.submit(
            NEW_FINE,
            NEW_FINE,
            {"name": "ci", "expiration": "30", "repository_selection": "none", "resource_owner": "alice"},
        ).text
    )
    page = alice.page("/settings/tokens/1/regenerate")
    second = secret_in(alice.post("/settings/tokens/1/regenerate", {"expiration": "7"}, csrf=csrf_of(page)).text)
    page = alice.page("/settings/personal-access-tokens/2/regenerate")
    third = secret_in(
        alice.post("/settings/personal-access-tokens/2/regenerate", {"expiration": "7"}, csrf=csrf_of(page)).text
    )
    mails = site.inbox.to("alice@example.com")
    assert [m["Subject"] for m in mails] == [
        "[Tokenforge] A new personal access token was added to your account",
        "[Tokenforge] A new personal access token was added to your account",
        "[Tokenforge] A personal access token was regenerated",
        "[Tokenforge] A personal access token was regenerated",
    ]
    bodies = [Inbox.body(m) for m in mails]
    assert "laptop" in bodies[0]
    assert "Scopes: repo" in bodies[0]
    assert "ci" in bodies[1]
    for body in bodies:
        for secret in (first, fine, second, third):
            assert secret not in body
    # A refused form sends nothing.
    refused = alice.submit(NEW_CLASSIC, NEW_CLASSIC, {"note": "", "scopes": ["repo"], "expiration": "30"})
    assert refused.status_code == 422
    assert len(site.inbox.to("alice@example.com")) == 4
