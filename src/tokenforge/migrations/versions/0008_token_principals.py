"""token_principals: what a token lookup needs, one row per token, kept by triggers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 21:40:00

Why: every authentication cache miss read the token joined with its user, its grant, the grant's
resource owner and an aggregate of its selected repositories. On PostgreSQL those joins were a
third of every miss (~45 µs of executor work), on SQLite ~8 µs of its ~40 (docs/benchmarks.md,
eighth session). Here the same answer is kept per token, keyed by digest, as one JSON array in
the column order ``tokens/lookup.py`` decodes, and a miss reads one row by its primary key.

Why triggers and not the services: a projection that misses one write path keeps a revoked
grant or a removed repository alive. Triggers see every write — the ORM's, Core bulk statements,
foreign-key cascades, an operator's SQL — and each *recomputes* the affected tokens' rows from
the source tables (the very join the lookup used to run), rather than patching them, so there
is no incremental logic to get wrong. ``tokens/principals.py`` compares the projection with the
join; the test suite runs that comparison after every test that had a database.

On PostgreSQL the recomputation first locks the token's row (FOR NO KEY UPDATE: it does not
block foreign-key checks). Two transactions changing one token's grant concurrently then
recompute one after the other, and in READ COMMITTED the second's statements see the first's
commit: without the lock the second would recompute from a snapshot that misses the first's
change. SQLite has one writer at a time and needs no lock.

Keep in mind when writing a later migration: SQLite's batch mode rebuilds a table, and dropping
a table drops its triggers. A migration that batch-alters tokens, fine_grained_grants,
token_repositories or accounts must create this migration's triggers again
(tests/unit/tokens/test_principals.py fails if any is missing at head).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# The tokens columns a principal embeds: an UPDATE touching only others (last use, name,
# description) recomputes nothing.
_TOKEN_COLUMNS = "digest, user_id, kind, scopes, created_at, regenerated_at, expires_at, revoked_at"
_GRANT_COLUMNS = "token_id, resource_owner_id, repository_selection, permissions, approval"

# The principal as the lookup decodes it (tokens/lookup.py, ``_decode``), in this order.
# Datetimes as SQLAlchemy stores them on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff', UTC), on both.
_SQLITE_SELECT = """
SELECT t.digest, t.id, json_array(
    t.id, t.user_id, t.kind, t.expires_at, t.revoked_at, t.created_at, t.regenerated_at, t.scopes,
    u.login, g.resource_owner_id, o.login, g.repository_selection, g.permissions, g.approval,
    (SELECT group_concat(tr.repo_id) FROM token_repositories tr WHERE tr.token_id = t.id))
FROM tokens t JOIN accounts u ON u.id = t.user_id
LEFT JOIN fine_grained_grants g ON g.token_id = t.id
LEFT JOIN accounts o ON o.id = g.resource_owner_id
"""

_PG_TIME = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
_PG_SELECT = f"""
SELECT t.digest, t.id, json_build_array(
    t.id, t.user_id, t.kind, {_PG_TIME.format('t.expires_at')}, {_PG_TIME.format('t.revoked_at')},
    {_PG_TIME.format('t.created_at')}, {_PG_TIME.format('t.regenerated_at')}, t.scopes,
    u.login, g.resource_owner_id, o.login, g.repository_selection, g.permissions::text, g.approval,
    (SELECT string_agg(tr.repo_id::text, ',') FROM token_repositories tr WHERE tr.token_id = t.id))::text
FROM tokens t JOIN accounts u ON u.id = t.user_id
LEFT JOIN fine_grained_grants g ON g.token_id = t.id
LEFT JOIN accounts o ON o.id = g.resource_owner_id
"""

_INSERT = "INSERT INTO token_principals (digest, token_id, principal)"


def _sqlite_refresh(ids: str) -> str:
    """Statements recomputing the rows of the tokens whose ids ``ids`` (SQL) yields."""
    return (
        f"DELETE FROM token_principals WHERE token_id IN ({ids});\n"
        f"{_INSERT} {_SQLITE_SELECT} WHERE t.id IN ({ids});"
    )


def _sqlite_triggers() -> list[str]:
    owned = (
        "SELECT id FROM tokens WHERE user_id IN (OLD.id, NEW.id) "
        "UNION SELECT token_id FROM fine_grained_grants WHERE resource_owner_id IN (OLD.id, NEW.id)"
    )
    triggers = [
        ("token_principals_tokens_insert", "AFTER INSERT ON tokens", _sqlite_refresh("NEW.id")),
        ("token_principals_tokens_update", f"AFTER UPDATE OF id, {_TOKEN_COLUMNS} ON tokens",
         _sqlite_refresh("OLD.id, NEW.id")),
        # Besides the foreign key's cascade: a connection with foreign_keys off (the sqlite3
        # shell's default) must not leave a deleted token able to authenticate.
        ("token_principals_tokens_delete", "AFTER DELETE ON tokens",
         "DELETE FROM token_principals WHERE token_id = OLD.id;"),
        ("token_principals_grants_insert", "AFTER INSERT ON fine_grained_grants", _sqlite_refresh("NEW.token_id")),
        ("token_principals_grants_update", f"AFTER UPDATE OF {_GRANT_COLUMNS} ON fine_grained_grants",
         _sqlite_refresh("OLD.token_id, NEW.token_id")),
        ("token_principals_grants_delete", "AFTER DELETE ON fine_grained_grants", _sqlite_refresh("OLD.token_id")),
        ("token_principals_repositories_insert", "AFTER INSERT ON token_repositories",
         _sqlite_refresh("NEW.token_id")),
        ("token_principals_repositories_update", "AFTER UPDATE ON token_repositories",
         _sqlite_refresh("OLD.token_id, NEW.token_id")),
        ("token_principals_repositories_delete", "AFTER DELETE ON token_repositories",
         _sqlite_refresh("OLD.token_id")),
        ("token_principals_accounts_login", "AFTER UPDATE OF id, login ON accounts", _sqlite_refresh(owned)),
    ]
    return [f"CREATE TRIGGER {name} {event} FOR EACH ROW BEGIN\n{body}\nEND" for name, event, body in triggers]


_PG_FUNCTIONS = [
    f"""
CREATE FUNCTION token_principals_refresh(ids integer[]) RETURNS void LANGUAGE plpgsql
SET enable_seqscan = off AS $$
-- Every statement here reaches rows by a key with an index. A plan cached while the tables were
-- small (a new server, or early in a bulk load in one transaction) would otherwise scan them
-- sequentially ever after: writing 20,000 tokens in one transaction took 99 s against 5.3 s for
-- 5,000. Planning each call afresh instead (plan_cache_mode) cost ~0.4 ms per call.
BEGIN
    IF ids = '{{}}' THEN
        RETURN;  -- a statement that wrote no rows
    END IF;
    -- Serializes recomputations of one token (see the module's docstring); in id order, so two
    -- transactions locking several tokens cannot deadlock on each other.
    PERFORM 1 FROM tokens WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
    DELETE FROM token_principals WHERE token_id = ANY(ids);
    {_INSERT} {_PG_SELECT} WHERE t.id = ANY(ids);
END $$
""",
    # Row by row for updates (a column list leaves last-use flushes out; transition tables do
    # not allow one) and for a token's deletion; by statement, over the transition table, for
    # inserts and the deletes of grants and selections, so a bulk statement recomputes once.
    """
CREATE FUNCTION token_principals_on_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM token_principals WHERE token_id = OLD.id;
    ELSE
        PERFORM token_principals_refresh(ARRAY[OLD.id, NEW.id]);
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION token_principals_on_tokens_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM token_principals_refresh(ARRAY(SELECT id FROM inserted));
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION token_principals_on_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM token_principals_refresh(ARRAY[OLD.token_id, NEW.token_id]);
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION token_principals_on_grants_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM token_principals_refresh(ARRAY(SELECT DISTINCT token_id FROM inserted));
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION token_principals_on_grants_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM token_principals_refresh(ARRAY(SELECT DISTINCT token_id FROM deleted));
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION token_principals_on_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM token_principals_refresh(ARRAY(
        SELECT id FROM tokens WHERE user_id IN (OLD.id, NEW.id)
        UNION SELECT token_id FROM fine_grained_grants WHERE resource_owner_id IN (OLD.id, NEW.id)));
    RETURN NULL;
END $$
""",
]

_INSERTED = "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT"
_DELETED = "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT"
# The same names as SQLite's triggers: one per table and event.
_PG_TRIGGERS = [
    ("token_principals_tokens_insert", f"AFTER INSERT ON tokens {_INSERTED}", "token_principals_on_tokens_inserted"),
    ("token_principals_tokens_update", f"AFTER UPDATE OF id, {_TOKEN_COLUMNS} ON tokens FOR EACH ROW",
     "token_principals_on_token"),
    ("token_principals_tokens_delete", "AFTER DELETE ON tokens FOR EACH ROW", "token_principals_on_token"),
    ("token_principals_grants_insert", f"AFTER INSERT ON fine_grained_grants {_INSERTED}",
     "token_principals_on_grants_inserted"),
    ("token_principals_grants_update", f"AFTER UPDATE OF {_GRANT_COLUMNS} ON fine_grained_grants FOR EACH ROW",
     "token_principals_on_grant"),
    ("token_principals_grants_delete", f"AFTER DELETE ON fine_grained_grants {_DELETED}",
     "token_principals_on_grants_deleted"),
    ("token_principals_repositories_insert", f"AFTER INSERT ON token_repositories {_INSERTED}",
     "token_principals_on_grants_inserted"),
    ("token_principals_repositories_update", "AFTER UPDATE ON token_repositories FOR EACH ROW",
     "token_principals_on_grant"),
    ("token_principals_repositories_delete", f"AFTER DELETE ON token_repositories {_DELETED}",
     "token_principals_on_grants_deleted"),
    ("token_principals_accounts_login", "AFTER UPDATE OF id, login ON accounts FOR EACH ROW",
     "token_principals_on_account"),
]


def upgrade() -> None:
    op.create_table('token_principals',
    sa.Column('digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('principal', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['tokens.id'], name=op.f('fk_token_principals_token_id_tokens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_token_principals')),
    sa.UniqueConstraint('token_id', name=op.f('uq_token_principals_token_id')),
    sqlite_with_rowid=False,
    )
    if op.get_context().dialect.name == "sqlite":
        for statement in _sqlite_triggers():
            op.execute(statement)
        op.execute(f"{_INSERT} {_SQLITE_SELECT}")
    else:
        for statement in _PG_FUNCTIONS:
            op.execute(statement)
        for name, event, function in _PG_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} {event} EXECUTE FUNCTION {function}()")
        op.execute(f"{_INSERT} {_PG_SELECT}")


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for statement in _sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
    else:
        for name, event, _function in _PG_TRIGGERS:
            table = event.split(" ON ", 1)[1].split()[0]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for function in dict.fromkeys(function for _name, _event, function in _PG_TRIGGERS):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
        op.execute("DROP FUNCTION IF EXISTS token_principals_refresh(integer[])")
    op.drop_table('token_principals')
