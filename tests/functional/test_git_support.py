"""Helpers for the git functional tests: the real git CLI, isolated from this machine's config.

Holds no tests; the ``test_git_*`` modules import it (pytest puts this directory on sys.path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from sqlalchemy.orm import Session

import factories as f
from live import LiveServer
from tokenforge.accounts.models import Organization, User
from tokenforge.config import Settings
from tokenforge.repos import storage
from tokenforge.repos.services import repo_path

T = TypeVar("T")
GIT = shutil.which("git") or "git"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stderr.splitlines()

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Git:
    """Runs git as a user would, but with a private HOME and no system or global configuration.

    ``GIT_TERMINAL_PROMPT=0``: a test that needs credentials must supply them (URL, helper,
    askpass); a missing one fails at once with "terminal prompts disabled" instead of hanging.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
            "LANG": "C",
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_COMMITTER_NAME": "Test Author",
            "GIT_COMMITTER_EMAIL": "author@example.com",
        }
        # A fixed default branch name: git 2.39 would otherwise print a hint on every init.
        self("config", "--global", "init.defaultBranch", "main", check=True)

    def __call__(
        self,
        *args: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        check: bool = False,
        timeout: float = 120,
    ) -> Result:
        done = subprocess.run(
            [GIT, *args],
            cwd=cwd or self.root,
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        result = Result(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))
        if check and result.code != 0:
            raise AssertionError(f"git {' '.join(args)} failed\n{result}")
        return result

    def init(self, name: str) -> Path:
        path = self.root / name
        self("init", "-q", str(path), check=True)
        return path

    def commit(self, work: Path, files: Mapping[str, str | bytes], message: str = "change") -> str:
        for name, content in files.items():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        self("add", "-A", cwd=work, check=True)
        self("commit", "-q", "-m", message, cwd=work, check=True)
        return self("rev-parse", "HEAD", cwd=work, check=True).stdout.strip()

    def remote_refs(self, url: str) -> dict[str, str]:
        out = self("ls-remote", url, check=True).stdout
        return {ref: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


def url(server: LiveServer, full_name: str, *, user: str | None = None, secret: str | None = None) -> str:
    """``http://[user:secret@]127.0.0.1:PORT/owner/repo.git``."""
    auth = f"{quote(user, safe='')}:{quote(secret or '', safe='')}@" if user is not None else ""
    return f"http://{auth}127.0.0.1:{server.port}/{full_name}.git"


def shown(server: LiveServer, full_name: str) -> str:
    """The URL as git prints it in messages (credentials removed, trailing slash)."""
    return f"http://127.0.0.1:{server.port}/{full_name}.git/"


def seed(server: LiveServer, build: Callable[[Session, Settings, datetime], T]) -> T:
    """Create test data through the real services, in the server's own database, committed."""
    with server.services.db.unit_of_work() as session:
        return build(session, server.settings, datetime.now(UTC))


def acme_infrastructure(
    session: Session, settings: Settings, now: datetime, readme: bytes = b"# infra\n"
) -> tuple[User, Organization]:
    """alice, owner of acme, and acme's private repository ``infrastructure`` with one commit on
    main (a README): the world most git tests start from. Returns alice and acme."""
    alice = f.user(session, "alice", now)
    acme = f.org(session, "acme", alice, now)
    infra = f.repo(session, settings, acme, "infrastructure", now, private=True)
    storage.commit_files(
        settings.git_binary,
        repo_path(settings, infra),
        branch="main",
        files={"README.md": readme},
        message="Initial commit",
        author=("alice", "alice@example.com"),
        when=now,
    )
    return alice, acme


def askpass(root: Path, username: str, password: str) -> tuple[dict[str, str], Path]:
    """A GIT_ASKPASS program that answers like a person at a prompt and counts its calls.

    Returns the environment that installs it and the file whose line count is the number of
    prompts git made.
    """
    count = root / "askpass-calls"
    script = root / "askpass.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> "{count}"\n'
        'case "$1" in\n'
        f"  Username*) echo '{username}' ;;\n"
        f"  Password*) echo '{password}' ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return {"GIT_ASKPASS": str(script)}, count


def prompts(count_file: Path) -> list[str]:
    return count_file.read_text().splitlines() if count_file.exists() else []


class RssSampler:
    """Samples this process's resident set size (the in-process test server's) in a thread."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self.baseline = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.baseline)


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
