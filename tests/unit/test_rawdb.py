"""The raw readers' connection pool: bounded whatever the threads, and broken connections dropped."""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest

from tokenforge.db import Database
from tokenforge.rawdb import RawReader


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
