"""Parsing the ``Authorization`` header (spec §4.1, §7.1). Pure.

Accepted: ``token X`` and ``Bearer X`` (scheme case-insensitive, as PyGithub and gh send them) and
``Basic base64(user:X)`` with the token as the password. Git accepts Basic only; the caller says
which schemes a surface allows.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import NamedTuple

MAX_HEADER = 4096  # far above any real token; bounds the work done on hostile input


class Scheme(StrEnum):
    TOKEN = "token"  # noqa: S105 (the scheme word, not a secret)
    BEARER = "bearer"
    BASIC = "basic"


ALL_SCHEMES = frozenset(Scheme)
BASIC_ONLY = frozenset({Scheme.BASIC})


class Presented(NamedTuple):
    # A NamedTuple, immutable like a frozen dataclass at a third of its construction cost: one is
    # built for every authenticated request.
    scheme: Scheme
    secret: str = ""
    username: str = ""  # Basic only; never used to authenticate (any non-empty name is accepted)

    def __repr__(self) -> str:  # never print the secret
        return f"Presented(scheme={self.scheme.value!r}, username={self.username!r})"


class MalformedAuthorization(ValueError):
    """Credentials were sent but cannot be read: answered like bad credentials (401)."""


_SCHEMES = {scheme.value: scheme for scheme in Scheme}


def parse(value: str) -> Presented:
    if len(value) > MAX_HEADER:
        raise MalformedAuthorization("Authorization header too long")
    scheme_text, _, rest = value.strip().partition(" ")
    # A dict probe, not Scheme(...): enum construction costs more than the rest of the parse.
    scheme = _SCHEMES.get(scheme_text.lower())
    if scheme is None:
        raise MalformedAuthorization(f"unsupported authorization scheme {scheme_text[:20]!r}")
    rest = rest.strip()
    if scheme is not Scheme.BASIC:
        if not rest or " " in rest:
            raise MalformedAuthorization("expected exactly one credential after the scheme")
        return Presented(scheme, rest)
    try:
        decoded = base64.b64decode(rest, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MalformedAuthorization("Basic credentials are not valid base64 of UTF-8 text") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise MalformedAuthorization("Basic credentials must be user:password")
    return Presented(scheme, password, username)
