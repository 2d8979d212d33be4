"""Minting and recognising personal access tokens.

Two shapes, both chosen so that existing secret scanners (gitleaks, trufflehog, GitHub's
redacting-logger, noseyparker) recognise a leaked Tokenforge token exactly as they would a
GitHub one (spec §1.5):

Classic (40 characters with the default prefix)::

    ghp_ RRRRRRRRRRRRRRRRRRRRRRRRRRRRRR CCCCCC
    │    └ 30 random base62 characters  └ base62(CRC-32(R)), left-padded with "0" to 6
    └ prefix, never covered by the checksum

  This is GitHub's own layout and checksum (spec §1.3), so GitHub's published vectors hold.

Fine-grained (93 characters with the default prefix)::

    github_pat_ 11RRRRRRRRRRRRRRRRRRRR _ RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR CCCCCC
    │           │ └ 20 random             └ 53 random base62                                      │
    │           └ layout tag "11"                                                                 │
    └ prefix                  checksum: base62(CRC-32(everything between prefix and C)) ─────────┘

  GitHub has not published how its fine-grained tokens are built, and its checksum (if any)
  is not CRC-32 (spec §1.4). Ours is documented here and is *not* GitHub's: the leading "11"
  is a layout tag (version 1 of this layout; GitHub's real tokens also start with "11", so
  heuristics keyed on it keep working), then 73 random base62 characters (~434 bits), then a
  CRC-32 over the 22-character block, the "_" and the 53 random characters, in the classic
  token's base62 encoding.

Rules that must never change, because tokens already issued depend on them:

* the alphabet and its order (``0-9A-Za-z``), the lengths, the positions of "_" and the
  checksum, and what the checksum covers;
* the prefix is excluded from the checksum, so an operator can change prefixes without
  invalidating the checksum arithmetic (old tokens keep their old prefix and still parse
  while that prefix is configured);
* the checksum is an integrity check for cheap offline rejection, **not** a MAC. Security
  comes from the 178+ random bits and the keyed digest (``digest.py``); anyone can compute
  a valid checksum, so passing it proves nothing except that the string is not a typo.

``identify`` rejects a string that fails shape or checksum before anything is hashed or
looked up, so floods of garbage cost microseconds and never reach the database.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass
from enum import StrEnum

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

CLASSIC_RANDOM_LENGTH = 30
CHECKSUM_LENGTH = 6
CLASSIC_BODY_LENGTH = CLASSIC_RANDOM_LENGTH + CHECKSUM_LENGTH  # 36

FINE_GRAINED_LAYOUT_TAG = "11"
FINE_GRAINED_HEAD_LENGTH = 22  # layout tag + 20 random
FINE_GRAINED_TAIL_LENGTH = 59  # 53 random + checksum
FINE_GRAINED_BODY_LENGTH = FINE_GRAINED_HEAD_LENGTH + 1 + FINE_GRAINED_TAIL_LENGTH  # 82

DEFAULT_CLASSIC_PREFIX = "ghp_"
DEFAULT_FINE_GRAINED_PREFIX = "github_pat_"

# Every value below 62**2 as its two-digit base62 string. Encoding a CRC-32 (< 62**6) is then
# three table lookups instead of six divmods and string concatenations: the pure-Python
# encoder was the dominant cost of the checksum screen (PERFORMANCE.md §4).
_PAIRS = tuple(a + b for a in BASE62 for b in BASE62)
_BYTE_PAIRS = tuple(pair.encode("ascii") for pair in _PAIRS)  # the same, for headers read as bytes
_PAIR_BASE = 62 * 62

# A prefix is letters and digits ending in "_", so that the whole token stays one
# [A-Za-z0-9_] word (scanners rely on \b boundaries) and a double-click selects all of it.
_PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}_")


class TokenKind(StrEnum):
    CLASSIC = "classic"
    FINE_GRAINED = "fine_grained"


def checksum(data: str) -> str:
    """Base62 CRC-32 of ``data``, six characters, most significant digit first."""
    n = zlib.crc32(data.encode("ascii"))
    high, low = divmod(n, _PAIR_BASE)
    top, mid = divmod(high, _PAIR_BASE)
    return _PAIRS[top] + _PAIRS[mid] + _PAIRS[low]


def checksum_matches(covered: bytes, check: bytes) -> bool:
    """``check`` is the base62 CRC-32 of ``covered`` (both ASCII bytes, as read off a header)."""
    high, low = divmod(zlib.crc32(covered), _PAIR_BASE)
    top, mid = divmod(high, _PAIR_BASE)
    return _BYTE_PAIRS[top] + _BYTE_PAIRS[mid] + _BYTE_PAIRS[low] == check


def _random_base62(length: int) -> str:
    # secrets.choice draws uniformly from the alphabet (no modulo bias).
    return "".join(secrets.choice(BASE62) for _ in range(length))


class InvalidPrefix(ValueError):
    """A configured token prefix that would break the token's shape."""


@dataclass(frozen=True, slots=True)
class TokenFormat:
    """The token shapes of one Tokenforge instance (prefixes are per-instance settings)."""

    classic_prefix: str = DEFAULT_CLASSIC_PREFIX
    fine_grained_prefix: str = DEFAULT_FINE_GRAINED_PREFIX

    def __post_init__(self) -> None:
        for prefix in (self.classic_prefix, self.fine_grained_prefix):
            if not _PREFIX_RE.fullmatch(prefix):
                raise InvalidPrefix(
                    f"token prefix {prefix!r} must be 2-17 letters, digits or '_', starting with a "
                    "letter and ending with '_'"
                )
        if self.classic_prefix == self.fine_grained_prefix:
            raise InvalidPrefix("the classic and fine-grained token prefixes must differ")

    def mint_classic(self) -> str:
        random_part = _random_base62(CLASSIC_RANDOM_LENGTH)
        return self.classic_prefix + random_part + checksum(random_part)

    def mint_fine_grained(self) -> str:
        head = FINE_GRAINED_LAYOUT_TAG + _random_base62(FINE_GRAINED_HEAD_LENGTH - len(FINE_GRAINED_LAYOUT_TAG))
        covered = head + "_" + _random_base62(FINE_GRAINED_TAIL_LENGTH - CHECKSUM_LENGTH)
        return self.fine_grained_prefix + covered + checksum(covered)

    def mint(self, kind: TokenKind) -> str:
        return self.mint_classic() if kind is TokenKind.CLASSIC else self.mint_fine_grained()

    def identify(self, token: str) -> TokenKind | None:
        """The kind of a well-formed token with a correct checksum, else None.

        This is the screen that runs before any hashing or I/O. It must stay cheap and
        total: any string (any length, any characters) gets an answer, never an exception.
        """
        # Written for cost: this runs on every authenticated request (PERFORMANCE.md S1 wants
        # the whole cached decision under 2 µs), so the checks are inlined rather than split into
        # helpers. The two shapes can never have the same length (prefixes are at most 17
        # characters), so the length alone says which one to check.
        prefix = self.classic_prefix
        size = len(prefix)
        if len(token) == size + CLASSIC_BODY_LENGTH:
            body = token[size:]
            # isascii() first: str.isalnum() alone would accept "é" or "٣".
            if token.startswith(prefix) and body.isascii() and body.isalnum():
                high, low = divmod(zlib.crc32(body[:CLASSIC_RANDOM_LENGTH].encode()), _PAIR_BASE)
                top, mid = divmod(high, _PAIR_BASE)
                if _PAIRS[top] + _PAIRS[mid] + _PAIRS[low] == body[CLASSIC_RANDOM_LENGTH:]:
                    return TokenKind.CLASSIC
            return None
        prefix = self.fine_grained_prefix
        size = len(prefix)
        if len(token) == size + FINE_GRAINED_BODY_LENGTH and token.startswith(prefix):
            body = token[size:]
            if body[FINE_GRAINED_HEAD_LENGTH] != "_" or not body.startswith(FINE_GRAINED_LAYOUT_TAG):
                return None
            letters = body[:FINE_GRAINED_HEAD_LENGTH] + body[FINE_GRAINED_HEAD_LENGTH + 1 :]
            if letters.isascii() and letters.isalnum():
                high, low = divmod(zlib.crc32(body[:-CHECKSUM_LENGTH].encode()), _PAIR_BASE)
                top, mid = divmod(high, _PAIR_BASE)
                if _PAIRS[top] + _PAIRS[mid] + _PAIRS[low] == body[-CHECKSUM_LENGTH:]:
                    return TokenKind.FINE_GRAINED
        return None

    def scanner_pattern(self) -> re.Pattern[str]:
        """A regex that finds this instance's tokens in text (for push protection and docs).

        With the default prefixes the gitleaks and trufflehog rules already match; with custom
        prefixes, this is the rule to give those scanners.
        """
        classic = re.escape(self.classic_prefix) + f"[0-9A-Za-z]{{{CLASSIC_BODY_LENGTH}}}"
        fine = re.escape(self.fine_grained_prefix) + (
            f"[0-9A-Za-z]{{{FINE_GRAINED_HEAD_LENGTH}}}_[0-9A-Za-z]{{{FINE_GRAINED_TAIL_LENGTH}}}"
        )
        return re.compile(rf"\b(?:{fine}|{classic})\b")

    def screen_pattern(self) -> bytes:
        """Either token shape as a bytes regex with three groups: the classic token's covered part,
        the fine-grained token's covered part (one of the two is None) and the checksum.

        ``identify`` written as one regex, for ``auth.header.HeaderReader``: it reads the common
        header (``token X`` / ``Bearer X``) in a single match straight off the bytes, then checks
        the groups with ``checksum_matches``. ``identify`` stays the reference the reader is
        tested against (tests/unit/auth/test_auth_header.py).
        """
        head = FINE_GRAINED_HEAD_LENGTH - len(FINE_GRAINED_LAYOUT_TAG)
        tail = FINE_GRAINED_TAIL_LENGTH - CHECKSUM_LENGTH
        return (
            f"(?:{re.escape(self.classic_prefix)}([0-9A-Za-z]{{{CLASSIC_RANDOM_LENGTH}}})"
            f"|{re.escape(self.fine_grained_prefix)}"
            f"({FINE_GRAINED_LAYOUT_TAG}[0-9A-Za-z]{{{head}}}_[0-9A-Za-z]{{{tail}}}))"
            f"([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
        ).encode("ascii")


def last_eight(token: str) -> str:
    """The part of a token that may be shown after creation (GitHub's ``token_last_eight``)."""
    return token[-8:]
