"""Bare git repositories on disk, driven through git itself (never a reimplementation).

Commits are written with plumbing (``hash-object``, ``mktree``, ``commit-tree``,
``update-ref``) straight into the bare repository, so no work tree or temporary clone is needed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from tokenforge.errors import TokenforgeError


class GitError(TokenforgeError):
    code = "git"


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # The server's git must not pick up the operator's personal configuration.
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    if extra:
        env.update(extra)
    return env


def run_git(git: str, repo: Path, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            [git, f"--git-dir={repo}", *args], input=stdin, capture_output=True, env=_env(env), check=False
        )
    except FileNotFoundError:
        raise GitError(f"git executable not found: {git}") from None
    if done.returncode != 0:
        raise GitError(f"git {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


def init_bare(git: str, path: Path, default_branch: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [git, "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path)],
            capture_output=True,
            env=_env(),
            check=False,
        )
    except FileNotFoundError:
        raise GitError(f"git executable not found: {git}") from None
    if done.returncode != 0:
        raise GitError(f"git init failed: {done.stderr.decode(errors='replace').strip()}")


def _write_tree(git: str, repo: Path, files: Mapping[str, bytes]) -> str:
    entries: list[str] = []
    subdirs: dict[str, dict[str, bytes]] = {}
    for name, content in files.items():
        head, sep, rest = name.partition("/")
        if sep:
            subdirs.setdefault(head, {})[rest] = content
        else:
            blob = run_git(git, repo, "hash-object", "-w", "--stdin", stdin=content)
            entries.append(f"100644 blob {blob}\t{name}")
    for name, sub in subdirs.items():
        entries.append(f"040000 tree {_write_tree(git, repo, sub)}\t{name}")
    return run_git(git, repo, "mktree", stdin=("\n".join(entries) + "\n").encode())


def commit_files(
    git: str,
    repo: Path,
    *,
    branch: str,
    files: Mapping[str, bytes],
    message: str,
    author: tuple[str, str],
    when: datetime,
) -> str:
    """Commit ``files`` (the whole tree) on ``branch``, on top of its current tip if any."""
    tree = _write_tree(git, repo, files)
    ref = f"refs/heads/{branch}"
    parent_args: list[str] = []
    with contextlib.suppress(GitError):  # no parent: the first commit on this branch
        parent_args = ["-p", run_git(git, repo, "rev-parse", "--verify", "-q", ref)]
    stamp = f"{int(when.timestamp())} +0000"
    name, email = author
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": stamp,
    }
    sha = run_git(git, repo, "commit-tree", tree, *parent_args, "-m", message, env=env)
    run_git(git, repo, "update-ref", ref, sha)
    return sha
