"""Organization settings → Personal access tokens over real HTTP (issue 6): the policy form, pending
requests with approve / deny (mail to a real SMTP server), active tokens with filters and revoke.
Only owners see any of it; what they change is checked through the REST API on the next request."""

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
from tokenforge.authz.subjects import RepositorySelection
from tokenforge.clock import FixedClock
from tokenforge.config import Settings
from tokenforge.orgs import review as org_review
from tokenforge.orgs.services import get_org
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import TokenRequest
from tokenforge.tokens.services import create_fine_grained_token
from tokenforge.web import orgs as web_orgs
from webui import PASSWORD, WebClient, csrf_of, field_errors, web_server

POLICY = "/organizations/acme/settings/personal-access-tokens"
ACTIVE = POLICY + "/active"
REQUESTS = "/organizations/acme/settings/personal-access-token-requests"
CLASSIC_FORBIDDEN = (
    "`acme` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, "
    "or a personal access token with fine-grained permissions."
)
# The policy as the form shows it for a new organization (GitHub's defaults).
DEFAULT_POLICY = {
    "classic": "allow",
    "fine_grained": "allow",
    "approval": "required",
    "max_lifetime_fine_grained": "days",
    "max_lifetime_fine_grained_days": "366",
    "max_lifetime_classic": "none",
    "max_lifetime_classic_days": "",
}


@dataclass
class Site:
    """alice owns acme (public site, private infra and tools); bob and carol are members; dave is
    a stranger who owns the organization "other"."""

    server: LiveServer
    clock: FixedClock
    inbox: Inbox
    clients: list[WebClient] = field(default_factory=list)

    def client(self, login: str | None = None) -> WebClient:
        client = WebClient(self.server.url)
        self.clients.append(client)
        if login:
            client.login(login)
        return client

    def api(self, path: str, secret: str) -> httpx.Response:
        return httpx.get(f"{self.server.url}/api/v3{path}", headers={"Authorization": f"token {secret}"}, timeout=30)

    def fine(
        self, login: str, name: str, repos: list[str], org: str = "acme", days: int = 30, **permissions: str
    ) -> str:
        with self.server.services.db.unit_of_work() as s:
            owner = get_org(s, org)
            chosen = [
                r for r in s.scalars(select(Repository).where(Repository.owner_id == owner.id)) if r.name in repos
            ]
            return factories.fine_grained(
                s,
                self.server.settings,
                get_user(s, login),
                self.clock.now(),
                resource_owner=owner,
                name=name,
                repositories=chosen,
                all_repos=not repos,
                permissions=permissions or {"contents": "read"},
                expires_in=timedelta(days=days),
            ).secret

    def classic(self, login: str, days: int = 30) -> str:
        with self.server.services.db.unit_of_work() as s:
            user = get_user(s, login)
            return factories.classic(
                s, self.server.settings, user, self.clock.now(), "repo", expires_in=timedelta(days=days)
            ).secret

    def request_ids(self, status: str = "pending") -> list[int]:
        with self.server.services.db.unit_of_work() as s:
            return list(
                s.scalars(select(TokenRequest.id).where(TokenRequest.status == status).order_by(TokenRequest.id))
            )

    def policy(self) -> tuple[object, ...]:
        with self.server.services.db.unit_of_work() as s:
            acme = get_org(s, "acme")
            return (
                acme.classic_tokens_allowed,
                acme.fine_grained_tokens_allowed,
                acme.approval_required,
                acme.max_lifetime_fine_grained_days,
                acme.max_lifetime_classic_days,
            )


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    with smtp_server() as (inbox, smtp_url), web_server(settings, smtp_url=smtp_url) as (server, clock):
        with server.services.db.unit_of_work() as s:
            now = clock.now()
            alice, bob, carol, dave = (
                factories.user(s, login, now, password=PASSWORD) for login in ("alice", "bob", "carol", "dave")
            )
            acme = factories.org(s, "acme", alice, now, members=[bob, carol])
            factories.org(s, "other", dave, now, members=[bob])
            factories.repo(s, server.settings, acme, "site", now)
            for name in ("infra", "tools"):
                factories.repo(s, server.settings, acme, name, now, private=True)
        running = Site(server, clock, inbox)
        try:
            yield running
        finally:
            for client in running.clients:
                client.close()


def post_form(client: WebClient, page: str, data: dict[str, str | list[str]]) -> httpx.Response:
    return client.submit(page, page, data)


def policy(**changes: str) -> dict[str, str | list[str]]:
    return {**DEFAULT_POLICY, **changes}


# -- who may see the pages ------------------------------------------------------------------------------


def test_owners_see_the_pages_and_everyone_else_gets_404(site: Site) -> None:
    site.fine("bob", "deploy", ["infra"])
    alice = site.client("alice")
    for path in (POLICY, ACTIVE, REQUESTS):
        assert alice.get(path).status_code == 200, path
    assert alice.get("/organizations/acme/settings").headers["location"] == POLICY
    assert alice.get("/organizations/ACME/settings/personal-access-tokens").status_code == 200

    unknown = alice.get("/organizations/nope/settings/personal-access-tokens")
    assert unknown.status_code == 404
    for login in ("bob", "dave"):
        visitor = site.client(login)
        for path in ("/organizations/acme/settings", POLICY, ACTIVE, REQUESTS):
            response = visitor.get(path)
            assert response.status_code == 404, (login, path)
            # Word for word what an unknown organization gets: nothing confirms the page exists.
            assert response.text.split("<main")[1] == unknown.text.split("<main")[1]
            assert "acme" not in response.text.split("<main")[1]
        csrf = csrf_of(visitor.page("/logout"))
        assert visitor.post(POLICY, policy(classic="restrict"), csrf=csrf).status_code == 404
        assert visitor.post(REQUESTS, {"approve": str(site.request_ids()[0])}, csrf=csrf).status_code == 404
        assert visitor.post(ACTIVE, {"revoke": "1"}, csrf=csrf).status_code == 404
    assert site.policy() == (True, True, True, 366, None)
    assert len(site.request_ids()) == 1

    anonymous = site.client()
    for path in (POLICY, ACTIVE, REQUESTS):
        assert anonymous.get(path).headers["location"].startswith("/login?return_to=%2Forganizations%2Facme")


def test_the_settings_menu_lists_the_organizations_you_own(site: Site) -> None:
    menu = site.client("alice").page("/settings/emails")
    assert f'href="{POLICY}"' in menu
    assert 'href="/settings/security-log"' in menu
    assert "/organizations/other/" not in menu
    bobs = site.client("bob").page("/settings/emails")
    assert "/organizations/" not in bobs  # a member of two organizations, owner of none
    daves = site.client("dave").page("/settings/tokens")
    assert 'href="/organizations/other/settings/personal-access-tokens"' in daves
    # On an organization's page its sections are listed under it.
    page = site.client("alice").page(REQUESTS)
    assert f'href="{ACTIVE}"' in page
    assert f'href="{REQUESTS}" aria-current="page"' in page


def test_every_post_needs_the_csrf_token(site: Site) -> None:
    site.fine("bob", "deploy", ["infra"])
    alice = site.client("alice")
    other = site.client("bob")
    foreign = csrf_of(other.page("/logout"))
    [request_id] = site.request_ids()
    for path, data in (
        (POLICY, policy(classic="restrict")),
        (REQUESTS, {"approve": str(request_id)}),
        (ACTIVE, {"bulk": "revoke", "token_ids": "1"}),
    ):
        for csrf in (None, "", foreign):
            response = alice.post(path, data, csrf=csrf)
            assert response.status_code == 403, (path, csrf)
            assert "Your form has expired" in response.text
    assert site.policy() == (True, True, True, 366, None)
    assert site.request_ids() == [request_id]


# -- the policy ----------------------------------------------------------------------------------------


def test_the_policy_form_shows_the_current_policy_and_saves_changes(site: Site) -> None:
    alice = site.client("alice")
    page = alice.page(POLICY)
    assert re.search(r'name="classic" value="allow" checked', page)
    assert re.search(r'name="approval" value="required" checked', page)
    assert 'name="max_lifetime_fine_grained_days" value="366"' in page
    assert re.search(r'name="max_lifetime_classic" value="none" checked', page)

    response = post_form(
        alice,
        POLICY,
        policy(
            classic="restrict",
            approval="not_required",
            max_lifetime_fine_grained="none",
            max_lifetime_classic="days",
            max_lifetime_classic_days="90",
        ),
    )
    assert response.status_code == 303
    assert response.headers["location"] == POLICY
    saved = alice.page(POLICY)
    assert "Personal access token policy saved." in saved
    assert re.search(r'name="classic" value="restrict" checked', saved)
    assert 'name="max_lifetime_classic_days" value="90"' in saved
    assert site.policy() == (False, True, False, None, 90)
    checked = re.findall(r'type="radio" name="(\w+)" value="(\w*)"[^>]*checked', saved)
    same = [*checked, ("max_lifetime_fine_grained_days", ""), ("max_lifetime_classic_days", "90")]
    assert post_form(alice, POLICY, dict(same)).status_code == 303
    assert "Nothing changed." in alice.page(POLICY)


@pytest.mark.parametrize(
    ("changes", "field_name", "message"),
    [
        ({"classic": "maybe"}, "classic", "Choose allow or restrict"),
        ({"fine_grained": ""}, "fine_grained", "Choose allow or restrict"),
        ({"approval": "sometimes"}, "approval", "Choose whether approval is required"),
        ({"max_lifetime_fine_grained": "forever"}, "max_lifetime_fine_grained", "Choose a maximum lifetime"),
        ({"max_lifetime_fine_grained_days": ""}, "max_lifetime_fine_grained", "Enter the maximum lifetime in days"),
        ({"max_lifetime_fine_grained_days": "abc"}, "max_lifetime_fine_grained", "Enter the maximum lifetime as"),
        ({"max_lifetime_fine_grained_days": "-5"}, "max_lifetime_fine_grained", "Enter the maximum lifetime as"),
        ({"max_lifetime_fine_grained_days": "1.5"}, "max_lifetime_fine_grained", "Enter the maximum lifetime as"),
        ({"max_lifetime_fine_grained_days": "٣٠"}, "max_lifetime_fine_grained", "Enter the maximum lifetime as"),
        ({"max_lifetime_fine_grained_days": "9" * 10}, "max_lifetime_fine_grained", "Enter the maximum lifetime as"),
        (
            {"max_lifetime_fine_grained_days": "0"},
            "max_lifetime_fine_grained",
            "A maximum lifetime must be between 1 and 3660 days",
        ),
        (
            {"max_lifetime_classic": "days", "max_lifetime_classic_days": "0"},
            "max_lifetime_classic",
            "A maximum lifetime must be between 1 and 3660 days",
        ),
    ],
)
def test_policy_errors_are_shown_next_to_the_field(
    site: Site, changes: dict[str, str], field_name: str, message: str
) -> None:
    alice = site.client("alice")
    response = post_form(alice, POLICY, policy(**{"classic": "restrict", **changes}))
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert field_name in errors, errors
    assert errors[field_name].startswith(message), errors
    assert site.policy() == (True, True, True, 366, None)  # nothing saved, not even the valid fields
    if "max_lifetime_fine_grained_days" in changes:  # what was entered is kept
        assert f'name="max_lifetime_fine_grained_days" value="{changes["max_lifetime_fine_grained_days"]}"' in (
            response.text
        )


def test_a_policy_form_with_fields_missing_is_refused_not_a_500(site: Site) -> None:
    alice = site.client("alice")
    response = alice.post(POLICY, {}, csrf=csrf_of(alice.page(POLICY)))
    assert response.status_code == 422
    assert set(field_errors(response.text)) == {
        "classic",
        "fine_grained",
        "approval",
        "max_lifetime_fine_grained",
        "max_lifetime_classic",
    }


def test_restricting_classic_tokens_applies_on_the_next_request(site: Site) -> None:
    bobs = site.classic("bob")
    assert site.api("/repos/acme/infra", bobs).status_code == 200
    alice = site.client("alice")
    assert post_form(alice, POLICY, policy(classic="restrict")).status_code == 303
    refused = site.api("/repos/acme/infra", bobs)
    assert refused.status_code == 403
    assert refused.json()["message"] == CLASSIC_FORBIDDEN
    assert site.api("/repos/acme/site", bobs).status_code == 200  # public resources stay readable
    assert post_form(alice, POLICY, policy()).status_code == 303
    assert site.api("/repos/acme/infra", bobs).status_code == 200


def test_lifetime_and_approval_policies_apply_on_the_next_request(site: Site) -> None:
    bobs_classic = site.classic("bob", days=30)
    bobs_fine = site.fine("bob", "deploy", ["infra"])  # pending: acme requires approval
    assert site.api("/repos/acme/infra", bobs_fine).status_code == 404
    alice = site.client("alice")
    changed = policy(max_lifetime_classic="days", max_lifetime_classic_days="7", approval="not_required")
    assert post_form(alice, POLICY, changed).status_code == 303
    blocked = site.api("/repos/acme/infra", bobs_classic)
    assert blocked.status_code == 403
    assert blocked.json()["message"].startswith(
        "The 'acme' organization forbids access via a personal access token (classic) if the token's lifetime "
        "is greater than 7 days."
    )
    # Turning approval off approved what was waiting.
    assert site.api("/repos/acme/infra", bobs_fine).status_code == 200
    assert site.request_ids() == []
    # Restricting fine-grained tokens cuts them off the private repository, not the public one.
    assert post_form(alice, POLICY, {**changed, "fine_grained": "restrict"}).status_code == 303
    assert site.api("/repos/acme/infra", bobs_fine).status_code == 403
    assert site.api("/repos/acme/site", bobs_fine).status_code == 200


# -- pending requests ----------------------------------------------------------------------------------


def test_pending_requests_show_what_was_asked(site: Site) -> None:
    site.fine("bob", "deploy", ["infra"], issues="write")
    site.clock.advance(timedelta(minutes=1))
    with site.server.services.db.unit_of_work() as s:
        create_fine_grained_token(
            s,
            site.server.settings,
            user=get_user(s, "carol"),
            name="ci <script>",
            resource_owner=get_org(s, "acme"),
            permissions={"pull_requests": "read"},
            repository_selection=RepositorySelection.ALL,
            expires_at=site.clock.now() + timedelta(days=30),
            now=site.clock.now(),
            justification="CI needs <b>pull requests</b>",
        )
    page = site.client("alice").page(REQUESTS)
    rows = re.findall(r'data-request-id="(\d+)"', page)
    assert rows == ["2", "1"]  # newest first
    assert "ci &lt;script&gt;" in page
    assert "<script>" not in page.split("<main")[1]
    assert "CI needs &lt;b&gt;pull requests&lt;/b&gt;" in page
    assert "acme/infra" in page
    assert "1 selected repository" in page
    assert "All repositories" in page
    assert "Read and write: Issues" in page
    assert "Read-only: Metadata, Pull requests" in page
    assert "Never used" in page
    assert re.search(r"Expires on \w{3}, \w{3} \d{1,2} \d{4}", page)
    assert '<span class="counter" title="2 pending">2</span>' in page
    assert "No justification given." in page


def test_bulk_approval_with_a_reason_mails_each_requester(site: Site) -> None:
    bobs = site.fine("bob", "deploy", ["infra"])
    carols = site.fine("carol", "reports", ["tools"])
    alice = site.client("alice")
    response = post_form(
        alice, REQUESTS, {"bulk": "approve", "request_ids": [str(i) for i in site.request_ids()], "reason": "ok for CI"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == REQUESTS
    page = alice.page(REQUESTS)
    assert "Approved 2 requests." in page
    assert "No pending requests." in page
    assert site.api("/repos/acme/infra", bobs).status_code == 200
    assert site.api("/repos/acme/tools", carols).status_code == 200
    assert site.api("/repos/acme/infra", carols).status_code == 404  # only what was asked for
    for login, name in (("bob", "deploy"), ("carol", "reports")):
        [mail] = site.inbox.to(f"{login}@example.com")
        assert mail["Subject"] == "[Tokenforge] acme approved your token request"
        body = Inbox.body(mail)
        assert f'"{name}"' in body
        assert "Reason: ok for CI" in body
        assert f"{site.server.url}/settings/personal-access-tokens/" in body


def test_denying_one_request_with_a_reason(site: Site) -> None:
    bobs = site.fine("bob", "broad", ["infra", "tools"])
    site.fine("carol", "reports", ["tools"])
    first, second = site.request_ids()
    alice = site.client("alice")
    # The row's own button acts on that row only, whatever else is ticked.
    response = post_form(
        alice, REQUESTS, {"deny": str(first), "request_ids": [str(first), str(second)], "reason": "Too broad."}
    )
    assert response.status_code == 303
    assert "Denied the request for “broad” by bob." in alice.page(REQUESTS)
    assert site.request_ids() == [second]
    assert site.request_ids("denied") == [first]
    [mail] = site.inbox.to("bob@example.com")
    assert mail["Subject"] == "[Tokenforge] acme denied your token request"
    assert "Reason: Too broad." in Inbox.body(mail)
    assert site.inbox.to("carol@example.com") == []
    assert site.api("/repos/acme/infra", bobs).status_code == 404
    assert site.api("/repos/acme/site", bobs).status_code == 200
    bob = site.client("bob")
    assert "The owners of <strong>acme</strong> denied this token" in bob.page("/settings/personal-access-tokens/1")


def test_review_form_errors_are_shown_not_500(site: Site) -> None:
    site.fine("bob", "deploy", ["infra"])
    with site.server.services.db.unit_of_work() as s:
        factories.fine_grained(
            s, site.server.settings, get_user(s, "bob"), site.clock.now(), resource_owner=get_org(s, "other"), name="x"
        )
    ours, theirs = site.request_ids()
    alice = site.client("alice")
    cases: list[tuple[dict[str, str | list[str]], str, str]] = [
        ({"bulk": "approve"}, "requests", "Select at least one request"),
        ({"bulk": "explode", "request_ids": str(ours)}, "requests", "Choose an action"),
        ({}, "requests", "Choose an action"),
        ({"bulk": "approve", "request_ids": ["abc"]}, "requests", "A selected request no longer exists"),
        ({"approve": "99999999999"}, "requests", "That request no longer exists"),
        ({"approve": str(theirs)}, "requests", f"No token request {theirs} in acme"),
        ({"deny": "424242"}, "requests", "No token request 424242 in acme"),
        ({"approve": str(ours), "reason": "r" * 1025}, "reason", "Reason is too long (maximum is 1024 characters)"),
    ]
    for data, field_name, message in cases:
        response = post_form(alice, REQUESTS, data)
        assert response.status_code == 422, (data, response.text[:500])
        errors = field_errors(response.text)
        assert errors.get(field_name, "").startswith(message), (data, errors)
    assert site.request_ids() == [ours, theirs]
    long_reason = post_form(alice, REQUESTS, {"approve": str(ours), "reason": "r" * 1025})
    assert "r" * 1025 in long_reason.text  # kept for correcting
    # A double click: the second review of the same request is refused with its state.
    assert post_form(alice, REQUESTS, {"approve": str(ours)}).status_code == 303
    again = alice.post(REQUESTS, {"deny": str(ours)}, csrf=csrf_of(alice.page("/logout")))
    assert again.status_code == 422
    assert field_errors(again.text) == {"requests": f"Request {ours} is already approved"}
    assert site.inbox.to("bob@example.com")[0]["Subject"] == "[Tokenforge] acme approved your token request"
    assert len(site.inbox.to("bob@example.com")) == 1


def test_a_request_for_more_access_is_reviewed_beside_the_approved_grant(site: Site) -> None:
    bobs = site.fine("bob", "deploy", ["infra"])
    alice = site.client("alice")
    assert post_form(alice, REQUESTS, {"approve": str(site.request_ids()[0])}).status_code == 303
    bob = site.client("bob")
    form = bob.page("/settings/personal-access-tokens/1/edit")
    with site.server.services.db.unit_of_work() as s:
        repo_ids = [str(i) for i in s.scalars(select(Repository.id).where(Repository.name.in_(["infra", "tools"])))]
    response = bob.post(
        "/settings/personal-access-tokens/1",
        {
            "name": "deploy",
            "repository_selection": "subset",
            "repositories": repo_ids,  # infra and tools
            "perm.contents": "read",
            "perm.issues": "write",
        },
        csrf=csrf_of(form),
    )
    assert response.status_code == 303
    token_page = bob.page("/settings/personal-access-tokens/1")
    assert "Waiting for acme's approval" in token_page
    assert "Issues: Read and write (new)" in token_page
    assert "Repository acme/tools (new)" in token_page
    assert "<dt>Repository access</dt><dd>1 selected repository" in token_page  # the approved grant

    page = alice.page(REQUESTS)
    assert "Asks for more" in page
    assert "Issues: Read and write (new)" in page
    assert "Repository acme/tools (new)" in page
    assert "Approved now: 1 selected repository · Read-only: Contents, Metadata" in page
    assert site.api("/repos/acme/infra", bobs).status_code == 200  # approved access keeps working
    assert site.api("/repos/acme/tools", bobs).status_code == 404
    assert post_form(alice, REQUESTS, {"approve": str(site.request_ids()[0])}).status_code == 303
    assert site.api("/repos/acme/tools", bobs).status_code == 200
    assert "Waiting for" not in bob.page("/settings/personal-access-tokens/1")


# -- active tokens ------------------------------------------------------------------------------------


def test_active_tokens_can_be_filtered(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    bobs = site.fine("bob", "deploy", ["infra"])
    carols = site.fine("carol", "triage", [], issues="write")  # all repositories
    site.fine("alice", "admin", ["tools"])  # an owner's: approved at once
    site.fine("bob", "waiting", ["tools"])  # pending: not active
    alice = site.client("alice")
    requests = site.request_ids()
    assert (
        post_form(alice, REQUESTS, {"bulk": "approve", "request_ids": [str(i) for i in requests[:2]]}).status_code
        == 303
    )
    site.fine("bob", "waiting 2", ["tools"])
    assert site.api("/repos/acme/infra", bobs).status_code == 200
    site.clock.advance(timedelta(days=10))
    assert site.api("/repos/acme/site", carols).status_code == 200
    site.server.services.flush_usage()

    def names(query: str = "") -> list[str]:
        page = alice.page(f"{ACTIVE}{query}")
        return re.findall(r'<span class="token-name">([^<]+)</span>', page)

    assert names() == ["admin", "triage", "deploy"]
    assert names("?owner=bob") == ["deploy"]
    assert names("?owner=bob,+carol") == ["triage", "deploy"]
    assert names("?repository=tools") == ["admin", "triage"]  # carol's has all repositories
    filtered = alice.page(f"{ACTIVE}?repository=tools")
    assert 'id="repository" name="repository" value="tools"' in filtered  # the filter stays filled in
    assert all(f'<option value="{name}">' in filtered for name in ("infra", "site", "tools"))  # suggestions
    assert names("?repository=INFRA") == ["triage", "deploy"]
    assert names("?permission=issues") == ["triage"]
    today = site.clock.now().date().isoformat()
    assert names(f"?last_used_after={today}") == ["triage"]
    assert names(f"?last_used_before={today}") == ["deploy"]
    assert names("?owner=nobody") == []
    assert "No active token matches these filters." in alice.page(f"{ACTIVE}?owner=nobody")
    bad = alice.get(f"{ACTIVE}?last_used_after=2026-02-30&permission=sudo&last_used_before=soon")
    assert bad.status_code == 200
    assert field_errors(bad.text) == {
        "last_used_after": "Enter a real date",
        "last_used_before": "Enter the date as YYYY-MM-DD",
        "permission": "Choose a permission from the list",
    }
    page = alice.page(ACTIVE)
    assert "1 selected repository" in page
    assert "Read and write: Issues" in page
    assert "Last used within the last week" in page
    assert "Never used" in page
    assert "3 tokens" in page
    # Past the cap the page says "more than" instead of reading every row to count them.
    monkeypatch.setattr(org_review, "COUNT_CAP", 2)
    assert "More than 2 tokens" in alice.page(ACTIVE)
    assert "1 token match" in alice.page(f"{ACTIVE}?owner=bob")  # under the cap: exact


def test_active_tokens_page_by_keyset_links(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Next and Previous carry the last and first token shown (``after`` / ``before``), so a deep
    page costs what the first costs (docs/benchmarks.md, scale); a token revoked between two
    clicks moves the boundary without skipping or repeating anyone."""
    for i in range(7):
        site.fine("alice", f"t{i}", ["tools"])  # an owner's: approved at once, ids 1..7
    monkeypatch.setattr(web_orgs, "PER_PAGE", 3)
    alice = site.client("alice")

    def visit(path: str) -> tuple[list[str], str | None, str | None, str]:
        page = alice.page(path)
        links = {rel: html.unescape(href) for rel, href in re.findall(r'rel="(prev|next)" href="([^"]+)"', page)}
        number = re.search(r'<span class="pager-number">Page (\d+)</span>', page)
        names = re.findall(r'<span class="token-name">([^<]+)</span>', page)
        return names, links.get("prev"), links.get("next"), number.group(1) if number else ""

    names, prev, nxt, number = visit(f"{ACTIVE}?owner=alice")
    assert (names, prev, number) == (["t6", "t5", "t4"], None, "1")
    assert nxt == f"{ACTIVE}?owner=alice&page=2&after=5"  # filters kept; the cursor is the last id shown
    names, prev, nxt, number = visit(nxt)
    assert (names, number) == (["t3", "t2", "t1"], "2")
    assert prev == f"{ACTIVE}?owner=alice"  # page 1 is the list's start itself
    assert nxt == f"{ACTIVE}?owner=alice&page=3&after=2"
    third, prev, last_next, number = visit(nxt)
    assert (third, last_next, number) == (["t0"], None, "3")
    assert prev == f"{ACTIVE}?owner=alice&page=2&before=1"
    with site.server.services.db.unit_of_work() as s:
        org_review.revoke_grants(s, org=get_org(s, "acme"), token_ids=[3], now=site.clock.now(), actor=None)
    names, prev, nxt, number = visit(prev)  # t2 went away: the page above t0 now starts at t3
    assert (names, number) == (["t4", "t3", "t1"], "2")
    assert prev == f"{ACTIVE}?owner=alice"
    assert nxt == f"{ACTIVE}?owner=alice&page=3&after=2"
    # A typed page number still works (read with an OFFSET); a cursor that is not an id is ignored.
    assert visit(f"{ACTIVE}?page=2")[0] == ["t3", "t1", "t0"]
    for junk in ("after=abc", "after=1" + "0" * 30, "before=-1", "after="):
        assert visit(f"{ACTIVE}?{junk}")[0] == ["t6", "t5", "t4"], junk
    # Nothing left above a Previous link's cursor (rows went away): the list's start.
    assert visit(f"{ACTIVE}?page=2&before=7") == (["t6", "t5", "t4"], None, f"{ACTIVE}?page=2&after=5", "1")
    past = alice.page(f"{ACTIVE}?page=9&after=1")  # past the end (rows went away): back to the start
    assert "Nothing on this page." in past
    assert visit(f"{ACTIVE}?page=9&after=1")[0:3] == ([], ACTIVE, None)


def test_revoking_cuts_the_token_off_at_once_and_public_reads_remain(site: Site) -> None:
    bobs = site.fine("bob", "deploy", ["infra"])
    carols = site.fine("carol", "ci", ["tools"])
    alices = site.fine("alice", "admin", ["tools"])
    alice = site.client("alice")
    assert (
        post_form(alice, REQUESTS, {"bulk": "approve", "request_ids": [str(i) for i in site.request_ids()]}).status_code
        == 303
    )
    assert site.api("/repos/acme/infra", bobs).status_code == 200

    filtered = f"{ACTIVE}?owner=bob"
    page = alice.page(filtered)
    response = alice.post(filtered, {"revoke": "1"}, csrf=csrf_of(page))
    assert response.status_code == 303
    assert response.headers["location"] == filtered  # back to the same filtered list
    assert "Revoked the access of “deploy” (bob) to acme." in alice.page(filtered)
    assert site.api("/repos/acme/infra", bobs).status_code == 404  # at once
    assert site.api("/repos/acme/site", bobs).status_code == 200  # public reads remain
    assert site.api("/user", bobs).status_code == 200  # the token itself lives on
    bob = site.client("bob")
    assert "The owners of <strong>acme</strong> revoked this token" in bob.page("/settings/personal-access-tokens/1")

    # A stale form (the token was revoked meanwhile) is a message, not a 500.
    stale = alice.post(ACTIVE, {"revoke": "1"}, csrf=csrf_of(page))
    assert stale.status_code == 422
    assert field_errors(stale.text) == {"tokens": "Token 1 is not approved (revoked)"}
    none = alice.post(ACTIVE, {"bulk": "revoke"}, csrf=csrf_of(page))
    assert field_errors(none.text) == {"tokens": "Select at least one token"}
    for data in ({"revoke": "abc"}, {"bulk": "revoke", "token_ids": ["99999999999"]}, {"revoke": "4242"}):
        response = alice.post(ACTIVE, data, csrf=csrf_of(page))
        assert response.status_code == 422, data
        assert "tokens" in field_errors(response.text)

    response = alice.post(ACTIVE, {"bulk": "revoke", "token_ids": ["2", "3"]}, csrf=csrf_of(page))
    assert response.status_code == 303
    assert "Revoked the access of 2 tokens to acme." in alice.page(ACTIVE)
    assert site.api("/repos/acme/tools", carols).status_code == 404
    assert site.api("/repos/acme/tools", alices).status_code == 404
    assert "No fine-grained token has access to acme." in alice.page(ACTIVE)
    with site.server.services.db.unit_of_work() as s:
        from tokenforge.audit.models import AuditEvent

        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action == "token.org_access_revoked")).all()
    assert len(actions) == 3


@pytest.mark.parametrize("org", ["%FF", "a" * 300, "acme%2Fsettings", "%C2%B2", "acme%00", "-", "%E2%80%AE"])
def test_organization_names_that_cannot_exist_are_404(site: Site, org: str) -> None:
    alice = site.client("alice")
    suffixes = (
        "/settings",
        "/settings/personal-access-tokens",
        "/settings/personal-access-tokens/active",
        "/settings/personal-access-token-requests",
    )
    for suffix in suffixes:
        response = alice.get(f"/organizations/{org}{suffix}")
        assert response.status_code in {400, 404}, (org, suffix, response.status_code)


def test_odd_query_strings_do_not_break_the_lists(site: Site) -> None:
    site.fine("bob", "deploy", ["infra"])
    alice = site.client("alice")
    for query in ("?page=abc", "?page=0", "?page=99999999999999", "?page=2", "?owner=" + "x" * 5000, "?repository=%FF"):
        assert alice.get(REQUESTS + query).status_code == 200, query
        assert alice.get(ACTIVE + query).status_code == 200, query
    assert alice.get(REQUESTS + "?page=%00").status_code == 400
