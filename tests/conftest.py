"""Shared fixtures: a fresh database per test, on SQLite always and on PostgreSQL when it answers.

Tests that take ``database_url`` (directly or through ``settings``/``db``/``session``) run once
per database. SQLite: a copy of a template migrated once per session. PostgreSQL: one database
per test worker, migrated once, truncated before each test. When PostgreSQL does not answer,
those test instances are reported as skipped with the reason — never silently dropped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from live import LiveServer
from tokenforge.config import Settings
from tokenforge.db import Base, Database
from tokenforge.tokens.principals import drift

PG_ADMIN_URL = os.environ.get("TOKENFORGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECRET = "test-secret-key-0123456789abcdef"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _postgres_unavailable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        first = (str(getattr(exc, "orig", exc)).strip().splitlines() or ["no answer"])[0]
        return f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string()} is not available: {first}"
    return None


@pytest.fixture(scope="session")
def postgres_skip_reason() -> str | None:
    return _postgres_unavailable()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tokenforge.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(postgres_skip_reason: str | None, worker_id: str) -> Iterator[str]:
    # worker_id comes from pytest-xdist: one database per test worker.
    if postgres_skip_reason:
        pytest.skip(postgres_skip_reason)
    name = f"tokenforge_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    db.migrate()
    db.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate(url: str) -> None:
    engine = create_engine(url)
    # auth_state is a single row written by a migration: reset it rather than delete it.
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name != "auth_state")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("UPDATE auth_state SET generation = 0"))
    engine.dispose()


def _projection_drift(url: str) -> list[int]:
    """Tokens whose ``token_principals`` row disagrees with its source tables (tokens/principals.py)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("token_principals"):
                return []  # a test left the schema downgraded; test_principals checks the triggers at head
            return drift(conn)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "tokenforge.db"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        _truncate(url)
    yield url
    # Whatever the test wrote, through whichever path, the projection that authentication reads
    # must still equal the join it replaces: a stale row would be access that was taken away.
    drifted = _projection_drift(url)
    assert not drifted, f"token_principals disagrees with its source tables for tokens {drifted}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The in-server maintenance schedule is off: tests run jobs.maintenance.run themselves, with
    # controlled time, instead of racing a background task.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://tokenforge.test",
        maintenance_interval_seconds=0,
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session for service tests; committed state is what later assertions read."""
    s = db.sessions()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()
