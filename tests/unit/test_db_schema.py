"""The migrations and the models describe the same schema, and the schema itself enforces the
invariants the code relies on — on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import factories
from tokenforge.config import Settings
from tokenforge.db import Base, Database, alembic_config
from tokenforge.tokens.models import FineGrainedGrant, RevokedReason, Token, TokenRepository


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_downgrade_to_empty_and_upgrade_again(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "base")
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    db = Database(database_url)
    db.migrate()
    db.dispose()
    engine = create_engine(database_url)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_migrate_is_idempotent(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    db.dispose()


def _token_row(user_id: int, now: datetime, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "user_id": user_id,
        "kind": "classic",
        "digest": b"\x01" * 32,
        "pepper_id": "abcd1234",
        "last_eight": "abcdefgh",
        "name": "n",
        "description": "",
        "scopes": "repo",
        "created_at": now,
        "updated_at": now,
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"kind": "oauth"}, "unknown kind"),
        ({"scopes": None}, "classic without scopes"),
        ({"kind": "fine_grained"}, "fine-grained with scopes"),
        ({"name": ""}, "empty name"),
        ({"last_eight": "abc"}, "last_eight not 8 characters"),
        ({"revoked_reason": "user"}, "reason without revocation time"),
        ({"expires_at": datetime(2000, 1, 1).astimezone()}, "expiry before creation"),
    ],
)
def test_token_check_constraints(
    session: Session, settings: Settings, now: datetime, overrides: dict[str, object], why: str
) -> None:
    alice = factories.user(session, "alice", now)
    with pytest.raises(IntegrityError):
        session.execute(insert(Token).values(**_token_row(alice.id, now, **overrides)))
        session.flush()


def test_digest_is_unique(session: Session, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    session.execute(insert(Token).values(**_token_row(alice.id, now)))
    with pytest.raises(IntegrityError):
        session.execute(insert(Token).values(**_token_row(alice.id, now, name="other")))


def test_live_token_names_are_unique_but_revoked_ones_free_the_name(session: Session, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    session.execute(insert(Token).values(**_token_row(alice.id, now, revoked_at=now, revoked_reason="user")))
    session.execute(insert(Token).values(**_token_row(alice.id, now, digest=b"\x02" * 32)))
    with pytest.raises(IntegrityError):
        session.execute(insert(Token).values(**_token_row(alice.id, now, digest=b"\x03" * 32)))


def test_a_grant_cannot_hang_off_a_classic_token(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    issued = factories.classic(session, settings, alice, now, "repo")
    with pytest.raises(IntegrityError):
        session.execute(
            insert(FineGrainedGrant).values(
                token_id=issued.token.id,
                token_kind="classic",
                resource_owner_id=alice.id,
                repository_selection="all",
                permissions={},
                approval="approved",
                justification="",
            )
        )
        session.flush()


def test_a_token_cannot_select_a_repository_of_another_owner(
    session: Session, settings: Settings, now: datetime
) -> None:
    """The composite foreign key makes it impossible, not merely rejected by the service."""
    alice, bob = factories.user(session, "alice", now), factories.user(session, "bob", now)
    alices = factories.repo(session, settings, alice, "mine", now)
    bobs = factories.repo(session, settings, bob, "theirs", now)
    issued = factories.fine_grained(
        session, settings, alice, now, repositories=[alices], permissions={"contents": "read"}
    )
    session.flush()
    with pytest.raises(IntegrityError):
        session.execute(
            insert(TokenRepository).values(token_id=issued.token.id, repo_id=bobs.id, resource_owner_id=alice.id)
        )
        session.flush()
    session.rollback()
    with pytest.raises(IntegrityError):
        # Lying about the owner does not help: the grant's owner must match too.
        session.execute(
            insert(TokenRepository).values(token_id=issued.token.id, repo_id=bobs.id, resource_owner_id=bob.id)
        )
        session.flush()


def test_deleting_a_user_cascades_to_tokens_and_grants(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "r", now)
    factories.fine_grained(session, settings, alice, now, repositories=[repo], permissions={"contents": "read"})
    factories.classic(session, settings, alice, now, "repo")
    session.commit()
    session.delete(alice)
    session.commit()
    for table in ("tokens", "fine_grained_grants", "token_repositories", "users"):
        assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table


def test_one_primary_email_per_user(session: Session, now: datetime) -> None:
    from tokenforge.accounts.models import Email

    alice = factories.user(session, "alice", now)
    session.add(
        Email(
            user_id=alice.id,
            address="a2@example.com",
            address_key="a2@example.com",
            verified=True,
            primary=True,
            created_at=now,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_org_lifetime_policy_must_be_positive(session: Session, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    acme = factories.org(session, "acme", alice, now)
    acme.max_lifetime_fine_grained_days = 0
    with pytest.raises(IntegrityError):
        session.flush()


def test_datetimes_come_back_as_aware_utc(session: Session, now: datetime) -> None:
    alice = factories.user(session, "alice", now + timedelta(microseconds=1234))
    session.commit()
    session.expire_all()
    assert alice.created_at == now + timedelta(microseconds=1234)
    assert alice.created_at.utcoffset() == timedelta(0)


def test_upgrading_a_populated_database_keeps_every_row(tmp_path: Path, settings: Settings, now: datetime) -> None:
    """Regression: SQLite rebuilds altered tables; with foreign keys on, the rebuild of `tokens`
    (migration 0002) used to cascade and delete every fine-grained grant."""
    url = settings.database_url if not settings.database_url.startswith("sqlite") else f"sqlite:///{tmp_path}/m.db"
    cfg = alembic_config(url)
    if not url.startswith("sqlite"):
        command.downgrade(cfg, "base")
    command.upgrade(cfg, "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        if url.startswith("sqlite"):
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.execute(
            text(
                "INSERT INTO accounts (id, kind, login, login_key, name, created_at, updated_at) "
                "VALUES (1, 'user', 'a', 'a', '', :t, :t), (2, 'organization', 'o', 'o', '', :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(text("INSERT INTO users (id, password_hash, site_admin) VALUES (1, NULL, false)"))
        conn.execute(
            text(
                "INSERT INTO organizations (id, classic_tokens_allowed, fine_grained_tokens_allowed, "
                "approval_required, max_lifetime_fine_grained_days, default_repository_role) "
                "VALUES (2, true, true, true, 366, 'read')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO repositories (id, owner_id, name, name_key, description, private, "
                "default_branch, created_at, updated_at) VALUES (1, 2, 'r', 'r', '', true, 'main', :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO tokens (id, user_id, kind, digest, pepper_id, last_eight, name, description, "
                "scopes, created_at, updated_at) VALUES (1, 1, 'fine_grained', :d, 'p', '12345678', 'n', '', "
                "NULL, :t, :t)"
            ),
            {"d": b"\x01" * 32, "t": now},
        )
        conn.execute(
            text(
                "INSERT INTO fine_grained_grants (token_id, token_kind, resource_owner_id, "
                "repository_selection, permissions, approval, justification) "
                "VALUES (1, 'fine_grained', 2, 'subset', '{}', 'pending', 'please')"
            )
        )
        conn.execute(text("INSERT INTO token_repositories (token_id, repo_id, resource_owner_id) VALUES (1, 1, 2)"))
    engine.dispose()
    db = Database(url)
    db.migrate()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fine_grained_grants")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM token_repositories")).scalar_one() == 1
        assert conn.execute(text("SELECT recent_ips FROM tokens")).scalar_one() in ("[]", [])
        # 0004 filed the request that a pending grant implies.
        assert conn.execute(text("SELECT status, reason FROM token_requests")).one() == ("pending", "please")
    db.dispose()


def test_migration_0009_cancels_the_pending_requests_of_revoked_tokens(
    database_url: str, settings: Settings, now: datetime
) -> None:
    """Before 0009, revoking a token left its pending request pending: the reviewers' list hid
    it, but the pending tab's count, which no longer reads the tokens, would have counted it."""
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0008")  # 0009 moves data only: the models are 0008's schema too
    db = Database(database_url)
    try:
        with db.sessions() as session:
            owner = factories.user(session, "owner", now)
            member = factories.user(session, "member", now)
            acme = factories.org(session, "acme", owner, now, members=[member])
            kept = factories.fine_grained(session, settings, member, now, resource_owner=acme, name="kept").token.id
            gone = factories.fine_grained(session, settings, member, now, resource_owner=acme, name="gone").token.id
            session.commit()
            revoked = session.get(Token, gone)
            assert revoked is not None
            # What revoke_token did before 0009: the token's columns, the request left pending.
            revoked.revoked_at, revoked.revoked_reason = now, RevokedReason.USER.value
            session.commit()
        with db.engine.connect() as conn:
            before = dict(conn.execute(text("SELECT token_id, status FROM token_requests")).all())
        assert before == {kept: "pending", gone: "pending"}
        command.upgrade(cfg, "head")
        with db.engine.connect() as conn:
            after = dict(conn.execute(text("SELECT token_id, status FROM token_requests")).all())
        assert after == {kept: "pending", gone: "cancelled"}
    finally:
        db.dispose()
