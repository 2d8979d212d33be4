"""Push with the real git client: grants, roles, tokens that stop working, empty repositories."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from test_git_support import Git, seed, shown, url

import factories as f
from live import LiveServer
from tokenforge.authz.roles import RepoRole
from tokenforge.config import Settings
from tokenforge.repos import storage
from tokenforge.repos.models import Repository
from tokenforge.repos.services import find_repository, repo_path
from tokenforge.tokens.models import RevokedReason, Token
from tokenforge.tokens.services import revoke_token

pytestmark = pytest.mark.slow

INVALID = "remote: Invalid username or token. Password authentication is not supported for Git operations."


@pytest.fixture
def git(tmp_path: Path) -> Git:
    return Git(tmp_path)


@dataclass
class World:
    tokens: dict[str, str]
    token_ids: dict[str, int]


def _world(session: Session, settings: Settings, now: datetime) -> World:
    alice = f.user(session, "alice", now)
    carol = f.user(session, "carol", now)
    dave = f.user(session, "dave", now)
    acme = f.org(session, "acme", alice, now)
    website = f.repo(session, settings, acme, "website", now)
    infra = f.repo(session, settings, acme, "infrastructure", now, private=True)
    f.repo(session, settings, acme, "empty", now, private=True)
    diary = f.repo(
        session, settings, alice, "diary", now, private=True,
        collaborators={carol: RepoRole.READ, dave: RepoRole.WRITE},
    )  # fmt: skip
    for repo in (website, infra, diary):
        storage.commit_files(
            settings.git_binary,
            repo_path(settings, repo),
            branch="main",
            files={"README.md": f"# {repo.full_name}\n".encode()},
            message="Initial commit",
            author=("alice", "alice@example.com"),
            when=now,
        )
        repo.pushed_at = None
    issued = {
        "alice-repo": f.classic(session, settings, alice, now, "repo"),
        "alice-public": f.classic(session, settings, alice, now, "public_repo"),
        "alice-none": f.classic(session, settings, alice, now),
        "carol-repo": f.classic(session, settings, carol, now, "repo"),
        "dave-repo": f.classic(session, settings, dave, now, "repo"),
        "alice-fg-write": f.fine_grained(
            session, settings, alice, now, resource_owner=acme, repositories=[infra, website], name="write",
            permissions={"contents": "write"},
        ),
        "alice-fg-read": f.fine_grained(
            session, settings, alice, now, resource_owner=acme, repositories=[infra, website], name="read",
            permissions={"contents": "read"},
        ),
        "carol-fg-write": f.fine_grained(
            session, settings, carol, now, resource_owner=carol, all_repos=True, name="own",
            permissions={"contents": "write"},
        ),
    }  # fmt: skip
    return World({k: v.secret for k, v in issued.items()}, {k: v.token.id for k, v in issued.items()})


@pytest.fixture
def world(live_server: LiveServer) -> World:
    return seed(live_server, _world)


def _clone(git: Git, server: LiveServer, name: str, token: str, world: World, *, dest: str = "work") -> Path:
    user = token.split("-", maxsplit=1)[0]
    git("clone", "-q", url(server, name, user=user, secret=world.tokens[token]), dest, check=True)
    return git.root / dest


def _pushed_at(server: LiveServer, name: str) -> datetime | None:
    owner, _, repo_name = name.partition("/")
    with server.services.db.unit_of_work() as session:
        repo = find_repository(session, owner, repo_name)
        assert repo is not None
        return repo.pushed_at


def test_anonymous_push_is_challenged(live_server: LiveServer, git: Git, world: World) -> None:
    git("clone", "-q", url(live_server, "acme/website"), "work", check=True)
    work = git.root / "work"
    git.commit(work, {"a.txt": "a"})
    result = git("push", "origin", "main", cwd=work)
    assert result.code == 128, result
    assert result.lines == [
        f"fatal: could not read Username for 'http://127.0.0.1:{live_server.port}': terminal prompts disabled"
    ]
    # The same answer on the wire, with the challenge git reacts to.
    response = httpx.get(f"{live_server.url}/acme/website.git/info/refs", params={"service": "git-receive-pack"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="Tokenforge"'
    # Posting a pack without asking first changes nothing either.
    posted = httpx.post(
        f"{live_server.url}/acme/website.git/git-receive-pack",
        content=b"0000",
        headers={"content-type": "application/x-git-receive-pack-request"},
    )
    assert posted.status_code == 401
    assert _pushed_at(live_server, "acme/website") is None


@pytest.mark.parametrize(
    ("token", "name"),
    [
        ("alice-repo", "acme/infrastructure"),
        ("alice-public", "acme/website"),  # `public_repo` suffices for a public repository
        ("alice-fg-write", "acme/infrastructure"),
        ("dave-repo", "alice/diary"),  # collaborator with the write role
    ],
)
def test_push_with_the_needed_grant_lands(
    live_server: LiveServer, git: Git, world: World, token: str, name: str
) -> None:
    work = _clone(git, live_server, name, token, world)
    sha = git.commit(work, {"change.txt": "changed\n"})
    before = datetime.now(UTC)
    result = git("push", "origin", "main", cwd=work)
    assert result.code == 0, result
    assert result.lines[0] == f"To {shown(live_server, name)[:-1]}"
    assert result.lines[1].endswith("  main -> main")
    assert git.remote_refs(url(live_server, name, user="x", secret=world.tokens[token]))["refs/heads/main"] == sha
    pushed_at = _pushed_at(live_server, name)
    assert pushed_at is not None
    assert pushed_at >= before - timedelta(seconds=1)


def test_push_without_write_access_is_refused_with_githubs_text(
    live_server: LiveServer, git: Git, world: World
) -> None:
    cases = [
        # (token, repository, what git prints on the remote: line)
        ("alice-none", "acme/website", "Permission to acme/website.git denied to alice."),
        ("alice-public", "acme/infrastructure", None),  # cannot even read it: not found
        ("carol-repo", "alice/diary", "Permission to alice/diary.git denied to carol."),  # read role
        ("alice-fg-read", "acme/infrastructure", "Write access to repository not granted."),
        ("alice-fg-read", "acme/website", "Write access to repository not granted."),
        ("carol-fg-write", "alice/diary", None),  # resource owner carol: alice's repository is invisible
    ]
    readers = {"alice-public": "alice-repo", "carol-fg-write": "carol-repo"}
    for i, (token, name, line) in enumerate(cases):
        work = _clone(git, live_server, name, readers.get(token, token), world, dest=f"w{i}")
        git.commit(work, {"change.txt": "changed\n"})
        user = token.split("-", maxsplit=1)[0]
        result = git("push", url(live_server, name, user=user, secret=world.tokens[token]), "main", cwd=work)
        if line is None:
            expected = ["remote: Repository not found.", f"fatal: repository '{shown(live_server, name)}' not found"]
        else:
            expected = [
                f"remote: {line}",
                f"fatal: unable to access '{shown(live_server, name)}': The requested URL returned error: 403",
            ]
        assert (token, name, result.code, result.lines) == (token, name, 128, expected), result
    assert _pushed_at(live_server, "acme/website") is None
    assert _pushed_at(live_server, "alice/diary") is None


@pytest.mark.parametrize("reason", [RevokedReason.USER, RevokedReason.ADMIN], ids=["deleted", "revoked"])
def test_token_deleted_between_two_pushes_of_the_same_clone(
    live_server: LiveServer, git: Git, world: World, reason: RevokedReason
) -> None:
    work = _clone(git, live_server, "acme/infrastructure", "alice-repo", world)
    git.commit(work, {"one.txt": "1"})
    first = git("push", "origin", "main", cwd=work)
    assert first.code == 0, first
    with live_server.services.db.unit_of_work() as session:
        token = session.get(Token, world.token_ids["alice-repo"])
        assert token is not None
        revoke_token(session, token=token, reason=reason, now=datetime.now(UTC))
    git.commit(work, {"two.txt": "2"})
    second = git("push", "origin", "main", cwd=work)
    assert second.code == 128, second
    assert second.lines == [INVALID, f"fatal: Authentication failed for '{shown(live_server, 'acme/infrastructure')}'"]
    fetch = git("fetch", "origin", cwd=work)
    assert fetch.code == 128, fetch
    assert fetch.lines[0] == INVALID


def test_token_that_expires_between_two_pushes(live_server: LiveServer, git: Git, world: World) -> None:
    expires_at = datetime.now(UTC) + timedelta(seconds=3)
    with live_server.services.db.unit_of_work() as session:
        session.execute(update(Token).where(Token.id == world.token_ids["alice-repo"]).values(expires_at=expires_at))
    work = _clone(git, live_server, "acme/infrastructure", "alice-repo", world)
    git.commit(work, {"one.txt": "1"})
    first = git("push", "origin", "main", cwd=work)
    assert first.code == 0, first
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.1)
    git.commit(work, {"two.txt": "2"})
    second = git("push", "origin", "main", cwd=work)
    assert second.code == 128, second
    assert second.lines == [INVALID, f"fatal: Authentication failed for '{shown(live_server, 'acme/infrastructure')}'"]


def test_token_already_expired(live_server: LiveServer, git: Git, world: World) -> None:
    past = datetime.now(UTC) - timedelta(days=8)
    with live_server.services.db.unit_of_work() as session:
        session.execute(
            update(Token)
            .where(Token.id == world.token_ids["alice-fg-write"])
            .values(created_at=past, expires_at=past + timedelta(days=7))
        )
    result = git("clone", url(live_server, "acme/infrastructure", user="alice", secret=world.tokens["alice-fg-write"]))
    assert result.code == 128, result
    assert result.lines[1:] == [
        INVALID,
        f"fatal: Authentication failed for '{shown(live_server, 'acme/infrastructure')}'",
    ]


def test_first_push_to_an_empty_repository_sets_the_default_branch(
    live_server: LiveServer, git: Git, world: World
) -> None:
    work = git.init("fresh")
    git.commit(work, {"README.md": "hello\n"})
    git("branch", "-m", "trunk", cwd=work, check=True)
    git("branch", "feature", cwd=work, check=True)
    remote = url(live_server, "acme/empty", user="alice", secret=world.tokens["alice-repo"])
    result = git("push", remote, "trunk", "feature", cwd=work)
    assert result.code == 0, result
    assert result.lines[1:] == [" * [new branch]      trunk -> trunk", " * [new branch]      feature -> feature"]
    with live_server.services.db.unit_of_work() as session:
        repo = find_repository(session, "acme", "empty")
        assert repo is not None
        assert repo.default_branch == "trunk"  # no main pushed: the first branch pushed
        assert repo.pushed_at is not None
        path = repo_path(live_server.settings, repo)
    assert storage.run_git(live_server.settings.git_binary, path, "symbolic-ref", "HEAD") == "refs/heads/trunk"
    # A clone checks out the default branch without any warning.
    clone = git("clone", remote, "clone")
    assert clone.code == 0, clone
    assert clone.lines == ["Cloning into 'clone'..."]
    assert git("branch", "--show-current", cwd=git.root / "clone").stdout.strip() == "trunk"
    # Later pushes never move the default branch.
    git("branch", "main", cwd=work, check=True)
    assert git("push", remote, "main", cwd=work).code == 0
    with live_server.services.db.unit_of_work() as session:
        repo = session.get(Repository, repo.id)
        assert repo is not None
        assert repo.default_branch == "trunk"


def test_first_push_with_main_among_branches_makes_main_the_default(
    live_server: LiveServer, git: Git, world: World
) -> None:
    with live_server.services.db.unit_of_work() as session:
        repo = find_repository(session, "acme", "empty")
        assert repo is not None
        repo.default_branch = "master"  # as if created with another initial branch name
        path = repo_path(live_server.settings, repo)
    storage.run_git(live_server.settings.git_binary, path, "symbolic-ref", "HEAD", "refs/heads/master")
    work = git.init("fresh")
    git.commit(work, {"README.md": "hello\n"})
    git("branch", "aaa", cwd=work, check=True)
    remote = url(live_server, "acme/empty", user="alice", secret=world.tokens["alice-repo"])
    assert git("push", remote, "aaa", "main", cwd=work).code == 0
    with live_server.services.db.unit_of_work() as session:
        repo = find_repository(session, "acme", "empty")
        assert repo is not None
        assert repo.default_branch == "main"
