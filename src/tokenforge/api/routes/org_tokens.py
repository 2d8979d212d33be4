"""Organization owners' token review over REST (spec §5.4): requests and granted tokens.

GitHub restricts these eight endpoints to GitHub Apps; Tokenforge accepts an organization owner's
personal access token instead (docs/api.md records the deviation). The ``repositories_url`` of
each item uses GitHub's ``/organizations/{id}/…`` form, which is routed too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from tokenforge.accounts.models import Organization
from tokenforge.accounts.services import find_account
from tokenforge.api import serializers
from tokenforge.api.context import (
    MAX_ID,
    Id,
    authorize,
    current_user,
    paginate_list,
    paginate_query,
    requires,
    services,
    unit_of_work,
    user_id,
)
from tokenforge.api.errors import ApiError
from tokenforge.api.responses import GitHubJSON
from tokenforge.api.routes.users import org_resource
from tokenforge.authz import requirements as req
from tokenforge.credentials.permissions import CATALOG, Group
from tokenforge.mail import mailer_for
from tokenforge.orgs import review as org_review
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import FineGrainedGrant, Token, TokenRepository, TokenRequest

router = APIRouter()
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]

_GROUP_KEY = {Group.REPOSITORY: "repository", Group.ORGANIZATION: "organization", Group.ACCOUNT: "other"}


def _org(request: Request, session: Session, login: str | int) -> Organization:
    if isinstance(login, int):
        org = session.get(Organization, login)
    else:
        account = find_account(session, login)
        org = account if isinstance(account, Organization) else None
    if org is None:
        raise ApiError(404, "Not Found")
    authorize(request, org_resource(session, org, user_id(request)))
    return org


def _permissions(flat: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, level in sorted(flat.items()):
        permission = CATALOG.get(key)
        if permission is not None:
            out.setdefault(_GROUP_KEY[permission.group], {})[key] = str(level)
    return out


def _token_fields(token: Token, now: datetime) -> dict[str, Any]:
    return {
        "token_id": token.id,
        "token_name": token.name,
        "token_expired": token.expires_at is not None and token.expires_at <= now,
        "token_expires_at": serializers.iso(token.expires_at),
        "token_last_used_at": serializers.iso(token.last_used_at),
    }


def _request_json(request: Request, org: Organization, item: TokenRequest) -> dict[str, Any]:
    svc = services(request)
    return {
        "id": item.id,
        "reason": item.reason or None,
        "owner": serializers.simple_user(item.token.user, svc.settings),
        "repository_selection": item.repository_selection,
        "repositories_url": svc.settings.api_url(
            f"/organizations/{org.id}/personal-access-token-requests/{item.id}/repositories"
        ),
        "permissions": _permissions(item.permissions),
        "created_at": serializers.iso(item.created_at),
        **_token_fields(item.token, svc.clock.now()),
    }


def _grant_json(request: Request, org: Organization, grant: FineGrainedGrant) -> dict[str, Any]:
    svc = services(request)
    return {
        "id": grant.token_id,
        "owner": serializers.simple_user(grant.token.user, svc.settings),
        "repository_selection": grant.repository_selection,
        "repositories_url": svc.settings.api_url(
            f"/organizations/{org.id}/personal-access-tokens/{grant.token_id}/repositories"
        ),
        "permissions": _permissions(grant.permissions),
        "access_granted_at": serializers.iso(grant.access_granted_at),
        **_token_fields(grant.token, svc.clock.now()),
    }


def _filters(request: Request) -> org_review.Filters:
    q = request.query_params

    def moment(name: str) -> datetime | None:
        raw = q.get(name)
        if not raw:
            return None
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(
                422, "Validation Failed", errors=[{"resource": "PersonalAccessToken", "field": name, "code": "invalid"}]
            ) from None

    try:
        token_ids = [int(v) for v in q.getlist("token_id[]") + q.getlist("token_id")]
    except ValueError:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "PersonalAccessToken", "field": "token_id", "code": "invalid"}],
        ) from None
    when = [moment("last_used_before"), moment("last_used_after")]
    for value in when:
        if value is not None and value.tzinfo is None:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "PersonalAccessToken", "field": "last_used", "code": "invalid"}],
            )
    return org_review.Filters(
        owners=q.getlist("owner[]") + q.getlist("owner"),
        repository=q.get("repository") or None,
        permission=q.get("permission") or None,
        last_used_before=when[0],
        last_used_after=when[1],
        token_ids=token_ids,
    )


def _repo_names(session: Session, token_id: int, ids: list[int] | None = None) -> set[str]:
    if ids is None:
        ids = list(session.scalars(select(TokenRepository.repo_id).where(TokenRepository.token_id == token_id)))
    return set(session.scalars(select(Repository.name_key).where(Repository.id.in_(ids)))) if ids else set()


def _oldest_first(request: Request) -> bool:
    return request.query_params.get("direction", "desc") == "asc"


@router.get("/orgs/{org}/personal-access-token-requests")
@requires(req.ORG_TOKEN_REQUESTS_READ, resource="PersonalAccessTokenRequest")
def list_requests(request: Request, org: str) -> Response:
    filters = _filters(request)
    with unit_of_work(request) as session:
        organization = _org(request, session, org)
        query = org_review.requests_query(organization, filters, oldest_first=_oldest_first(request))
        if filters.repository is None:
            page, headers = paginate_query(request, session, query)
        else:
            # The repository filter looks inside each request's JSON list of ids, which the query
            # does not: the (pending, so few) requests are filtered here.
            items = [
                r
                for r in session.scalars(query)
                if org_review.matches(
                    filters,
                    permissions=r.permissions,
                    selection=r.repository_selection,
                    repository_names=_repo_names(session, r.token_id, r.repository_ids),
                )
            ]
            page, headers = paginate_list(request, items)
        return GitHubJSON([_request_json(request, organization, r) for r in page], headers=headers)


class ReviewBody(BaseModel):
    pat_request_ids: list[BodyId] | None = Field(default=None, min_length=1, max_length=100)
    action: Literal["approve", "deny"]
    reason: str | None = Field(default=None, max_length=1024)


class SingleReviewBody(BaseModel):
    action: Literal["approve", "deny"]
    reason: str | None = Field(default=None, max_length=1024)


def _review(request: Request, org: str, ids: list[int] | None, action: str, reason: str | None) -> None:
    svc = services(request)
    with unit_of_work(request) as session:
        organization = _org(request, session, org)
        org_review.review(
            session,
            org=organization,
            request_ids=ids,
            approve=action == "approve",
            reason=reason or "",
            now=svc.clock.now(),
            actor=current_user(request, session),
            mailer=mailer_for(svc.settings),
            settings_url=svc.settings.base_url,
            ip=request.client.host if request.client else None,
        )


@router.post("/orgs/{org}/personal-access-token-requests", status_code=202)
@requires(req.ORG_TOKEN_REQUESTS_WRITE, resource="PersonalAccessTokenRequest")
def review_requests(request: Request, org: str, body: ReviewBody) -> Response:
    """Bulk review; without ``pat_request_ids`` it applies to every pending request (spec Q13)."""
    _review(request, org, body.pat_request_ids, body.action, body.reason)
    return GitHubJSON({}, status_code=202)


@router.post("/orgs/{org}/personal-access-token-requests/{pat_request_id}", status_code=204)
@requires(req.ORG_TOKEN_REQUESTS_WRITE, resource="PersonalAccessTokenRequest")
def review_request(request: Request, org: str, pat_request_id: Id, body: SingleReviewBody) -> Response:
    _review(request, org, [pat_request_id], body.action, body.reason)
    return Response(status_code=204)


def _repositories(request: Request, session: Session, ids: list[int]) -> Response:
    repos = (
        list(session.scalars(select(Repository).where(Repository.id.in_(ids)).order_by(Repository.id))) if ids else []
    )
    page, headers = paginate_list(request, repos)
    settings = services(request).settings
    return GitHubJSON([serializers.repository(r, settings) for r in page], headers=headers)


def _request_repositories(request: Request, organization: Organization, session: Session, rid: int) -> Response:
    item = org_review.get_request(session, organization, rid)
    return _repositories(request, session, list(item.repository_ids))


@router.get("/orgs/{org}/personal-access-token-requests/{pat_request_id}/repositories")
@requires(req.ORG_TOKEN_REQUESTS_READ, resource="Repository")
def request_repositories(request: Request, org: str, pat_request_id: Id) -> Response:
    with unit_of_work(request) as session:
        return _request_repositories(request, _org(request, session, org), session, pat_request_id)


@router.get("/organizations/{org_id}/personal-access-token-requests/{pat_request_id}/repositories")
@requires(req.ORG_TOKEN_REQUESTS_READ, resource="Repository")
def request_repositories_by_id(request: Request, org_id: Id, pat_request_id: Id) -> Response:
    with unit_of_work(request) as session:
        return _request_repositories(request, _org(request, session, org_id), session, pat_request_id)


@router.get("/orgs/{org}/personal-access-tokens")
@requires(req.ORG_TOKENS_READ, resource="PersonalAccessToken")
def list_grants(request: Request, org: str) -> Response:
    filters = _filters(request)
    with unit_of_work(request) as session:
        organization = _org(request, session, org)
        # Every filter is in the query: a page is one LIMIT/OFFSET, whatever the number of grants.
        query = org_review.active_grants(session, organization, filters, oldest_first=_oldest_first(request))
        page, headers = paginate_query(request, session, query, count_cap=org_review.COUNT_CAP)
        return GitHubJSON([_grant_json(request, organization, g) for g in page], headers=headers)


class RevokeBody(BaseModel):
    action: Literal["revoke"]
    pat_ids: list[BodyId] = Field(min_length=1, max_length=100)


class SingleRevokeBody(BaseModel):
    action: Literal["revoke"]


def _revoke(request: Request, org: str, ids: list[int]) -> None:
    with unit_of_work(request) as session:
        organization = _org(request, session, org)
        org_review.revoke_grants(
            session,
            org=organization,
            token_ids=ids,
            now=services(request).clock.now(),
            actor=current_user(request, session),
            ip=request.client.host if request.client else None,
        )


@router.post("/orgs/{org}/personal-access-tokens", status_code=202)
@requires(req.ORG_TOKENS_WRITE, resource="PersonalAccessToken")
def revoke_grants(request: Request, org: str, body: RevokeBody) -> Response:
    _revoke(request, org, body.pat_ids)
    return GitHubJSON({}, status_code=202)


@router.post("/orgs/{org}/personal-access-tokens/{pat_id}", status_code=204)
@requires(req.ORG_TOKENS_WRITE, resource="PersonalAccessToken")
def revoke_grant(request: Request, org: str, pat_id: Id, body: SingleRevokeBody) -> Response:
    _revoke(request, org, [pat_id])
    return Response(status_code=204)


def _grant_repositories(request: Request, organization: Organization, session: Session, pat_id: int) -> Response:
    grant = session.get(FineGrainedGrant, pat_id)
    if grant is None or grant.resource_owner_id != organization.id or grant.approval != "approved":
        raise ApiError(404, "Not Found")
    if grant.repository_selection == "all":
        ids = list(session.scalars(select(Repository.id).where(Repository.owner_id == organization.id)))
    else:
        ids = list(session.scalars(select(TokenRepository.repo_id).where(TokenRepository.token_id == pat_id)))
    return _repositories(request, session, ids)


@router.get("/orgs/{org}/personal-access-tokens/{pat_id}/repositories")
@requires(req.ORG_TOKENS_READ, resource="Repository")
def grant_repositories(request: Request, org: str, pat_id: Id) -> Response:
    with unit_of_work(request) as session:
        return _grant_repositories(request, _org(request, session, org), session, pat_id)


@router.get("/organizations/{org_id}/personal-access-tokens/{pat_id}/repositories")
@requires(req.ORG_TOKENS_READ, resource="Repository")
def grant_repositories_by_id(request: Request, org_id: Id, pat_id: Id) -> Response:
    with unit_of_work(request) as session:
        return _grant_repositories(request, _org(request, session, org_id), session, pat_id)
