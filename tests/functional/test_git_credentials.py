"""Credentials as people give them to git: prompted once and kept by a helper, or in the URL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from test_git_support import Git, acme_infrastructure, askpass, prompts, seed, shown, url

import factories as f
from live import LiveServer
from tokenforge.config import Settings
from tokenforge.tokens.models import RevokedReason, Token
from tokenforge.tokens.services import revoke_token

pytestmark = pytest.mark.slow

PROMPTS = [
    "Username for 'http://127.0.0.1:{port}': ",
    "Password for 'http://alice@127.0.0.1:{port}': ",
]


@dataclass
class World:
    secret: str
    token_id: int


def _world(session: Session, settings: Settings, now: datetime) -> World:
    alice, _acme = acme_infrastructure(session, settings, now, b"# acme/infrastructure\n")
    issued = f.classic(session, settings, alice, now, "repo")
    return World(issued.secret, issued.token.id)


@pytest.fixture
def git(tmp_path: Path) -> Iterator[Git]:
    client = Git(tmp_path)
    yield client
    # Stop a credential-cache daemon this test may have started (it lives under the test's HOME).
    client("credential-cache", "exit")


@pytest.fixture
def world(live_server: LiveServer) -> World:
    return seed(live_server, _world)


@pytest.mark.parametrize("helper", ["store", "cache --timeout=300"])
def test_helper_prompts_once_then_remembers(live_server: LiveServer, git: Git, world: World, helper: str) -> None:
    git("config", "--global", "credential.helper", helper, check=True)
    env, calls = askpass(git.root, "alice", world.secret)
    remote = url(live_server, "acme/infrastructure")

    clone = git("clone", remote, "work", env=env)
    assert clone.code == 0, clone
    expected_prompts = [p.format(port=live_server.port) for p in PROMPTS]
    assert prompts(calls) == expected_prompts
    work = git.root / "work"

    git.commit(work, {"one.txt": "1"})
    first = git("push", "origin", "main", env=env, cwd=work)
    assert first.code == 0, first
    git.commit(work, {"two.txt": "2"})
    second = git("push", "origin", "main", env=env, cwd=work)
    assert second.code == 0, second
    # Only the clone asked: both pushes used the remembered token.
    assert prompts(calls) == expected_prompts
    if helper == "store":
        stored = (git.home / ".git-credentials").read_text()
        assert stored == f"http://alice:{world.secret}@127.0.0.1%3a{live_server.port}\n"


def test_refused_token_is_erased_from_the_helper(live_server: LiveServer, git: Git, world: World) -> None:
    # After a 401 for stored credentials git tells the helper to forget them, so the next
    # attempt asks for a new token instead of failing with the old one forever.
    git("config", "--global", "credential.helper", "store", check=True)
    env, calls = askpass(git.root, "alice", world.secret)
    assert git("clone", url(live_server, "acme/infrastructure"), "work", env=env).code == 0
    assert (git.home / ".git-credentials").read_text().strip()
    with live_server.services.db.unit_of_work() as session:
        token = session.get(Token, world.token_id)
        assert token is not None
        revoke_token(session, token=token, reason=RevokedReason.USER, now=datetime.now(UTC))
    work = git.root / "work"
    git.commit(work, {"one.txt": "1"})
    refused = git("push", "origin", "main", env=env, cwd=work)
    assert refused.code == 128, refused
    assert refused.lines == [
        "remote: Invalid username or token. Password authentication is not supported for Git operations.",
        f"fatal: Authentication failed for '{shown(live_server, 'acme/infrastructure')}'",
    ]
    assert (git.home / ".git-credentials").read_text() == ""
    assert len(prompts(calls)) == 2  # the stale token was sent without asking


def test_token_in_the_url(live_server: LiveServer, git: Git, world: World) -> None:
    remote = url(live_server, "acme/infrastructure", user="alice", secret=world.secret)
    clone = git("clone", remote, "work")
    assert clone.code == 0, clone
    work = git.root / "work"
    sha = git.commit(work, {"one.txt": "1"})
    push = git("push", "origin", "main", cwd=work)
    assert push.code == 0, push
    # git never prints the secret, and nor does the server's answer.
    assert world.secret not in clone.stderr + push.stderr
    assert git.remote_refs(remote)["refs/heads/main"] == sha
    # Each use counts as the token's last use (recorded by authentication, written in batches).
    live_server.services.flush_usage()
    with live_server.services.db.unit_of_work() as session:
        token = session.get(Token, world.token_id)
        assert token is not None
        assert token.last_used_at is not None


def test_any_username_is_accepted(live_server: LiveServer, git: Git, world: World) -> None:
    # spec §7.1: the username is not used to authenticate (gh's helper sends x-access-token).
    for user in ("x-access-token", "someone-else", "alice"):
        result = git("ls-remote", url(live_server, "acme/infrastructure", user=user, secret=world.secret))
        assert result.code == 0, result
        assert "refs/heads/main" in result.stdout
