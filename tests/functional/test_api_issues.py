"""Issues and issue comments through PyGithub, unmodified, for both token kinds; refusals with
GitHub's statuses, bodies and headers; and the edge cases a client can send (httpx)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from github import Auth, Github, GithubException, UnknownObjectException

import factories
from live import LiveServer
from tokenforge.accounts.models import Account, User
from tokenforge.authz.roles import RepoRole
from tokenforge.config import Settings
from tokenforge.db import Database

pytestmark = pytest.mark.slow

FINE_FORBIDDEN = "Resource not accessible by personal access token"


@dataclass(frozen=True)
class World:
    tokens: dict[str, str]


@pytest.fixture
def world(live_server: LiveServer, db: Database, settings: Settings, now: datetime) -> World:
    """alice owns alice/tracker (public) and alice/secret (private); bob is anyone, dave triages
    alice/tracker; carol is a member of acme (approval required) whose token is pending."""
    with db.unit_of_work() as s:
        alice, bob = factories.user(s, "alice", now), factories.user(s, "bob", now)
        carol, dave = factories.user(s, "carol", now), factories.user(s, "dave", now)
        factories.repo(s, settings, alice, "tracker", now, collaborators={dave: RepoRole.TRIAGE})
        factories.repo(s, settings, alice, "secret", now, private=True)
        acme = factories.org(s, "acme", alice, now, members=[carol])
        factories.repo(s, settings, acme, "site", now)
        factories.repo(s, settings, acme, "vault", now, private=True)

        def fine(user: User, owner: Account, name: str, **permissions: str) -> str:
            return factories.fine_grained(
                s, settings, user, now, resource_owner=owner, all_repos=True, name=name, permissions=permissions
            ).secret

        tokens = {
            "classic": factories.classic(s, settings, alice, now, "repo").secret,
            "fine": fine(alice, alice, "issues", issues="write", pull_requests="write"),
            "fine_read": fine(alice, alice, "read", issues="read"),
            "fine_pulls": fine(alice, alice, "pulls", pull_requests="write"),
            "public_only": factories.classic(s, settings, alice, now, "public_repo", note="public").secret,
            "no_scope": factories.classic(s, settings, alice, now, note="none").secret,
            "bob": factories.classic(s, settings, bob, now, "repo").secret,
            "dave": factories.classic(s, settings, dave, now, "repo").secret,
            "pending": fine(carol, acme, "pending", issues="write"),
            "acme_owner": fine(alice, acme, "acme", issues="write"),
        }
    return World(tokens)


@pytest.fixture
def gh(live_server: LiveServer) -> Iterator[Callable[..., Github]]:
    clients: list[Github] = []

    def make(token: str, *, lazy: bool = False) -> Github:
        client = Github(
            auth=Auth.Token(token),
            base_url=f"{live_server.url}/api/v3",
            retry=None,
            timeout=10,
            lazy=lazy,
            # PyGithub spaces requests out (0.25 s, 1 s between writes) to be kind to github.com.
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[Callable[..., httpx.Response]]:
    with httpx.Client(base_url=f"{live_server.url}/api/v3", timeout=10) as client:

        def call(method: str, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
            headers = {"Authorization": f"token {token}"} if token else {}
            return client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]

        yield call


# -- the happy path, for both token kinds ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["classic", "fine"])
def test_issue_lifecycle(gh: Callable[..., Github], world: World, live_server: LiveServer, kind: str) -> None:
    repo = gh(world.tokens[kind]).get_repo("alice/tracker")
    issue = repo.create_issue("Crash on start", body="Steps: run it", labels=["bug", "Help Wanted"])
    assert issue.number == 1
    assert issue.url == f"{live_server.url}/api/v3/repos/alice/tracker/issues/1"
    assert issue.user.login == "alice"
    assert issue.state == "open"
    assert [label.name for label in issue.labels] == ["bug", "Help Wanted"]
    assert issue.pull_request is None
    assert issue.author_association == "OWNER"

    comment = issue.create_comment("Confirmed")  # POST {issue.url}/comments
    assert comment.body == "Confirmed"
    assert comment.issue_url == issue.url
    comment.edit("Confirmed on 1.2")
    assert [c.body for c in issue.get_comments()] == ["Confirmed on 1.2"]
    assert repo.get_issue(1).comments == 1

    issue.edit(title="Crash on start-up", state="closed", state_reason="not_planned", labels=["bug"])
    assert (issue.title, issue.state, issue.state_reason) == ("Crash on start-up", "closed", "not_planned")
    assert issue.closed_by is not None
    assert issue.closed_by.login == "alice"
    assert [label.name for label in issue.labels] == ["bug"]
    issue.edit(state="open")
    assert (issue.state, issue.state_reason, issue.closed_at) == ("open", "reopened", None)

    comment.delete()
    fresh = repo.get_issue(1)
    assert fresh.comments == 0
    assert fresh.title == "Crash on start-up"
    assert [i.number for i in repo.get_issues(labels=["BUG"])] == [1]  # labels match without case
    assert list(repo.get_issues(state="closed")) == []


@pytest.mark.parametrize("kind", ["classic", "fine"])
def test_issue_lists_are_paginated_with_link_headers(
    gh: Callable[..., Github], api: Callable[..., httpx.Response], world: World, kind: str
) -> None:
    for n in range(1, 33):
        assert (
            api("POST", "/repos/alice/tracker/issues", world.tokens["classic"], json={"title": f"#{n}"}).status_code
            == 201
        )
    issues = gh(world.tokens[kind]).get_repo("alice/tracker").get_issues()
    assert issues.totalCount == 32  # from rel="last"
    assert [i.number for i in issues] == list(range(32, 0, -1))  # newest first, across two pages
    oldest = gh(world.tokens[kind]).get_repo("alice/tracker").get_issues(direction="asc")
    assert [i.number for i in oldest[:3]] == [1, 2, 3]


# -- who may do what -------------------------------------------------------------------------------


def test_fine_grained_token_without_issues_write_is_refused(gh: Callable[..., Github], world: World) -> None:
    repo = gh(world.tokens["fine_read"]).get_repo("alice/secret")
    assert list(repo.get_issues()) == []  # issues=read reads the private repository
    with pytest.raises(GithubException) as caught:
        repo.create_issue("nope")
    assert caught.value.status == 403
    assert caught.value.data["message"] == FINE_FORBIDDEN  # type: ignore[index]
    assert caught.value.headers["x-accepted-github-permissions"] == "issues=write"  # type: ignore[index]


def test_pull_requests_permission_does_not_reach_plain_issues(gh: Callable[..., Github], world: World) -> None:
    issue = gh(world.tokens["classic"]).get_repo("alice/tracker").create_issue("a bug")
    as_pulls = gh(world.tokens["fine_pulls"]).get_repo("alice/tracker").get_issue(issue.number)
    with pytest.raises(GithubException) as caught:
        as_pulls.create_comment("drive-by")
    assert caught.value.status == 403
    assert caught.value.headers["x-accepted-github-permissions"] == "issues=write"  # type: ignore[index]


def test_classic_token_without_repo_cannot_see_private_issues(gh: Callable[..., Github], world: World) -> None:
    client = gh(world.tokens["public_only"])
    with pytest.raises(UnknownObjectException):
        client.get_repo("alice/secret")
    lazy = gh(world.tokens["public_only"], lazy=True).get_repo("alice/secret")
    with pytest.raises(UnknownObjectException):
        lazy.create_issue("hidden")
    with pytest.raises(UnknownObjectException):
        lazy.get_issue(1).title  # noqa: B018  (lazy: the attribute fetches)
    # public_repo is enough to write to a public repository.
    assert client.get_repo("alice/tracker").create_issue("public").number == 1


def test_pending_token_reads_public_issues_only(gh: Callable[..., Github], world: World) -> None:
    owner = gh(world.tokens["acme_owner"])  # an owner's token is approved automatically
    owner.get_repo("acme/site").create_issue("on the public site")
    owner.get_repo("acme/vault").create_issue("in the vault")
    pending = gh(world.tokens["pending"])
    assert [i.title for i in pending.get_repo("acme/site").get_issues()] == ["on the public site"]
    assert pending.get_repo("acme/site").get_issue(1).title == "on the public site"
    with pytest.raises(UnknownObjectException):
        pending.get_repo("acme/vault")
    vault = gh(world.tokens["pending"], lazy=True).get_repo("acme/vault")
    with pytest.raises(UnknownObjectException):
        vault.get_issue(1).title  # noqa: B018  (lazy: the attribute fetches)
    with pytest.raises(UnknownObjectException):
        list(vault.get_issues())
    with pytest.raises(GithubException) as caught:  # public, but pending: no writes
        pending.get_repo("acme/site").create_issue("spam")
    assert caught.value.status == 403


def test_authors_triagers_and_everyone_else(gh: Callable[..., Github], world: World) -> None:
    alices = gh(world.tokens["classic"]).get_repo("alice/tracker").create_issue("alice's")
    bob = gh(world.tokens["bob"]).get_repo("alice/tracker")
    dave = gh(world.tokens["dave"]).get_repo("alice/tracker")

    # Anyone who can read may open issues; labels from someone who cannot triage are dropped.
    bobs = bob.create_issue("bob's", labels=["urgent"])
    assert (bobs.user.login, bobs.labels, bobs.author_association) == ("bob", [], "NONE")
    bobs.edit(title="bob's, clarified", state="closed")  # the author may edit and close their own
    assert (bobs.title, bobs.state) == ("bob's, clarified", "closed")

    on_alices = bob.get_issue(alices.number)
    for change in ({"state": "closed"}, {"title": "hijacked"}):
        with pytest.raises(GithubException) as caught:
            on_alices.edit(**change)
        assert caught.value.status == 403
        assert caught.value.data["message"] == "Must have push access to repository."  # type: ignore[index]

    # Triage closes and labels other people's issues, but does not rewrite them.
    dave.get_issue(bobs.number).edit(state="open", labels=["needs-info"])
    reopened = dave.get_issue(bobs.number)
    assert (reopened.state, [label.name for label in reopened.labels]) == ("open", ["needs-info"])
    assert reopened.user.login == "bob"
    with pytest.raises(GithubException) as caught:
        dave.get_issue(alices.number).edit(body="rewritten")
    assert caught.value.status == 403

    # Comments: the author edits their own; someone else's needs write (alice is the owner).
    comment = bob.get_issue(alices.number).create_comment("me too")
    assert comment.author_association == "NONE"
    with pytest.raises(GithubException) as caught:
        gh(world.tokens["dave"]).get_repo("alice/tracker").get_issue(alices.number).get_comment(comment.id).delete()
    assert caught.value.status == 403
    moderated = gh(world.tokens["classic"]).get_repo("alice/tracker").get_issue(alices.number).get_comment(comment.id)
    moderated.edit("[removed]")
    assert moderated.body == "[removed]"
    moderated.delete()
    assert alices.get_comments().totalCount == 0


# -- error bodies and edge cases (httpx) -----------------------------------------------------------


def test_validation_failed_bodies(api: Callable[..., httpx.Response], world: World) -> None:
    token = world.tokens["classic"]
    missing = api("POST", "/repos/alice/tracker/issues", token, json={"body": "no title"})
    assert missing.status_code == 422
    body = missing.json()
    assert body["message"] == "Validation Failed"
    assert body["status"] == "422"
    assert {k: body["errors"][0][k] for k in ("resource", "field", "code")} == {
        "resource": "Issue",
        "field": "title",
        "code": "missing_field",
    }
    cases = [
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 257},
        {"title": "nul \u0000 byte"},
        {"title": "ok", "labels": ["x" * 51]},
        {"title": "ok", "labels": [" "]},
        {"title": "ok", "labels": "bug"},
        {"title": ["a"]},
    ]
    for payload in cases:
        answer = api("POST", "/repos/alice/tracker/issues", token, json=payload)
        assert answer.status_code == 422, (payload, answer.text)
        assert answer.json()["message"] == "Validation Failed"
    # A lone surrogate is valid JSON but cannot be stored (nor encoded by httpx: sent raw).
    surrogate = b'{"title": "ok", "body": "\\ud800"}'
    assert api("POST", "/repos/alice/tracker/issues", token, content=surrogate).status_code == 422
    bad_state = api("PATCH", "/repos/alice/tracker/issues/1", token, json={"state": "done"})
    assert bad_state.status_code in (404, 422)
    assert api("POST", "/repos/alice/tracker/issues", token, content=b"[1]").status_code == 400
    assert api("POST", "/repos/alice/tracker/issues", token, content=b"{").status_code == 400
    assert api("GET", "/repos/alice/tracker/issues?state=done").status_code == 422
    assert api("GET", "/repos/alice/tracker/issues?since=yesterday").status_code == 422
    assert api("GET", "/repos/alice/tracker/issues?creator=a%00b").status_code == 422


def test_not_found_answers(api: Callable[..., httpx.Response], world: World) -> None:
    token = world.tokens["classic"]
    assert api("POST", "/repos/alice/tracker/issues", token, json={"title": "one"}).status_code == 201
    for path in (
        "/repos/alice/tracker/issues/2",
        "/repos/alice/tracker/issues/0",
        "/repos/alice/tracker/issues/-1",
        "/repos/alice/tracker/issues/abc",
        "/repos/alice/tracker/issues/99999999999999999999999",
        "/repos/alice/tracker/issues/comments/1",
        "/repos/alice/tracker/issues/comments/99999999999999999999",
        "/repos/alice/nothing/issues/1",
    ):
        answer = api("GET", path, token)
        assert answer.status_code == 404, path
        assert answer.json()["message"] == "Not Found"
    assert api("POST", "/repos/alice/tracker/issues/2/comments", token, json={"body": "x"}).status_code == 404
    assert api("PATCH", "/repos/alice/tracker/issues/2", token, json={"title": "x"}).status_code == 404
    # A pull request's number only: an issue is not a pull request.
    assert api("GET", "/repos/alice/tracker/pulls/1", token).status_code == 404


def test_classic_token_404_names_the_scope(api: Callable[..., httpx.Response], world: World) -> None:
    answer = api("GET", "/repos/alice/secret/issues", world.tokens["no_scope"])
    assert answer.status_code == 404
    assert answer.headers["X-Accepted-OAuth-Scopes"] == "repo"
    assert answer.headers["X-OAuth-Scopes"] == ""
    write = api("POST", "/repos/alice/tracker/issues", world.tokens["no_scope"], json={"title": "x"})
    assert write.status_code == 404
    assert write.headers["X-Accepted-OAuth-Scopes"] == "public_repo"


def test_anonymous_reads_public_issues_and_cannot_write(api: Callable[..., httpx.Response], world: World) -> None:
    assert api("POST", "/repos/alice/tracker/issues", world.tokens["classic"], json={"title": "t"}).status_code == 201
    listed = api("GET", "/repos/alice/tracker/issues")
    assert listed.status_code == 200
    assert [i["number"] for i in listed.json()] == [1]
    assert "permissions" not in listed.json()[0]
    refused = api("POST", "/repos/alice/tracker/issues", json={"title": "anon"})
    assert refused.status_code == 401
    assert refused.json()["message"] == "Requires authentication"
    assert api("GET", "/repos/alice/secret/issues").status_code == 404


def test_concurrent_creation_gives_distinct_numbers(live_server: LiveServer, world: World) -> None:
    """Requests served in parallel (uvicorn's thread pool) never share a number."""
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Authorization": f"token {world.tokens['classic']}"}
    url = f"{live_server.url}/api/v3/repos/alice/tracker/issues"

    def create(n: int) -> httpx.Response:
        return httpx.post(url, headers=headers, json={"title": f"#{n}", "labels": ["race"]}, timeout=20)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(create, range(16)))
    assert [a.status_code for a in answers] == [201] * 16
    assert sorted(a.json()["number"] for a in answers) == list(range(1, 17))
    assert {a.json()["labels"][0]["id"] for a in answers} == {answers[0].json()["labels"][0]["id"]}
