"""PyGithub, unmodified, pointed at Tokenforge the way GitHub Enterprise Server users point it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from github import Auth, BadCredentialsException, Github, GithubException, UnknownObjectException

import factories
from live import LiveServer
from tokenforge.config import Settings
from tokenforge.db import Database


@pytest.fixture
def tokens(live_server: LiveServer, db: Database, settings: Settings, now: datetime) -> dict[str, str]:
    with db.unit_of_work() as s:
        alice, bob = factories.user(s, "alice", now), factories.user(s, "bob", now)
        acme = factories.org(s, "acme", alice, now, members=[bob])
        factories.repo(s, settings, acme, "site", now)
        infra = factories.repo(s, settings, acme, "infra", now, private=True)
        return {
            "classic": factories.classic(s, settings, alice, now, "repo", "user").secret,
            "public_only": factories.classic(s, settings, alice, now, "public_repo", note="public").secret,
            "fine": factories.fine_grained(
                s, settings, alice, now, resource_owner=acme, repositories=[infra], permissions={"contents": "read"}
            ).secret,
            "pending": factories.fine_grained(
                s, settings, bob, now, resource_owner=acme, repositories=[infra], permissions={"contents": "read"}
            ).secret,
        }


@pytest.fixture
def gh(live_server: LiveServer) -> Iterator[object]:
    clients: list[Github] = []

    def make(token: str) -> Github:
        # PyGithub throttles itself by default (0.25 s per request, 1 s per write); not against a test server.
        client = Github(
            auth=Auth.Token(token),
            base_url=f"{live_server.url}/api/v3",
            retry=None,
            timeout=10,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_get_user_and_repo_with_both_kinds(gh, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    for kind in ("classic", "fine"):
        client = gh(tokens[kind])
        assert client.get_user().login == "alice"
        repo = client.get_repo("acme/infra")
        assert repo.private is True
        assert repo.full_name == "acme/infra"
        assert repo.owner.login == "acme"
        assert client.get_repo(repo.id).name == "infra"  # GET /repositories/{id}
        assert client.get_organization("acme").login == "acme"


def test_classic_token_scopes_are_visible_to_pygithub(gh, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    client = gh(tokens["classic"])
    client.get_user().login  # noqa: B018  (forces the request)
    assert client.oauth_scopes == ["repo", "user"]


def test_bad_credentials(gh) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadCredentialsException):
        gh("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").get_user().login  # noqa: B018


def test_invisible_private_repository(gh, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownObjectException):
        gh(tokens["public_only"]).get_repo("acme/infra")
    # Pending approval: public resources only.
    pending = gh(tokens["pending"])
    assert pending.get_repo("acme/site").name == "site"
    with pytest.raises(UnknownObjectException):
        pending.get_repo("acme/infra")


def test_fine_grained_without_permission_is_403(gh, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    repo = gh(tokens["fine"]).get_repo("acme/infra")
    with pytest.raises(GithubException) as caught:
        repo.edit(description="changed")
    assert caught.value.status == 403
    assert caught.value.data["message"] == "Resource not accessible by personal access token"  # type: ignore[index]


def test_create_repositories_and_list_them(gh, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    client = gh(tokens["classic"])
    user = client.get_user()
    created = user.create_repo("tools", private=True, description="internal")
    assert created.private is True
    assert created.url.endswith("/api/v3/repos/alice/tools")
    org_repo = client.get_organization("acme").create_repo("docs")
    assert org_repo.full_name == "acme/docs"
    names = {r.full_name for r in user.get_repos()}
    assert {"alice/tools", "acme/docs", "acme/site", "acme/infra"} <= names


def test_rate_limit(gh, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    client = gh(tokens["classic"])
    client.get_user().login  # noqa: B018
    limits = client.get_rate_limit()
    assert limits.resources.core.limit == 5000
    assert limits.resources.core.remaining <= 4999
