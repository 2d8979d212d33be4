"""The API root, /meta, /rate_limit, GraphQL's ``viewer { login }``, and /credentials/revoke."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from tokenforge import __version__
from tokenforge.api.context import current_user, principal, requires, services, unit_of_work
from tokenforge.api.errors import ApiError
from tokenforge.api.responses import GitHubJSON
from tokenforge.auth.middleware import authentication
from tokenforge.authz.requirements import AUTHENTICATED, PUBLIC
from tokenforge.authz.subjects import Anonymous
from tokenforge.tokens.services import revoke_presented

router = APIRouter()
graphql_router = APIRouter()


@router.get("/")
@requires(PUBLIC)
def root(request: Request) -> GitHubJSON:
    api = services(request).settings.api_url
    return GitHubJSON(
        {
            "current_user_url": api("/user"),
            "authorizations_url": api("/authorizations"),
            "emails_url": api("/user/emails"),
            "organization_url": api("/orgs/{org}"),
            "organization_repositories_url": api("/orgs/{org}/repos{?type,page,per_page,sort}"),
            "rate_limit_url": api("/rate_limit"),
            "repository_url": api("/repos/{owner}/{repo}"),
            "user_url": api("/users/{user}"),
            "user_repositories_url": api("/users/{user}/repos{?type,page,per_page,sort}"),
            "current_user_repositories_url": api("/user/repos{?type,page,per_page,sort}"),
        }
    )


@router.get("/meta")
@requires(PUBLIC)
def meta(request: Request) -> GitHubJSON:
    return GitHubJSON(
        {
            "verifiable_password_authentication": False,
            # GitHub Enterprise Server reports its version here; tools use it to detect GHES.
            "installed_version": __version__,
            "ssh_key_fingerprints": {},
            "ssh_keys": [],
            "hooks": [],
            "web": [],
            "api": [],
            "git": [],
            "packages": [],
            "pages": [],
            "importer": [],
            "actions": [],
            "dependabot": [],
            "domains": {"website": [services(request).settings.base_url]},
        }
    )


@router.get("/rate_limit")
@requires(PUBLIC)
def rate_limit(request: Request) -> GitHubJSON:
    """Free: it does not count against the limit it reports (spec §4.5)."""
    svc = services(request)
    limiter = svc.limiter
    p = principal(request)
    key = f"user:{p.user_id}" if not isinstance(p, Anonymous) else f"ip:{request.client.host if request.client else ''}"
    quota = limiter.peek(key, time.time())
    limit = quota.limit if limiter.enabled else 0
    core = {
        "limit": limit,
        "used": quota.used,
        "remaining": quota.remaining if limiter.enabled else 0,
        "reset": quota.reset,
        "resource": "core",
    }
    resources = {
        name: {**core, "resource": name}
        for name in ("core", "search", "graphql", "integration_manifest", "code_search")
    }
    return GitHubJSON({"resources": resources, "rate": core})


class RevokeBody(BaseModel):
    credentials: list[str] = Field(min_length=1, max_length=1000)


@router.post("/credentials/revoke", status_code=202)
@requires(PUBLIC, resource="Credential")
def credentials_revoke(request: Request, body: RevokeBody) -> GitHubJSON:
    """Anyone who finds a leaked token reports it here (spec §6.6).

    Must be unauthenticated (GitHub answers 403 to any credential). Always 202 with an empty
    object, whatever was found, so the endpoint is no oracle for which tokens are valid.
    """
    if authentication(request.scope).presented is not None:
        raise ApiError(403, "This endpoint must be called without authentication.")
    svc = services(request)
    client = request.client.host if request.client else None
    with unit_of_work(request) as session:
        revoke_presented(session, svc.settings, body.credentials, now=svc.clock.now(), ip=client)
    return GitHubJSON({}, status_code=202)


class GraphQLBody(BaseModel):
    query: str = Field(max_length=10_000)
    variables: dict[str, Any] | None = None


_VIEWER_LOGIN = re.compile(r"^\s*(query\s*\w*\s*)?\{\s*viewer\s*\{\s*login\s*\}\s*\}\s*$")


@graphql_router.post("/graphql")
@requires(AUTHENTICATED, resource="GraphQL")
def graphql(request: Request, body: Annotated[GraphQLBody, Body()]) -> Response:
    """Just enough GraphQL for ``gh auth login``/``status``: ``{ viewer { login } }``."""
    if isinstance(principal(request), Anonymous):
        raise ApiError(401, "This endpoint requires you to be authenticated.")
    if not _VIEWER_LOGIN.match(body.query):
        return GitHubJSON(
            {"errors": [{"message": "Tokenforge's GraphQL endpoint answers only `query { viewer { login } }`."}]}
        )
    with unit_of_work(request) as session:
        login = current_user(request, session).login
    return GitHubJSON({"data": {"viewer": {"login": login}}})
