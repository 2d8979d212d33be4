"""The workflow rule (spec §7.5): changing .github/workflows/ needs `workflow` / `workflows: write`.

The rule refuses the offending ref alone, with GitHub's reason in git's report, while the other
refs of the same push land.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from test_git_support import Git, acme_infrastructure, seed, url

import factories as f
from live import LiveServer
from tokenforge.config import Settings

pytestmark = pytest.mark.slow

NAME = "acme/infrastructure"
CI = ".github/workflows/ci.yml"


def refused(ref: str, path: str = CI, *, fine_grained: bool = False) -> str:
    missing = "`workflows` permission" if fine_grained else "`workflow` scope"
    return (
        f" ! [remote rejected] {ref} -> {ref} (refusing to allow a Personal Access Token to create or update "
        f"workflow `{path}` without {missing})"
    )


@dataclass
class World:
    tokens: dict[str, str]


def _world(session: Session, settings: Settings, now: datetime) -> World:
    alice, acme = acme_infrastructure(session, settings, now)
    tokens = {
        "repo": f.classic(session, settings, alice, now, "repo").secret,
        "workflow": f.classic(session, settings, alice, now, "repo", "workflow").secret,
        "fg": f.fine_grained(
            session, settings, alice, now, resource_owner=acme, all_repos=True, name="contents",
            permissions={"contents": "write"},
        ).secret,
        "fg-workflows": f.fine_grained(
            session, settings, alice, now, resource_owner=acme, all_repos=True, name="workflows",
            permissions={"contents": "write", "workflows": "write"},
        ).secret,
    }  # fmt: skip
    return World(tokens)


@pytest.fixture
def git(tmp_path: Path) -> Git:
    return Git(tmp_path)


@pytest.fixture
def world(live_server: LiveServer) -> World:
    return seed(live_server, _world)


def _clone(git: Git, server: LiveServer, world: World, token: str, dest: str = "work") -> Path:
    git("clone", "-q", url(server, NAME, user="alice", secret=world.tokens[token]), dest, check=True)
    return git.root / dest


def _remote(server: LiveServer, world: World, token: str) -> str:
    return url(server, NAME, user="alice", secret=world.tokens[token])


def test_one_ref_refused_while_the_other_lands(live_server: LiveServer, git: Git, world: World) -> None:
    work = _clone(git, live_server, world, "repo")
    git("checkout", "-q", "-b", "ci", cwd=work, check=True)
    git.commit(work, {CI: "on: push\n"}, "add CI")
    git("checkout", "-q", "main", cwd=work, check=True)
    docs = git.commit(work, {"docs.md": "docs\n"}, "docs")
    result = git("push", "origin", "main", "ci", cwd=work)
    assert result.code == 1, result
    assert result.lines[0] == f"To {url(live_server, NAME)}"
    assert result.lines[1].endswith("  main -> main")
    assert result.lines[2:] == [refused("ci"), f"error: failed to push some refs to '{url(live_server, NAME)}'"]
    refs = git.remote_refs(_remote(live_server, world, "repo"))
    assert refs["refs/heads/main"] == docs
    assert "refs/heads/ci" not in refs


@pytest.mark.parametrize("token", ["workflow", "fg-workflows"])
def test_token_with_the_grant_pushes_workflows(live_server: LiveServer, git: Git, world: World, token: str) -> None:
    work = _clone(git, live_server, world, token)
    sha = git.commit(work, {CI: "on: push\n", ".github/workflows/nested/deploy.yaml": "x\n"})
    result = git("push", "origin", "main", cwd=work)
    assert result.code == 0, result
    assert git.remote_refs(_remote(live_server, world, token))["refs/heads/main"] == sha


def test_fine_grained_wording(live_server: LiveServer, git: Git, world: World) -> None:
    work = _clone(git, live_server, world, "fg")
    git.commit(work, {".github/workflows/release.yml": "on: release\n"})
    result = git("push", "origin", "main", cwd=work)
    assert result.code == 1, result
    assert refused("main", ".github/workflows/release.yml", fine_grained=True) in result.lines


def test_changing_an_existing_workflow_and_the_exception_for_identical_files(
    live_server: LiveServer, git: Git, world: World
) -> None:
    # Someone with the grant puts a workflow on `ci`.
    admin = _clone(git, live_server, world, "workflow", dest="admin")
    git("checkout", "-q", "-b", "ci", cwd=admin, check=True)
    git.commit(admin, {CI: "on: push\n"})
    assert git("push", "origin", "ci", cwd=admin).code == 0

    work = _clone(git, live_server, world, "repo")
    # The same file with the same content on another branch: allowed without the scope.
    git("checkout", "-q", "-b", "copy", "origin/main", cwd=work, check=True)
    git.commit(work, {CI: "on: push\n", "other.txt": "x"})
    same = git("push", "origin", "copy", cwd=work)
    assert same.code == 0, same
    # Changing it is not.
    git.commit(work, {CI: "on: [push, pull_request]\n"})
    changed = git("push", "origin", "copy", cwd=work)
    assert changed.code == 1, changed
    assert refused("copy") in changed.lines
    # Nor is a change that is reverted within the same push: the commit in between would
    # otherwise enter the repository, ready to be pushed to a branch of its own later.
    git("reset", "-q", "--hard", "origin/copy", cwd=work, check=True)
    git.commit(work, {CI: "on: workflow_dispatch\n"})
    git.commit(work, {CI: "on: push\n"})
    reverted = git("push", "origin", "copy", cwd=work)
    assert reverted.code == 1, reverted
    assert refused("copy") in reverted.lines


def test_deleting_a_workflow_and_other_changes_are_allowed(live_server: LiveServer, git: Git, world: World) -> None:
    admin = _clone(git, live_server, world, "workflow", dest="admin")
    git.commit(admin, {CI: "on: push\n", ".github/dependabot.yml": "version: 2\n"})
    assert git("push", "origin", "main", cwd=admin).code == 0
    work = _clone(git, live_server, world, "repo")
    git.commit(work, {".github/dependabot.yml": "version: 3\n", "workflows.md": "not a workflow\n"})
    (work / CI).unlink()
    git("commit", "-q", "-am", "remove CI", cwd=work, check=True)
    result = git("push", "origin", "main", cwd=work)
    assert result.code == 0, result


def test_merge_that_changes_a_workflow_is_refused(live_server: LiveServer, git: Git, world: World) -> None:
    admin = _clone(git, live_server, world, "workflow", dest="admin")
    git.commit(admin, {CI: "on: push\n"})
    assert git("push", "origin", "main", cwd=admin).code == 0
    work = _clone(git, live_server, world, "repo")
    git("checkout", "-q", "-b", "side", cwd=work, check=True)
    git.commit(work, {"side.txt": "side\n"})
    git("checkout", "-q", "main", cwd=work, check=True)
    git.commit(work, {"main.txt": "main\n"})
    git("merge", "-q", "--no-commit", "side", cwd=work, check=True)
    # An "evil merge": the merge commit itself changes the workflow.
    (work / CI).write_text("on: [push, schedule]\n")
    git("commit", "-q", "-am", "merge side", cwd=work, check=True)
    result = git("push", "origin", "main", cwd=work)
    assert result.code == 1, result
    assert refused("main") in result.lines


def test_tags_are_checked_too(live_server: LiveServer, git: Git, world: World) -> None:
    work = _clone(git, live_server, world, "repo")
    git("checkout", "-q", "--detach", cwd=work, check=True)
    git.commit(work, {CI: "on: push\n"})
    git("tag", "-a", "-m", "release", "v1", cwd=work, check=True)
    result = git("push", "origin", "v1", cwd=work)
    assert result.code == 1, result
    assert refused("v1") in result.lines
