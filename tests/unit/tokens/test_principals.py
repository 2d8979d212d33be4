"""token_principals: the row a cache miss reads must follow every change to what it derives from.

Besides these tests, tests/conftest.py compares the projection with its source tables after every
test that had a database, so each write path the suite exercises also checks the triggers.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

import factories
from tokenforge.authz.subjects import Approval, FineGrainedToken
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.repos.services import delete_repository
from tokenforge.tokens.lookup import TokenLookup
from tokenforge.tokens.models import RevokedReason, Token
from tokenforge.tokens.principals import drift
from tokenforge.tokens.services import regenerate_token, revoke_token

# One per table and event, on both databases (migration 0008).
TRIGGERS = {
    f"token_principals_{table}_{event}"
    for table in ("tokens", "grants", "repositories")
    for event in ("insert", "update", "delete")
} | {"token_principals_accounts_login"}


def _fine(lookup: TokenLookup, secret: str, now: datetime) -> FineGrainedToken:
    principal = lookup.principal(secret, now)
    assert isinstance(principal, FineGrainedToken)
    return principal


def test_every_trigger_is_in_place_at_head(db: Database) -> None:
    # SQLite drops a table's triggers with the table: a later migration that rebuilds tokens,
    # fine_grained_grants, token_repositories or accounts in batch mode must create them again.
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        else:
            names = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    assert names >= TRIGGERS


def test_drift_names_a_stale_a_missing_and_a_malformed_row(db: Database, settings: Settings, now: datetime) -> None:
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        acme = factories.org(s, "acme", alice, now)
        one, two = factories.repo(s, settings, acme, "one", now), factories.repo(s, settings, acme, "two", now)
        fine = factories.fine_grained(s, settings, alice, now, resource_owner=acme, repositories=[one, two])
        classic = factories.classic(s, settings, alice, now, "repo")
    fine_id, classic_id = fine.token.id, classic.token.id
    with db.engine.begin() as conn:
        assert drift(conn) == []
        stored = conn.execute(text("SELECT principal FROM token_principals WHERE token_id = :t"), {"t": fine_id})
        principal = orjson.loads(stored.scalar_one())
        assert sorted(principal[14].split(",")) == sorted([str(one.id), str(two.id)])
        principal[14] = str(one.id)  # as if the removal of a repository had not reached the row
        conn.execute(
            text("UPDATE token_principals SET principal = :p WHERE token_id = :t"),
            {"p": orjson.dumps(principal).decode(), "t": fine_id},
        )
        conn.execute(text("DELETE FROM token_principals WHERE token_id = :t"), {"t": classic_id})
        assert drift(conn) == sorted([fine_id, classic_id])
        # Any write to a source row recomputes its token's row from scratch.
        conn.execute(text("UPDATE tokens SET expires_at = expires_at"))
        assert drift(conn) == []
        # A row that is not a principal at all, under a digest no token has.
        conn.execute(text("DELETE FROM token_principals WHERE token_id = :t"), {"t": classic_id})
        conn.execute(
            text("INSERT INTO token_principals (digest, token_id, principal) VALUES (:d, :t, '[]')"),
            {"d": b"\0" * 32, "t": classic_id},
        )
        assert drift(conn) == [classic_id]
        conn.execute(text("UPDATE tokens SET revoked_at = revoked_at WHERE id = :t"), {"t": classic_id})
        assert drift(conn) == []


def test_lookups_follow_every_change_a_principal_is_made_of(
    db: Database, settings: Settings, lookup: TokenLookup, now: datetime
) -> None:
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        acme = factories.org(s, "acme", alice, now)
        one, two = factories.repo(s, settings, acme, "one", now), factories.repo(s, settings, acme, "two", now)
        issued = factories.fine_grained(s, settings, alice, now, resource_owner=acme, repositories=[one, two])
    token_id = issued.token.id
    assert _fine(lookup, issued.secret, now).repository_ids == {one.id, two.id}

    with db.unit_of_work() as s:  # through the service, which cascades to the selection
        delete_repository(s, settings, repo=s.merge(two), now=now)
    assert _fine(lookup, issued.secret, now).repository_ids == {one.id}

    with db.engine.begin() as conn:  # Core statements, as a maintenance script would write them
        conn.execute(
            text("UPDATE accounts SET login = 'acme-renamed', login_key = 'acme-renamed' WHERE id = :o"), {"o": acme.id}
        )
        conn.execute(text("UPDATE accounts SET login = 'alice2', login_key = 'alice2' WHERE id = :u"), {"u": alice.id})
        conn.execute(text("UPDATE fine_grained_grants SET approval = 'revoked' WHERE token_id = :t"), {"t": token_id})
    principal = _fine(lookup, issued.secret, now)
    assert (principal.resource_owner_login, principal.login) == ("acme-renamed", "alice2")
    assert principal.approval is Approval.REVOKED

    later = now + timedelta(days=90)
    with db.unit_of_work() as s:
        renewed = regenerate_token(s, settings, token=s.get_one(Token, token_id), expires_at=later, now=now)
    assert lookup.principal(issued.secret, now) is None  # the old secret's row is gone with its digest
    assert _fine(lookup, renewed.secret, now).expires_at == later

    with db.unit_of_work() as s:
        revoke_token(s, token=s.get_one(Token, token_id), reason=RevokedReason.USER, now=now)
    assert lookup.principal(renewed.secret, now) is None


def test_a_token_deleted_with_foreign_keys_off_stops_authenticating(
    db: Database, settings: Settings, lookup: TokenLookup, now: datetime
) -> None:
    with db.unit_of_work() as s:
        issued = factories.classic(s, settings, factories.user(s, "alice", now), now, "repo")
    assert lookup.principal(issued.secret, now) is not None
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        # The sqlite3 shell's default: no cascades. The projection row must go all the same.
        raw = sqlite3.connect(str(url.database))
        try:
            assert raw.execute("PRAGMA foreign_keys").fetchone() == (0,)
            raw.execute("DELETE FROM tokens WHERE id = ?", (issued.token.id,))
            raw.commit()
        finally:
            raw.close()
    else:
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM tokens WHERE id = :t"), {"t": issued.token.id})
    assert lookup.principal(issued.secret, now) is None


def test_concurrent_changes_to_one_selection_both_reach_the_row(
    db: Database, settings: Settings, lookup: TokenLookup, now: datetime
) -> None:
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite takes one writer at a time: there are no concurrent recomputations to order")
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        acme = factories.org(s, "acme", alice, now)
        one, two, three = (factories.repo(s, settings, acme, name, now) for name in ("one", "two", "three"))
        issued = factories.fine_grained(s, settings, alice, now, resource_owner=acme, repositories=[one, two])
    token_id = issued.token.id
    engine = create_engine(settings.resolved_database_url)
    failures: list[BaseException] = []

    def remove_one() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(
                    text("DELETE FROM token_repositories WHERE token_id = :t AND repo_id = :r"),
                    {"t": token_id, "r": one.id},
                )
        except BaseException as exc:  # reported below, on the test's thread
            failures.append(exc)

    remover = threading.Thread(target=remove_one)
    try:
        # Closed on any failure too: its rollback releases the second transaction, and the
        # database is left free for the next test.
        with engine.connect() as adder:
            adding = adder.begin()
            # The first transaction adds a repository; its trigger recomputes (and locks) the token.
            adder.execute(
                text("INSERT INTO token_repositories (token_id, repo_id, resource_owner_id) VALUES (:t, :r, :o)"),
                {"t": token_id, "r": three.id, "o": acme.id},
            )
            remover.start()
            # Commit the first only once the second waits on the token's lock: its recomputation
            # then runs after this commit and must see both changes.
            assert _someone_waits_on_a_lock(engine), "the second transaction never waited for the first"
            adding.commit()
        remover.join(timeout=10)
        assert not remover.is_alive()
        assert failures == []
        with engine.connect() as conn:
            assert drift(conn) == []
    finally:
        if remover.is_alive():
            remover.join(timeout=10)
        engine.dispose()
    assert _fine(lookup, issued.secret, now).repository_ids == {two.id, three.id}


def _someone_waits_on_a_lock(engine: Engine) -> bool:
    """Polls for up to 10 s. Each poll in a transaction of its own: PostgreSQL shows a transaction
    one snapshot of pg_stat_activity, taken at its first read."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as watcher:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
        if waiting:
            return True
        time.sleep(0.01)
    return False
