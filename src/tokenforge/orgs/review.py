"""Organization owners' control over personal access tokens (spec §5): the policy, the review of
fine-grained token requests, and revocation of granted access.

Every change here is audited, and every change that can reduce someone's access moves the access
generation (auth/generation.py) so no process keeps serving it from a cache.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, or_, select, union_all
from sqlalchemy.orm import Session, selectinload

from tokenforge.accounts.models import Account, Organization, User
from tokenforge.audit.services import record
from tokenforge.auth.generation import access_changed
from tokenforge.authz.subjects import Approval, RepositorySelection
from tokenforge.credentials.permissions import CATALOG
from tokenforge.db import count_rows
from tokenforge.errors import Invalid, NotFound
from tokenforge.mail import Mail, Mailer, send_after_commit
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import FineGrainedGrant, Token, TokenRepository, TokenRequest
from tokenforge.tokens.services import cancel_pending_requests

UNCHANGED = object()
# No token can live longer than the longest expiry offered (the CLI's 3,660 days); a larger
# "maximum" would only overflow date arithmetic.
MAX_LIFETIME_DAYS = 3660
REASON_MAX = 1024


def set_policy(
    session: Session,
    *,
    org: Organization,
    now: datetime,
    actor: Account | None = None,
    classic_allowed: bool | None = None,
    fine_grained_allowed: bool | None = None,
    approval_required: bool | None = None,
    max_lifetime_fine_grained_days: int | object | None = UNCHANGED,
    max_lifetime_classic_days: int | object | None = UNCHANGED,
    ip: str | None = None,
) -> dict[str, tuple[object, object]]:
    """Change the policy; returns what changed. Takes effect on the next request."""
    changes: dict[str, tuple[object, object]] = {}

    def change(attr: str, value: object) -> None:
        if (
            value is UNCHANGED
            or (value is None and attr.endswith("allowed"))
            or (value is None and attr == "approval_required")
        ):
            return
        if (
            attr.startswith("max_lifetime")
            and value is not None
            and (not isinstance(value, int) or not 1 <= value <= MAX_LIFETIME_DAYS)
        ):
            raise Invalid(f"A maximum lifetime must be between 1 and {MAX_LIFETIME_DAYS} days, or none", field=attr)
        old = getattr(org, attr)
        if old != value:
            changes[attr] = (old, value)
            setattr(org, attr, value)

    change("classic_tokens_allowed", classic_allowed)
    change("fine_grained_tokens_allowed", fine_grained_allowed)
    change("approval_required", approval_required)
    change("max_lifetime_fine_grained_days", max_lifetime_fine_grained_days)
    change("max_lifetime_classic_days", max_lifetime_classic_days)
    if not changes:
        return changes
    org.updated_at = now
    if approval_required is False:
        # Turning approval off approves what was waiting for it (denials and revocations stand).
        for request in pending_requests(session, org):
            _approve(session, request, now=now, reviewer=actor, reason="approval no longer required")
    access_changed(session)
    session.flush()
    record(
        session,
        "org.policy_changed",
        now=now,
        actor=actor,
        org=org,
        ip=ip,
        changes={key: [old, new] for key, (old, new) in changes.items()},
    )
    return changes


def _pending(org: Organization) -> Select[TokenRequest]:
    return select(TokenRequest).where(TokenRequest.org_id == org.id, TokenRequest.status == "pending")


def pending_requests(session: Session, org: Organization) -> list[TokenRequest]:
    return list(session.scalars(_pending(org).order_by(TokenRequest.created_at.desc(), TokenRequest.id.desc())))


def get_request(session: Session, org: Organization, request_id: int) -> TokenRequest:
    request = session.get(TokenRequest, request_id)
    if request is None or request.org_id != org.id:
        raise NotFound(f"No token request {request_id} in {org.login}")
    return request


def _grant(session: Session, token_id: int) -> FineGrainedGrant:
    grant = session.get(FineGrainedGrant, token_id)
    if grant is None:
        raise NotFound("The token of this request no longer exists")
    return grant


def _approve(session: Session, request: TokenRequest, *, now: datetime, reviewer: Account | None, reason: str) -> None:
    grant = _grant(session, request.token_id)
    if request.upgrade:
        # Apply what was asked for on top of the approved grant.
        grant.permissions = dict(request.permissions)
        grant.repository_selection = request.repository_selection
        session.query(TokenRepository).filter(TokenRepository.token_id == request.token_id).delete()
        for repo_id in request.repository_ids:
            session.add(
                TokenRepository(token_id=request.token_id, repo_id=repo_id, resource_owner_id=grant.resource_owner_id)
            )
    grant.approval = Approval.APPROVED.value
    grant.access_granted_at = now
    request.status = "approved"
    request.reviewed_at = now
    request.reviewer_id = reviewer.id if isinstance(reviewer, User) else None
    request.review_reason = reason


@dataclass(frozen=True, slots=True)
class Review:
    request: TokenRequest
    approved: bool


def review(
    session: Session,
    *,
    org: Organization,
    request_ids: Sequence[int] | None,
    approve: bool,
    reason: str = "",
    now: datetime,
    actor: Account | None,
    mailer: Mailer | None = None,
    settings_url: str = "",
    ip: str | None = None,
) -> list[Review]:
    """Approve or deny pending requests, one or many (``None``: every pending request).

    The requester is emailed the outcome with the reason. A request that is not pending (already
    reviewed, or cancelled) is refused with its state, so a double click cannot flip a decision.
    """
    if len(reason) > REASON_MAX:
        raise Invalid(f"Reason is too long (maximum is {REASON_MAX} characters)", field="reason")
    if request_ids is None:
        requests = pending_requests(session, org)
    else:
        if not request_ids:
            raise Invalid("Name at least one request", field="pat_request_ids")
        requests = [get_request(session, org, rid) for rid in dict.fromkeys(request_ids)]
    for request in requests:
        if request.status != "pending":
            raise Invalid(f"Request {request.id} is already {request.status}", field="pat_request_ids")
    done: list[Review] = []
    for request in requests:
        token = session.get(Token, request.token_id)
        assert token is not None
        if approve:
            _approve(session, request, now=now, reviewer=actor, reason=reason)
        else:
            request.status = "denied"
            request.reviewed_at = now
            request.reviewer_id = actor.id if isinstance(actor, User) else None
            request.review_reason = reason
            if not request.upgrade:
                _grant(session, request.token_id).approval = Approval.DENIED.value
        record(
            session,
            "token.approval_" + ("approved" if approve else "denied"),
            now=now,
            actor=actor,
            token=token,
            org=org,
            ip=ip,
            request_id=request.id,
            reason=reason,
        )
        if mailer is not None and token.user.primary_email is not None:
            send_after_commit(session, mailer, _outcome_mail(org, token, approve, reason, settings_url))
        done.append(Review(request, approve))
    # Either way cached principals embed the old approval state: approved access must work and
    # denied access must stop from the next request on.
    access_changed(session)
    session.flush()
    return done


def _outcome_mail(org: Organization, token: Token, approved: bool, reason: str, settings_url: str) -> Mail:
    outcome = "approved" if approved else "denied"
    lines = [
        f"Hi {token.user.login},",
        "",
        f"An owner of {org.login} {outcome} your request for the fine-grained personal access token "
        f'"{token.name}" to access resources of {org.login}.',
    ]
    if reason:
        lines += ["", f"Reason: {reason}"]
    if settings_url:
        lines += ["", f"Token settings: {settings_url}/settings/personal-access-tokens/{token.id}"]
    email = token.user.primary_email
    assert email is not None
    return Mail(email.address, f"[Tokenforge] {org.login} {outcome} your token request", "\n".join(lines) + "\n")


def revoke_grants(
    session: Session,
    *,
    org: Organization,
    token_ids: Iterable[int],
    now: datetime,
    actor: Account | None,
    reason: str = "",
    ip: str | None = None,
) -> list[Token]:
    """Cut granted fine-grained tokens off the organization, at once.

    The token keeps working elsewhere: it still reads public resources (spec §3.4).
    """
    if len(reason) > REASON_MAX:
        raise Invalid(f"Reason is too long (maximum is {REASON_MAX} characters)", field="reason")
    revoked = []
    for token_id in dict.fromkeys(token_ids):
        grant = session.get(FineGrainedGrant, token_id)
        token = session.get(Token, token_id)
        if grant is None or token is None or grant.resource_owner_id != org.id or token.revoked_at is not None:
            raise NotFound(f"No fine-grained token {token_id} with access to {org.login}")
        if grant.approval != Approval.APPROVED.value:
            raise Invalid(f"Token {token_id} is not approved ({grant.approval})", field="pat_ids")
        grant.approval = Approval.REVOKED.value
        cancel_pending_requests(session, token_id)
        record(session, "token.org_access_revoked", now=now, actor=actor, token=token, org=org, reason=reason, ip=ip)
        revoked.append(token)
    access_changed(session)
    session.flush()
    return revoked


@dataclass(frozen=True, slots=True)
class Filters:
    owners: Sequence[str] = ()  # logins of token owners
    repository: str | None = None  # a repository name of the organization
    permission: str | None = None  # a permission key the token holds
    last_used_before: datetime | None = None
    last_used_after: datetime | None = None
    token_ids: Sequence[int] = ()


def _common(query: Select[Any], filters: Filters) -> Select[Any]:
    if filters.owners:
        # Joined only for this filter: every token has its user (a foreign key that is never
        # null), so the join filters nothing else, and it tripled the capped count of an
        # organization's grants on PostgreSQL (43 against 11 ms at 100,000 grants).
        query = query.join(User, User.id == Token.user_id).where(
            User.login_key.in_([o.lower() for o in filters.owners])
        )
    if filters.token_ids:
        query = query.where(Token.id.in_(filters.token_ids))
    if filters.last_used_before is not None:
        query = query.where(Token.last_used_at < filters.last_used_before)
    if filters.last_used_after is not None:
        query = query.where(Token.last_used_at > filters.last_used_after)
    return query


# Lists count their rows up to this many, then say "more than": an exact count of half a million
# grants reads half a million rows on every page view.
COUNT_CAP = 10_000


def requests_query(
    org: Organization, filters: Filters, *, status: str = "pending", oldest_first: bool = False
) -> Select[Any]:
    """Requests of live tokens, newest first. Every filter is applied here but ``repository``,
    which looks inside each request's JSON list of repository ids: ``matches`` applies it."""
    order = (TokenRequest.created_at, TokenRequest.id)
    query = _common(
        select(TokenRequest)
        .join(Token, Token.id == TokenRequest.token_id)
        .where(TokenRequest.org_id == org.id, TokenRequest.status == status, Token.revoked_at.is_(None))
        .options(selectinload(TokenRequest.token).selectinload(Token.user))
        .order_by(*(order if oldest_first else (c.desc() for c in order))),
        filters,
    )
    return _holding(query, TokenRequest.permissions, filters)


def pending_count(session: Session, org: Organization) -> int:
    """How many requests ``requests_query(org, Filters())`` lists, from the index on
    (organization, status) alone.

    The list also asks that the token be live; the count need not read the tokens for that,
    because revoking a token cancels its pending requests (``tokens.services.revoke_token``;
    migration 0009 cancelled those left from before). Joined to the tokens, the count grew with
    the tokens table, on every page of an organization's token settings: PostgreSQL can plan it
    as a hash of every token (44 ms at 200,000 tokens; docs/benchmarks.md, tenth session).
    """
    return count_rows(session, _pending(org))


def grants_query(
    org: Organization, filters: Filters, *, oldest_first: bool = False, among: Collection[int] | None = None
) -> Select[Any]:
    """Approved grants of live tokens, newest first, with every filter applied in SQL: an
    organization with half a million grants is one LIMIT/OFFSET away from any page of them.

    Newest first is by token id, which is assigned in creation order: that is the order of the
    index ``ix_fine_grained_grants_owner_approval_token``, so the database walks the index and
    stops after a page instead of sorting every grant (ordering by the token's ``created_at``
    took 1.5 s a page at 500,000 grants).

    ``among``: only these token ids (``active_grants``' candidates for the repository filter).
    """
    query = _common(
        select(FineGrainedGrant)
        .join(Token, Token.id == FineGrainedGrant.token_id)
        .where(
            FineGrainedGrant.resource_owner_id == org.id,
            FineGrainedGrant.approval == "approved",
            Token.revoked_at.is_(None),
        )
        .options(selectinload(FineGrainedGrant.token).selectinload(Token.user))
        .order_by(FineGrainedGrant.token_id if oldest_first else FineGrainedGrant.token_id.desc()),
        filters,
    )
    query = _holding(query, FineGrainedGrant.permissions, filters)
    if among is not None:
        query = query.where(FineGrainedGrant.token_id.in_(sorted(among)))
    if filters.repository:
        # What ``matches`` says of a grant, in SQL: all repositories, or a selection naming it. The
        # tokens naming it are one small set, computed once (not a subquery per grant).
        naming = _naming(org, filters.repository)
        query = query.where(
            or_(
                FineGrainedGrant.repository_selection == RepositorySelection.ALL.value,
                and_(
                    FineGrainedGrant.repository_selection == RepositorySelection.SUBSET.value,
                    FineGrainedGrant.token_id.in_(naming),
                ),
            )
        )
    return query


def _naming(org: Organization, repository: str) -> Select[Any]:
    """The ids of the tokens whose selected repositories include ``org``'s ``repository``."""
    return (
        select(TokenRepository.token_id)
        .join(Repository, Repository.id == TokenRepository.repo_id)
        .where(Repository.owner_id == org.id, Repository.name_key == repository.lower())
    )


# The repository filter looks its candidates up by primary key while there are at most this many
# (see ``active_grants``).
CANDIDATES_CAP = 1_000


def active_grants(session: Session, org: Organization, filters: Filters, *, oldest_first: bool = False) -> Select[Any]:
    """``grants_query``, planned for the repository filter.

    Along the review index, a filter that few grants match reads every grant of the organization
    to fill a page, and again to count (344 ms at 500,000 grants, docs/benchmarks.md). The grants
    that can match are few in exactly that case: the tokens that select the repository, plus the
    grants on all repositories. Up to ``CANDIDATES_CAP`` of them are gathered from their own
    indexes and the page is read by primary key among them. More candidates mean the matches are
    dense enough for the index walk to fill a page quickly, so the plain query runs.
    """
    if not filters.repository:
        return grants_query(org, filters, oldest_first=oldest_first)
    naming = _naming(org, filters.repository)
    everywhere = select(FineGrainedGrant.token_id).where(
        FineGrainedGrant.resource_owner_id == org.id,
        FineGrainedGrant.repository_selection == RepositorySelection.ALL.value,
        FineGrainedGrant.approval == Approval.APPROVED.value,
    )
    candidates = set(session.scalars(union_all(naming, everywhere).limit(CANDIDATES_CAP + 1)))
    if len(candidates) > CANDIDATES_CAP:
        return grants_query(org, filters, oldest_first=oldest_first)
    return grants_query(org, filters, oldest_first=oldest_first, among=candidates)


def _holding(query: Select[Any], permissions: Any, filters: Filters) -> Select[Any]:
    """Only rows whose JSON permission map has the key ``filters.permission``."""
    if not filters.permission:
        return query
    if filters.permission not in CATALOG:
        # No token holds a permission that does not exist; and the key never reaches a JSON path
        # unless it is one of the catalog's plain names.
        return query.where(false())
    # JSON_EXTRACT(…, '$."key"') on SQLite, ->> 'key' on PostgreSQL: NULL when the key is absent.
    return query.where(permissions[filters.permission].as_string().is_not(None))


def matches(filters: Filters, *, permissions: dict[str, object], selection: str, repository_names: set[str]) -> bool:
    """The filters that look inside the JSON permission map and the repository selection."""
    if filters.permission and filters.permission not in permissions:
        return False
    if filters.repository:
        wanted = filters.repository.lower()
        if selection == "none" or (selection == "subset" and wanted not in repository_names):
            return False
    return True
