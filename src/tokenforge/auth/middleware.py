"""Authentication as pure ASGI middleware: the principal goes into the request scope.

FastAPI's ``Depends(Header(...))`` machinery alone costs ~80 µs per request, ~80× a cached
verification (PERFORMANCE.md §3b), so credentials are read here, once, from the raw header list;
route dependencies only read ``scope[SCOPE_KEY]``.

Which schemes count depends on the surface: the REST API takes ``token``, ``Bearer`` and Basic;
git takes Basic only (``Bearer`` to git is treated as no credentials, so git asks for Basic).
The web UI authenticates with its session cookie and ignores the header.

A cache miss is read from the database awaited (``Authenticator.finish``): on PostgreSQL the
event loop serves other requests during the round trip instead of waiting it out.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tokenforge.auth.authenticator import NO_CREDENTIALS, Authentication, Authenticator, Miss
from tokenforge.auth.header import ALL_SCHEMES, BASIC_ONLY

SCOPE_KEY = "tokenforge.auth"
_GIT_SUFFIXES = ("/info/refs", "/git-upload-pack", "/git-receive-pack")


def is_git_path(path: str) -> bool:
    return path.endswith(_GIT_SUFFIXES)


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            outcome: Authentication | Miss | None = None
            if path.startswith("/api/"):
                outcome = self._begin(scope, ALL_SCHEMES)
            elif is_git_path(path):
                outcome = self._begin(scope, BASIC_ONLY)
            if outcome is not None:
                if outcome.__class__ is Miss:
                    outcome = await self.authenticator.finish(outcome)
                scope[SCOPE_KEY] = outcome
        await self.app(scope, receive, send)

    def _begin(self, scope: Scope, schemes: Any) -> Authentication | Miss:
        value = None
        for name, raw in scope["headers"]:
            if name == b"authorization":
                value = raw  # bytes: the cache is keyed by them, and the common case is read off them
                break
        client = scope.get("client")
        return self.authenticator.begin(value, ip=client[0] if client else None, schemes=schemes)


def authentication(scope: Scope) -> Authentication:
    auth: Authentication = scope.get(SCOPE_KEY, NO_CREDENTIALS)
    return auth
