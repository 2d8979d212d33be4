"""The raw readers' connection pools: bounded whatever the threads (or the reads in flight on the
event loop), and broken connections dropped."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

import asyncpg
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tokenforge.db import Database
from tokenforge.rawdb import LoopReader, RawReader, as_utc


def _burst(reader: RawReader, threads: int, queries: int, peak: list[int]) -> None:
    """``threads`` new threads, each reading ``queries`` times; ``peak`` keeps the most connections seen."""

    def work() -> None:
        for _ in range(queries):
            assert reader.rows(reader.sql("SELECT generation FROM auth_state WHERE id = ?"), (1,)) == [(0,)]
            peak[0] = max(peak[0], reader.connections)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_connections_stay_bounded_as_threads_come_and_go(db: Database) -> None:
    # A thread pool retires idle threads and starts new ones: two bursts of 16 fresh threads each
    # must share the same few connections (one per thread leaked 32 of them).
    reader = RawReader(db.url, max_connections=3)
    try:
        peak = [0]
        _burst(reader, threads=16, queries=25, peak=peak)
        _burst(reader, threads=16, queries=25, peak=peak)
        assert 1 <= peak[0] <= 3
        assert reader.connections <= 3
        assert reader.queries == 2 * 16 * 25
    finally:
        reader.close()
    assert reader.connections == 0


def test_a_failed_query_drops_its_connection_and_the_next_one_works(db: Database) -> None:
    reader = RawReader(db.url, max_connections=1)
    try:
        reader.rows("SELECT 1", ())
        assert reader.connections == 1
        with pytest.raises((sqlite3.Error, psycopg.Error)):
            reader.rows("SELECT no_such_column FROM auth_state", ())
        # The connection that failed (on PostgreSQL, possibly broken) is closed, not reused; with a
        # pool of one, the next read would wait forever if the slot had not been given back.
        assert reader.connections == 0
        assert reader.rows(reader.sql("SELECT generation FROM auth_state WHERE id = ?"), (1,)) == [(0,)]
        assert reader.connections == 1
    finally:
        reader.close()


def test_loop_reader_numbers_placeholders_for_asyncpg() -> None:
    assert LoopReader.sql("SELECT a FROM t WHERE x IN (?, ?) AND y = ?") == (
        "SELECT a FROM t WHERE x IN ($1, $2) AND y = $3"
    )
    assert LoopReader.sql("SELECT 1") == "SELECT 1"


def test_loop_reader_serves_many_concurrent_reads_over_a_bounded_pool(postgres_url: str) -> None:
    # 40 reads in flight at once (as under load, where every cache miss awaits its read) share at
    # most the configured connections, and every read gets its own answer.
    reader = LoopReader(postgres_url, max_connections=3)
    peak = 0

    async def read(i: int) -> int:
        nonlocal peak
        rows = await reader.rows(reader.sql("SELECT ?::int + generation FROM auth_state WHERE id = ?"), (i, 1))
        peak = max(peak, reader.connections)
        return int(rows[0][0])

    async def burst() -> list[int]:
        try:
            return list(await asyncio.gather(*(read(i) for i in range(40))))
        finally:
            await reader.aclose()

    assert asyncio.run(burst()) == list(range(40))
    assert 1 <= peak <= 3
    assert reader.queries == 40
    assert reader.connections == 0  # closed


def test_loop_reader_drops_a_connection_that_failed_or_was_cancelled(postgres_url: str) -> None:
    reader = LoopReader(postgres_url, max_connections=1)

    async def scenario() -> None:
        try:
            await reader.rows("SELECT 1", ())
            assert reader.connections == 1
            with pytest.raises(asyncpg.PostgresError):
                await reader.rows("SELECT no_such_column FROM auth_state", ())
            assert reader.connections == 0
            # Cancelled mid-query (a client that went away): the connection's protocol state is
            # unknown, so it must not serve the next read; with a pool of one, a slot not given
            # back would make the next read wait forever (the wait_for turns that into a failure).
            slow = asyncio.ensure_future(reader.rows("SELECT pg_sleep(5)", ()))
            await asyncio.sleep(0.2)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert reader.connections == 0
            statement = reader.sql("SELECT generation FROM auth_state WHERE id = ?")
            rows = await asyncio.wait_for(reader.rows(statement, (1,)), 5)
            assert [tuple(r) for r in rows] == [(0,)]
        finally:
            await reader.aclose()

    asyncio.run(scenario())


def test_loop_reader_opens_new_connections_when_the_event_loop_changes(postgres_url: str) -> None:
    # asyncpg connections belong to their loop; a reader used from a second loop must not hand it
    # the first loop's connections (which would fail or hang there).
    reader = LoopReader(postgres_url, max_connections=2)

    async def read() -> int:
        rows = await reader.rows("SELECT pg_backend_pid()", ())
        return int(rows[0][0])

    async def first() -> int:
        return await read()  # left open: the next loop finds it

    async def second() -> int:
        try:
            return await read()
        finally:
            await reader.aclose()

    def backends() -> set[int]:
        engine = create_engine(postgres_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return set(connection.execute(text("SELECT pid FROM pg_stat_activity")).scalars())
        finally:
            engine.dispose()

    loop = asyncio.new_event_loop()
    try:
        backend = loop.run_until_complete(first())
        other = asyncio.new_event_loop()
        try:
            assert other.run_until_complete(second()) != backend
        finally:
            other.close()
        # The first loop's connection was aborted; the abort completes when that loop runs again.
        loop.run_until_complete(asyncio.sleep(0.05))
        assert backend not in backends()
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        # SQLite's text, as SQLAlchemy writes it: naive, meaning UTC.
        ("2027-02-19 14:26:24.246143", datetime(2027, 2, 19, 14, 26, 24, 246143, tzinfo=UTC)),
        ("2027-02-19 14:26:24", datetime(2027, 2, 19, 14, 26, 24, tzinfo=UTC)),
        # Text carrying its own offset keeps it (the same instant).
        ("2027-02-19 16:26:24+02:00", datetime(2027, 2, 19, 14, 26, 24, tzinfo=UTC)),
        ("2027-02-19T14:26:24Z", datetime(2027, 2, 19, 14, 26, 24, tzinfo=UTC)),
        # PostgreSQL's drivers hand over datetimes.
        (datetime(2027, 2, 19, 14, 26, 24, tzinfo=UTC), datetime(2027, 2, 19, 14, 26, 24, tzinfo=UTC)),
        (datetime(2027, 2, 19, 14, 26, 24), datetime(2027, 2, 19, 14, 26, 24, tzinfo=UTC)),
        (None, None),
    ],
)
def test_stored_timestamps_read_as_aware_utc(stored: object, expected: datetime | None) -> None:
    value = as_utc(stored)
    assert value == expected
    if value is not None:
        assert value.utcoffset() is not None
