"""The authenticated user's document read without the ORM (GET /user, the "who am I" every
client sends first). Read fresh on each request: names and repository counts change without
moving the access generation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tokenforge.rawdb import LoopReader, RawQuery, as_utc

_SQL = (
    "SELECT a.id, a.login, a.name, a.created_at, a.updated_at, u.site_admin, "
    "(SELECT e.address FROM emails e WHERE e.user_id = a.id AND e.is_primary), "
    "(SELECT count(*) FROM repositories r WHERE r.owner_id = a.id AND NOT r.private), "
    "(SELECT count(*) FROM repositories r WHERE r.owner_id = a.id AND r.private) "
    "FROM accounts a JOIN users u ON u.id = a.id WHERE a.id = ?"
)


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    login: str
    name: str
    created_at: datetime
    updated_at: datetime
    site_admin: bool
    email: str | None
    public_repos: int
    private_repos: int
    kind: str = "user"


class UserReads(RawQuery):
    def __init__(self, url: str, loop: LoopReader | None = None) -> None:
        super().__init__(url, _SQL, loop)

    def document(self, user_id: int) -> UserView | None:
        return _document(self.first((user_id,)))

    async def document_on_loop(self, user_id: int) -> UserView | None:
        return _document(await self.first_on_loop((user_id,)))


def _document(row: tuple[Any, ...] | None) -> UserView | None:
    if row is None:
        return None
    uid, login, name, created, updated, site_admin, email, public, private = row
    created_at, updated_at = as_utc(created), as_utc(updated)
    assert created_at is not None
    assert updated_at is not None
    return UserView(uid, login, name or "", created_at, updated_at, bool(site_admin), email, int(public), int(private))
