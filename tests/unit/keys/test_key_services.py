"""Deploy keys: OpenSSH key parsing and fingerprints, adding and removing, the token cascade."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import factories
from tokenforge.audit.models import AuditEvent
from tokenforge.config import Settings
from tokenforge.errors import Invalid, NotFound
from tokenforge.keys import services
from tokenforge.keys.models import DeployKey
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import RevokedReason, Token

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen is not on PATH")

# Golden vector: a key made by ssh-keygen and the fingerprint `ssh-keygen -l` printed for it.
GOLDEN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxt90+DAd3uc7HQvKuRK/gaHkobmsHacvuxKm647WVB c ed25519"
GOLDEN_FINGERPRINT = "SHA256:nNqg9g79WpVO9CNcBdqhRWoF3gnrxyqXqSpglZ+jlIg"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(value: int) -> bytes:
    return _string(value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _line(key_type: str, blob: bytes, comment: str = "") -> str:
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}".strip()


def ed25519_line(comment: str = "", *, seed: bytes | None = None) -> str:
    """A structurally valid ed25519 public key, built without ssh-keygen (random unless seeded)."""
    raw = hashlib.sha256(seed).digest() if seed is not None else os.urandom(32)
    return _line("ssh-ed25519", _string(b"ssh-ed25519") + _string(raw), comment)


def rsa_line(bits: int, *, exponent: int = 65537, modulus: int | None = None) -> str:
    n = (
        modulus
        if modulus is not None
        else (1 << (bits - 1)) | int.from_bytes(os.urandom(bits // 8), "big") % (1 << (bits - 1)) | 1
    )
    return _line("ssh-rsa", _string(b"ssh-rsa") + _mpint(exponent) + _mpint(n))


@pytest.fixture(scope="session")
def real_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Public key files made by ssh-keygen, one per supported type (plus a too-short RSA)."""
    if SSH_KEYGEN is None:
        pytest.skip("ssh-keygen is not on PATH")
    root = tmp_path_factory.mktemp("ssh-keys")
    specs = {
        "ed25519": ["-t", "ed25519"],
        "rsa2048": ["-t", "rsa", "-b", "2048"],
        "rsa1024": ["-t", "rsa", "-b", "1024"],
        "ecdsa256": ["-t", "ecdsa", "-b", "256"],
        "ecdsa384": ["-t", "ecdsa", "-b", "384"],
        "ecdsa521": ["-t", "ecdsa", "-b", "521"],
    }
    out = {}
    for name, args in specs.items():
        path = root / name
        subprocess.run([SSH_KEYGEN, "-q", *args, "-N", "", "-C", f"me@{name}", "-f", str(path)], check=True)
        out[name] = path.with_suffix(".pub")
    return out


# -- parsing ---------------------------------------------------------------------------------


def test_golden_fingerprint_and_canonical_form() -> None:
    key = services.parse_public_key(GOLDEN + "\n")
    assert key.type == "ssh-ed25519"
    assert key.fingerprint == GOLDEN_FINGERPRINT
    assert key.openssh == GOLDEN.rsplit(" ", 2)[0]  # without the comment
    assert key.comment == "c ed25519"


@pytest.mark.parametrize(
    ("name", "key_type"),
    [
        ("ed25519", "ssh-ed25519"),
        ("rsa2048", "ssh-rsa"),
        ("ecdsa256", "ecdsa-sha2-nistp256"),
        ("ecdsa384", "ecdsa-sha2-nistp384"),
        ("ecdsa521", "ecdsa-sha2-nistp521"),
    ],
)
def test_real_keys_of_every_supported_type(real_keys: dict[str, Path], name: str, key_type: str) -> None:
    path = real_keys[name]
    key = services.parse_public_key(path.read_text())
    assert SSH_KEYGEN is not None
    listed = subprocess.run([SSH_KEYGEN, "-lf", str(path)], capture_output=True, text=True, check=True).stdout
    assert key.type == key_type
    assert key.fingerprint == listed.split()[1]
    assert key.openssh == " ".join(path.read_text().split()[:2])


def test_python_built_keys_parse() -> None:
    assert services.parse_public_key(ed25519_line("ci")).type == "ssh-ed25519"
    assert services.parse_public_key(rsa_line(2048)).type == "ssh-rsa"
    assert services.parse_public_key(rsa_line(4096)).type == "ssh-rsa"


def _invalid(text: str) -> str:
    with pytest.raises(Invalid) as caught:
        services.parse_public_key(text)
    assert caught.value.field == "key"
    return caught.value.message


def _ed25519_blob() -> bytes:
    return base64.b64decode(ed25519_line(seed=b"fixed").split()[1])


INVALID = {
    "empty": "",
    "blank": "   ",
    "prose": "not a key",
    "type only": "ssh-ed25519",
    "garbage base64": "ssh-ed25519 !!!not-base64!!!",
    "bad padding": "ssh-ed25519 AAAA====",
    "not a blob": "ssh-ed25519 QUJD",
    "unsupported type": "ssh-dss " + base64.b64encode(_string(b"ssh-dss") + b"\0" * 40).decode(),
    "label and blob disagree": "ssh-rsa " + base64.b64encode(_ed25519_blob()).decode(),
    "trailing bytes": "ssh-ed25519 " + base64.b64encode(_ed25519_blob() + b"\0").decode(),
    "truncated": "ssh-ed25519 " + base64.b64encode(_ed25519_blob()[:-1]).decode(),
    "short ed25519": "ssh-ed25519 " + base64.b64encode(_string(b"ssh-ed25519") + _string(b"\1" * 31)).decode(),
    "authorized_keys options": 'command="/bin/sh" ' + GOLDEN,
    "two lines": GOLDEN + "\n" + GOLDEN,
    "too long": "ssh-ed25519 " + "A" * 10_000,
    "even exponent": rsa_line(2048, exponent=65536),
    "even modulus": rsa_line(2048, modulus=(1 << 2047) + 2),
    "exponent 1": rsa_line(2048, exponent=1),
}


@pytest.mark.parametrize("text", list(INVALID.values()), ids=list(INVALID))
def test_invalid_keys(text: str) -> None:
    assert _invalid(text) == services.INVALID_KEY


def test_short_rsa_keys_are_refused_with_a_reason() -> None:
    assert "2048" in _invalid(rsa_line(1024))
    assert "2048" in _invalid(rsa_line(17_000))


def test_real_short_rsa_key_is_refused(real_keys: dict[str, Path]) -> None:
    assert "2048" in _invalid(real_keys["rsa1024"].read_text())


def test_ecdsa_points_must_be_on_the_curve(real_keys: dict[str, Path]) -> None:
    key_type, encoded = real_keys["ecdsa256"].read_text().split()[:2]
    blob = bytearray(base64.b64decode(encoded))
    blob[-1] ^= 1  # a different y: almost certainly off the curve
    assert _invalid(f"{key_type} {base64.b64encode(bytes(blob)).decode()}") == services.INVALID_KEY
    # The right curve name in the wrong type: an ecdsa-sha2-nistp384 label on a P-256 blob.
    original = base64.b64decode(encoded)
    relabelled = _string(b"ecdsa-sha2-nistp384") + original[len(_string(b"ecdsa-sha2-nistp256")) :]
    assert _invalid(f"ecdsa-sha2-nistp384 {base64.b64encode(relabelled).decode()}") == services.INVALID_KEY


def test_compressed_ecdsa_points_are_refused(real_keys: dict[str, Path]) -> None:
    key_type, encoded = real_keys["ecdsa256"].read_text().split()[:2]
    blob = base64.b64decode(encoded)
    prefix = _string(b"ecdsa-sha2-nistp256") + _string(b"nistp256")
    x = blob[len(prefix) + 4 + 1 : len(prefix) + 4 + 33]
    compressed = prefix + _string(b"\x02" + x)
    assert _invalid(f"{key_type} {base64.b64encode(compressed).decode()}") == services.INVALID_KEY


# -- services --------------------------------------------------------------------------------


def test_add_records_the_token_and_the_audit_event(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now, private=True)
    issued = factories.classic(session, settings, alice, now, "repo")
    key = services.add_deploy_key(
        session,
        repo=repo,
        title="  deploy  ",
        key=GOLDEN,
        read_only=False,
        actor=alice,
        token=issued.token,
        now=now,
        ip="10.0.0.1",
    )
    session.commit()
    assert (key.title, key.key, key.fingerprint) == ("deploy", GOLDEN.rsplit(" ", 2)[0], GOLDEN_FINGERPRINT)
    assert (key.read_only, key.added_by, key.created_by_id, key.token_id) == (False, "alice", alice.id, issued.token.id)
    assert services.get_deploy_key(session, repo, key.id) is key
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "deploy_key.created")).one()
    assert (event.token_id, event.actor_login, event.user_id) == (issued.token.id, "alice", alice.id)
    assert event.ip == "10.0.0.1"
    assert event.data["fingerprint"] == GOLDEN_FINGERPRINT
    assert event.data["repository"] == "alice/app"


def test_a_key_is_a_deploy_key_of_one_repository_only(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    first = factories.repo(session, settings, alice, "one", now)
    second = factories.repo(session, settings, alice, "two", now)
    line = ed25519_line("laptop")
    services.add_deploy_key(session, repo=first, title="a", key=line, read_only=True, actor=alice, token=None, now=now)
    other_comment = line.rsplit(" ", 1)[0] + " another comment"
    for repo in (first, second):
        with pytest.raises(Invalid) as caught:
            services.add_deploy_key(
                session, repo=repo, title="b", key=other_comment, read_only=True, actor=alice, token=None, now=now
            )
        assert (caught.value.message, caught.value.field) == (services.KEY_IN_USE, "key")


@pytest.mark.parametrize(
    ("title", "fragment"), [("", "blank"), ("   ", "blank"), ("a\x00b", "control"), ("x" * 256, "long")]
)
def test_titles_are_checked(session: Session, settings: Settings, now: datetime, title: str, fragment: str) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now)
    with pytest.raises(Invalid) as caught:
        services.add_deploy_key(
            session, repo=repo, title=title, key=ed25519_line(), read_only=True, actor=alice, token=None, now=now
        )
    assert caught.value.field == "title"
    assert fragment in caught.value.message


def test_keys_of_another_repository_are_not_found(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    mine = factories.repo(session, settings, alice, "mine", now)
    other = factories.repo(session, settings, alice, "other", now)
    key = services.add_deploy_key(
        session, repo=mine, title="k", key=ed25519_line(), read_only=True, actor=alice, token=None, now=now
    )
    with pytest.raises(NotFound):
        services.get_deploy_key(session, other, key.id)
    with pytest.raises(NotFound):
        services.get_deploy_key(session, mine, key.id + 1000)


def test_list_and_remove(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now)
    keys = [
        services.add_deploy_key(
            session, repo=repo, title=f"k{i}", key=ed25519_line(), read_only=True, actor=alice, token=None, now=now
        )
        for i in range(3)
    ]
    assert list(session.scalars(services.keys_query(repo))) == keys
    services.remove_deploy_key(session, repo=repo, key=keys[1], actor=alice, now=now)
    session.commit()
    assert [k.title for k in session.scalars(services.keys_query(repo))] == ["k0", "k2"]
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "deploy_key.deleted")).one()
    assert (event.data["title"], event.data["cause"], event.actor_login) == ("k1", "removed", "alice")


def test_delete_keys_created_by_a_token(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    acme = factories.org(session, "acme", alice, now)
    app = factories.repo(session, settings, alice, "app", now)
    site = factories.repo(session, settings, acme, "site", now, private=True)
    doomed = factories.classic(session, settings, alice, now, "repo", note="doomed").token
    kept = factories.classic(session, settings, alice, now, "repo", note="kept").token

    def add(repo: Repository, token: Token | None, title: str) -> DeployKey:
        return services.add_deploy_key(
            session, repo=repo, title=title, key=ed25519_line(), read_only=True, actor=alice, token=token, now=now
        )

    gone = [add(app, doomed, "a"), add(site, doomed, "b")]
    stays = [add(app, kept, "c"), add(site, None, "d")]
    session.commit()

    deleted = services.delete_keys_created_by(session, doomed, now=now, reason=RevokedReason.USER.value)
    session.commit()
    assert sorted(deleted) == sorted(k.id for k in gone)
    assert sorted(k.id for k in session.scalars(select(DeployKey))) == sorted(k.id for k in stays)
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == "deploy_key.deleted").order_by(AuditEvent.id))
    )
    assert [(e.data["title"], e.data["cause"], e.data["reason"], e.token_id) for e in events] == [
        ("a", "token_deleted", "user", doomed.id),
        ("b", "token_deleted", "user", doomed.id),
    ]
    assert events[0].actor_id is None  # the system acted
    assert events[1].org_id == acme.id
    # Idempotent: nothing left to delete.
    assert services.delete_keys_created_by(session, doomed, now=now, reason="user") == []
