"""Repositories: get, create (for yourself or an organization), update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from tokenforge.accounts.models import Organization
from tokenforge.accounts.services import find_account
from tokenforge.api import serializers
from tokenforge.api.context import (
    Id,
    authorize,
    authorized_repo,
    authorized_resource_on_loop,
    current_user,
    repo_resource,
    requires,
    services,
    unit_of_work,
    user_id,
)
from tokenforge.api.errors import ApiError
from tokenforge.api.responses import GitHubJSON
from tokenforge.api.routes.users import account_resource, org_resource
from tokenforge.authz import requirements as req
from tokenforge.issues.services import count_open_issues
from tokenforge.repos.models import Repository
from tokenforge.repos.services import create_repository, delete_repository, update_repository

router = APIRouter()


def _repo_json(request: Request, session: Session, repo: Repository) -> dict[str, Any]:
    uid = user_id(request)
    role = repo_resource(request, session, repo).repo_role if uid is not None else None
    return serializers.repository(
        repo,
        services(request).settings,
        role=role,
        authenticated=uid is not None,
        open_issues=count_open_issues(session, repo),
    )


@router.get("/repos/{owner}/{repo}")
@requires(req.REPO_METADATA, resource="Repository")
async def get_repo(request: Request, owner: str, repo: str) -> Response:
    # The hottest route: authorized from the cached access facts and served from one raw read,
    # without an ORM session (PERFORMANCE.md: a session alone costs more than the whole rest).
    # async, so no thread hop (a third of this route's CPU when it was a ``def``); the reads are
    # awaited on PostgreSQL and inline on SQLite (rawdb.Statement).
    resource = await authorized_resource_on_loop(request, owner, repo)
    document = await services(request).repo_reads.document_on_loop(resource.repo_id)  # type: ignore[arg-type]
    if document is None:
        raise ApiError(404, "Not Found")
    view, open_issues = document
    uid = user_id(request)
    return GitHubJSON(
        serializers.repository(
            view,
            services(request).settings,
            role=resource.repo_role,
            authenticated=uid is not None,
            open_issues=open_issues,
        )
    )


@router.get("/repositories/{repo_id}")
@requires(req.REPO_METADATA, resource="Repository")
def get_repo_by_id(request: Request, repo_id: Id) -> Response:
    with unit_of_work(request) as session:
        found = session.get(Repository, repo_id)
        if found is None:
            raise ApiError(404, "Not Found")
        authorize(request, repo_resource(request, session, found))
        return GitHubJSON(_repo_json(request, session, found))


class RepoCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=350)
    private: bool = False
    visibility: str | None = Field(default=None, pattern="^(public|private)$")
    auto_init: bool = False
    homepage: str | None = None
    has_issues: bool | None = None
    has_wiki: bool | None = None


def _is_private(body: RepoCreate) -> bool:
    return body.private if body.visibility is None else body.visibility == "private"


@router.post("/user/repos", status_code=201)
@requires(req.REPO_CREATE, resource="Repository")
def create_own_repo(request: Request, body: RepoCreate) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        user = current_user(request, session)
        authorize(request, account_resource(user))
        if _is_private(body):
            authorize(request, account_resource(user), req.REPO_CREATE_PRIVATE)
        repo = create_repository(
            session,
            svc.settings,
            owner=user,
            name=body.name,
            private=_is_private(body),
            description=body.description or "",
            now=svc.clock.now(),
            actor=user,
        )
        return GitHubJSON(_repo_json(request, session, repo), status_code=201)


@router.post("/orgs/{org}/repos", status_code=201)
@requires(req.ORG_REPO_CREATE, resource="Repository")
def create_org_repo(request: Request, org: str, body: RepoCreate) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        account = find_account(session, org)
        if not isinstance(account, Organization):
            raise ApiError(404, "Not Found")
        resource = org_resource(session, account, user_id(request))
        authorize(request, resource)
        if _is_private(body):
            authorize(request, resource, req.ORG_REPO_CREATE_PRIVATE)
        repo = create_repository(
            session,
            svc.settings,
            owner=account,
            name=body.name,
            private=_is_private(body),
            description=body.description or "",
            now=svc.clock.now(),
            actor=current_user(request, session),
        )
        return GitHubJSON(_repo_json(request, session, repo), status_code=201)


class RepoUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=350)
    private: bool | None = None
    visibility: str | None = Field(default=None, pattern="^(public|private)$")
    default_branch: str | None = Field(default=None, min_length=1, max_length=255)
    homepage: str | None = None
    has_issues: bool | None = None


@router.patch("/repos/{owner}/{repo}")
@requires(req.REPO_ADMIN, resource="Repository")
def update_repo(request: Request, owner: str, repo: str, body: RepoUpdate) -> Response:
    svc = services(request)
    private = body.private if body.visibility is None else body.visibility == "private"
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        update_repository(
            session,
            repo=found,
            now=svc.clock.now(),
            actor=current_user(request, session),
            name=body.name,
            description=body.description,
            private=private,
            default_branch=body.default_branch,
        )
        return GitHubJSON(_repo_json(request, session, found))


@router.delete("/repos/{owner}/{repo}", status_code=204)
@requires(req.REPO_DELETE, resource="Repository")
def delete_repo(request: Request, owner: str, repo: str) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        delete_repository(session, svc.settings, repo=found, now=svc.clock.now(), actor=current_user(request, session))
    return Response(status_code=204)
