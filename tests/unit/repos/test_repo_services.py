"""Repositories: a row and a bare repository on disk, created together or not at all."""

from __future__ import annotations

import subprocess
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

import factories
from tokenforge.authz.roles import RepoRole
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.errors import Conflict, Invalid, NotFound
from tokenforge.repos import storage
from tokenforge.repos.services import (
    create_repository,
    get_repository,
    repo_path,
    repository_resource,
    user_role,
)


def test_creates_a_bare_repository(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "dots", now, private=True)
    path = repo_path(settings, repo)
    assert (path / "HEAD").read_text().strip() == "ref: refs/heads/main"
    assert get_repository(session, "ALICE/Dots") is repo


def test_rollback_removes_the_repository_from_disk(db: Database, settings: Settings, now: datetime) -> None:
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
    paths = []
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        repo = create_repository(s, settings, owner=s.merge(alice), name="doomed", now=now)
        paths.append(repo_path(settings, repo))
        assert paths[0].exists()
        raise RuntimeError("something later in the same unit of work fails")
    assert not paths[0].exists()
    with db.unit_of_work() as s, pytest.raises(NotFound):
        get_repository(s, "alice/doomed")


@pytest.mark.parametrize("name", ["", ".", "..", "a b", "x.git", "a/b", "ü", "x" * 101])
def test_invalid_names(session: Session, settings: Settings, now: datetime, name: str) -> None:
    alice = factories.user(session, "alice", now)
    with pytest.raises(Invalid):
        create_repository(session, settings, owner=alice, name=name, now=now)


def test_names_are_unique_per_owner_without_regard_to_case(session: Session, settings: Settings, now: datetime) -> None:
    alice, bob = factories.user(session, "alice", now), factories.user(session, "bob", now)
    factories.repo(session, settings, alice, "Dots", now)
    with pytest.raises(Conflict):
        create_repository(session, settings, owner=alice, name="dots", now=now)
    factories.repo(session, settings, bob, "dots", now)


def test_roles(session: Session, settings: Settings, now: datetime) -> None:
    alice, bob, carol, dave = (factories.user(session, n, now) for n in ("alice", "bob", "carol", "dave"))
    acme = factories.org(session, "acme", alice, now, members=[bob])
    infra = factories.repo(
        session,
        settings,
        acme,
        "infra",
        now,
        private=True,
        collaborators={carol: RepoRole.WRITE, bob: RepoRole.MAINTAIN},
    )
    assert user_role(session, infra, alice.id) is RepoRole.ADMIN  # org owner
    assert user_role(session, infra, bob.id) is RepoRole.MAINTAIN  # member, raised by a collaborator role
    assert user_role(session, infra, carol.id) is RepoRole.WRITE  # outside collaborator
    assert user_role(session, infra, dave.id) is None
    acme.default_repository_role = "none"
    bob_plain = factories.repo(session, settings, acme, "plain", now, private=True)
    assert user_role(session, bob_plain, bob.id) is None
    resource = repository_resource(session, infra, carol.id)
    assert resource.repo_role is RepoRole.WRITE
    assert resource.org_role is None
    assert resource.org_policy is not None
    assert resource.org_policy.approval_required
    assert not resource.public
    assert repository_resource(session, infra, None).repo_role is None


def test_commit_files_writes_a_real_commit(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "site", now)
    path = repo_path(settings, repo)
    first = storage.commit_files(
        settings.git_binary,
        path,
        branch="main",
        files={"README.md": b"hi\n", "docs/a/b.txt": b"deep\n"},
        message="one",
        author=("alice", "alice@example.com"),
        when=now,
    )
    second = storage.commit_files(
        settings.git_binary,
        path,
        branch="main",
        files={"README.md": b"bye\n"},
        message="two",
        author=("alice", "alice@example.com"),
        when=now,
    )
    log = subprocess.run(
        ["git", f"--git-dir={path}", "log", "--format=%H %s", "main"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert log[:2] == [f"{second} two", f"{first} one"]
    shown = subprocess.run(
        ["git", f"--git-dir={path}", "show", f"{first}:docs/a/b.txt"], capture_output=True, text=True, check=True
    ).stdout
    assert shown == "deep\n"
