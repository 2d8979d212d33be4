"""The ``token_principals`` projection, checked against the tables it is derived from.

Authentication reads a token's principal from one ``token_principals`` row (tokens/lookup.py);
triggers recompute that row whenever tokens, accounts, fine_grained_grants or token_repositories
change (migration 0008). A row that disagreed with its sources would authenticate with access
that was taken away, so ``drift`` recomputes every principal the slow way — the join the lookup
ran before the projection existed — and names each token whose row differs, is missing or has
no token. The test suite runs it after every test that had a database (tests/conftest.py), which
makes every write path the tests exercise a test of the triggers.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection

from tokenforge.rawdb import as_json, as_utc

_SOURCE_SQL = (
    "SELECT t.id, t.digest, t.id, t.user_id, t.kind, t.expires_at, t.revoked_at, t.created_at, "
    "t.regenerated_at, t.scopes, u.login, g.resource_owner_id, o.login, g.repository_selection, "
    "{permissions}, g.approval, (SELECT {agg} FROM token_repositories tr WHERE tr.token_id = t.id) "
    "FROM tokens t JOIN accounts u ON u.id = t.user_id "
    "LEFT JOIN fine_grained_grants g ON g.token_id = t.id "
    "LEFT JOIN accounts o ON o.id = g.resource_owner_id"
)
_PROJECTED_SQL = "SELECT token_id, digest, principal FROM token_principals"

_TIMES = (3, 4, 5, 6)  # expires, revoked, created, regenerated: positions in the principal array
_PERMISSIONS, _REPOSITORIES = 12, 14
_LENGTH = 15


def _comparable(principal: list[Any] | tuple[Any, ...]) -> tuple[Any, ...]:
    """A principal array with what may legitimately differ in form made equal: datetimes as
    aware values (text on SQLite and in the projection, datetime objects from psycopg), the
    permissions as parsed JSON, the selected repositories as a set (aggregates have no order)."""
    values = list(principal)
    if len(values) != _LENGTH:
        return ("malformed", *values)  # differs from every well-formed principal
    for i in _TIMES:
        values[i] = as_utc(values[i])
    if values[_PERMISSIONS] is not None:
        values[_PERMISSIONS] = as_json(values[_PERMISSIONS])
    repositories = values[_REPOSITORIES]
    values[_REPOSITORIES] = frozenset(int(r) for r in str(repositories).split(",")) if repositories else frozenset()
    return tuple(values)


def drift(connection: Connection) -> list[int]:
    """Ids of the tokens whose ``token_principals`` row is not what their source rows say
    (missing, stale, malformed, or left behind by a deleted token); empty when the projection
    is exact."""
    sqlite = connection.dialect.name == "sqlite"
    source_sql = _SOURCE_SQL.format(
        permissions="g.permissions" if sqlite else "g.permissions::text",
        agg="group_concat(tr.repo_id)" if sqlite else "string_agg(tr.repo_id::text, ',')",
    )
    expected = {
        row[0]: (bytes(row[1]), _comparable(row[2:])) for row in connection.exec_driver_sql(source_sql).fetchall()
    }
    actual = {
        row[0]: (bytes(row[1]), _comparable(orjson.loads(row[2])))
        for row in connection.exec_driver_sql(_PROJECTED_SQL).fetchall()
    }
    return sorted(token for token in expected.keys() | actual.keys() if expected.get(token) != actual.get(token))
