"""Presented token string → verified token row, off the ORM.

The path every authenticated request takes, so it is written for cost (PERFORMANCE.md §6):

1. ``TokenFormat.identify``: shape and checksum in pure Python; garbage stops here, before
   any hashing or I/O.
2. One HMAC per configured pepper (one, unless a secret is being rotated).
3. One query on the unique ``digest`` index, through a raw DB-API connection kept per thread
   — no ORM session (~130 µs), no SQLAlchemy Core compilation (~3× raw).
4. Revoked or expired → None. The caller answers 401 "Bad credentials" and never falls back
   to anonymous.

``queries`` and ``digests`` count the work done, so tests can prove that rejected garbage
touched neither the database nor the hash.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.pool import NullPool

from tokenforge.credentials.digest import PepperRing
from tokenforge.credentials.format import TokenFormat, TokenKind
from tokenforge.db import is_sqlite, make_engine


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    id: int
    user_id: int
    kind: TokenKind
    expires_at: datetime | None


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite stores DATETIME as ISO text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# Only placeholders are ever formatted in (one per configured pepper), never a value.
_LOOKUP_SQL = "SELECT id, user_id, kind, expires_at, revoked_at FROM tokens WHERE digest IN ({})"


class TokenLookup:
    """Verifies presented tokens against the database. Safe to share between threads."""

    def __init__(self, url: str, token_format: TokenFormat, peppers: PepperRing) -> None:
        self.format = token_format
        self.peppers = peppers
        # Its own engine without a pool: each thread keeps one dedicated connection for its
        # lifetime instead of holding a slot of the application's pool.
        self._engine = make_engine(url, poolclass=NullPool)
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        marker = "?" if is_sqlite(url) else "%s"
        # Only placeholders are interpolated (one per configured pepper), never a value.
        self._sql = {n: _LOOKUP_SQL.format(", ".join([marker] * n)) for n in range(1, len(peppers.all()) + 1)}
        self.queries = 0
        self.digests = 0

    def _cursor(self) -> Any:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            fairy = self._engine.raw_connection()
            dbapi = fairy.dbapi_connection
            assert dbapi is not None
            if hasattr(dbapi, "autocommit") and not is_sqlite(str(self._engine.url)):
                # A read-only lookup must never leave PostgreSQL "idle in transaction".
                fairy.rollback()
                dbapi.autocommit = True
            with self._lock:
                self._opened.append(fairy)
            cursor = self._local.cursor = dbapi.cursor()
        return cursor

    def verify(self, presented: str, now: datetime) -> VerifiedToken | None:
        kind = self.format.identify(presented)
        if kind is None:
            return None
        candidates = self.peppers.candidates(presented)
        self.digests += len(candidates)
        cursor = self._cursor()
        cursor.execute(self._sql[len(candidates)], candidates)
        self.queries += 1
        # fetchall, not fetchone: it finishes the statement, so SQLite releases its read
        # snapshot and the next lookup sees newly committed revocations.
        rows = cursor.fetchall()
        if not rows:
            return None
        token_id, user_id, stored_kind, expires_at, revoked_at = rows[0]
        if revoked_at is not None or stored_kind != kind.value:
            return None
        expiry = _as_utc(expires_at)
        if expiry is not None and now >= expiry:
            return None
        return VerifiedToken(token_id, user_id, kind, expiry)

    def close(self) -> None:
        """Close every thread's connection (at shutdown; threads must not be mid-lookup)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for fairy in opened:
            fairy.close()
        self._local = threading.local()
        self._engine.dispose()
