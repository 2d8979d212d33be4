"""The API's hottest requests dispatched without FastAPI's per-request machinery.

GET /repos/{owner}/{repo} and GET /user are most of the traffic a token-authenticated client
sends (every clone tool, CI job and ``gh`` command starts with them). Through FastAPI a request
walks the routers (~1 µs per route tried, with scope bookkeeping per route), solves the
endpoint's dependencies (a throw-away ``Response`` each time), and opens two exit stacks — about
half of the route's CPU once authentication and the reads are cheap (docs/benchmarks.md).

Here those two requests go straight to the very endpoint functions the FastAPI routes declare
(same requirement, same code, same errors), so nothing about them is defined twice; everything
else — other methods, other paths, a trailing slash — goes to FastAPI as before. (A HEAD arrives
here as its GET: ``middleware.HeadAsGet`` sits outside.)
This sits inside ``ApiHeadersMiddleware``, so refusals, rate limits and response headers are
applied exactly as for any route, and errors are answered by the API's own handlers
(``errors.response_for``), as FastAPI's exception middleware would.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenforge.api import errors
from tokenforge.api.routes import repos, users

Endpoint = Callable[..., Awaitable[Response]]

# Path parameters as Starlette's default convertor takes them: one non-empty segment.
_ROUTES: tuple[tuple[re.Pattern[str], Endpoint], ...] = (
    (re.compile(r"/v3/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"), repos.get_repo),
    (re.compile(r"/v3/user"), users.get_authenticated_user),
)


class HotRoutes:
    """``api.add_middleware(HotRoutes)`` before ``ApiHeadersMiddleware`` (so it runs inside it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = get_route_path(scope)
            for pattern, endpoint in _ROUTES:
                match = pattern.fullmatch(path)
                if match is not None:
                    await self._serve(endpoint, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(endpoint: Endpoint, params: dict[str, Any], scope: Scope, receive: Receive, send: Send) -> None:
        # What routing would have put in the scope: the endpoint (its declared requirement and
        # resource name are read from it) and the path parameters.
        scope["endpoint"] = endpoint
        scope["path_params"] = params
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request, **params)
        except Exception as exc:  # answered by the API's handler for its class, as FastAPI would
            response = errors.response_for(request, exc)
        await response(scope, receive, send)
