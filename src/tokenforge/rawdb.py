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

import asyncio
import contextlib
import re
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import make_url
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
        # A plain Lock under the Condition: ``with`` on the Lock itself runs no Python code, where
        # the Condition's __enter__/__exit__ are Python methods (two per read, ~1 µs of a ~10 µs
        # SQLite read). Waiting and notifying go through the Condition, on the same lock.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiting = 0  # threads waiting for a connection: only then is a check-in notified
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
        with self._lock:
            held = self._idle.pop() if self._idle else None
        if held is None:
            held = self._checkout()
        try:
            cursor = held[1]
            cursor.execute(statement, params)
            # fetchall finishes the statement, so SQLite releases its read snapshot and the next
            # read sees newly committed revocations.
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        except BaseException:
            # The connection may be broken (a restarted server, a network cut): never reused.
            self._discard(held)
            raise
        with self._lock:
            self.queries += 1
            if self._closed:
                self._close_one(held)
                self._count -= 1
            else:
                self._idle.append(held)
            if self._waiting:  # Condition.notify is Python code: not paid on every read
                self._changed.notify()
        return rows

    def _checkout(self) -> tuple[Any, Any]:
        with self._changed:
            while not self._idle and self._count >= self._max:
                self._waiting += 1
                try:
                    self._changed.wait()
                finally:
                    self._waiting -= 1
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


class LoopReader:
    """Raw reads awaited on the event loop, for PostgreSQL (asyncpg).

    Why: the authentication middleware runs on the event loop. A synchronous PostgreSQL read there
    stops the loop for the whole round trip — ~100 µs of VM wake-up latency across two vCPUs,
    against ~40 µs of the driver's own CPU — and nothing else is served meanwhile (15–20 % of a
    cold-cache load's samples sat in psycopg's ``Connection.wait``; docs/benchmarks.md). Awaited,
    the loop serves other requests during the round trip. asyncpg rather than psycopg's
    ``AsyncConnection``: half the CPU per query here (39 vs 83 µs, prepared, eight in flight).
    SQLite has no round trip to overlap (a read is ~15 µs of CPU), so it keeps ``RawReader``.

    Like ``RawReader``: a bounded LIFO pool (a few connections serve many concurrent requests,
    since each holds one only for its query), a connection that failed or was cancelled mid-query
    is closed rather than reused, and statements are prepared once per connection (asyncpg's
    statement cache). asyncpg connections belong to the loop that opened them: ``aclose()`` them
    on that loop before it ends (the application's lifespan does). Should the running loop change
    anyway, the old loop's connections are dropped as well as a dead loop allows and new ones
    opened, so reads stay correct.
    """

    def __init__(self, url: str, *, max_connections: int = MAX_CONNECTIONS) -> None:
        parsed = make_url(url)
        self._dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max = max_connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoch = 0  # bumped when the loop changes: connections of an older epoch are dropped
        self._idle: list[Any] = []  # asyncpg connections of this epoch
        self._count = 0  # this epoch's connections, idle or checked out
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self.queries = 0

    @property
    def connections(self) -> int:
        return self._count

    @staticmethod
    def sql(statement: str) -> str:
        """``?`` placeholders → asyncpg's ``$1, $2, …`` (statements here never contain a literal ``?``)."""
        numbers = iter(range(1, statement.count("?") + 1))
        return re.sub(r"\?", lambda _: f"${next(numbers)}", statement)

    async def rows(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        """Records, which unpack and index like tuples."""
        connection, epoch = await self._checkout()
        try:
            records: list[Any] = await connection.fetch(statement, *params)
        except BaseException:
            # Failed, or cancelled mid-query (the client left): the connection's protocol state is
            # unknown, so it is closed and its slot given back.
            connection.terminate()
            self._release_slot(epoch)
            raise
        self.queries += 1
        self._checkin(connection, epoch)
        return records

    async def _checkout(self) -> tuple[Any, int]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self.terminate()  # the old loop's connections cannot serve this one
            self._loop = loop
        epoch = self._epoch
        if self._idle:
            return self._idle.pop(), epoch
        while self._count >= self._max:
            waiter: asyncio.Future[Any] = loop.create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                    self._checkin(waiter.result(), epoch)  # handed over just as we were cancelled
                raise
            if handed is not None:
                return handed, epoch
            # None: a slot was freed (a connection closed); loop to claim it.
        self._count += 1  # reserved before connecting, so the bound holds while we connect
        try:
            return await asyncpg.connect(self._dsn), epoch
        except BaseException:
            self._release_slot(epoch)
            raise

    def _checkin(self, connection: Any, epoch: int) -> None:
        if epoch != self._epoch:
            connection.terminate()  # from a loop that is gone
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)  # straight to the longest waiter: no wake-up race
                return
        self._idle.append(connection)

    def _release_slot(self, epoch: int) -> None:
        if epoch != self._epoch:
            return
        self._count -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def terminate(self) -> None:
        """Drop every connection now, without a loop to await on (at shutdown, or a new loop)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                connection.terminate()
        self._epoch += 1
        self._count = 0
        self._waiters.clear()
        self._loop = None

    async def aclose(self) -> None:
        """Close the idle connections politely, on their loop (the application's shutdown)."""
        if self._loop is asyncio.get_running_loop():
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            for connection in idle:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)
        self.terminate()


class Statement:
    """One statement, read either way: ``rows`` synchronously (from any thread), ``rows_on_loop``
    awaited on the event loop — through the process's ``LoopReader`` on PostgreSQL, inline on
    SQLite (a read there is ~15 µs of CPU with nothing to wait for: cheaper than a thread hop).
    Synchronous reads are counted by their ``RawReader``, awaited ones here (``loop_queries``)."""

    def __init__(self, reader: RawReader, loop: LoopReader | None, statement: str) -> None:
        self._reader = reader
        self._loop = loop
        self._sql = reader.sql(statement)
        self._loop_sql = LoopReader.sql(statement)
        self.loop_queries = 0  # only ever changed on the loop's thread

    def rows(self, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._reader.rows(self._sql, params)

    async def rows_on_loop(self, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._loop is None:
            return self.rows(params)
        records = await self._loop.rows(self._loop_sql, params)
        self.loop_queries += 1
        return [tuple(record) for record in records]


class RawQuery:
    """One statement read through a reader of its own (and, on PostgreSQL, the process's loop
    reader): the base of the documents the hottest routes serve without an ORM session
    (``accounts.reads``, ``repos.reads``)."""

    def __init__(self, url: str, statement: str, loop: LoopReader | None = None) -> None:
        self._db = RawReader(url)
        self._statement = Statement(self._db, loop, statement)

    @property
    def queries(self) -> int:
        return self._db.queries + self._statement.loop_queries

    def first(self, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = self._statement.rows(params)
        return rows[0] if rows else None

    async def first_on_loop(self, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = await self._statement.rows_on_loop(params)
        return rows[0] if rows else None

    def close(self) -> None:
        self._db.close()


def as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite stores DATETIME as ISO text, naive, in UTC
        try:
            # The offset appended lets the C parser attach UTC itself: a third of the cost of
            # parsing and then .replace(tzinfo=UTC), which runs twice on every token cache miss.
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            value = datetime.fromisoformat(value)  # text that carries its own offset
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def as_json(value: Any) -> Any:
    """JSON columns: text on SQLite, already decoded on PostgreSQL."""
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value
