"""The GitHub-compatible REST API, mounted at /api: REST under /api/v3, GraphQL at /api/graphql
(GitHub Enterprise Server's layout, which PyGithub, gh and octokit expect of a custom host)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette._utils import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenforge.api import errors
from tokenforge.api.hot import HotRoutes
from tokenforge.api.middleware import ApiHeadersMiddleware, HeadAsGet
from tokenforge.api.responses import GitHubJSON
from tokenforge.api.routes import actions, issues, keys, meta, org_tokens, pulls, repos, users

if TYPE_CHECKING:
    from tokenforge.app import Services

# FastAPI tries routes in order, at ~1 µs per route for each included router it walks: the routers
# of the hottest requests (GET /repos/{o}/{r}, GET /user) come first. No two routes of different
# routers match the same request (tests/unit/test_api_routes.py), so the order changes nothing else.
ROUTERS = (
    repos.router,
    users.router,
    meta.router,
    issues.router,
    pulls.router,
    actions.router,
    keys.router,
    org_tokens.router,
)


def create_api(services: Services, *, telemetry: TelemetryConfig | None = None, hot_routes: bool = True) -> FastAPI:
    """The REST API as its own ASGI app; ``telemetry``: FastAPI's OpenTelemetry settings, which the
    application passes down (tokenforge.app.telemetry), so both apps are configured alike;
    ``hot_routes=False``: every request through FastAPI's routing (the equivalence test's reference)."""
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
    if hot_routes:
        api.add_middleware(HotRoutes)  # inside the headers middleware (added after it wraps it)
    api.add_middleware(ApiHeadersMiddleware, limiter=services.limiter)
    api.add_middleware(HeadAsGet)  # outermost: from the headers middleware inward, a HEAD is its GET
    return api


PREFIX = "/api"


class ApiShortcut:
    """``/api/…`` straight to the API app (``app.add_middleware(ApiShortcut, api=…)``).

    The outer application mounts the API at ``/api`` too, but reaching it through the outer app's
    exception middleware, router and ``Mount`` costs ~30 µs a request (7 % of GET /repos/{o}/{r}
    in-process). The scope is changed exactly as ``Mount("/api")`` would change it (with
    Starlette's own ``get_route_path``, as ``Mount.matches`` does), so the API app and ``url_for``
    see the same thing either way.
    """

    def __init__(self, app: ASGIApp, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and get_route_path(scope).startswith(PREFIX + "/"):
            root_path = scope.get("root_path", "")
            scope["app_root_path"] = scope.get("app_root_path", root_path)
            scope["root_path"] = root_path + PREFIX
            scope["path_params"] = {}
            scope["endpoint"] = self.api
            await self.api(scope, receive, send)
            return
        await self.app(scope, receive, send)
