"""Raw DB-API reads for the request hot path, off the ORM.

An ORM session per request costs ~130 µs and SQLAlchemy Core ~3× a raw driver call
(PERFORMANCE.md §3d); the whole cached decision costs ~1 µs. So the few queries on the
authentication path (a token by digest, a repository's access facts, the access generation) go
through this: one dedicated connection per thread (outside the application's pool), statements
written once per dialect, results as tuples.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.pool import NullPool

from tokenforge.db import is_sqlite, make_engine


class RawReader:
    def __init__(self, url: str) -> None:
        self.sqlite = is_sqlite(url)
        self._engine = make_engine(url, poolclass=NullPool)
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self.queries = 0

    def sql(self, statement: str) -> str:
        """Write statements with ``?`` placeholders; PostgreSQL's driver wants ``%s``."""
        return statement if self.sqlite else statement.replace("?", "%s")

    def _cursor(self) -> Any:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            fairy = self._engine.raw_connection()
            dbapi = fairy.dbapi_connection
            assert dbapi is not None
            if not self.sqlite:
                # Reads only: autocommit, so the connection never sits "idle in transaction"
                # (which would hold back vacuum and block migrations).
                fairy.rollback()
                dbapi.autocommit = True
            with self._lock:
                self._opened.append(fairy)
            cursor = self._local.cursor = dbapi.cursor()
        return cursor

    def rows(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        cursor = self._cursor()
        cursor.execute(statement, params)
        self.queries += 1
        # fetchall finishes the statement, so SQLite releases its read snapshot and the next
        # read sees newly committed revocations.
        return list(cursor.fetchall())

    def close(self) -> None:
        """Close every thread's connection (at shutdown; threads must not be mid-read)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for fairy in opened:
            fairy.close()
        self._local = threading.local()
        self._engine.dispose()


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
