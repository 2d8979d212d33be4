"""Deploy keys: parsing OpenSSH public keys, adding and removing keys, and the token cascade.

A deploy key is an SSH public key with access to one repository. Three rules shape this module:

* The key text is untrusted input that an SSH server will later compare byte for byte, so it is
  decoded and checked structurally (the type named on the line must be the type inside the
  blob, RSA moduli must be long enough, EC points must lie on their curve) and stored in a
  canonical form (``type base64``, no comment). Anything else is GitHub's 422 "key is invalid".
* A key may be a deploy key of one repository only: the SHA256 fingerprint of the blob is
  unique in the database, and a second use is GitHub's 422 "key is already in use".
* The personal access token that created a key is recorded, because deleting that token
  deletes its deploy keys (spec §6.3): ``delete_keys_created_by``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account, Organization, User
from tokenforge.audit.services import record
from tokenforge.errors import Invalid, NotFound
from tokenforge.keys.models import DeployKey
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import Token

TITLE_MAX = 255
# A 16384-bit RSA key (OpenSSH's maximum) is about 2.8 KB of base64; anything much longer is
# not a public key line.
KEY_TEXT_MAX = 8192
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384

INVALID_KEY = "key is invalid. You must supply a key in OpenSSH public key format"
KEY_IN_USE = "key is already in use"


# -- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Curve:
    name: str  # the curve identifier inside the blob: "nistp256"
    p: int  # field prime
    b: int  # y² = x³ - 3x + b (mod p); a = -3 for all NIST prime curves
    size: int  # bytes per coordinate


# FIPS 186-4 / SEC 2 parameters. Checking the point is on the curve rejects blobs that decode
# fine but are not keys at all (a common result of pasting the wrong thing).
_CURVES = {
    "ecdsa-sha2-nistp256": _Curve(
        "nistp256",
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        32,
    ),
    "ecdsa-sha2-nistp384": _Curve(
        "nistp384",
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
        48,
    ),
    "ecdsa-sha2-nistp521": _Curve(
        "nistp521",
        2**521 - 1,
        0x0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00,
        66,
    ),
}
SUPPORTED_TYPES = frozenset({"ssh-ed25519", "ssh-rsa", *_CURVES})


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A validated OpenSSH public key."""

    type: str
    blob: bytes
    comment: str = ""

    @property
    def openssh(self) -> str:
        """The canonical line GitHub shows and an SSH server compares: no options, no comment."""
        return f"{self.type} {base64.b64encode(self.blob).decode()}"

    @property
    def fingerprint(self) -> str:
        """``SHA256:…`` exactly as ``ssh-keygen -l`` prints it (unpadded base64)."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _Malformed(Exception):
    """The blob does not follow RFC 4253's wire encoding."""


class _WeakRSA(_Malformed):
    """A well-formed RSA key whose modulus is outside the accepted sizes."""


class _Blob:
    """Reads RFC 4253 ``string`` and ``mpint`` fields, refusing to read past the end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def string(self) -> bytes:
        if len(self.data) - self.pos < 4:
            raise _Malformed("truncated length")
        length = int.from_bytes(self.data[self.pos : self.pos + 4], "big")
        start = self.pos + 4
        if length > len(self.data) - start:
            raise _Malformed("length past the end")
        self.pos = start + length
        return self.data[start : self.pos]

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    @property
    def exhausted(self) -> bool:
        return self.pos == len(self.data)


def parse_public_key(text: str) -> PublicKey:
    """Parse one OpenSSH public key line (``type base64 [comment]``); ``Invalid`` otherwise."""
    line = text.strip()
    if not line or len(line) > KEY_TEXT_MAX or "\n" in line or "\r" in line:
        raise Invalid(INVALID_KEY, field="key")
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[0] not in SUPPORTED_TYPES:
        # Also catches authorized_keys options ('command="…" ssh-ed25519 …'): a deploy key
        # must not smuggle restrictions or commands into the server's key handling.
        raise Invalid(INVALID_KEY, field="key")
    key_type, encoded = parts[0], parts[1]
    comment = parts[2] if len(parts) == 3 else ""
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(INVALID_KEY, field="key") from None
    try:
        _check_blob(key_type, blob)
    except _WeakRSA:
        raise Invalid(
            f"key is invalid. RSA keys must be between {MIN_RSA_BITS} and {MAX_RSA_BITS} bits", field="key"
        ) from None
    except _Malformed:
        raise Invalid(INVALID_KEY, field="key") from None
    return PublicKey(key_type, blob, comment)


def _check_blob(key_type: str, blob: bytes) -> None:
    reader = _Blob(blob)
    # The type inside the blob is what an SSH server believes; the word in front is only a
    # label. A mismatch means the line was edited or assembled from parts.
    if reader.string() != key_type.encode():
        raise _Malformed("embedded type differs")
    if key_type == "ssh-ed25519":
        if len(reader.string()) != 32:
            raise _Malformed("ed25519 keys are 32 bytes")
    elif key_type == "ssh-rsa":
        exponent, modulus = reader.mpint(), reader.mpint()
        if exponent < 3 or exponent % 2 == 0 or modulus <= 0 or modulus % 2 == 0:
            raise _Malformed("not an RSA public key")
        if not MIN_RSA_BITS <= modulus.bit_length() <= MAX_RSA_BITS:
            raise _WeakRSA(modulus.bit_length())
    else:
        curve = _CURVES[key_type]
        if reader.string() != curve.name.encode():
            raise _Malformed("curve differs from the key type")
        _check_point(curve, reader.string())
    if not reader.exhausted:
        raise _Malformed("trailing bytes")


def _check_point(curve: _Curve, point: bytes) -> None:
    # Only the uncompressed form (0x04 ‖ X ‖ Y) is valid in an SSH public key (RFC 5656 §3.1).
    if len(point) != 1 + 2 * curve.size or point[0] != 4:
        raise _Malformed("not an uncompressed point")
    x = int.from_bytes(point[1 : 1 + curve.size], "big")
    y = int.from_bytes(point[1 + curve.size :], "big")
    p = curve.p
    if x >= p or y >= p or (y * y - (x * x * x - 3 * x + curve.b)) % p != 0:
        raise _Malformed("point is not on the curve")


# -- services --------------------------------------------------------------------------------


def keys_query(repo: Repository) -> Select[DeployKey]:
    """The repository's deploy keys, oldest first (GitHub's order), for pagination."""
    return select(DeployKey).where(DeployKey.repo_id == repo.id).order_by(DeployKey.id)


def get_deploy_key(session: Session, repo: Repository, key_id: int) -> DeployKey:
    key = session.get(DeployKey, key_id)
    # Another repository's key is as unknown here as a missing one.
    if key is None or key.repo_id != repo.id:
        raise NotFound(f"No deploy key {key_id} on {repo.full_name}")
    return key


def _check_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise Invalid("title can't be blank", field="title")
    if len(title) > TITLE_MAX:
        raise Invalid(f"title is too long (maximum is {TITLE_MAX} characters)", field="title")
    # Control characters (NUL above all, which PostgreSQL text refuses) have no place in a label.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in title):
        raise Invalid("title contains control characters", field="title")
    return title


def _log_owner(repo: Repository) -> dict[str, Account]:
    # Whose security log shows a deploy-key change: the repository's owner (user or org).
    owner = repo.owner
    return {"org": owner} if isinstance(owner, Organization) else {"user": owner}


def add_deploy_key(
    session: Session,
    *,
    repo: Repository,
    title: str,
    key: str,
    read_only: bool,
    actor: User,
    token: Token | None,
    now: datetime,
    ip: str | None = None,
) -> DeployKey:
    """Add a deploy key and record the audit event. ``token``: the token that asked, if any."""
    title = _check_title(title)
    parsed = parse_public_key(key)
    fingerprint = parsed.fingerprint
    if session.scalar(select(DeployKey.id).where(DeployKey.fingerprint == fingerprint)) is not None:
        raise Invalid(KEY_IN_USE, field="key")
    row = DeployKey(
        repo_id=repo.id,
        title=title,
        key=parsed.openssh,
        fingerprint=fingerprint,
        read_only=read_only,
        added_by=actor.login,
        created_by_id=actor.id,
        token_id=token.id if token is not None else None,
        created_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        # The check above races with a concurrent addition of the same key; the unique index
        # decides, and the unit of work rolls the failed transaction back.
        raise Invalid(KEY_IN_USE, field="key") from exc
    record(
        session,
        "deploy_key.created",
        now=now,
        actor=actor,
        token=token,
        ip=ip,
        **_log_owner(repo),
        repository=repo.full_name,
        key_id=row.id,
        title=title,
        fingerprint=fingerprint,
        read_only=read_only,
    )
    return row


def remove_deploy_key(
    session: Session,
    *,
    repo: Repository,
    key: DeployKey,
    actor: Account | None,
    now: datetime,
    token: Token | None = None,
    ip: str | None = None,
) -> None:
    """Delete a deploy key (a person asked) and record the audit event."""
    _delete(session, repo, key, actor=actor, token=token, now=now, ip=ip, cause="removed")


def _delete(
    session: Session,
    repo: Repository,
    key: DeployKey,
    *,
    actor: Account | None,
    token: Token | None,
    now: datetime,
    cause: str,
    reason: str | None = None,
    ip: str | None = None,
) -> None:
    # ``cause``: a person removed the key ("removed") or its token went ("token_deleted",
    # with the token's ``reason``).
    record(
        session,
        "deploy_key.deleted",
        now=now,
        actor=actor,
        token=token,
        ip=ip,
        **_log_owner(repo),
        repository=repo.full_name,
        key_id=key.id,
        title=key.title,
        fingerprint=key.fingerprint,
        cause=cause,
        reason=reason,
    )
    session.delete(key)
    session.flush()


def delete_keys_created_by(
    session: Session, token: Token, *, now: datetime, reason: str, actor: Account | None = None
) -> Sequence[int]:
    """Delete every deploy key ``token`` created (spec §6.3), each with an audit event.

    For the token lifecycle: call it in the same unit of work that deletes or revokes the token,
    so the keys go exactly when the token does. ``reason`` says why the token went (e.g. its
    ``RevokedReason``) and is recorded on each event; ``actor`` is who acted (None: the system).
    Returns the deleted keys' ids.
    """
    keys = list(session.scalars(select(DeployKey).where(DeployKey.token_id == token.id).order_by(DeployKey.id)))
    deleted: list[int] = []
    for key in keys:
        repo = session.get(Repository, key.repo_id)
        assert repo is not None, "deploy key without a repository (the foreign key forbids it)"
        deleted.append(key.id)
        _delete(session, repo, key, actor=actor, token=token, now=now, cause="token_deleted", reason=reason)
    return deleted
