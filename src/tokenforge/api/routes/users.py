"""Users and organizations: /user, /users/{login}, /orgs/{org} and their repository lists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account, Membership, Organization, User
from tokenforge.accounts.reads import UserView
from tokenforge.accounts.services import find_account
from tokenforge.api import serializers
from tokenforge.api.context import (
    authorize,
    can,
    current_user,
    paginate_list,
    paginate_query,
    principal,
    repo_resource,
    requires,
    services,
    unit_of_work,
    user_id,
)
from tokenforge.api.errors import ApiError
from tokenforge.api.responses import GitHubJSON
from tokenforge.audit.models import AuditEvent
from tokenforge.audit.services import record
from tokenforge.authz.requirements import (
    AUTHENTICATED,
    ORG_READ,
    PROFILE_WRITE,
    PUBLIC,
    REPO_METADATA,
    SECURITY_LOG_READ,
    Target,
)
from tokenforge.authz.subjects import Anonymous, Resource
from tokenforge.orgs.services import org_resource as services_org_resource
from tokenforge.orgs.services import org_role
from tokenforge.repos.models import Collaborator, Repository
from tokenforge.repos.services import count_public_repositories

router = APIRouter()


def account_resource(user: User) -> Resource:
    return Resource(Target.ACCOUNT, owner_id=user.id, owner_login=user.login, public=False, name=user.login)


def org_resource(session: Session, org: Organization, uid: int | None) -> Resource:
    """The organization as the caller (``uid``; None: anonymous) stands towards it now."""
    return services_org_resource(org, org_role(session, org.id, uid) if uid is not None else None)


def _private_fields(private_repos: int) -> dict[str, Any]:
    return {
        "private_gists": 0,
        "total_private_repos": private_repos,
        "owned_private_repos": private_repos,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": False,
        "plan": {"name": "free", "space": 976562499, "private_repos": 10000, "collaborators": 0},
    }


def _own_document(request: Request, view: UserView | None) -> dict[str, Any]:
    """GET /user's body, from one raw read (no ORM session): every client's first request."""
    if view is None:
        raise ApiError(401, "Requires authentication")
    return serializers.full_user(
        view,
        services(request).settings,
        public_repos=view.public_repos,
        email=view.email,
        private=_private_fields(view.private_repos),
    )


@router.get("/user")
@requires(AUTHENTICATED, resource="User")
async def get_authenticated_user(request: Request) -> GitHubJSON:
    # async: no thread hop; the read is awaited on PostgreSQL and inline on SQLite.
    who = principal(request)
    if isinstance(who, Anonymous):
        raise ApiError(401, "Requires authentication")
    authorize(
        request, Resource(Target.ACCOUNT, owner_id=who.user_id, owner_login=who.login, public=False, name=who.login)
    )
    return GitHubJSON(_own_document(request, await services(request).user_reads.document_on_loop(who.user_id)))


class UserUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=255)
    email: str | None = None
    blog: str | None = None
    company: str | None = None
    location: str | None = None
    hireable: bool | None = None
    bio: str | None = None
    twitter_username: str | None = None


@router.patch("/user")
@requires(PROFILE_WRITE, resource="User")
def update_authenticated_user(request: Request, body: UserUpdate) -> GitHubJSON:
    svc = services(request)
    with unit_of_work(request) as session:
        user = current_user(request, session)
        authorize(request, account_resource(user))
        if body.name is not None and body.name != user.name:
            user.name = body.name
            user.updated_at = svc.clock.now()
            record(session, "user.profile_updated", now=svc.clock.now(), actor=user, user=user)
    # After the commit: the document is read the same way GET /user reads it.
    return GitHubJSON(_own_document(request, svc.user_reads.document(user_id(request) or 0)))


@router.get("/users/{login}")
@requires(PUBLIC, resource="User")
def get_user(request: Request, login: str) -> GitHubJSON:
    settings = services(request).settings
    with unit_of_work(request) as session:
        account = find_account(session, login)
        if account is None:
            raise ApiError(404, "Not Found")
        count = count_public_repositories(session, account.id)
        if isinstance(account, Organization):
            return GitHubJSON(serializers.organization(account, settings, full=True, public_repos=count))
        return GitHubJSON(serializers.full_user(account, settings, public_repos=count))


def _visible_repos(request: Request, session: Session, repos: list[Repository]) -> list[dict[str, Any]]:
    settings = services(request).settings
    uid = user_id(request)
    out = []
    for repo in repos:
        if can(request, session, repo, REPO_METADATA):
            role = repo_resource(request, session, repo).repo_role if uid is not None else None
            out.append(serializers.repository(repo, settings, role=role, authenticated=uid is not None))
    return out


def _list_repos(request: Request, session: Session, owner: Account | None = None) -> GitHubJSON:
    query = select(Repository).order_by(Repository.created_at.desc(), Repository.id.desc())
    if owner is not None:
        query = query.where(Repository.owner_id == owner.id)
    else:
        uid = user_id(request)
        # Candidates: owned, in an organization the user belongs to, or collaborated on; the
        # decision then filters what this credential may see.
        member_orgs = select(Membership.org_id).where(Membership.user_id == uid)
        collaborations = select(Collaborator.repo_id).where(Collaborator.user_id == uid)
        query = query.where(
            (Repository.owner_id == uid) | Repository.owner_id.in_(member_orgs) | Repository.id.in_(collaborations)
        )
    visible = _visible_repos(request, session, list(session.scalars(query)))
    page, headers = paginate_list(request, visible)
    return GitHubJSON(page, headers=headers)


@router.get("/user/repos")
@requires(AUTHENTICATED, resource="Repository")
def list_own_repos(request: Request) -> GitHubJSON:
    with unit_of_work(request) as session:
        authorize(request, account_resource(current_user(request, session)))
        return _list_repos(request, session)


@router.get("/users/{login}/repos")
@requires(PUBLIC, resource="Repository")
def list_user_repos(request: Request, login: str) -> GitHubJSON:
    with unit_of_work(request) as session:
        account = find_account(session, login)
        if account is None:
            raise ApiError(404, "Not Found")
        return _list_repos(request, session, account)


@router.get("/user/orgs")
@requires(AUTHENTICATED, resource="Organization")
def list_own_orgs(request: Request) -> GitHubJSON:
    settings = services(request).settings
    with unit_of_work(request) as session:
        user = current_user(request, session)
        authorize(request, account_resource(user))
        orgs = session.scalars(
            select(Organization)
            .join(Membership, Membership.org_id == Organization.id)
            .where(Membership.user_id == user.id)
            .order_by(Organization.login_key)
        ).all()
        page, headers = paginate_list(request, [serializers.organization(o, settings) for o in orgs])
    return GitHubJSON(page, headers=headers)


@router.get("/orgs/{org}")
@requires(ORG_READ, resource="Organization")
def get_org(request: Request, org: str) -> GitHubJSON:
    settings = services(request).settings
    with unit_of_work(request) as session:
        account = find_account(session, org)
        if not isinstance(account, Organization):
            raise ApiError(404, "Not Found")
        authorize(request, org_resource(session, account, user_id(request)))
        count = count_public_repositories(session, account.id)
        return GitHubJSON(serializers.organization(account, settings, full=True, public_repos=count))


@router.get("/orgs/{org}/repos")
@requires(ORG_READ, resource="Repository")
def list_org_repos(request: Request, org: str) -> GitHubJSON:
    with unit_of_work(request) as session:
        account = find_account(session, org)
        if not isinstance(account, Organization):
            raise ApiError(404, "Not Found")
        authorize(request, org_resource(session, account, user_id(request)))
        return _list_repos(request, session, account)


@router.get("/user/security-log")
@requires(SECURITY_LOG_READ, resource="SecurityLog")
def security_log(request: Request) -> GitHubJSON:
    """The authenticated user's security log, newest first (a Tokenforge extension; GitHub shows
    it only in its web UI). Events of the user's tokens and account: created, regenerated, edited,
    deleted, expired, removed unused, revoked by an organization or via /credentials/revoke,
    approval requested/approved/denied — with time, actor, token and address."""
    settings = services(request).settings
    with unit_of_work(request) as session:
        user = current_user(request, session)
        authorize(request, account_resource(user))
        query = (
            select(AuditEvent)
            .where(AuditEvent.user_id == user.id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        )
        events, headers = paginate_query(request, session, query)
        orgs = {
            o.id: o.login
            for o in session.scalars(
                select(Organization).where(Organization.id.in_({e.org_id for e in events if e.org_id}))
            )
        }
        body = [
            {
                "id": event.id,
                "action": event.action,
                "created_at": serializers.iso(event.created_at),
                "actor": event.actor_login or None,
                "token_id": event.token_id,
                "token_name": event.token_name,
                "org": orgs.get(event.org_id) if event.org_id else None,
                "ip": event.ip,
                "details": event.data,
                "user_url": settings.api_url(f"/users/{user.login}"),
            }
            for event in events
        ]
    return GitHubJSON(body, headers=headers)
