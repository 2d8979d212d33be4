"""The update hook's shell fast path: Python starts only for an update that touches workflow files.

Pushes here go to a local bare repository (git runs receive-pack itself, with its quarantine and
the installed hooks, exactly as on the server), with the environment the server sets and an
interpreter that records each time it is started. What the rule decides is tested end to end in
test_git_workflow.py; this checks what the shell decides alone, and that it fails closed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_git_support import GIT, Git

from tokenforge.git import hooks

pytestmark = pytest.mark.slow

CI = ".github/workflows/ci.yml"


class Setup:
    def __init__(self, root: Path) -> None:
        self.git = Git(root)
        self.server = root / "server.git"
        self.git("init", "-q", "--bare", str(self.server), check=True)
        hooks_dir = hooks.install(root / "hooks")
        self.calls = root / "python-calls"
        recorder = root / "python"
        recorder.write_text(f'#!/bin/sh\necho "$*" >> "{self.calls}"\nexec "{sys.executable}" "$@"\n')
        recorder.chmod(0o755)
        self.push_dir = push_dir = root / "push"
        push_dir.mkdir()
        # The server sets core.hooksPath at command-line scope; git drops that scope on the way to
        # a local receive-pack (local_repo_env), so here it is the repository's own setting.
        self.git("--git-dir", str(self.server), "config", "core.hooksPath", str(hooks_dir), check=True)
        self.update_hook = hooks_dir / "update"
        # What http.py gives receive-pack for a token without the workflow grant.
        self.env = {
            hooks.WORKFLOWS: "deny",
            hooks.TOKEN_KIND: "classic",
            hooks.PUSH_DIR: str(push_dir),
            hooks.PYTHON: str(recorder),
            hooks.GIT: GIT,
        }
        self.work = self.git.init("work")
        self.git.commit(self.work, {"README.md": "hello\n"})

    def push(self, *refspecs: str, **env: str) -> tuple[int, str]:
        result = self.git("push", "--porcelain", str(self.server), *refspecs, cwd=self.work, env={**self.env, **env})
        return result.code, result.stdout

    @property
    def rejected(self) -> dict[str, str]:
        return hooks.read_rejections(self.push_dir)

    @property
    def python_starts(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_updates_without_workflow_changes_are_allowed_in_the_shell(setup: Setup) -> None:
    git, work = setup.git, setup.work
    assert setup.push("main")[0] == 0  # the first push: a root commit, no workflow
    git.commit(work, {"src/app.py": "print()\n", ".github/dependabot.yml": "version: 2\n"})
    git("branch", "topic", cwd=work, check=True)
    git("tag", "-a", "-m", "release", "v1", cwd=work, check=True)
    assert setup.push("main", "topic", "v1")[0] == 0
    assert setup.push(":topic")[0] == 0  # a deletion
    git("branch", "again", "main", cwd=work, check=True)
    assert setup.push("again")[0] == 0  # no new commit at all
    assert setup.python_starts == []


def test_an_update_that_touches_workflows_goes_to_the_python_check(setup: Setup) -> None:
    git, work = setup.git, setup.work
    assert setup.push("main")[0] == 0
    git.commit(work, {CI: "on: push\n"})
    code, out = setup.push("main")
    assert code == 1
    assert "[remote rejected] (hook declined)" in out  # the server's rewriter puts the reason here
    assert setup.rejected["refs/heads/main"].startswith("refusing to allow a Personal Access Token")
    assert len(setup.python_starts) == 1
    # Deleting the file goes to Python too (the shell only allows what it can see is harmless),
    # and Python lets it through.
    git("reset", "-q", "--hard", "HEAD~1", cwd=work, check=True)
    setup.push("main", **{hooks.WORKFLOWS: "allow"})
    (work / CI).parent.mkdir(parents=True, exist_ok=True)
    git.commit(work, {CI: "on: push\n"})
    assert setup.push("main", **{hooks.WORKFLOWS: "allow"})[0] == 0
    (work / CI).unlink()
    git("commit", "-q", "-am", "remove CI", cwd=work, check=True)
    assert setup.push("main")[0] == 0
    assert len(setup.python_starts) == 2


def test_the_shell_fails_closed(setup: Setup) -> None:
    git, work = setup.git, setup.work
    assert setup.push("main")[0] == 0
    git.commit(work, {"notes.txt": "no workflow here\n"})
    # A git that cannot run: no evidence either way, so the Python check runs — and, unable to
    # check with that git either, refuses the ref rather than let it through.
    code, _ = setup.push("main", **{hooks.GIT: str(setup.push_dir / "no-such-git")})
    assert code == 1
    assert setup.rejected["refs/heads/main"] == "could not check this update for workflow files; please try again"
    assert len(setup.python_starts) == 1
    # Any value but "allow" (here: an empty one) means "check".
    git.commit(work, {CI: "on: push\n"})
    code, _ = setup.push("main", **{hooks.WORKFLOWS: ""})
    assert code == 1
    assert setup.rejected["refs/heads/main"].startswith("refusing to allow a Personal Access Token")
    # An argument that is not an object id never reaches git from the shell: Python gets it.
    before = len(setup.python_starts)
    done = subprocess.run(
        ["sh", str(setup.update_hook), "refs/heads/x", "0" * 40, "--output=/dev/null"],
        env={**setup.git.env, **setup.env, "GIT_DIR": str(setup.server)},
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done  # Python's verdict: not a commit, nothing to refuse
    assert len(setup.python_starts) == before + 1
