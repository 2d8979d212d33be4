"""Deploy keys through the REST API with PyGithub and raw HTTP: add, list, get, delete for both
token kinds; admin-only (404 for everyone else); GitHub's 422s for bad and reused keys."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from github import Auth, Github, GithubException, UnknownObjectException
from sqlalchemy import select

import factories as f
from live import LiveServer
from tokenforge.audit.models import AuditEvent
from tokenforge.authz.roles import RepoRole
from tokenforge.keys.models import DeployKey
from tokenforge.tokens.models import RevokedReason
from tokenforge.tokens.services import get_token, revoke_token

pytestmark = pytest.mark.slow

SSH_KEYGEN = shutil.which("ssh-keygen")


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def ed25519_line(comment: str = "") -> str:
    """A valid ed25519 public key line built in Python (the blob is string type ‖ string 32 bytes)."""
    blob = _string(b"ssh-ed25519") + _string(os.urandom(32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}".strip()


@pytest.fixture(scope="module")
def real_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Real keys from ssh-keygen when it is installed; otherwise Python-built ed25519 keys only."""
    if SSH_KEYGEN is None:
        return {"ed25519": ed25519_line("me@laptop")}
    root = tmp_path_factory.mktemp("keys")
    out = {}
    for name, args in {
        "ed25519": ["-t", "ed25519"],
        "rsa": ["-t", "rsa", "-b", "2048"],
        "ecdsa": ["-t", "ecdsa"],
    }.items():
        path = root / name
        subprocess.run([SSH_KEYGEN, "-q", *args, "-N", "", "-C", f"me@{name}", "-f", str(path)], check=True)
        out[name] = Path(f"{path}.pub").read_text()
    return out


@dataclass
class World:
    tokens: dict[str, str]
    token_ids: dict[str, int]


@pytest.fixture
def world(live_server: LiveServer) -> World:
    settings = live_server.settings
    now = datetime.now(UTC)
    with live_server.services.db.unit_of_work() as session:
        alice = f.user(session, "alice", now)
        bob = f.user(session, "bob", now)
        app = f.repo(session, settings, alice, "app", now, private=True, collaborators={bob: RepoRole.WRITE})
        f.repo(session, settings, alice, "other", now, private=True)
        f.repo(session, settings, alice, "site", now, collaborators={bob: RepoRole.WRITE})
        issued = {
            "classic": f.classic(session, settings, alice, now, "repo", note="classic"),
            "fine_grained": f.fine_grained(
                session, settings, alice, now, all_repos=True, name="admin", permissions={"administration": "write"}
            ),
            "fine-grained-contents": f.fine_grained(
                session, settings, alice, now, repositories=[app], name="contents", permissions={"contents": "write"}
            ),
            "fine-grained-read": f.fine_grained(
                session, settings, alice, now, repositories=[app], name="admin read",
                permissions={"administration": "read"},
            ),
            "classic-no-repo": f.classic(session, settings, alice, now, "user", note="no repo"),
            "bob": f.classic(session, settings, bob, now, "repo", note="bob"),
        }  # fmt: skip
        return World({k: v.secret for k, v in issued.items()}, {k: v.token.id for k, v in issued.items()})


def client(server: LiveServer, secret: str) -> Github:
    # No client-side throttling: it protects github.com and would only slow the suite here.
    return Github(
        auth=Auth.Token(secret),
        base_url=f"{server.url}/api/v3",
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


@pytest.mark.parametrize("kind", ["classic", "fine_grained"])
def test_deploy_keys_with_pygithub(live_server: LiveServer, world: World, real_keys: dict[str, str], kind: str) -> None:
    repo = client(live_server, world.tokens[kind]).get_repo("alice/app")
    assert list(repo.get_keys()) == []

    added = [
        repo.create_key(f"deploy {name}", line, read_only=name != "rsa") for name, line in sorted(real_keys.items())
    ]
    for key, (name, line) in zip(added, sorted(real_keys.items()), strict=True):
        assert key.title == f"deploy {name}"
        assert key.key == " ".join(line.split()[:2])  # the comment is not kept
        assert key.read_only is (name != "rsa")
        assert key.verified is True
        assert key.added_by == "alice"
        assert key.last_used is None
        assert key.url == f"{live_server.url}/api/v3/repos/alice/app/keys/{key.id}"
    assert set(added[0].raw_data) == {
        "id", "key", "url", "title", "verified", "created_at", "read_only", "added_by", "last_used", "enabled",
    }  # fmt: skip

    assert [k.id for k in repo.get_keys()] == [k.id for k in added]
    assert repo.get_key(added[0].id).title == added[0].title

    added[0].delete()
    assert [k.id for k in repo.get_keys()] == [k.id for k in added[1:]]
    with pytest.raises(UnknownObjectException):
        _ = repo.get_key(added[0].id).title

    with live_server.services.db.unit_of_work() as session:
        rows = session.scalars(select(DeployKey).order_by(DeployKey.id)).all()
        # The creating token is recorded: deleting it deletes these keys (spec §6.3).
        assert {row.token_id for row in rows} == {world.token_ids[kind]}
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions.count("deploy_key.created") == len(real_keys)
        assert actions.count("deploy_key.deleted") == 1


def test_only_admins_see_deploy_keys(live_server: LiveServer, world: World) -> None:
    key = client(live_server, world.tokens["classic"]).get_repo("alice/app").create_key("k", ed25519_line())

    # A write collaborator with a classic repo token: the endpoints do not exist for them.
    bob = client(live_server, world.tokens["bob"])
    for name in ("alice/app", "alice/site"):  # private and public alike
        repo = bob.get_repo(name)
        with pytest.raises(UnknownObjectException):
            list(repo.get_keys())
        with pytest.raises(UnknownObjectException):
            repo.create_key("mine", ed25519_line(), read_only=True)
    with pytest.raises(UnknownObjectException):
        _ = bob.get_repo("alice/app").get_key(key.id).title

    # Classic token without repo: the private repository is invisible.
    with pytest.raises(UnknownObjectException):
        client(live_server, world.tokens["classic-no-repo"]).get_repo("alice/app")
    keys_url = f"{live_server.url}/api/v3/repos/alice/app/keys"
    no_repo = {"Authorization": f"token {world.tokens['classic-no-repo']}"}
    assert httpx.get(keys_url, headers=no_repo).status_code == 404
    assert httpx.get(keys_url).status_code == 404  # anonymous
    assert httpx.get(f"{live_server.url}/api/v3/repos/alice/site/keys").status_code == 401  # public, anonymous

    # Fine-grained without administration: visible repository, not permitted.
    contents = client(live_server, world.tokens["fine-grained-contents"]).get_repo("alice/app")
    with pytest.raises(GithubException) as forbidden:
        list(contents.get_keys())
    assert forbidden.value.status == 403
    assert forbidden.value.data["message"] == "Resource not accessible by personal access token"

    # administration: read lists but cannot add or delete.
    reader = client(live_server, world.tokens["fine-grained-read"]).get_repo("alice/app")
    assert [k.id for k in reader.get_keys()] == [key.id]
    with pytest.raises(GithubException) as cannot_add:
        reader.create_key("x", ed25519_line())
    assert cannot_add.value.status == 403
    answer = httpx.delete(
        f"{keys_url}/{key.id}", headers={"Authorization": f"token {world.tokens['fine-grained-read']}"}
    )
    assert answer.status_code == 403
    assert answer.headers["x-accepted-github-permissions"] == "administration=write"


def test_invalid_and_reused_keys(live_server: LiveServer, world: World, real_keys: dict[str, str]) -> None:
    gh = client(live_server, world.tokens["classic"])
    repo, other = gh.get_repo("alice/app"), gh.get_repo("alice/other")
    ed25519 = base64.b64decode(ed25519_line().split()[1])
    invalid = {
        "garbage base64": "ssh-ed25519 @@@@not base64@@@@",
        "wrong type": "ssh-dss " + base64.b64encode(_string(b"ssh-dss") + b"\0" * 64).decode(),
        "type mismatch": "ssh-rsa " + base64.b64encode(ed25519).decode(),
        "not a key": "-----BEGIN OPENSSH PRIVATE KEY-----",
    }
    for label, text in invalid.items():
        with pytest.raises(GithubException) as caught:
            repo.create_key("bad", text, read_only=True)
        assert caught.value.status == 422, label
        body = caught.value.data
        assert body["message"] == "Validation Failed"
        assert body["errors"] == [
            {
                "resource": "PublicKey",
                "field": "key",
                "code": "custom",
                "message": "key is invalid. You must supply a key in OpenSSH public key format",
            }
        ], label

    line = real_keys["ed25519"]
    repo.create_key("first", line)
    for target in (repo, other):  # a key is a deploy key of one repository only
        with pytest.raises(GithubException) as reused:
            target.create_key("again", line)
        assert reused.value.status == 422
        assert reused.value.data["errors"][0]["message"] == "key is already in use"

    url = f"{live_server.url}/api/v3/repos/alice/app/keys"
    headers = {"Authorization": f"token {world.tokens['classic']}"}
    for bad in (
        {"key": ed25519_line()},
        {"title": "x"},
        {"title": "x", "key": 5},
        {"title": "", "key": ed25519_line()},
        {"title": "a\x00b", "key": ed25519_line()},
        {"title": "x" * 300, "key": ed25519_line()},
        {"title": "x", "key": ed25519_line(), "read_only": "maybe"},
        {"title": "x", "key": "ssh-ed25519 " + "A" * 20_000},
    ):
        answer = httpx.post(url, json=bad, headers=headers)
        assert answer.status_code == 422, bad
        assert answer.json()["message"] == "Validation Failed"
    assert httpx.post(url, content=b"[1]", headers=headers).status_code == 400
    for key_id in ("0", "abc", "99999999999999999999", "-1"):
        assert httpx.get(f"{url}/{key_id}", headers=headers).status_code == 404, key_id
        assert httpx.delete(f"{url}/{key_id}", headers=headers).status_code == 404, key_id

    # Another repository's key id is not a key of this one.
    theirs = other.create_key("theirs", ed25519_line())
    assert httpx.get(f"{url}/{theirs.id}", headers=headers).status_code == 404
    assert httpx.delete(f"{url}/{theirs.id}", headers=headers).status_code == 404
    digest = hashlib.sha256(base64.b64decode(line.split()[1])).digest()
    with live_server.services.db.unit_of_work() as session:
        stored = session.scalars(select(DeployKey).where(DeployKey.title == "first")).one()
        assert stored.fingerprint == "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def test_revoking_the_token_deletes_the_deploy_keys_it_created(live_server: LiveServer, now: datetime) -> None:
    """Spec §6.3, through the API: the key goes with the token, in the same transaction."""
    services = live_server.services
    settings = live_server.settings
    with services.db.unit_of_work() as s:
        owner = f.user(s, "cascade", now)
        f.repo(s, settings, owner, "app", now, private=True)
        issued = f.classic(s, settings, owner, now, "repo")
    created = httpx.post(
        f"{live_server.url}/api/v3/repos/cascade/app/keys",
        headers={"Authorization": f"token {issued.secret}"},
        json={"title": "deploy", "key": ed25519_line()},
    )
    assert created.status_code == 201
    with services.db.unit_of_work() as s:
        revoke_token(s, token=get_token(s, issued.token.id), reason=RevokedReason.USER, now=now)
    with services.db.unit_of_work() as s:
        assert s.scalars(select(DeployKey)).all() == []
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.token_id == issued.token.id)).all()
        assert "token.revoked" in actions
    gone = httpx.get(
        f"{live_server.url}/api/v3/repos/cascade/app/keys", headers={"Authorization": f"token {issued.secret}"}
    )
    assert gone.status_code == 401
