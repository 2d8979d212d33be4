"""Organization token policies and review, through the REST API (issue 6)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

import factories
from live import LiveServer
from smtp import Inbox, smtp_server
from tokenforge.accounts.services import get_user
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.orgs import review as org_review
from tokenforge.orgs.services import get_org

pytestmark = pytest.mark.slow


@dataclass
class Org:
    url: str
    db: Database
    settings: Settings
    inbox: Inbox
    owner: str  # alice: classic admin:org + repo
    owner_fine: str  # alice: fine-grained aimed at acme with both review permissions
    member_classic: str  # bob: classic repo
    now: datetime

    def call(self, method: str, path: str, token: str | None = None, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"token {token}"} if token else {}
        return httpx.request(method, f"{self.url}/api/v3{path}", headers=headers, timeout=10, **kw)  # type: ignore[arg-type]

    def fine(self, person: str, name: str, repos: list[str], days: int | None = 30, **perms: str) -> str:
        with self.db.unit_of_work() as s:
            acme = get_org(s, "acme")
            chosen = [r for r in acme_repos(s, acme) if r.name in repos]
            return factories.fine_grained(
                s,
                self.settings,
                get_user(s, person),
                self.now,
                resource_owner=acme,
                repositories=chosen,
                name=name,
                permissions=perms or {"contents": "read"},
                expires_in=timedelta(days=days) if days else None,
            ).secret


def acme_repos(session, org):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from tokenforge.repos.models import Repository

    return session.scalars(select(Repository).where(Repository.owner_id == org.id)).all()


@pytest.fixture
def org(settings: Settings, db: Database, now: datetime) -> Iterator[Org]:
    with db.unit_of_work() as s:
        alice, bob = factories.user(s, "alice", now), factories.user(s, "bob", now)
        factories.user(s, "carol", now)
        acme = factories.org(s, "acme", alice, now, members=[bob])
        factories.repo(s, settings, acme, "site", now)
        factories.repo(s, settings, acme, "infra", now, private=True)
        factories.repo(s, settings, acme, "tools", now, private=True)
        owner = factories.classic(s, settings, alice, now, "admin:org", "repo", note="owner").secret
        owner_fine = factories.fine_grained(
            s,
            settings,
            alice,
            now,
            resource_owner=acme,
            all_repos=True,
            name="review",
            permissions={
                "organization_personal_access_token_requests": "write",
                "organization_personal_access_tokens": "write",
            },
        ).secret
        member_classic = factories.classic(s, settings, bob, now, "repo", note="bob").secret
    with smtp_server() as (inbox, smtp_url):
        server = LiveServer(settings.model_copy(update={"smtp_url": smtp_url})).start()
        try:
            # Changes go through the server's own database handle, as a request's would: seen at once.
            # (Another process's changes are seen within the poll interval: test_authenticator.py.)
            yield Org(server.url, server.services.db, server.settings, inbox, owner, owner_fine, member_classic, now)
        finally:
            server.stop()


def test_classic_restricted(org: Org) -> None:
    assert org.call("GET", "/repos/acme/infra", org.member_classic).status_code == 200
    assert org.call("PATCH", "/orgs/acme/personal-access-tokens", org.owner).status_code == 405
    with org.db.unit_of_work() as s:
        get_org(s, "acme").classic_tokens_allowed = False
        from tokenforge.auth.generation import access_changed

        access_changed(s)
    refused = org.call("GET", "/repos/acme/infra", org.member_classic)
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "`acme` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, "
        "or a personal access token with fine-grained permissions."
    )
    # Public resources stay readable.
    assert org.call("GET", "/repos/acme/site", org.member_classic).status_code == 200
    # … but not writable.
    assert org.call("POST", "/repos/acme/site/issues", org.member_classic, json={"title": "x"}).status_code == 403


def test_pending_approved_revoked(org: Org) -> None:
    token = org.fine("bob", "deploy", ["infra"], issues="write")
    assert org.call("GET", "/repos/acme/site", token).status_code == 200  # pending: public reads
    assert org.call("GET", "/repos/acme/infra", token).status_code == 404
    [pending] = org.call("GET", "/orgs/acme/personal-access-token-requests", org.owner).json()
    assert pending["owner"]["login"] == "bob"
    assert pending["token_name"] == "deploy"
    assert pending["permissions"] == {"repository": {"issues": "write", "metadata": "read"}}
    assert pending["repository_selection"] == "subset"
    assert "/api/v3/organizations/" in pending["repositories_url"]
    assert pending["repositories_url"].endswith(f"/personal-access-token-requests/{pending['id']}/repositories")
    repos = httpx.get(pending["repositories_url"], headers={"Authorization": f"token {org.owner}"}).json()
    assert [r["full_name"] for r in repos] == ["acme/infra"]
    approved = org.call(
        "POST", f"/orgs/acme/personal-access-token-requests/{pending['id']}", org.owner, json={"action": "approve"}
    )
    assert approved.status_code == 204
    assert org.call("GET", "/repos/acme/infra", token).status_code == 200
    assert [m["Subject"] for m in org.inbox.to("bob@example.com")] == ["[Tokenforge] acme approved your token request"]
    [grant] = org.call("GET", "/orgs/acme/personal-access-tokens?owner[]=bob", org.owner).json()
    assert grant["token_name"] == "deploy"
    assert grant["access_granted_at"] is not None
    revoked = org.call(
        "POST", f"/orgs/acme/personal-access-tokens/{grant['id']}", org.owner_fine, json={"action": "revoke"}
    )
    assert revoked.status_code == 204
    assert org.call("GET", "/repos/acme/infra", token).status_code == 404  # cut off at once
    assert org.call("GET", "/repos/acme/site", token).status_code == 200  # public reads remain


def test_denied_with_reason_is_emailed(org: Org) -> None:
    org.fine("bob", "broad", ["infra", "tools"])
    [pending] = org.call("GET", "/orgs/acme/personal-access-token-requests", org.owner).json()
    response = org.call(
        "POST",
        "/orgs/acme/personal-access-token-requests",
        org.owner,
        json={"pat_request_ids": [pending["id"]], "action": "deny", "reason": "Access is too broad."},
    )
    assert response.status_code == 202
    [mail] = org.inbox.to("bob@example.com")
    assert mail["Subject"] == "[Tokenforge] acme denied your token request"
    assert "Reason: Access is too broad." in Inbox.body(mail)
    assert org.call("GET", "/orgs/acme/personal-access-token-requests", org.owner).json() == []


def test_owner_tokens_are_approved_at_once(org: Org) -> None:
    token = org.fine("alice", "mine", ["infra"])
    assert org.call("GET", "/repos/acme/infra", token).status_code == 200
    assert org.call("GET", "/orgs/acme/personal-access-token-requests", org.owner).json() == []


def test_lifetime_policies(org: Org) -> None:
    classic = org.member_classic  # expires in 30 days
    with org.db.unit_of_work() as s:
        acme = get_org(s, "acme")
        acme.max_lifetime_classic_days = 7
        from tokenforge.auth.generation import access_changed

        access_changed(s)
    refused = org.call("GET", "/repos/acme/infra", classic)
    assert refused.status_code == 403
    message = refused.json()["message"]
    assert message.startswith(
        "The 'acme' organization forbids access via a personal access token (classic) if the "
        "token's lifetime is greater than 7 days."
    )
    assert f"{org.url}/settings/tokens/" in message
    # Fine-grained: a long-lived token approved earlier is blocked (not revoked) when the policy tightens.
    token = org.fine("alice", "long", ["infra"], days=200)
    assert org.call("GET", "/repos/acme/infra", token).status_code == 200
    with org.db.unit_of_work() as s:
        from tokenforge.orgs.review import set_policy

        set_policy(s, org=get_org(s, "acme"), now=org.now, actor=None, max_lifetime_fine_grained_days=90)
    blocked = org.call("GET", "/repos/acme/infra", token)
    assert blocked.status_code == 403
    assert blocked.json()["message"].startswith(
        "The 'acme' organization forbids access via a fine-grained personal access tokens if the token's lifetime "
        "is greater than 90 days. Please adjust your token's lifetime at the following URL: "
    )


def test_review_endpoints_need_an_owner_with_the_scope(org: Org) -> None:
    org.fine("bob", "x", ["infra"])
    members_token = org.member_classic
    assert org.call("GET", "/orgs/acme/personal-access-token-requests", members_token).status_code == 404
    with org.db.unit_of_work() as s:
        no_admin = factories.classic(s, org.settings, get_user(s, "alice"), org.now, "repo", note="no-admin").secret
    refused = org.call("GET", "/orgs/acme/personal-access-token-requests", no_admin)
    assert refused.status_code == 404
    assert refused.headers["X-Accepted-OAuth-Scopes"] == "admin:org"
    bad = org.call("POST", "/orgs/acme/personal-access-token-requests", org.owner, json={"action": "maybe"})
    assert bad.status_code == 422
    missing = org.call("POST", "/orgs/acme/personal-access-token-requests/99999", org.owner, json={"action": "approve"})
    assert missing.status_code == 404


def test_lists_paginate_and_filter(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    with org.db.unit_of_work() as s:
        factories.user(s, "dave", org.now)
        from tokenforge.authz.roles import OrgRole
        from tokenforge.orgs.services import set_member

        set_member(s, org=get_org(s, "acme"), user=get_user(s, "dave"), role=OrgRole.MEMBER, now=org.now)
    for i in range(3):
        org.fine("bob", f"b{i}", ["infra"])
    org.fine("dave", "d0", ["tools"], issues="read")
    first = org.call("GET", "/orgs/acme/personal-access-token-requests?per_page=2", org.owner)
    assert len(first.json()) == 2
    assert 'rel="next"' in first.headers["Link"]
    assert len(org.call("GET", "/orgs/acme/personal-access-token-requests?owner[]=dave", org.owner).json()) == 1
    assert (
        len(org.call("GET", "/orgs/acme/personal-access-token-requests?owner[]=dave&owner[]=bob", org.owner).json())
        == 4
    )
    assert len(org.call("GET", "/orgs/acme/personal-access-token-requests?permission=issues", org.owner).json()) == 1
    assert len(org.call("GET", "/orgs/acme/personal-access-token-requests?repository=tools", org.owner).json()) == 1
    # Bulk approve everything pending (no ids: all of them).
    assert (
        org.call("POST", "/orgs/acme/personal-access-token-requests", org.owner, json={"action": "approve"}).status_code
        == 202
    )
    grants = org.call("GET", "/orgs/acme/personal-access-tokens?owner[]=bob", org.owner).json()
    assert {g["token_name"] for g in grants} == {"b0", "b1", "b2"}

    def names(query: str) -> list[str]:
        response = org.call("GET", f"/orgs/acme/personal-access-tokens{query}", org.owner)
        assert response.status_code == 200, response.text
        return [g["token_name"] for g in response.json()]

    # The filters and the order are applied by the database (a page is a LIMIT/OFFSET): the same
    # answers as before, for every combination that reaches SQL.
    assert names("?permission=issues") == ["d0"]
    assert names("?repository=TOOLS") == ["d0", "review"]  # alice's review token has all repositories
    assert names("?repository=infra&owner[]=bob") == ["b2", "b1", "b0"]  # newest first
    assert names("?repository=infra&owner[]=bob&direction=asc") == ["b0", "b1", "b2"]
    assert names("?repository=nowhere") == ["review"]
    assert names('?permission=issues"]') == []  # not a permission: nothing holds it, and no 500
    page = org.call("GET", "/orgs/acme/personal-access-tokens?per_page=2&page=3", org.owner)
    assert len(page.json()) == 1
    assert 'rel="prev"' in page.headers["Link"]
    # Past the count cap the total is unknown: next while there is one, and no last.
    monkeypatch.setattr(org_review, "COUNT_CAP", 3)
    first = org.call("GET", "/orgs/acme/personal-access-tokens?per_page=2", org.owner)
    assert 'rel="next"' in first.headers["Link"]
    assert 'rel="last"' not in first.headers["Link"]
    final = org.call("GET", "/orgs/acme/personal-access-tokens?per_page=2&page=3", org.owner)
    assert [g["token_name"] for g in final.json()] == ["review"]  # newest first: d0 b2 | b1 b0 | review
    assert 'rel="next"' not in final.headers["Link"]
    assert 'rel="prev"' in final.headers["Link"]
    monkeypatch.undo()
    never_used = org.call(
        "GET", "/orgs/acme/personal-access-tokens?last_used_after=2000-01-01T00:00:00Z", org.owner
    ).json()
    assert never_used == []
    assert org.call("GET", "/orgs/acme/personal-access-tokens?last_used_after=yesterday", org.owner).status_code == 422
    ids = [g["id"] for g in grants]
    assert (
        org.call(
            "POST", "/orgs/acme/personal-access-tokens", org.owner, json={"action": "revoke", "pat_ids": ids}
        ).status_code
        == 202
    )
    assert org.call("GET", "/orgs/acme/personal-access-tokens?owner[]=bob", org.owner).json() == []
