"""Several server processes on one database stay coherent: what one process (or the CLI) changes,
every other refuses on its next requests — revocation, regeneration, a policy change, a removed
membership — through the access generation (auth/generation.py). Real processes, real HTTP.

This proves correctness, not speed: each check polls with a generous deadline, and the measured
propagation delay (the poll interval, 0.5 s by default) is reported in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

import factories
from tokenforge.config import Settings
from tokenforge.db import Database

pytestmark = pytest.mark.slow
SECRET = "multiprocess-secret-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(env, TOKENFORGE_BASE_URL=self.url)
        self.log = Path(env["TOKENFORGE_DATA_DIR"]).parent / f"server-{self.port}.log"
        self.log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tokenforge", "serve", "--port", str(self.port), *args],
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log_file.close()


def status(url: str, token: str, path: str) -> int:
    return httpx.get(f"{url}/api/v3{path}", headers={"Authorization": f"token {token}"}, timeout=5).status_code


def eventually(check: Callable[[], bool], what: str) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < 10, f"never happened: {what}"
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOKENFORGE_")}
    base.update(
        TOKENFORGE_DATA_DIR=str(tmp_path / "data"),
        TOKENFORGE_DATABASE_URL=database_url,
        TOKENFORGE_SECRET_KEY=SECRET,
        TOKENFORGE_MAINTENANCE_INTERVAL_SECONDS="0",
        TOKENFORGE_RATE_LIMIT_ENABLED="false",
    )
    return base


@pytest.fixture
def tokens(env: dict[str, str], now: datetime) -> dict[str, str]:
    settings = Settings(
        data_dir=Path(env["TOKENFORGE_DATA_DIR"]), database_url=env["TOKENFORGE_DATABASE_URL"], secret_key=SECRET
    )
    db = Database(settings.resolved_database_url)
    db.migrate()
    with db.unit_of_work() as s:
        alice, bob = factories.user(s, "alice", now), factories.user(s, "bob", now)
        acme = factories.org(s, "acme", alice, now, members=[bob], approval_required=False)
        infra = factories.repo(s, settings, acme, "infra", now, private=True)
        out = {
            "classic": factories.classic(s, settings, alice, now, "repo", note="c").secret,
            "regen": factories.classic(s, settings, alice, now, "repo", note="r").secret,
            "bob": factories.fine_grained(
                s, settings, bob, now, resource_owner=acme, repositories=[infra], permissions={"contents": "read"}
            ).secret,
        }
    db.dispose()
    return out


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "tokenforge", *args], env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def servers(env: dict[str, str], tokens: dict[str, str]) -> Iterator[list[str]]:
    started = [Process(env), Process(env)]
    try:
        yield [p.url for p in started]
    finally:
        for process in started:
            process.stop()


def test_changes_reach_every_process(env: dict[str, str], tokens: dict[str, str], servers: list[str]) -> None:
    a, b = servers
    for url in servers:  # warm both caches: the changes below must invalidate cached entries
        for name in ("classic", "regen", "bob"):
            assert status(url, tokens[name], "/repos/acme/infra") == 200

    # Revoked through one server's API: refused there at once, and by the other soon after.
    revoke = httpx.post(f"{a}/api/v3/credentials/revoke", json={"credentials": [tokens["classic"]]})
    assert revoke.status_code == 202
    assert status(a, tokens["classic"], "/user") == 401
    eventually(lambda: status(b, tokens["classic"], "/user") == 401, "revocation seen by the other server")

    # Regenerated from the CLI (a third process): the old secret dies everywhere, the new one works.
    token_id = next(line.split()[0] for line in cli(env, "token", "list", "alice").splitlines()[1:] if " r — " in line)
    new = cli(env, "token", "regenerate", token_id).strip()
    for url in servers:
        eventually(lambda url=url: status(url, tokens["regen"], "/user") == 401, "old secret refused")
        assert status(url, new, "/repos/acme/infra") == 200

    # A policy change: classic tokens restricted in acme.
    cli(env, "org", "set-policy", "acme", "--classic", "restrict")
    for url in servers:
        eventually(lambda url=url: status(url, new, "/repos/acme/infra") == 403, "policy seen")

    # A removed membership: bob's fine-grained token for acme loses the private repository.
    assert status(a, tokens["bob"], "/repos/acme/infra") == 200
    cli(env, "org", "remove-member", "acme", "bob")
    for url in servers:
        eventually(lambda url=url: status(url, tokens["bob"], "/repos/acme/infra") == 404, "membership seen")


def test_two_workers_of_one_server(env: dict[str, str], tokens: dict[str, str]) -> None:
    server = Process(env, "--workers", "2")
    try:
        for _ in range(20):  # spread over both workers
            assert status(server.url, tokens["classic"], "/repos/acme/infra") == 200
        httpx.post(f"{server.url}/api/v3/credentials/revoke", json={"credentials": [tokens["classic"]]})
        # Whichever worker answers, within the poll interval every one refuses.
        eventually(
            lambda: all(status(server.url, tokens["classic"], "/user") == 401 for _ in range(20)),
            "revocation seen by both workers",
        )
    finally:
        server.stop()
