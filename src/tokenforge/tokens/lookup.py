"""Presented token string → verified token (and the principal a decision needs), off the ORM.

The path every authenticated request takes on a cache miss, written for cost (PERFORMANCE.md §6):

1. ``TokenFormat.identify``: shape and checksum in pure Python; garbage stops here, before
   any hashing or I/O. (Requests reach ``principal_of`` with this done by the header reader.)
2. One HMAC per configured pepper (one, unless a secret is being rotated).
3. One query on a unique ``digest`` index — for ``principal``, the token's row in
   ``token_principals``: the token with its user's login, its fine-grained grant, the grant's
   resource owner and its selected repositories, kept by database triggers (migration 0008,
   ``tokens/principals.py``). A cache miss costs one primary-key read, no join, no ORM session.
4. Revoked or expired → None. The caller answers 401 "Bad credentials" and never falls back
   to anonymous.

``queries`` and ``digests`` count the work done, so tests can prove that rejected garbage
touched neither the database nor the hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from orjson import loads

from tokenforge.authz.subjects import (
    Approval,
    ClassicToken,
    FineGrainedToken,
    RepositorySelection,
    TokenPrincipal,
)
from tokenforge.credentials import scopes as scope_catalog
from tokenforge.credentials.digest import PepperRing
from tokenforge.credentials.format import TokenFormat, TokenKind
from tokenforge.credentials.permissions import Level
from tokenforge.rawdb import LoopReader, RawReader, Statement, as_json, as_utc


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    id: int
    user_id: int
    kind: TokenKind
    expires_at: datetime | None


# Stored value → member, by dict: calling an Enum class costs ~1 µs each on every cache miss.
_SELECTIONS = {member.value: member for member in RepositorySelection}
_APPROVALS = {member.value: member for member in Approval}
_LEVELS = {level.label: level for level in Level}  # as stored; Level.parse for anything else

# Stored permissions text → the read-only mapping decoded from it, shared by every principal whose
# grant stores that text: tokens hold a handful of distinct permission sets, and decoding one (a
# JSON parse and a Level per entry) was 2 µs of every cache miss. Read-only because it is shared;
# bounded (cleared when full) because the texts come from user input.
_PERMISSION_SETS: dict[str, Mapping[str, Level]] = {}
_MAX_PERMISSION_SETS = 1024

# Only placeholders are ever formatted in (one per configured pepper), never a value.
_VERIFY_SQL = "SELECT id, user_id, kind, expires_at, revoked_at FROM tokens WHERE digest IN ({})"
# The JSON array's order is ``_decode``'s; the triggers that write it are in migration 0008.
# Read as one text column: a 15-column row cost SQLite ~2 µs more to hand over than a JSON
# array costs orjson to parse (0.6 µs).
_PRINCIPAL_SQL = "SELECT principal FROM token_principals WHERE digest IN ({marks})"


class TokenLookup:
    """Verifies presented tokens against the database. Safe to share between threads."""

    def __init__(
        self,
        url: str,
        token_format: TokenFormat,
        peppers: PepperRing,
        *,
        base_url: str = "",
        loop: LoopReader | None = None,
    ) -> None:
        """``loop``: the process's loop reader (PostgreSQL), for ``principal_of_on_loop``."""
        self.format = token_format
        self.peppers = peppers
        self.base_url = base_url
        self._db = RawReader(url)
        sizes = range(1, len(peppers.all()) + 1)
        self._verify = {n: self._db.sql(_VERIFY_SQL.format(", ".join(["?"] * n))) for n in sizes}
        principal_sql = {n: _PRINCIPAL_SQL.format(marks=", ".join(["?"] * n)) for n in sizes}
        self._principal = {n: Statement(self._db, loop, statement) for n, statement in principal_sql.items()}
        self.digests = 0

    @property
    def queries(self) -> int:
        return self._db.queries + sum(statement.loop_queries for statement in self._principal.values())

    def verify(self, presented: str, now: datetime) -> VerifiedToken | None:
        kind = self.format.identify(presented)
        if kind is None:
            return None
        candidates = self._candidates(presented)
        rows = self._db.rows(self._verify[len(candidates)], candidates)
        if not rows:
            return None
        token_id, user_id, stored_kind, expires_at, revoked_at = rows[0]
        if revoked_at is not None or stored_kind != kind.value:
            return None
        expiry = as_utc(expires_at)
        if expiry is not None and now >= expiry:
            return None
        return VerifiedToken(token_id, user_id, kind, expiry)

    def principal(self, presented: str, now: datetime) -> TokenPrincipal | None:
        """The live token's principal, from one query; None for anything that is not one."""
        kind = self.format.identify(presented)
        return None if kind is None else self.principal_of(kind, presented, now)

    def principal_of(self, kind: TokenKind, secret: str, now: datetime) -> TokenPrincipal | None:
        """``principal`` for a secret already screened: ``kind`` is what ``TokenFormat.identify``
        (or the authenticator's header reader, which is tested equal to it) returned for it."""
        candidates = self._candidates(secret)
        rows = self._principal[len(candidates)].rows(candidates)
        return self._decode(loads(rows[0][0]), kind, now) if rows else None

    async def principal_of_on_loop(self, kind: TokenKind, secret: str, now: datetime) -> TokenPrincipal | None:
        """``principal_of``, awaited: on PostgreSQL the event loop serves others during the round trip."""
        candidates = self._candidates(secret)
        rows = await self._principal[len(candidates)].rows_on_loop(candidates)
        return self._decode(loads(rows[0][0]), kind, now) if rows else None

    def _candidates(self, secret: str) -> tuple[bytes, ...]:
        candidates = self.peppers.candidates(secret)
        self.digests += len(candidates)
        return candidates

    def _decode(self, row: list[Any], kind: TokenKind, now: datetime) -> TokenPrincipal | None:
        """``row``: a ``token_principals.principal`` array, parsed."""
        (
            token_id,
            user_id,
            stored_kind,
            expires_at,
            revoked_at,
            created_at,
            regenerated_at,
            scopes,
            login,
            owner_id,
            owner_login,
            selection,
            permissions,
            approval,
            repo_ids,
        ) = row
        if revoked_at is not None or stored_kind != kind.value:
            return None
        expiry = as_utc(expires_at)
        if expiry is not None and now >= expiry:
            return None
        start = as_utc(regenerated_at or created_at)  # one parse, not two: ~1 µs each on SQLite
        lifetime = None if expiry is None or start is None else expiry - start
        if kind is TokenKind.CLASSIC:
            names = tuple(s for s in (scopes or "").split(",") if s)
            # Positional, here and below: keyword arguments double the cost of building a frozen
            # dataclass (2.6 against 5.5 µs for this one, measured), paid on every cache miss.
            # The order is the dataclass's field order (``_Token``'s fields first).
            return ClassicToken(
                user_id,
                login,
                token_id,
                lifetime,
                expiry,
                f"{self.base_url}/settings/tokens/{token_id}",
                names,
                scope_catalog.expand(names),
            )
        if owner_id is None:  # the schema forbids a fine-grained token without a grant
            return None
        return FineGrainedToken(
            user_id,
            login,
            token_id,
            lifetime,
            expiry,
            f"{self.base_url}/settings/personal-access-tokens/{token_id}",
            owner_id,
            owner_login,
            _SELECTIONS[selection],
            frozenset(map(int, repo_ids.split(","))) if repo_ids else frozenset(),
            _permissions(permissions),
            _APPROVALS[approval],
        )

    def close(self) -> None:
        self._db.close()


def _permissions(stored: str) -> Mapping[str, Level]:
    """A grant's stored permissions, as the JSON text the projection carries them in."""
    known = _PERMISSION_SETS.get(stored)
    if known is None:
        known = MappingProxyType(
            {key: _LEVELS.get(level) or Level.parse(level) for key, level in as_json(stored).items()}
        )
        if len(_PERMISSION_SETS) >= _MAX_PERMISSION_SETS:
            _PERMISSION_SETS.clear()
        _PERMISSION_SETS[stored] = known
    return known
