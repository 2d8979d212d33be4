"""Creating, listing and revoking tokens, and turning a verified token into a principal.

``IssuedToken.secret`` is the only copy of a plaintext token that ever exists on the server: it
is returned to the caller to show once, and never stored, logged or put in an audit event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tokenforge.accounts.models import Account, Organization, User
from tokenforge.audit.services import record
from tokenforge.auth.generation import access_changed
from tokenforge.authz.roles import OrgRole
from tokenforge.authz.subjects import (
    Approval,
    ClassicToken,
    FineGrainedToken,
    RepositorySelection,
    TokenPrincipal,
)
from tokenforge.config import Settings
from tokenforge.credentials import permissions as perms
from tokenforge.credentials import scopes as scope_catalog
from tokenforge.credentials.format import TokenKind, last_eight
from tokenforge.credentials.permissions import Level
from tokenforge.errors import Conflict, Forbidden, Invalid, NotFound
from tokenforge.keys.services import delete_keys_created_by
from tokenforge.mail import Mail, Mailer, send_after_commit
from tokenforge.orgs.services import org_role
from tokenforge.repos.models import Repository
from tokenforge.repos.services import user_role
from tokenforge.tokens.models import (
    DESCRIPTION_MAX,
    FINE_GRAINED_NAME_MAX,
    NAME_MAX,
    FineGrainedGrant,
    RevokedReason,
    Token,
    TokenRepository,
    TokenRequest,
)

FINE_GRAINED_PER_USER = 50  # GitHub's limit (spec §3.1)
MAX_EXPIRY = timedelta(days=366 * 10)  # a sanity bound on custom dates; "never" is None


def _notify(session: Session, settings: Settings, mailer: Mailer | None, token: Token, *, regenerated: bool) -> None:
    """Tell the owner a token was added or regenerated: a stolen session creating tokens is
    noticed. Name, grant and expiry — never the secret."""
    email = token.user.primary_email
    if mailer is None or email is None:
        return
    if token.grant is None:
        grant = "Scopes: " + (", ".join(token.scope_list) or "none")
        page = settings.web_url(f"/settings/tokens/{token.id}")
    else:
        grant = "Permissions: " + ", ".join(f"{k}: {v}" for k, v in token.grant.permissions.items())
        page = settings.web_url(f"/settings/personal-access-tokens/{token.id}")
    expiry = token.expires_at.strftime("%Y-%m-%d %H:%M UTC") if token.expires_at else "never"
    what = "regenerated" if regenerated else "added to your account"
    subject = (
        "A personal access token was regenerated"
        if regenerated
        else ("A new personal access token was added to your account")
    )
    body = (
        f"Hi {token.user.login},\n\nA personal access token was {what}:\n\n  {token.name}\n  {grant}\n"
        f"  Expires: {expiry}\n\nIf you did not do this, delete the token now: {page}\n"
    )
    send_after_commit(session, mailer, Mail(email.address, f"[Tokenforge] {subject}", body))


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: Token
    secret: str  # shown once; never stored


def _require_verified_email(user: User) -> None:
    if not user.has_verified_email:
        raise Forbidden("Verify your email address before creating a personal access token", field="email")


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is None:
        return
    if expires_at <= now:
        raise Invalid("Expiration must be in the future", field="expires_at")
    if expires_at - now > MAX_EXPIRY:
        raise Invalid("Expiration is too far in the future; choose a nearer date or no expiration", field="expires_at")


def _check_org_lifetime(owner: Account, expires_at: datetime | None, now: datetime) -> None:
    """A fine-grained token aimed at an organization is created (or regenerated) within the
    organization's maximum lifetime: the organization is known up front, so GitHub's UI refuses
    then rather than letting the token be blocked at its first use. Classic tokens are only
    checked at use (spec §5.1)."""
    if isinstance(owner, Organization) and owner.max_lifetime_fine_grained_days is not None:
        limit = timedelta(days=owner.max_lifetime_fine_grained_days)
        if expires_at is None or expires_at - now > limit:
            raise Invalid(
                f"{owner.login} requires fine-grained tokens to expire within {limit.days} days", field="expires_at"
            )


def _check_name_free(session: Session, user: User, kind: TokenKind, name: str) -> None:
    taken = session.scalar(
        select(Token.id).where(
            Token.user_id == user.id, Token.kind == kind.value, Token.name == name, Token.revoked_at.is_(None)
        )
    )
    if taken is not None:
        label = "Note" if kind is TokenKind.CLASSIC else "Name"
        raise Conflict(f"{label} has already been taken", field="name")


def _new_row(
    settings: Settings,
    *,
    user: User,
    kind: TokenKind,
    name: str,
    now: datetime,
    expires_at: datetime | None,
    **fields: object,
) -> tuple[Token, str]:
    secret = settings.token_format.mint(kind)
    token = Token(
        user=user,
        user_id=user.id,
        kind=kind.value,
        digest=settings.peppers.digest(secret),
        pepper_id=settings.peppers.current.id,
        last_eight=last_eight(secret),
        name=name,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
        **fields,
    )
    return token, secret


def _flush(session: Session, token: Token) -> None:
    session.add(token)
    try:
        session.flush()
    except IntegrityError as exc:
        # The name check above races with a concurrent creation; the unique index decides.
        raise Conflict("A token with this name already exists", field="name") from exc


def create_classic_token(
    session: Session,
    settings: Settings,
    *,
    user: User,
    note: str,
    scopes: Iterable[str],
    expires_at: datetime | None,
    now: datetime,
    actor: Account | None = None,
    ip: str | None = None,
    mailer: Mailer | None = None,
) -> IssuedToken:
    """Create a classic token and record the audit event."""
    _require_verified_email(user)
    note = note.strip()
    if not note:
        raise Invalid("Note can't be blank", field="note")
    if len(note) > NAME_MAX:
        raise Invalid(f"Note is too long (maximum is {NAME_MAX} characters)", field="note")
    try:
        normalized = scope_catalog.normalize(scopes)
    except scope_catalog.UnknownScope as exc:
        raise Invalid(f"Unknown scope: {exc.scope}", field="scopes") from None
    _check_expiry(expires_at, now)
    _check_name_free(session, user, TokenKind.CLASSIC, note)
    token, secret = _new_row(
        settings,
        user=user,
        kind=TokenKind.CLASSIC,
        name=note,
        now=now,
        expires_at=expires_at,
        scopes=",".join(normalized),
    )
    _flush(session, token)
    record(
        session,
        "token.created",
        now=now,
        actor=actor or user,
        token=token,
        ip=ip,
        kind="classic",
        scopes=list(normalized),
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    _notify(session, settings, mailer, token, regenerated=False)
    return IssuedToken(token, secret)


def create_fine_grained_token(
    session: Session,
    settings: Settings,
    *,
    user: User,
    name: str,
    resource_owner: Account,
    permissions: Mapping[str, Level | str],
    expires_at: datetime | None,
    now: datetime,
    description: str = "",
    repository_selection: RepositorySelection = RepositorySelection.NONE,
    repositories: Sequence[Repository] = (),
    justification: str = "",
    actor: Account | None = None,
    ip: str | None = None,
    mailer: Mailer | None = None,
) -> IssuedToken:
    """Create a fine-grained token, its grant, and (for an organization) its approval state."""
    _require_verified_email(user)
    name = name.strip()
    if not name:
        raise Invalid("Name can't be blank", field="name")
    if len(name) > FINE_GRAINED_NAME_MAX:
        raise Invalid(f"Name is too long (maximum is {FINE_GRAINED_NAME_MAX} characters)", field="name")
    if len(description) > DESCRIPTION_MAX:
        raise Invalid(f"Description is too long (maximum is {DESCRIPTION_MAX} characters)", field="description")
    if len(justification) > DESCRIPTION_MAX:
        raise Invalid(f"Justification is too long (maximum is {DESCRIPTION_MAX} characters)", field="justification")
    _check_expiry(expires_at, now)

    is_org = isinstance(resource_owner, Organization)
    membership = org_role(session, resource_owner.id, user.id) if is_org else None
    # A token may target only its own user or an organization the user belongs to that allows
    # fine-grained tokens; anything else reads as "no such owner", GitHub's wording (spec §6.1).
    if (
        isinstance(resource_owner, Organization)
        and (membership is None or not resource_owner.fine_grained_tokens_allowed)
    ) or (not is_org and resource_owner.id != user.id):
        raise Invalid(f"Cannot find the specified resource owner: {resource_owner.login}", field="resource_owner")

    try:
        granted = perms.normalize(permissions, owner_is_organization=is_org)
    except perms.InvalidPermission as exc:
        raise Invalid(str(exc), field="permissions") from None
    if (
        is_org
        and membership is not OrgRole.OWNER
        and any(perms.CATALOG[key].group is perms.Group.ORGANIZATION for key in granted)
    ):
        raise Invalid("Only organization owners can grant organization permissions", field="permissions")

    _check_org_lifetime(resource_owner, expires_at, now)

    chosen = _check_repositories(session, user, resource_owner, repository_selection, repositories)

    live = session.scalar(
        select(func.count())
        .select_from(Token)
        .where(Token.user_id == user.id, Token.kind == TokenKind.FINE_GRAINED.value, Token.revoked_at.is_(None))
    )
    if (live or 0) >= FINE_GRAINED_PER_USER:
        raise Invalid(f"You can have at most {FINE_GRAINED_PER_USER} fine-grained personal access tokens", field="name")
    _check_name_free(session, user, TokenKind.FINE_GRAINED, name)

    # Owners' own tokens are approved at once (spec §3.4); so is every token aimed at a user.
    needs_approval = isinstance(resource_owner, Organization) and resource_owner.approval_required
    approval = Approval.PENDING if needs_approval and membership is not OrgRole.OWNER else Approval.APPROVED

    token, secret = _new_row(
        settings,
        user=user,
        kind=TokenKind.FINE_GRAINED,
        name=name,
        now=now,
        expires_at=expires_at,
        description=description,
    )
    token.grant = FineGrainedGrant(
        resource_owner_id=resource_owner.id,
        repository_selection=repository_selection.value,
        permissions={key: level.label for key, level in granted.items()},
        approval=approval.value,
        justification=justification,
    )
    _flush(session, token)
    for repo in chosen:
        session.add(TokenRepository(token_id=token.id, repo_id=repo.id, resource_owner_id=resource_owner.id))
    session.flush()
    record(
        session,
        "token.created",
        now=now,
        actor=actor or user,
        token=token,
        ip=ip,
        kind="fine_grained",
        resource_owner=resource_owner.login,
        repository_selection=repository_selection.value,
        repositories=[r.name for r in chosen],
        permissions=token.grant.permissions,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    if approval is Approval.PENDING:
        session.add(
            TokenRequest(
                token_id=token.id,
                org_id=resource_owner.id,
                status="pending",
                reason=justification,
                repository_selection=repository_selection.value,
                repository_ids=[r.id for r in chosen],
                permissions=dict(token.grant.permissions),
                upgrade=False,
                created_at=now,
            )
        )
        session.flush()
        record(
            session,
            "token.approval_requested",
            now=now,
            actor=actor or user,
            token=token,
            ip=ip,
            org=resource_owner,
            justification=justification,
        )
    elif isinstance(resource_owner, Organization):
        token.grant.access_granted_at = now
    _notify(session, settings, mailer, token, regenerated=False)
    return IssuedToken(token, secret)


def _check_repositories(
    session: Session, user: User, owner: Account, selection: RepositorySelection, repositories: Sequence[Repository]
) -> list[Repository]:
    if selection is not RepositorySelection.SUBSET:
        if repositories:
            raise Invalid("Repositories can only be listed with 'only select repositories'", field="repositories")
        return []
    if not repositories:
        raise Invalid("Select at least one repository", field="repositories")
    unique = list({r.id: r for r in repositories}.values())
    for repo in unique:
        # A private repository the user cannot see gets the same answer as one that does not
        # exist, so the form cannot be used to probe for private repository names.
        if repo.private and user_role(session, repo, user.id) is None:
            raise Invalid("Repository not found", field="repositories")
        if repo.owner_id != owner.id:
            raise Invalid(f"{repo.full_name} does not belong to {owner.login}", field="repositories")
    return unique


def tokens_query(user: User, kind: TokenKind | None = None) -> Select[Any]:
    """The user's live (unrevoked) tokens, newest first. Expired ones are included.

    A query, not a list, so that the web reads one page of it (LIMIT/OFFSET).
    """
    query = (
        select(Token)
        .where(Token.user_id == user.id, Token.revoked_at.is_(None))
        .options(
            selectinload(Token.grant).selectinload(FineGrainedGrant.resource_owner),
            selectinload(Token.grant).selectinload(FineGrainedGrant.repositories),
        )
        .order_by(Token.created_at.desc(), Token.id.desc())
    )
    if kind is not None:
        query = query.where(Token.kind == kind.value)
    return query


def list_tokens(session: Session, user: User, kind: TokenKind | None = None) -> list[Token]:
    """Every one of ``tokens_query``'s tokens (the CLI's listing)."""
    return list(session.scalars(tokens_query(user, kind)))


def get_token(session: Session, token_id: int) -> Token:
    token = session.get(Token, token_id)
    if token is None or token.revoked_at is not None:
        raise NotFound(f"No token with id {token_id}")
    return token


def revoke_token(
    session: Session,
    *,
    token: Token,
    reason: RevokedReason,
    now: datetime,
    actor: Account | None = None,
    ip: str | None = None,
) -> None:
    """Stop a token from working, at once — "delete" in GitHub's words.

    The row stays (audit trail; a digest is never reissued), but everything the token created
    that lives by it goes in the same transaction: deleting a token deletes the deploy keys it
    created (spec §6.3), whoever deletes it and why.
    """
    if token.revoked_at is not None:
        return
    token.revoked_at = now
    token.revoked_reason = reason.value
    # Nothing is left for an owner to review: a pending request is always a live token's, which
    # lets the organization's pending tab count its requests without reading the tokens
    # (orgs/review.py, ``pending_count``).
    cancel_pending_requests(session, token.id)
    access_changed(session)
    session.flush()
    delete_keys_created_by(session, token, now=now, reason=reason.value, actor=actor)
    record(session, "token.revoked", now=now, actor=actor, token=token, ip=ip, reason=reason.value)


def cancel_pending_requests(session: Session, token_id: int) -> None:
    """The token's pending requests for organization access, cancelled (at most one is pending)."""
    pending = select(TokenRequest).where(TokenRequest.token_id == token_id, TokenRequest.status == "pending")
    for request in session.scalars(pending):
        request.status = "cancelled"


def principal_for(session: Session, settings: Settings, token: Token) -> TokenPrincipal:
    """The decision's view of a live token (the caller has checked it is live)."""
    user = token.user
    if token.kind == TokenKind.CLASSIC.value:
        scope_names = token.scope_list
        return ClassicToken(
            user_id=user.id,
            login=user.login,
            token_id=token.id,
            lifetime=token.lifetime,
            expires_at=token.expires_at,
            settings_url=settings.web_url(f"/settings/tokens/{token.id}"),
            scopes=scope_names,
            granted=scope_catalog.expand(scope_names),
        )
    grant = token.grant
    assert grant is not None, "fine-grained token without a grant (the schema forbids it)"
    repo_ids = frozenset(session.scalars(select(TokenRepository.repo_id).where(TokenRepository.token_id == token.id)))
    return FineGrainedToken(
        user_id=user.id,
        login=user.login,
        token_id=token.id,
        lifetime=token.lifetime,
        expires_at=token.expires_at,
        settings_url=settings.web_url(f"/settings/personal-access-tokens/{token.id}"),
        resource_owner_id=grant.resource_owner_id,
        resource_owner_login=grant.resource_owner.login,
        repository_selection=RepositorySelection(grant.repository_selection),
        repository_ids=repo_ids,
        permissions={key: Level.parse(level) for key, level in grant.permissions.items()},
        approval=Approval(grant.approval),
    )


def revoke_presented(
    session: Session, settings: Settings, credentials: Iterable[str], *, now: datetime, ip: str | None = None
) -> int:
    """Revoke whichever of the presented secrets are live tokens of this instance.

    For ``POST /credentials/revoke``: strings that fail the checksum cost no query; the rest are
    looked up by digest (every configured pepper) in one query. Returns how many were revoked;
    the caller must not reveal it.
    """
    digests: list[bytes] = []
    for secret in set(credentials):
        if isinstance(secret, str) and settings.token_format.identify(secret) is not None:
            digests.extend(settings.peppers.candidates(secret))
    if not digests:
        return 0
    found = session.scalars(select(Token).where(Token.digest.in_(digests), Token.revoked_at.is_(None))).all()
    for token in found:
        revoke_token(session, token=token, reason=RevokedReason.CREDENTIALS_API, now=now, ip=ip)
    return len(found)


def regenerate_token(
    session: Session,
    settings: Settings,
    *,
    token: Token,
    expires_at: datetime | None,
    now: datetime,
    actor: Account | None = None,
    ip: str | None = None,
    mailer: Mailer | None = None,
) -> IssuedToken:
    """A new secret for the same token: same id, same grants, a new expiry (spec §6.2).

    The old secret stops working from the next request on: its digest is replaced in this
    transaction and the access generation moves, so no process serves it from a cache.
    """
    if token.revoked_at is not None:
        raise NotFound(f"No token with id {token.id}")
    _check_expiry(expires_at, now)
    if token.grant is not None:
        _check_org_lifetime(token.grant.resource_owner, expires_at, now)
    secret = settings.token_format.mint(token.token_kind)
    token.digest = settings.peppers.digest(secret)
    token.pepper_id = settings.peppers.current.id
    token.last_eight = last_eight(secret)
    token.regenerated_at = now
    token.expires_at = expires_at
    token.updated_at = now
    access_changed(session)
    session.flush()
    record(
        session,
        "token.regenerated",
        now=now,
        actor=actor or token.user,
        token=token,
        ip=ip,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    _notify(session, settings, mailer, token, regenerated=True)
    return IssuedToken(token, secret)


def update_classic_token(
    session: Session,
    *,
    token: Token,
    note: str,
    scopes: Iterable[str],
    now: datetime,
    actor: Account | None = None,
    ip: str | None = None,
) -> Token:
    """Edit a classic token's note and scopes ("Update token" on GitHub); the secret stays."""
    if token.kind != TokenKind.CLASSIC.value or token.revoked_at is not None:
        raise NotFound(f"No classic token with id {token.id}")
    note = note.strip()
    if not note:
        raise Invalid("Note can't be blank", field="note")
    if len(note) > NAME_MAX:
        raise Invalid(f"Note is too long (maximum is {NAME_MAX} characters)", field="note")
    try:
        normalized = scope_catalog.normalize(scopes)
    except scope_catalog.UnknownScope as exc:
        raise Invalid(f"Unknown scope: {exc.scope}", field="scopes") from None
    if note != token.name:
        _check_name_free(session, token.user, TokenKind.CLASSIC, note)
    before = token.scope_list
    access_changed(session)  # cached verifications embed the old scopes
    token.name = note
    token.scopes = ",".join(normalized)
    token.updated_at = now
    session.flush()
    record(
        session,
        "token.updated",
        now=now,
        actor=actor or token.user,
        token=token,
        ip=ip,
        scopes=list(normalized),
        previous_scopes=list(before),
    )
    return token


_SELECTION_RANK = {"none": 0, "subset": 1, "all": 2}


def _widens(
    old: Mapping[str, Level], new: Mapping[str, Level], old_repos: tuple[str, set[int]], new_repos: tuple[str, set[int]]
) -> bool:
    """Whether an edit asks for access the token did not have (an organization must review it)."""
    (old_selection, old_ids), (new_selection, new_ids) = old_repos, new_repos
    return (
        any(level > old.get(key, 0) for key, level in new.items())
        or _SELECTION_RANK[new_selection] > _SELECTION_RANK[old_selection]
        # Repository lists only compare subset to subset: "all" keeps no list.
        or (new_selection == old_selection == "subset" and not new_ids <= old_ids)
    )


def update_fine_grained_token(
    session: Session,
    *,
    token: Token,
    name: str,
    description: str,
    permissions: Mapping[str, Level | str],
    repository_selection: RepositorySelection,
    repositories: Sequence[Repository],
    now: datetime,
    actor: Account | None = None,
    ip: str | None = None,
) -> Token:
    """Edit a fine-grained token; its secret, resource owner and expiry stay the same.

    An organization token that needs approval and asks for more than its owners approved files a
    request (spec §3.4): the whole requested state waits in ``token_requests`` while the approved
    grant — and the access it gives — stays as it was until an owner approves. A token that was
    never approved (pending, denied, revoked) is updated in place and (re)submitted for review.
    """
    grant = token.grant
    if grant is None or token.revoked_at is not None:
        raise NotFound(f"No fine-grained token with id {token.id}")
    name = name.strip()
    if not name:
        raise Invalid("Name can't be blank", field="name")
    if len(name) > FINE_GRAINED_NAME_MAX:
        raise Invalid(f"Name is too long (maximum is {FINE_GRAINED_NAME_MAX} characters)", field="name")
    if len(description) > DESCRIPTION_MAX:
        raise Invalid(f"Description is too long (maximum is {DESCRIPTION_MAX} characters)", field="description")
    owner = grant.resource_owner
    is_org = isinstance(owner, Organization)
    membership = org_role(session, owner.id, token.user_id) if is_org else None
    try:
        granted = perms.normalize(permissions, owner_is_organization=is_org)
    except perms.InvalidPermission as exc:
        raise Invalid(str(exc), field="permissions") from None
    if (
        is_org
        and membership is not OrgRole.OWNER
        and any(perms.CATALOG[key].group is perms.Group.ORGANIZATION for key in granted)
    ):
        raise Invalid("Only organization owners can grant organization permissions", field="permissions")
    chosen = _check_repositories(session, token.user, owner, repository_selection, repositories)
    if name != token.name:
        _check_name_free(session, token.user, TokenKind.FINE_GRAINED, name)

    old_repos = set(session.scalars(select(TokenRepository.repo_id).where(TokenRepository.token_id == token.id)))
    new_repos = {r.id for r in chosen}
    widened = _widens(
        {k: Level.parse(v) for k, v in grant.permissions.items()},
        granted,
        (grant.repository_selection, old_repos),
        (repository_selection.value, new_repos),
    )
    token.name = name
    token.description = description
    token.updated_at = now
    requested = {key: level.label for key, level in granted.items()}
    review = (
        isinstance(owner, Organization)
        and owner.approval_required
        and membership is not OrgRole.OWNER
        and (widened or grant.approval != Approval.APPROVED.value)
    )
    approved_before = grant.approval == Approval.APPROVED.value
    if review:
        # One pending request per token: a newer edit replaces what was waiting.
        cancel_pending_requests(session, token.id)
        session.flush()
        session.add(
            TokenRequest(
                token_id=token.id,
                org_id=owner.id,
                status="pending",
                reason=grant.justification,
                repository_selection=repository_selection.value,
                repository_ids=sorted(new_repos),
                permissions=requested,
                upgrade=approved_before,
                created_at=now,
            )
        )
    if not (review and approved_before):
        # Applied at once: no review is needed, or the token was not approved anyway.
        grant.permissions = requested
        grant.repository_selection = repository_selection.value
        session.execute(delete(TokenRepository).where(TokenRepository.token_id == token.id))
        for repo in chosen:
            session.add(TokenRepository(token_id=token.id, repo_id=repo.id, resource_owner_id=owner.id))
        if review:
            grant.approval = Approval.PENDING.value
    # Cached verifications embed the grant and its approval state: whatever changed now must be
    # seen on the next request, in every process.
    access_changed(session)
    session.flush()
    record(
        session,
        "token.updated",
        now=now,
        actor=actor or token.user,
        token=token,
        ip=ip,
        permissions=requested,
        repository_selection=repository_selection.value,
        repositories=[r.name for r in chosen],
        review_requested=review,
    )
    if review:
        record(
            session,
            "token.approval_requested",
            now=now,
            actor=actor or token.user,
            token=token,
            ip=ip,
            org=owner,
            justification=grant.justification,
            upgrade=approved_before,
        )
    return token
