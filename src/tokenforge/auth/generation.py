"""Invalidating cached authentication and authorization, in this process and in every other.

Verification results are cached (PERFORMANCE.md: a decision from a cache costs ~1 µs, from the
database ~8 µs on SQLite and ~60 µs on PostgreSQL). The cache is correct only if every change to
state that a cached entry embeds empties it before the next request: a token revoked,
regenerated or edited, an approval granted or withdrawn, a membership or role changed, a policy
changed. Note "granted": a cached principal that still says *pending* would keep refusing what
an owner just approved. Only brand-new rows (a new token, a new repository) need nothing — no
cache entry can describe them yet.

How: the service making such a change calls ``access_changed(session)``, which increments
``auth_state.generation`` in the same transaction. Every cached entry remembers the generation it
was loaded under and is discarded when the generation moves.

* This process: the unit of work calls ``Database.access_listeners`` right after the commit, and
  the listener re-reads the generation, so the next request here already misses.
* Other processes: each re-reads the generation at most every ``poll_interval`` (default 0.5 s)
  — one indexed single-row read per interval, not per request — so another worker answers with
  the new state within that interval (issue 8's target is 1 s). On PostgreSQL a NOTIFY could
  push it sooner; the poll is the backstop that makes correctness independent of it.

Bumping a single global counter over-invalidates (one revocation empties every entry), which is
the right trade: access-reducing changes are rare, and a refill costs one query per token.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import BigInteger, CheckConstraint, Integer, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from tokenforge.db import ACCESS_CHANGED, Base
from tokenforge.rawdb import RawReader


class AuthState(Base):
    """A single row: the generation of access-relevant data."""

    __tablename__ = "auth_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


def access_changed(session: Session) -> None:
    """Record, inside the caller's transaction, that access-relevant state changed."""
    session.execute(update(AuthState).where(AuthState.id == 1).values(generation=AuthState.generation + 1))
    session.info[ACCESS_CHANGED] = True


class Generation:
    """This process's view of ``auth_state.generation``; safe to share between threads."""

    def __init__(self, url: str, *, poll_interval: float = 0.5) -> None:
        self._db = RawReader(url)
        self._sql = "SELECT generation FROM auth_state WHERE id = 1"
        self._poll = poll_interval
        self._lock = threading.Lock()
        self._value = -1
        self._checked = float("-inf")

    @property
    def reads(self) -> int:
        return self._db.queries

    def _read(self) -> int:
        rows = self._db.rows(self._sql, ())
        return int(rows[0][0]) if rows else 0

    def current(self) -> int:
        now = time.monotonic()
        if now - self._checked < self._poll:
            return self._value
        with self._lock:
            if now - self._checked >= self._poll:
                self._value = self._read()
                self._checked = time.monotonic()
            return self._value

    def refresh(self) -> None:
        """Re-read now (this process just committed an access-relevant change)."""
        with self._lock:
            self._value = self._read()
            self._checked = time.monotonic()

    def close(self) -> None:
        self._db.close()
