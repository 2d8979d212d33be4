"""What ``decide`` needs to know about a repository — and the caller's standing in it — from one
raw query, cached per (repository, user) under the access generation.

The query joins the repository with its owner, the owner's organization policy, the user's
membership and the user's collaborator role; ``authz.roles.repository_role`` then turns the
relationships into a role. Entries are valid while the generation they were loaded under is
current: every change to any of those rows moves it (memberships, collaborators, visibility,
renames, policies). "No such repository" is never cached, so a repository created a moment ago
is found at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

from tokenforge.auth.fifo import BoundedFifo
from tokenforge.auth.generation import Generation
from tokenforge.authz.policy import Decision, decide
from tokenforge.authz.requirements import Requirement, Target
from tokenforge.authz.roles import OrgRole, RepoRole, repository_role
from tokenforge.authz.subjects import Anonymous, OrgPolicy, Principal, Resource, UserSession
from tokenforge.rawdb import LoopReader, RawReader, Statement

_SQL = (
    "SELECT r.id, r.private, r.name, o.id, o.login, o.kind, "
    "org.classic_tokens_allowed, org.fine_grained_tokens_allowed, org.approval_required, "
    "org.max_lifetime_fine_grained_days, org.max_lifetime_classic_days, org.default_repository_role, "
    "m.role, c.role "
    "FROM repositories r JOIN accounts o ON o.id = r.owner_id "
    "LEFT JOIN organizations org ON org.id = r.owner_id "
    "LEFT JOIN memberships m ON m.org_id = r.owner_id AND m.user_id = ? "
    "LEFT JOIN collaborators c ON c.repo_id = r.id AND c.user_id = ? "
    "WHERE o.login_key = ? AND r.name_key = ?"
)


class _Entry(NamedTuple):
    resource: Resource
    generation: int
    # Decisions already taken on this resource, per (credential, requirement). Valid exactly as
    # long as the entry: a decision depends only on the principal (fixed for a token within a
    # generation — regenerating, editing, approving all move it), the resource and the
    # requirement; nothing in decide() reads the clock (expiry is checked at authentication).
    decisions: dict[tuple[int, str], Decision]


MAX_DECISIONS_PER_ENTRY = 64

# The memo in front of everything: (id(principal), owner, name as asked, requirement) → the answer.
# Keyed by the principal object's identity, which the cached authentication hands out again on
# every hit, so a warm request costs one tuple and one dict probe (issue 8, target 1). The
# value holds the principal itself: while it is remembered its id cannot be reused by another
# object, and ``is`` confirms the match.
_MemoKey = tuple[int, str, str, str]
_Answer = tuple[Resource, Decision]


def _credential(principal: Principal) -> int:
    if isinstance(principal, Anonymous):
        return 0
    if isinstance(principal, UserSession):
        return -1
    return principal.token_id


def _days(n: int | None) -> timedelta | None:
    return None if n is None else timedelta(days=n)


class RepositoryAccess:
    def __init__(
        self, url: str, generation: Generation, *, max_entries: int = 50_000, loop: LoopReader | None = None
    ) -> None:
        """``loop``: the process's loop reader (PostgreSQL), for ``decide_on_loop``."""
        self._db = RawReader(url)
        self._statement = Statement(self._db, loop, _SQL)
        self._generation = generation
        self.max_entries = max_entries
        self._entries: BoundedFifo[tuple[str, str, int], _Entry] = BoundedFifo(max_entries)
        self._memo: BoundedFifo[_MemoKey, tuple[Principal, int, _Answer]] = BoundedFifo(max_entries)

    @property
    def queries(self) -> int:
        return self._db.queries + self._statement.loop_queries

    def resource(self, owner: str, name: str, user_id: int | None) -> Resource | None:
        """The repository as ``user_id`` (None: anonymous) stands towards it now; None if absent."""
        key = _key(owner, name, user_id)
        entry = None if key is None else self._entry(key)
        return None if entry is None else entry.resource

    def decide(
        self, principal: Principal, owner: str, name: str, requirement: Requirement
    ) -> tuple[Resource, Decision] | None:
        """``authz.decide`` on a repository named by its owner and name, memoized per credential
        and requirement; None if there is no such repository."""
        memo = (id(principal), owner, name, requirement.name)
        answer = self._recall(memo, principal)
        if answer is not None:
            return answer
        key = _key(owner, name, getattr(principal, "user_id", None))
        entry = None if key is None else self._entry(key)
        return None if entry is None else self._remember(memo, principal, entry, requirement)

    async def decide_on_loop(
        self, principal: Principal, owner: str, name: str, requirement: Requirement
    ) -> tuple[Resource, Decision] | None:
        """``decide``, a miss's read awaited on the event loop (PostgreSQL: other requests are
        served meanwhile). The generation is read before the read, so a change committed while
        it is in flight leaves the new entry already stale (as in ``Authenticator.begin``)."""
        memo = (id(principal), owner, name, requirement.name)
        answer = self._recall(memo, principal)
        if answer is not None:
            return answer
        key = _key(owner, name, getattr(principal, "user_id", None))
        if key is None:
            return None
        entry, generation = self._cached(key)
        if entry is None:
            rows = await self._statement.rows_on_loop(_params(key))
            entry = self._store(key, _resource(rows, key[2]), generation)
        return None if entry is None else self._remember(memo, principal, entry, requirement)

    def _recall(self, memo: _MemoKey, principal: Principal) -> _Answer | None:
        """The memoized answer, if it was given to this very principal under the current generation."""
        known = self._memo.get(memo)
        if known is not None and known[0] is principal and known[1] == self._generation.current():
            return known[2]
        return None

    def _remember(self, memo: _MemoKey, principal: Principal, entry: _Entry, requirement: Requirement) -> _Answer:
        answer = _decision(entry, principal, requirement)
        # Under the entry's generation: the answer is exactly as current as the facts it used.
        self._memo.put(memo, (principal, entry.generation, answer))
        return answer

    def _entry(self, key: tuple[str, str, int]) -> _Entry | None:
        entry, generation = self._cached(key)
        if entry is None:
            entry = self._store(key, _resource(self._statement.rows(_params(key)), key[2]), generation)
        return entry

    def _cached(self, key: tuple[str, str, int]) -> tuple[_Entry | None, int]:
        """The entry if still current, and the generation a reload must be stored under (read
        before the reload, so a change committed during it leaves the new entry stale)."""
        generation = self._generation.current()
        entry = self._entries.get(key)
        return (entry if entry is not None and entry.generation == generation else None), generation

    def _store(self, key: tuple[str, str, int], resource: Resource | None, generation: int) -> _Entry | None:
        if resource is None:
            return None  # "no such repository" is never cached (see the module docstring)
        entry = _Entry(resource, generation, {})
        self._entries.put(key, entry)
        return entry

    def clear(self) -> None:
        """Forget every cached fact and decision (benchmarks measuring a cold cache)."""
        self._entries.clear()
        self._memo.clear()

    def close(self) -> None:
        self._db.close()


def _key(owner: str, name: str, user_id: int | None) -> tuple[str, str, int] | None:
    if "\x00" in owner or "\x00" in name:
        return None
    return owner.lower(), name.lower(), user_id or 0


def _params(key: tuple[str, str, int]) -> tuple[Any, ...]:
    owner, name, user_id = key
    return user_id, user_id, owner, name


def _decision(entry: _Entry, principal: Principal, requirement: Requirement) -> tuple[Resource, Decision]:
    memo = (_credential(principal), requirement.name)
    decision = entry.decisions.get(memo)
    if decision is None:
        decision = decide(principal, entry.resource, requirement)
        if len(entry.decisions) >= MAX_DECISIONS_PER_ENTRY:
            entry.decisions.clear()
        entry.decisions[memo] = decision
    return entry.resource, decision


def _resource(rows: list[tuple[Any, ...]], user_id: int) -> Resource | None:
    """The query's row (if any) → the repository as ``user_id`` (0: anonymous) stands towards it."""
    if not rows:
        return None
    (
        repo_id,
        private,
        repo_name,
        owner_id,
        owner_login,
        owner_kind,
        classic_ok,
        fine_ok,
        approval,
        max_fine,
        max_classic,
        base_role,
        member_role,
        collaborator_role,
    ) = rows[0]
    is_org = owner_kind == "organization"
    org_role = OrgRole.parse(member_role) if (is_org and member_role) else None
    role = None
    if user_id:
        role = repository_role(
            is_owner=owner_id == user_id,
            org_role=org_role,
            org_base_role=RepoRole.parse(base_role) if is_org and base_role and base_role != "none" else None,
            collaborator_role=RepoRole.parse(collaborator_role) if collaborator_role else None,
        )
    policy = None
    if is_org:
        policy = OrgPolicy(
            classic_allowed=bool(classic_ok),
            fine_grained_allowed=bool(fine_ok),
            approval_required=bool(approval),
            max_lifetime_fine_grained=_days(max_fine),
            max_lifetime_classic=_days(max_classic),
        )
    return Resource(
        target=Target.REPOSITORY,
        owner_id=owner_id,
        owner_login=owner_login,
        public=not private,
        repo_id=repo_id,
        name=f"{owner_login}/{repo_name}",
        org_policy=policy,
        repo_role=role,
        org_role=org_role,
    )
