"""Repository documents read without the ORM, for the hottest REST route (GET /repos/{o}/{r}).

Read fresh on every request — one query, repository ⋈ owner plus the open-issue count — because a
description, a push time or an issue count changes without moving the access generation, so
unlike access facts it must never be served from a cache.
"""

from __future__ import annotations

from typing import Any

from tokenforge.api.serializers import AccountView, RepositoryView
from tokenforge.rawdb import LoopReader, RawQuery, as_utc

_SQL = (
    "SELECT r.id, r.name, r.private, r.description, r.default_branch, r.created_at, r.updated_at, r.pushed_at, "
    "o.id, o.login, o.kind, u.site_admin, "
    "(SELECT count(*) FROM issues i WHERE i.repo_id = r.id AND i.state = 'open') "
    "FROM repositories r JOIN accounts o ON o.id = r.owner_id LEFT JOIN users u ON u.id = o.id WHERE r.id = ?"
)


class RepositoryReads(RawQuery):
    def __init__(self, url: str, loop: LoopReader | None = None) -> None:
        super().__init__(url, _SQL, loop)

    def document(self, repo_id: int) -> tuple[RepositoryView, int] | None:
        """The repository and its open issue count; None if it was deleted meanwhile."""
        return _document(self.first((repo_id,)))

    async def document_on_loop(self, repo_id: int) -> tuple[RepositoryView, int] | None:
        return _document(await self.first_on_loop((repo_id,)))


def _document(row: tuple[Any, ...] | None) -> tuple[RepositoryView, int] | None:
    if row is None:
        return None
    (
        rid,
        name,
        private,
        description,
        branch,
        created,
        updated,
        pushed,
        owner_id,
        owner_login,
        owner_kind,
        site_admin,
        open_issues,
    ) = row
    owner = AccountView(owner_id, owner_login, owner_kind, bool(site_admin))
    created_at, updated_at = as_utc(created), as_utc(updated)
    assert created_at is not None
    assert updated_at is not None
    view = RepositoryView(
        rid, name, bool(private), description or "", branch, created_at, updated_at, as_utc(pushed), owner
    )
    return view, int(open_issues)
