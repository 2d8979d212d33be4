"""Engine, sessions, the unit of work, and migrations.

Services never commit: the caller (one request, one CLI command) opens a unit of work, calls
services, and the unit of work commits once — or rolls back everything, including work done
outside the database (a bare repository created on disk) through ``on_rollback`` callbacks.
That is how "bad input loses nothing and leaves nothing half-written" holds across surfaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, MetaData, Select, TypeDecorator, create_engine, event, func, select, text
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from tokenforge.errors import Unavailable

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Deterministic constraint names, so migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases.

    SQLite has no timezone type and hands back naive values; comparing those with aware ones
    raises. Everything in Tokenforge is aware UTC, converted at this one boundary.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer; NORMAL sync is durable at checkpoints and
            # costs ~20 µs per commit instead of an fsync (PERFORMANCE.md §3d).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Called after a commit that reduced someone's access (see auth/generation.py), so this
        # process drops cached decisions before it answers its next request.
        self.access_listeners: list[Callable[[], None]] = []

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Commit on success; on any exception roll back, undo side effects, re-raise."""
        session = self.sessions()
        try:
            yield session
            session.commit()
            if session.info.pop(ACCESS_CHANGED, False):
                for listener in self.access_listeners:
                    listener()
            for callback in session.info.pop("after_commit", []):
                try:
                    callback()
                except Exception:  # the commit stands; a failed clean-up is only logged
                    log.exception("after-commit hook failed")
        except BaseException:
            session.rollback()
            run_rollback_hooks(session)
            raise
        finally:
            session.close()

    def check(self) -> None:
        """Raise Unavailable with a one-line reason if the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as exc:
            raise Unavailable(f"cannot reach the database at {safe_url(self.url)}: {first_line(exc.orig)}") from None

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        if is_sqlite(self.url):
            path = self.engine.url.database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.check()
        from alembic import command  # imported here: ~0.15 s that most CLI commands never need

        with self.engine.connect() as conn:
            if is_sqlite(self.url):
                # SQLite alters a table by rebuilding it (Alembic's batch mode): create a copy,
                # drop the original. With foreign keys on, that DROP cascades — every row that
                # references the table (a token's grant, its repositories) would be deleted.
                # Foreign keys must be off for the migration (the pragma only works outside a
                # transaction), and are checked afterwards.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()  # end SQLAlchemy's autobegun transaction; the pragma stays set
            try:
                with conn.begin():
                    cfg = alembic_config(self.url)
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    if is_sqlite(self.url):
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise RuntimeError(f"migration left dangling references: {broken[:5]}")
            finally:
                if is_sqlite(self.url):
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


ACCESS_CHANGED = "tokenforge.access_changed"


def on_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Undo a side effect outside the database if this unit of work rolls back."""
    session.info.setdefault("on_rollback", []).append(callback)


def run_rollback_hooks(session: Session) -> None:
    for callback in reversed(session.info.pop("on_rollback", [])):
        try:
            callback()
        except Exception:  # an undo must not mask the error that caused the rollback
            log.exception("rollback hook failed")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def first_line(exc: object) -> str:
    return (str(exc).strip().splitlines() or ["unknown error"])[0]


def count_rows(session: Session, query: Select[Any], *, cap: int | None = None) -> int:
    """How many rows ``query`` returns, counted by the database (its ORDER BY dropped); with
    ``cap``, at most ``cap + 1``: enough to say "more than cap" without reading every row."""
    counted = query.order_by(None) if cap is None else query.order_by(None).limit(cap + 1)
    return int(session.scalar(select(func.count()).select_from(counted.subquery())) or 0)


def utcnow() -> datetime:
    return datetime.now(UTC)
