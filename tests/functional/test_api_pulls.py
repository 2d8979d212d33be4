"""Pull requests and review comments through PyGithub for both token kinds, with branches made
by real git commits; refusals; and GitHub's 422s for branches, commits, paths and lines."""

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
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.repos import storage
from tokenforge.repos.models import Repository
from tokenforge.repos.services import repo_path

pytestmark = pytest.mark.slow

AUTHOR = ("alice", "alice@example.com")
APP = "".join(f"line {n}\n" for n in range(1, 21))
# On the feature branch: line 3 deleted, line 10 rewritten, a line added after line 15.
APP_CHANGED = "".join(
    ("line ten\n" if n == 10 else f"line {n}\n") + ("added\n" if n == 15 else "") for n in range(1, 21) if n != 3
)


@dataclass(frozen=True)
class World:
    tokens: dict[str, str]
    heads: dict[str, str]  # "<repo>:<branch>" → commit


def _branches(settings: Settings, repo: Repository, now: datetime) -> dict[str, str]:
    """main (README, app.py), feature (from main: app.py changed, docs/new.md added), and
    stale (main's first commit, so it has nothing main lacks)."""
    path = repo_path(settings, repo)
    git = settings.git_binary

    def commit(branch: str, files: dict[str, str], message: str) -> str:
        encoded = {name: text.encode() for name, text in files.items()}
        return storage.commit_files(git, path, branch=branch, files=encoded, message=message, author=AUTHOR, when=now)

    base = commit("main", {"README.md": "# demo\n", "app.py": APP}, "Initial commit")
    storage.run_git(git, path, "update-ref", "refs/heads/stale", base)
    storage.run_git(git, path, "update-ref", "refs/heads/feature", base)
    feature = commit("feature", {"README.md": "# demo\n", "app.py": APP_CHANGED, "docs/new.md": "new\n"}, "Change")
    main = commit("main", {"README.md": "# demo, v2\n", "app.py": APP}, "Readme")
    return {"main": main, "feature": feature, "stale": base}


@pytest.fixture
def world(live_server: LiveServer, db: Database, settings: Settings, now: datetime) -> World:
    with db.unit_of_work() as s:
        alice, carol = factories.user(s, "alice", now), factories.user(s, "carol", now)
        acme = factories.org(s, "acme", alice, now, members=[carol])
        heads: dict[str, str] = {}
        for owner, name, private in ((alice, "app", False), (alice, "secret", True), (acme, "site", False)):
            repo = factories.repo(s, settings, owner, name, now, private=private)
            heads.update({f"{name}:{b}": sha for b, sha in _branches(settings, repo, now).items()})
        factories.repo(s, settings, acme, "vault", now, private=True)

        def fine(user: User, owner: Account, name: str, **permissions: str) -> str:
            return factories.fine_grained(
                s, settings, user, now, resource_owner=owner, all_repos=True, name=name, permissions=permissions
            ).secret

        tokens = {
            "classic": factories.classic(s, settings, alice, now, "repo").secret,
            "fine": fine(alice, alice, "pulls", pull_requests="write", issues="write", contents="read"),
            "fine_issues": fine(alice, alice, "issues only", issues="write"),
            "fine_pulls": fine(alice, alice, "pulls only", pull_requests="write"),
            "public_only": factories.classic(s, settings, alice, now, "public_repo", note="public").secret,
            "pending": fine(carol, acme, "pending", pull_requests="write"),
            "acme_owner": fine(alice, acme, "acme", pull_requests="write"),
        }
    return World(tokens, heads)


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
            seconds_between_requests=None,  # PyGithub's politeness delays, meant for github.com
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
def test_pull_request_and_review_comments(
    gh: Callable[..., Github], world: World, live_server: LiveServer, kind: str
) -> None:
    repo = gh(world.tokens[kind]).get_repo("alice/app")
    assert repo.create_issue("first").number == 1
    pull = repo.create_pull(base="main", head="feature", title="Rework app", body="Please review", draft=True)
    assert pull.number == 2  # issues and pull requests share one sequence
    assert pull.url == f"{live_server.url}/api/v3/repos/alice/app/pulls/2"
    assert (pull.state, pull.draft, pull.merged, pull.user.login) == ("open", True, False, "alice")
    assert (pull.head.ref, pull.head.sha, pull.head.label) == ("feature", world.heads["app:feature"], "alice:feature")
    assert (pull.base.ref, pull.base.sha) == ("main", world.heads["app:main"])
    assert pull.head.repo.full_name == "alice/app"
    assert (pull.commits, pull.changed_files, pull.additions, pull.deletions) == (1, 2, 3, 2)
    assert pull.mergeable is True

    assert [p.number for p in repo.get_pulls()] == [2]
    assert repo.get_pull(2).title == "Rework app"
    listed = {i.number: i for i in repo.get_issues()}
    assert listed[2].pull_request is not None
    assert listed[2].pull_request.html_url.endswith("/alice/app/pull/2")
    assert listed[1].pull_request is None
    assert listed[2].as_pull_request().head.ref == "feature"

    sha = pull.head.sha
    comment = pull.create_review_comment("Why ten?", sha, "app.py", line=9)
    assert (comment.path, comment.line, comment.side, comment.commit_id) == ("app.py", 9, "RIGHT", sha)
    assert comment.diff_hunk.startswith("@@ ")
    assert comment.diff_hunk.endswith("+line ten")
    assert comment.pull_request_url == pull.url
    ranged = pull.create_review_comment("This block", sha, "app.py", start_line=7, line=9, side="RIGHT")
    assert (ranged.start_line, ranged.start_side, ranged.line) == (7, "RIGHT", 9)
    removed = pull.create_review_comment("Keep line 3?", sha, "app.py", line=3, side="LEFT")
    assert removed.diff_hunk.endswith("-line 3")
    whole = pull.create_review_comment("New doc", sha, "docs/new.md", subject_type="file")
    assert (whole.subject_type, whole.line) == ("file", None)

    reply = pull.create_review_comment_reply(comment.id, "Because it reads better")
    assert (reply.in_reply_to_id, reply.path, reply.line, reply.diff_hunk) == (
        comment.id,
        "app.py",
        9,
        comment.diff_hunk,
    )
    # A reply to a reply joins the thread of the first comment.
    again = pull.create_review_comment("Agreed", sha, "app.py", in_reply_to=reply.id)
    assert again.in_reply_to_id == comment.id

    bodies = [c.body for c in pull.get_review_comments()]
    assert bodies == ["Why ten?", "This block", "Keep line 3?", "New doc", "Because it reads better", "Agreed"]
    assert pull.get_review_comment(comment.id).body == "Why ten?"  # GET …/pulls/comments/{id}

    pull.create_issue_comment("LGTM")  # the conversation: POST {issue_url}/comments
    assert [c.body for c in pull.get_issue_comments()] == ["LGTM"]
    fresh = repo.get_pull(2)
    assert (fresh.comments, fresh.review_comments) == (1, 6)

    pull.as_issue().edit(state="closed")
    assert repo.get_pull(2).state == "closed"
    assert list(repo.get_pulls()) == []
    assert [p.number for p in repo.get_pulls(state="closed")] == [2]
    # Closed: another pull request for the same branches may be opened.
    assert repo.create_pull(base="main", head="alice:feature", title="Again").number == 3


# -- who may do what -------------------------------------------------------------------------------


def test_fine_grained_token_needs_pull_requests_write(gh: Callable[..., Github], world: World) -> None:
    repo = gh(world.tokens["fine_issues"]).get_repo("alice/secret")
    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="main", head="feature", title="nope")
    assert caught.value.status == 403
    assert caught.value.data["message"] == "Resource not accessible by personal access token"  # type: ignore[index]
    assert caught.value.headers["x-accepted-github-permissions"] == "pull_requests=write"  # type: ignore[index]

    pull = gh(world.tokens["classic"]).get_repo("alice/secret").create_pull(base="main", head="feature", title="ok")
    lazy = gh(world.tokens["fine_issues"], lazy=True).get_repo("alice/secret").get_pull(pull.number)
    with pytest.raises(GithubException) as caught:
        lazy.create_review_comment("nope", world.heads["secret:feature"], "app.py", line=9)
    assert caught.value.status == 403
    # issues=write does comment on a pull request's conversation, and so does pull_requests=write.
    gh(world.tokens["fine_issues"], lazy=True).get_repo("alice/secret").get_issue(pull.number).create_comment(
        "via issues"
    )
    pulls_only = gh(world.tokens["fine_pulls"]).get_repo("alice/secret").get_pull(pull.number)
    pulls_only.create_issue_comment("via pull_requests")
    pulls_only.create_review_comment("review", world.heads["secret:feature"], "app.py", line=9)
    assert pulls_only.get_issue_comments().totalCount == 2


def test_invisible_and_pending(gh: Callable[..., Github], world: World) -> None:
    public_only = gh(world.tokens["public_only"], lazy=True)
    with pytest.raises(UnknownObjectException):
        public_only.get_repo("alice/secret").create_pull(base="main", head="feature", title="hidden")
    # public_repo is enough on a public repository.
    assert public_only.get_repo("alice/app").create_pull(base="main", head="feature", title="ok").number == 1

    gh(world.tokens["acme_owner"]).get_repo("acme/site").create_pull(base="main", head="feature", title="site")
    pending = gh(world.tokens["pending"])
    site = pending.get_repo("acme/site")
    assert [p.title for p in site.get_pulls()] == ["site"]
    assert site.get_pull(1).head.ref == "feature"
    with pytest.raises(GithubException) as caught:  # public, but pending approval: read-only
        site.get_pull(1).create_review_comment("x", world.heads["site:feature"], "app.py", line=9)
    assert caught.value.status == 403
    with pytest.raises(UnknownObjectException):
        list(gh(world.tokens["pending"], lazy=True).get_repo("acme/vault").get_pulls())


# -- GitHub's refusals for bad input ---------------------------------------------------------------


def _errors(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["message"] == "Validation Failed"
    return body["errors"]  # type: ignore[no-any-return]


def test_pull_request_validation(api: Callable[..., httpx.Response], world: World) -> None:
    token = world.tokens["classic"]

    def create(**payload: object) -> httpx.Response:
        return api("POST", "/repos/alice/app/pulls", token, json=payload)

    assert _errors(create(head="feature", base="main"))[0]["field"] == "title"
    assert _errors(create(title="t", head="nope", base="main"))[0]["field"] == "head"
    assert _errors(create(title="t", head="feature", base="nope"))[0]["field"] == "base"
    assert _errors(create(title="t", head="bob:feature", base="main"))[0]["field"] == "head"
    for bad in ("-x", "a..b", "a b", "x\u0000", "../main", "HEAD@{1}"):
        assert create(title="t", head=bad, base="main").status_code == 422, bad
    no_commits = _errors(create(title="t", head="stale", base="main"))
    assert no_commits[0]["message"] == "No commits between main and stale"
    assert _errors(create(title="t", head="main", base="main"))[0]["message"] == "No commits between main and main"
    assert create(title="t", head="feature", base="main").status_code == 201
    duplicate = _errors(create(title="t", head="feature", base="main"))
    assert duplicate[0]["message"] == "A pull request already exists for alice:feature."
    assert create(title="t", head="feature", base="main", head_repo="bob/app").status_code == 422
    assert api("GET", "/repos/alice/app/pulls?state=merged", token).status_code == 422
    assert api("GET", "/repos/alice/app/pulls?head=alice:feature", token).json()[0]["number"] == 1
    assert api("GET", "/repos/alice/app/pulls?head=bob:feature", token).json() == []
    assert api("GET", "/repos/alice/app/pulls?base=other", token).json() == []


def test_review_comment_validation(api: Callable[..., httpx.Response], world: World) -> None:
    token = world.tokens["classic"]
    assert api(
        "POST", "/repos/alice/app/pulls", token, json={"title": "t", "head": "feature", "base": "main"}
    ).is_success
    sha = world.heads["app:feature"]

    def comment(**payload: object) -> httpx.Response:
        return api("POST", "/repos/alice/app/pulls/1/comments", token, json={"body": "b", **payload})

    def field(answer: httpx.Response) -> str:
        return _errors(answer)[0]["field"]

    assert field(comment(path="app.py", line=9)) == "commit_id"
    assert field(comment(commit_id=sha, line=9)) == "path"
    assert field(comment(commit_id="zz", path="app.py", line=9)) == "commit_id"
    assert field(comment(commit_id="0" * 40, path="app.py", line=9)) == "commit_id"
    assert field(comment(commit_id=world.heads["app:stale"], path="app.py", line=9)) == "commit_id"  # in main
    assert field(comment(commit_id=sha, path="README.md", line=1)) == "pull_request_review_thread.path"
    assert field(comment(commit_id=sha, path="nope", line=1)) == "pull_request_review_thread.path"
    not_in_diff = _errors(comment(commit_id=sha, path="app.py", line=20))[0]
    assert not_in_diff == {
        "resource": "PullRequestReviewComment",
        "field": "pull_request_review_thread.line",
        "code": "custom",
        "message": "pull_request_review_thread.line must be part of the diff",
    }
    assert field(comment(commit_id=sha, path="app.py", line=19, side="LEFT")) == "pull_request_review_thread.line"
    assert field(comment(commit_id=sha, path="app.py", start_line=9, line=7)) == "pull_request_review_thread.start_line"
    assert field(comment(commit_id=sha, path="app.py", line=9, side="MIDDLE")) == "side"
    assert field(comment(commit_id=sha, path="app.py", line=0)) == "line"
    assert field(comment(commit_id=sha, path="app.py", line=2**40)) == "line"
    assert (
        field(comment(commit_id=sha, path="app.py", subject_type="file", line=9)) == "pull_request_review_thread.line"
    )
    assert field(comment(commit_id=sha, path="app.py", in_reply_to=999)) == "in_reply_to"
    assert comment(commit_id=sha, path="a\u0000b", line=1).status_code == 422
    assert comment(commit_id=sha, path="app.py", line=9, body="").status_code == 422

    # The deprecated ``position`` is the line's index below the file's first @@ header.
    by_position = comment(commit_id=sha, path="app.py", position=1)
    assert by_position.status_code == 201, by_position.text
    assert (by_position.json()["line"], by_position.json()["side"]) == (1, "RIGHT")
    created = comment(commit_id=sha, path="app.py", line=9).json()
    assert created["_links"]["self"]["href"] == created["url"]
    assert created["url"].endswith(f"/api/v3/repos/alice/app/pulls/comments/{created['id']}")
    replies = f"/repos/alice/app/pulls/1/comments/{created['id']}/replies"
    assert api("POST", replies, token, json={"body": "r"}).status_code == 201
    assert api("POST", replies, token, json={}).status_code == 422
    assert api("POST", "/repos/alice/app/pulls/1/comments/999/replies", token, json={"body": "r"}).status_code == 404
    assert api("POST", "/repos/alice/app/pulls/2/comments", token, json={"body": "b"}).status_code == 404
    assert api("GET", "/repos/alice/app/pulls/comments/999", token).status_code == 404
    assert api("GET", "/repos/alice/app/pulls/x/comments", token).status_code == 404
