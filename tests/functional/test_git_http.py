"""The HTTP framing Tokenforge does around git's own upload-pack and receive-pack.

What ``git http-backend`` used to do — the ``# service=`` line (protocol v0/v1 only), content
types and no-cache headers, the request content-type check, gzip bodies, the bound on an
upload-pack request — checked on the wire, plus what happens when the client leaves early.
"""

from __future__ import annotations

import base64
import gzip
import logging
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session
from test_git_support import Git, acme_infrastructure, seed, url

import factories as f
from live import LiveServer
from tokenforge.config import Settings
from tokenforge.git.pktline import pkt

pytestmark = pytest.mark.slow

NAME = "acme/infrastructure"
NO_CACHE = {
    "expires": "Fri, 01 Jan 1980 00:00:00 GMT",
    "pragma": "no-cache",
    "cache-control": "no-cache, max-age=0, must-revalidate",
}
UPLOAD_REQUEST = "application/x-git-upload-pack-request"


@dataclass
class World:
    token: str  # classic `repo`: reads and pushes
    reader: str  # classic without scopes: reads nothing private

    @property
    def auth(self) -> tuple[str, str]:
        return ("alice", self.token)


def _world(session: Session, settings: Settings, now: datetime) -> World:
    alice, _acme = acme_infrastructure(session, settings, now)
    return World(
        f.classic(session, settings, alice, now, "repo").secret, f.classic(session, settings, alice, now).secret
    )


@pytest.fixture
def world(live_server: LiveServer) -> World:
    return seed(live_server, _world)


@pytest.fixture
def git(tmp_path: Path) -> Git:
    return Git(tmp_path)


def _base(server: LiveServer) -> str:
    return f"{server.url}/{NAME}.git"


def test_advertisements_are_framed_as_http_backend_frames_them(live_server: LiveServer, world: World) -> None:
    base = _base(live_server)
    v0 = httpx.get(f"{base}/info/refs", params={"service": "git-upload-pack"}, auth=world.auth)
    assert v0.status_code == 200
    assert v0.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    assert {k: v0.headers[k] for k in NO_CACHE} == NO_CACHE
    # Protocol v0: the service line and a flush, then upload-pack's first ref with capabilities.
    assert v0.content.startswith(b"001e# service=git-upload-pack\n0000")
    assert b" HEAD\0" in v0.content[:200]

    # Protocol v2: no service line; the answer is the capability advertisement itself.
    v2 = httpx.get(
        f"{base}/info/refs", params={"service": "git-upload-pack"}, auth=world.auth,
        headers={"Git-Protocol": "version=2"},
    )  # fmt: skip
    assert v2.status_code == 200
    assert v2.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    assert v2.content.startswith(pkt(b"version 2\n"))
    assert b"# service=" not in v2.content
    assert pkt(b"ls-refs=unborn\n") in v2.content or b"ls-refs" in v2.content
    # Unknown versions are ignored, as git's determine_protocol_version_server() does.
    v9 = httpx.get(
        f"{base}/info/refs", params={"service": "git-upload-pack"}, auth=world.auth,
        headers={"Git-Protocol": "version=9"},
    )  # fmt: skip
    assert v9.content.startswith(b"001e# service=git-upload-pack\n0000")

    push = httpx.get(f"{base}/info/refs", params={"service": "git-receive-pack"}, auth=world.auth)
    assert push.status_code == 200
    assert push.headers["content-type"] == "application/x-git-receive-pack-advertisement"
    assert {k: push.headers[k] for k in NO_CACHE} == NO_CACHE
    assert push.content.startswith(b"001f# service=git-receive-pack\n0000")
    assert b"report-status" in push.content


def test_results_carry_the_result_content_type(live_server: LiveServer, world: World) -> None:
    # An ls-refs request in protocol v2: the smallest complete upload-pack exchange.
    request = pkt(b"command=ls-refs\n") + b"0001" + pkt(b"ref-prefix refs/heads/\n") + b"0000"
    response = httpx.post(
        f"{_base(live_server)}/git-upload-pack", content=request, auth=world.auth,
        headers={"Content-Type": UPLOAD_REQUEST, "Git-Protocol": "version=2"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-git-upload-pack-result"
    assert {k: response.headers[k] for k in NO_CACHE} == NO_CACHE
    assert b" refs/heads/main\n" in response.content
    # The same request gzip-compressed, as git sends a large one.
    zipped = httpx.post(
        f"{_base(live_server)}/git-upload-pack", content=gzip.compress(request), auth=world.auth,
        headers={"Content-Type": UPLOAD_REQUEST, "Git-Protocol": "version=2", "Content-Encoding": "gzip"},
    )  # fmt: skip
    assert zipped.status_code == 200
    assert zipped.content == response.content


def test_request_bodies_git_could_not_use_are_refused(live_server: LiveServer, world: World) -> None:
    pack = f"{_base(live_server)}/git-upload-pack"
    wrong_type = httpx.post(pack, content=b"0000", auth=world.auth, headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert wrong_type.text == (
        f"Expected POST with Content-Type '{UPLOAD_REQUEST}', but received 'text/plain' instead.\n"
    )
    no_type = httpx.post(pack, content=b"0000", auth=world.auth, headers={"Content-Type": ""})
    assert no_type.status_code == 415
    receive = httpx.post(
        f"{_base(live_server)}/git-receive-pack", content=b"0000", auth=world.auth,
        headers={"Content-Type": UPLOAD_REQUEST},
    )  # fmt: skip
    assert receive.status_code == 415
    assert "application/x-git-receive-pack-request" in receive.text

    def post(body: bytes, encoding: str) -> httpx.Response:
        headers = {"Content-Type": UPLOAD_REQUEST, "Content-Encoding": encoding, "Git-Protocol": "version=2"}
        return httpx.post(pack, content=body, auth=world.auth, headers=headers)

    assert post(b"0000", "br").status_code == 415
    not_gzip = post(b"0000", "gzip")
    assert (not_gzip.status_code, not_gzip.text) == (400, "The request body is not valid gzip.\n")
    cut = post(gzip.compress(pkt(b"command=ls-refs\n") + b"0000")[:-12], "gzip")
    assert (cut.status_code, cut.text) == (400, "The request ended in the middle of its gzip stream.\n")
    # A 13 MB request in 50 KB of gzip: upload-pack is fed the first 10 MiB (http-backend's
    # bound) and no more; nothing of it was ever whole in the server's memory.
    endless = pkt(b"command=ls-refs\n") + b"0001" + pkt(b"ref-prefix refs/heads/" + b"x" * 200 + b"\n") * 60_000
    too_large = post(gzip.compress(endless), "gzip")
    assert (too_large.status_code, too_large.text) == (413, "The request is larger than 10485760 bytes.\n")
    # Credentials still come first: nothing about the body is said to someone who may not read.
    anonymous = httpx.post(pack, content=b"0000", headers={"Content-Type": "text/plain"})
    assert anonymous.status_code == 401
    refused = httpx.post(pack, content=b"0000", auth=("alice", world.reader), headers={"Content-Type": "text/plain"})
    assert refused.status_code == 404


def test_a_client_that_leaves_early_is_not_a_server_error(
    live_server: LiveServer, git: Git, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tokenforge.git")
    basic = base64.b64encode(f"alice:{world.token}".encode()).decode()
    request = (
        f"GET /{NAME}.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Basic {basic}\r\nGit-Protocol: version=2\r\n\r\n"
    ).encode()
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", live_server.port)) as sock:
            sock.sendall(request)
    # The server is still serving, and said nothing above debug level about the clients that left.
    clone = git("clone", "-q", url(live_server, NAME, user="alice", secret=world.token), "work")
    assert clone.code == 0, clone
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("went away" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]
    assert any("went away" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
