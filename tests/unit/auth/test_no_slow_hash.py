"""Guard (PERFORMANCE.md S10): verifying a token never calls a slow password hash.

Tokens carry 178+ random bits; a KDF would add milliseconds per request and no security (every
project in PERFORMANCE.md §2 that used one for API tokens paid 1-500 ms per check). This test turns
each slow hash into a trap and drives the whole verification path — header, screen, digest,
database, cache — for both token kinds.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import argon2
import argon2.low_level
import pytest

import factories
from tokenforge.app import build_services
from tokenforge.auth.header import ALL_SCHEMES
from tokenforge.config import Settings
from tokenforge.db import Database


def _trap(name: str):  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"token verification called the slow hash {name}")

    return refuse


def test_verification_never_calls_a_slow_hash(
    settings: Settings, db: Database, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now, password="a long passphrase")  # argon2 here is fine: a password
        repo = factories.repo(s, settings, alice, "r", now, private=True)
        secrets = [
            factories.classic(s, settings, alice, now, "repo").secret,
            factories.fine_grained(
                s, settings, alice, now, repositories=[repo], permissions={"contents": "read"}
            ).secret,
        ]
    services = build_services(settings)
    try:
        for name, target, attr in [
            ("PBKDF2", hashlib, "pbkdf2_hmac"),
            ("scrypt", hashlib, "scrypt"),
            ("argon2", argon2.PasswordHasher, "verify"),
            ("argon2", argon2.PasswordHasher, "hash"),
            ("argon2", argon2.low_level, "hash_secret"),
            ("argon2", argon2.low_level, "verify_secret"),
        ]:
            monkeypatch.setattr(target, attr, _trap(name))
        try:
            import bcrypt

            monkeypatch.setattr(bcrypt, "checkpw", _trap("bcrypt"))
            monkeypatch.setattr(bcrypt, "hashpw", _trap("bcrypt"))
        except ImportError:
            pass  # not installed: nothing can call it
        for secret in secrets:
            for _ in range(2):  # a miss (database), then a hit (cache)
                result = services.authenticator.authenticate(f"token {secret}", ip=None, schemes=ALL_SCHEMES)
                assert not result.failed
            assert services.lookup.verify(secret, now) is not None
        assert services.authenticator.authenticate("token ghp_wrong", ip=None, schemes=ALL_SCHEMES).failed
    finally:
        services.close()
