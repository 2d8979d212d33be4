"""What the database keeps instead of a token: a keyed digest under a rotatable pepper.

Why HMAC-SHA256 and not a password hash: a token carries 178 (classic) or 434 (fine-grained)
random bits, so a brute-force search of the digest is hopeless whatever its speed. A slow KDF
(PBKDF2, bcrypt, argon2) would buy nothing and cost milliseconds on *every* request — Gitea
pays ~6 ms per uncached check for exactly that (PERFORMANCE.md §2). Do not "upgrade" this to a
password hash; there is a test that fails if verification ever calls one.

Why keyed (a pepper) and not plain SHA-256: a stolen database alone then cannot be used to
confirm a guessed or leaked token, and digests cannot be precomputed without the server secret.

Why a pepper id: the secret can be rotated. The current pepper digests new tokens; every
previous pepper stays configured so tokens minted under it keep verifying. A lookup computes
one digest per configured pepper and asks the database for any of them in *one* indexed
query (``digest IN (…)``), so rotation never costs an extra round trip. Each row records the
id of its pepper, so the operator can tell when no row uses an old pepper any more and drop it.

Keys are derived from the operator's secret with HMAC and distinct labels, so the secret that
signs cookies is never used directly as the token pepper (domain separation), and the stored
pepper id reveals nothing about the key.

Comparing digests: lookups are equality on an index of keyed digests. An attacker who can time
the index cannot choose inputs whose digests share a prefix without the key, so the index walk
leaks nothing useful; where a digest is compared in Python, use ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

_KEY_LABEL = b"tokenforge/token-digest/v1"
_ID_LABEL = b"tokenforge/pepper-id/v1"

DIGEST_SIZE = hashlib.sha256().digest_size  # 32 bytes
_BLOCK = hashlib.sha256().block_size  # 64 bytes


@dataclass(frozen=True, slots=True)
class Pepper:
    """One server secret as used for token digests."""

    id: str = field(repr=True)
    key: bytes = field(repr=False)  # never printed in logs or tracebacks
    # HMAC's two keyed SHA-256 states, each after its one padded key block (RFC 2104):
    # HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). Copying a state and finishing it costs
    # 0.8 µs here, against 2.4 µs for hmac.digest, which looks the digest up in OpenSSL 3 on
    # every call — and every cache miss computes one (issue 8). Equality with hmac.digest is
    # tested (tests/unit/credentials/test_digest.py).
    _inner: Any = field(init=False, repr=False, compare=False)
    _outer: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        block = self.key.ljust(_BLOCK, b"\0")  # keys are 32 bytes: never longer than a block
        object.__setattr__(self, "_inner", hashlib.sha256(bytes(b ^ 0x36 for b in block)))
        object.__setattr__(self, "_outer", hashlib.sha256(bytes(b ^ 0x5C for b in block)))

    @classmethod
    def from_secret(cls, secret: str) -> Pepper:
        master = secret.encode("utf-8")
        key = hmac.digest(master, _KEY_LABEL, "sha256")
        pepper_id = hmac.digest(master, _ID_LABEL, "sha256")[:4].hex()
        return cls(id=pepper_id, key=key)

    def digest(self, token: str) -> bytes:
        # UTF-8, not ASCII: total on any string, and identical to ASCII for every real token.
        inner = self._inner.copy()
        inner.update(token.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class PepperRing:
    """The current pepper and the older ones that must still verify."""

    current: Pepper
    previous: tuple[Pepper, ...] = ()

    @classmethod
    def from_secrets(cls, current: str, previous: tuple[str, ...] = ()) -> PepperRing:
        ring = cls(Pepper.from_secret(current), tuple(Pepper.from_secret(s) for s in previous))
        ids = [p.id for p in ring.all()]
        if len(set(ids)) != len(ids):
            raise ValueError("the same secret is configured twice (current and previous)")
        return ring

    def all(self) -> tuple[Pepper, ...]:
        return (self.current, *self.previous)

    def digest(self, token: str) -> bytes:
        """The digest stored for a newly minted token."""
        return self.current.digest(token)

    def candidates(self, token: str) -> tuple[bytes, ...]:
        """Every digest the token may be stored under, current pepper first."""
        if not self.previous:
            return (self.current.digest(token),)
        return tuple(p.digest(token) for p in self.all())

    def pepper_id_for(self, token: str, stored: bytes) -> str | None:
        """The id of the pepper under which ``token`` digests to ``stored`` (constant-time)."""
        found = None
        for pepper in self.all():
            if hmac.compare_digest(pepper.digest(token), stored):
                found = pepper.id
        return found
