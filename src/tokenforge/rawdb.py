"""Raw DB-API reads for the request hot path, off the ORM.

An ORM session per request costs ~130 µs and SQLAlchemy Core ~3× a raw driver call
(PERFORMANCE.md §3d); the whole cached decision costs ~1 µs. So the few queries on the
authentication path (a token by digest, a repository's access facts, the access generation) go
through this: a small pool of dedicated connections (outside the application's pool), statements
written once per dialect, results as tuples.

Why a pool and not a connection per thread: the routes that read through this run in AnyIO's
thread pool, which retires a worker thread after 10 s idle and starts a new one under the next
burst. A connection per thread was never closed when its thread went: over a 5-minute load the
process leaked connections — on PostgreSQL until ``max_connections`` refused every new one and
requests failed, on SQLite as file handles and page caches (found by bench/http_auth.py's memory
run, docs/benchmarks.md). Here connections are checked out per query, LIFO (the most recently
used one first, so one busy thread keeps one connection and its prepared statements), and there
are never more than ``max_connections`` of them.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.pool import NullPool

from tokenforge.db import is_sqlite, make_engine

# Per reader: the loop-side readers use one; the thread-side ones a few. Five readers of four on
# PostgreSQL stay well inside its default max_connections (100) with two workers per host.
MAX_CONNECTIONS = 4


class RawReader:
    def __init__(self, url: str, *, max_connections: int = MAX_CONNECTIONS) -> None:
        self.sqlite = is_sqlite(url)
        self._engine = make_engine(url, poolclass=NullPool)
        self._max = max_connections
        self._idle: list[tuple[Any, Any]] = []  # (SQLAlchemy connection fairy, DB-API cursor)
        self._count = 0  # connections open, idle or checked out
        self._changed = threading.Condition()
        self._closed = False
        self.queries = 0

    @property
    def connections(self) -> int:
        """Connections open now (at most ``max_connections``)."""
        return self._count

    def sql(self, statement: str) -> str:
        """Write statements with ``?`` placeholders; PostgreSQL's driver wants ``%s``."""
        return statement if self.sqlite else statement.replace("?", "%s")

    def rows(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        held = self._checkout()
        try:
            cursor = held[1]
            cursor.execute(statement, params)
            # fetchall finishes the statement, so SQLite releases its read snapshot and the next
            # read sees newly committed revocations.
            rows = list(cursor.fetchall())
        except BaseException:
            # The connection may be broken (a restarted server, a network cut): never reused.
            self._discard(held)
            raise
        with self._changed:
            self.queries += 1
            if self._closed:
                self._close_one(held)
                self._count -= 1
            else:
                self._idle.append(held)
            self._changed.notify()
        return rows

    def _checkout(self) -> tuple[Any, Any]:
        with self._changed:
            while not self._idle and self._count >= self._max:
                self._changed.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1  # reserved before connecting, so the bound holds while we connect
        try:
            return self._connect()
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise

    def _connect(self) -> tuple[Any, Any]:
        fairy = self._engine.raw_connection()
        dbapi = fairy.dbapi_connection
        assert dbapi is not None
        if not self.sqlite:
            # Reads only: autocommit, so the connection never sits "idle in transaction"
            # (which would hold back vacuum and block migrations).
            fairy.rollback()
            dbapi.autocommit = True
        return fairy, dbapi.cursor()

    def _discard(self, held: tuple[Any, Any]) -> None:
        self._close_one(held)
        with self._changed:
            self._count -= 1
            self._changed.notify()

    @staticmethod
    def _close_one(held: tuple[Any, Any]) -> None:
        with contextlib.suppress(Exception):
            held[0].close()

    def close(self) -> None:
        """Close every idle connection now, and each checked-out one as it comes back (at shutdown)."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for held in idle:
            self._close_one(held)
        self._engine.dispose()


class RawQuery:
    """One statement read through a reader of its own: the base of the documents the hottest
    routes serve without an ORM session (``accounts.reads``, ``repos.reads``)."""

    def __init__(self, url: str, statement: str) -> None:
        self._db = RawReader(url)
        self._sql = self._db.sql(statement)

    @property
    def queries(self) -> int:
        return self._db.queries

    def first(self, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = self._db.rows(self._sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        self._db.close()


def as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite stores DATETIME as ISO text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def as_json(value: Any) -> Any:
    """JSON columns: text on SQLite, already decoded on PostgreSQL."""
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value
