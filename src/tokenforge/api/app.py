"""The GitHub-compatible REST API, mounted at /api: REST under /api/v3, GraphQL at /api/graphql
(GitHub Enterprise Server's layout, which PyGithub, gh and octokit expect of a custom host)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from tokenforge.api import errors
from tokenforge.api.middleware import ApiHeadersMiddleware
from tokenforge.api.responses import GitHubJSON
from tokenforge.api.routes import actions, issues, keys, meta, org_tokens, pulls, repos, users

if TYPE_CHECKING:
    from tokenforge.app import Services

ROUTERS = (
    meta.router,
    users.router,
    repos.router,
    issues.router,
    pulls.router,
    actions.router,
    keys.router,
    org_tokens.router,
)


def create_api(services: Services, *, telemetry: TelemetryConfig | None = None) -> FastAPI:
    """The REST API as its own ASGI app; ``telemetry``: FastAPI's OpenTelemetry settings, which the
    application passes down (tokenforge.app.telemetry), so both apps are configured alike."""
    api = FastAPI(
        title="Tokenforge REST API",
        version="2022-11-28",
        description="A GitHub-compatible REST API (a subset of GitHub's), authenticated with personal access tokens.",
        default_response_class=GitHubJSON,
        docs_url=None,
        redoc_url=None,
        openapi_url="/v3/openapi.json",
        servers=[{"url": "/api"}],
        telemetry=telemetry,
    )
    api.state.services = services
    for router in ROUTERS:
        api.include_router(router, prefix="/v3")
    api.include_router(meta.graphql_router)
    errors.install(api)
    api.add_middleware(ApiHeadersMiddleware, limiter=services.limiter)
    return api
