"""`tokenforge serve --demo` — the README's first command — brings up a usable demo."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TOKENFORGE_")}
        environ.update(TOKENFORGE_DATA_DIR=str(data_dir), TOKENFORGE_BASE_URL=self.url, **(env or {}))
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self.log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tokenforge", "serve", "--port", str(self.port), *args],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env=environ,
        )

    def wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).text == "ok":
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log_file.close()
        return self.log.read_text()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"user (\w+)\s+password (\S+)", output))


def test_demo_starts_with_users_org_and_repositories(data_dir: Path) -> None:
    server = Server(data_dir, "--demo")
    try:
        server.wait()
        home = httpx.get(server.url + "/").text
        assert "acme/website" in home
        assert "acme/infrastructure" not in home  # private: not listed to anonymous visitors
        assert f"{server.url}/acme/website.git" in home
        # bob's demo token waits for acme's approval: public reads only, until alice approves.
        output = server.log.read_text()
        token = re.search(r"shown only now: (github_pat_\w+)", output)
        assert token is not None
        auth = {"Authorization": f"token {token.group(1)}"}
        assert httpx.get(f"{server.url}/api/v3/repos/acme/infrastructure", headers=auth).status_code == 404
        assert httpx.get(f"{server.url}/api/v3/repos/acme/website", headers=auth).status_code == 200
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENFORGE_")}
        env.update(TOKENFORGE_DATA_DIR=str(data_dir), TOKENFORGE_SECRET_KEY=(data_dir / "demo-secret-key").read_text())
        requests = subprocess.run(
            [sys.executable, "-m", "tokenforge", "org", "requests", "acme"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "website deploy" in requests
        assert "CI needs to read the infrastructure repo." in requests
        subprocess.run(
            [sys.executable, "-m", "tokenforge", "org", "review", "acme", "1", "--approve"],
            env=env,
            check=True,
            capture_output=True,
        )
        assert httpx.get(f"{server.url}/api/v3/repos/acme/infrastructure", headers=auth).status_code == 200
    finally:
        output = server.stop()
    first = passwords(output)
    assert set(first) == {"alice", "bob"}
    # Both repositories are real git repositories with a commit.
    repos = sorted((data_dir / "repositories").iterdir())
    assert len(repos) == 2
    for repo in repos:
        log = subprocess.run(
            ["git", f"--git-dir={repo}", "log", "--oneline", "main"], capture_output=True, text=True, check=True
        ).stdout
        assert "Initial commit" in log

    # A restart keeps the data and prints the same passwords; nothing is seeded twice.
    again = Server(data_dir, "--demo")
    try:
        again.wait()
    finally:
        output = again.stop()
    assert passwords(output) == first
    assert "shown only now" not in output  # a token is shown once, at creation
    assert len(list((data_dir / "repositories").iterdir())) == 2


def test_without_demo_a_secret_is_required(data_dir: Path) -> None:
    server = Server(data_dir)
    code = server.proc.wait(timeout=60)
    output = server.stop()
    assert code != 0
    assert "TOKENFORGE_SECRET_KEY is not set" in output
    assert "Traceback" not in output
