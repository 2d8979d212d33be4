"""Account passwords: argon2id (argon2-cffi's defaults, RFC 9106's second recommendation).

Only for people signing in to the web UI. Tokens are never hashed with this: see
credentials/digest.py for why a slow hash would be wrong there.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tokenforge.errors import Invalid

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 would accept more; an unbounded input is a denial-of-service lever

_hasher = PasswordHasher()


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise Invalid(f"Password is too short (minimum is {MIN_LENGTH} characters)", field="password")
    if len(password) > MAX_LENGTH:
        raise Invalid(f"Password is too long (maximum is {MAX_LENGTH} characters)", field="password")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if stored is None or len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
