"""The transport itself: protocol v2, gzip request bodies, and flat memory during a large push."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from test_git_support import GIT, Git, RssSampler, seed, url

import factories as f
from live import LiveServer
from tokenforge.config import Settings
from tokenforge.repos.services import repo_path

pytestmark = pytest.mark.slow

MIB = 1 << 20


@pytest.fixture
def git(tmp_path: Path) -> Git:
    return Git(tmp_path)


@dataclass
class World:
    token: str
    branches_repo: Path


def _fast_import(git_dir: Path, stream: bytes | None = None, *, blobs: int = 0, blob_size: int = 0) -> None:
    """Write history straight into a repository with git fast-import (no compression, no deltas)."""
    proc = subprocess.Popen(
        [GIT, f"--git-dir={git_dir}", "-c", "core.compression=0", "fast-import", "--quiet", "--big-file-threshold=64k"],
        stdin=subprocess.PIPE,
        env={"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(git_dir)},
    )
    assert proc.stdin is not None
    if stream is not None:
        proc.stdin.write(stream)
    for i in range(blobs):
        proc.stdin.write(b"blob\nmark :%d\ndata %d\n" % (i + 1, blob_size) + os.urandom(blob_size) + b"\n")
    if blobs:
        proc.stdin.write(b"commit refs/heads/main\ncommitter A <a@example.com> 1700000000 +0000\ndata 4\nbig\n")
        proc.stdin.write(b"".join(b"M 100644 :%d data/%04d.bin\n" % (i + 1, i) for i in range(blobs)) + b"\n")
    proc.stdin.close()
    assert proc.wait() == 0


def _many_branches(count: int) -> bytes:
    parts = []
    for i in range(count):
        body = f"branch {i}\n".encode()
        parts.append(
            b"commit refs/heads/topic-%03d\ncommitter A <a@example.com> 1700000000 +0000\ndata 1\n\n"
            b"M 100644 inline f.txt\ndata %d\n%s\n" % (i, len(body), body)
        )
    return b"".join(parts)


def _world(session: Session, settings: Settings, now: datetime) -> World:
    alice = f.user(session, "alice", now)
    acme = f.org(session, "acme", alice, now)
    f.repo(session, settings, acme, "big", now, private=True)
    branches = f.repo(session, settings, acme, "branches", now, private=True)
    token = f.classic(session, settings, alice, now, "repo").secret
    return World(token, repo_path(settings, branches))


@pytest.fixture
def world(live_server: LiveServer) -> World:
    return seed(live_server, _world)


def test_protocol_v2_fetch_with_a_gzip_request_body(live_server: LiveServer, git: Git, world: World) -> None:
    # 40 branches with distinct tips: the fetch request lists 40 "want" lines (~2 KB), above the
    # 1 KiB from which git compresses a fetch request with gzip.
    _fast_import(world.branches_repo, _many_branches(40))
    trace = git.root / "curl.trace"
    remote = url(live_server, "acme/branches", user="a", secret=world.token)
    traces = {"GIT_TRACE_CURL": str(trace), "GIT_TRACE_CURL_NO_DATA": "1", "GIT_TRACE_PACKET": "1"}
    result = git("-c", "protocol.version=2", "clone", "--mirror", remote, "mirror", env=traces)
    assert result.code == 0, result
    sent = trace.read_text()
    assert "=> Send header: Git-Protocol: version=2" in sent
    assert "=> Send header: Content-Encoding: gzip" in sent
    assert "git< version 2" in result.stderr  # the server answered in protocol v2
    refs = git("for-each-ref", "--format=%(refname)", cwd=git.root / "mirror").stdout.split()
    assert len(refs) == 40


def test_large_push_streams_with_flat_memory(live_server: LiveServer, git: Git, world: World) -> None:
    """A push of ~200 MB goes through the server without the server holding it.

    The server runs in this process (LiveServer is a thread), and the git client, http-backend
    and receive-pack are separate processes, so this process's resident set is the server's.
    Any whole-body buffering would add the pack's size (200 MB); streaming adds a few chunk
    buffers. The bound below leaves room for allocator noise and nothing like the pack.
    """
    size_mb = 200
    work = git.init("big")
    _fast_import(work / ".git", blobs=size_mb, blob_size=MIB)
    git("reset", "-q", "--soft", "main", cwd=work)
    remote = url(live_server, "acme/big", user="alice", secret=world.token)
    with RssSampler() as rss:
        result = git("push", remote, "main", cwd=work, timeout=300)
    assert result.code == 0, result
    assert rss.growth < 48 * MIB, f"server memory grew by {rss.growth / MIB:.0f} MiB during a {size_mb} MB push"
    refs = git.remote_refs(remote)
    assert refs["refs/heads/main"] == git("rev-parse", "main", cwd=work).stdout.strip()
