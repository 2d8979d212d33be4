"""Requests and grants as the organization pages and the token page show them.

Built inside the unit of work, with the repository names of a whole page fetched in one query
rather than one per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import FineGrainedGrant, Token, TokenRepository, TokenRequest
from tokenforge.web import present


@dataclass(frozen=True, slots=True)
class RepoName:
    name: str  # as written ("Infra")
    key: str  # lower-cased, what the review filters compare


def repository_names(session: Session, repo_ids: Iterable[int]) -> dict[int, RepoName]:
    ids = set(repo_ids)
    if not ids:
        return {}
    rows = session.execute(select(Repository.id, Repository.name, Repository.name_key).where(Repository.id.in_(ids)))
    return {repo_id: RepoName(name, key) for repo_id, name, key in rows}


def granted_repositories(session: Session, token_ids: Iterable[int]) -> dict[int, list[RepoName]]:
    """Each token's selected repositories (``subset`` grants), by name."""
    ids = set(token_ids)
    out: dict[int, list[RepoName]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(TokenRepository.token_id, Repository.name, Repository.name_key)
        .join(Repository, Repository.id == TokenRepository.repo_id)
        .where(TokenRepository.token_id.in_(ids))
        .order_by(Repository.name_key)
    )
    for token_id, name, key in rows:
        out[token_id].append(RepoName(name, key))
    return out


def _full(owner: str, names: Iterable[RepoName]) -> list[str]:
    return [f"{owner}/{n.name}" for n in names]


def _asks_for_more(
    owner: str, grant: FineGrainedGrant, granted: list[RepoName], request: TokenRequest, requested: list[RepoName]
) -> list[str]:
    return present.requested_more(
        grant.permissions,
        request.permissions,
        granted_selection=grant.repository_selection,
        requested_selection=request.repository_selection,
        granted_repositories=_full(owner, granted),
        requested_repositories=_full(owner, requested),
    )


@dataclass
class RequestRow:
    """A pending request: what was asked for, by whom, with the token's expiry and last use."""

    id: int
    token_id: int
    token_name: str
    requester: str
    justification: str
    requested_at: str
    repository_access: str
    repositories: list[str]
    summary: list[str]  # the permissions asked for
    expiry: str
    expired: bool
    last_used: str
    upgrade: bool  # the token is approved and this asks for more
    more: list[str] = field(default_factory=list)  # what an upgrade adds to the approved grant
    approved: list[str] = field(default_factory=list)  # an upgrade's approved grant, summarized


def request_rows(session: Session, owner: Account, requests: Sequence[TokenRequest], now: datetime) -> list[RequestRow]:
    names = repository_names(session, (rid for r in requests for rid in r.repository_ids))
    upgrades = [r.token_id for r in requests if r.upgrade]
    grants: dict[int, FineGrainedGrant] = {}
    if upgrades:
        query = select(FineGrainedGrant).where(FineGrainedGrant.token_id.in_(upgrades))
        grants = {g.token_id: g for g in session.scalars(query)}
    granted = granted_repositories(session, upgrades)
    rows = []
    for request in requests:
        token = request.token
        asked = [names[i] for i in request.repository_ids if i in names]
        row = RequestRow(
            id=request.id,
            token_id=token.id,
            token_name=token.name,
            requester=token.user.login,
            justification=request.reason,
            requested_at=present.timestamp(request.created_at),
            repository_access=present.repository_access(request.repository_selection, _full(owner.login, asked)),
            repositories=_full(owner.login, asked),
            summary=present.permission_summary(request.permissions),
            expiry=present.expiry(token.expires_at, now),
            expired=present.is_expired(token.expires_at, now),
            last_used=present.last_used(token.last_used_at, now),
            upgrade=request.upgrade,
        )
        grant = grants.get(token.id)
        if request.upgrade and grant is not None:
            row.more = _asks_for_more(owner.login, grant, granted[token.id], request, asked)
            row.approved = [
                present.repository_access(grant.repository_selection, _full(owner.login, granted[token.id])),
                *present.permission_summary(grant.permissions),
            ]
        rows.append(row)
    return rows


@dataclass
class GrantRow:
    """An approved fine-grained token with access to the organization."""

    token_id: int
    name: str
    owner: str
    repository_access: str
    repositories: list[str]
    summary: list[str]
    expiry: str
    expired: bool
    last_used: str
    last_used_at: str
    granted_at: str


def grant_rows(session: Session, owner: Account, grants: Sequence[FineGrainedGrant], now: datetime) -> list[GrantRow]:
    repos = granted_repositories(session, (g.token_id for g in grants))
    rows = []
    for grant in grants:
        token = grant.token
        names = repos[grant.token_id]
        rows.append(
            GrantRow(
                token_id=token.id,
                name=token.name,
                owner=token.user.login,
                repository_access=present.repository_access(grant.repository_selection, _full(owner.login, names)),
                repositories=_full(owner.login, names),
                summary=present.permission_summary(grant.permissions),
                expiry=present.expiry(token.expires_at, now),
                expired=present.is_expired(token.expires_at, now),
                last_used=present.last_used(token.last_used_at, now),
                last_used_at="" if token.last_used_at is None else present.timestamp(token.last_used_at),
                granted_at=present.timestamp(grant.access_granted_at),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class PendingAsk:
    """A token's request for more access, as its own page shows it next to the approved grant."""

    org: str
    more: list[str]
    requested_at: str


def pending_ask(session: Session, token: Token) -> PendingAsk | None:
    """The token's pending request for more access, if any (at most one is pending)."""
    grant = token.grant
    if grant is None:
        return None
    request = session.scalar(
        select(TokenRequest).where(
            TokenRequest.token_id == token.id, TokenRequest.status == "pending", TokenRequest.upgrade.is_(True)
        )
    )
    if request is None:
        return None
    owner = grant.resource_owner.login
    asked = list(repository_names(session, request.repository_ids).values())
    granted = granted_repositories(session, [token.id])[token.id]
    more = _asks_for_more(owner, grant, granted, request, asked)
    return PendingAsk(owner, more, present.timestamp(request.created_at))
