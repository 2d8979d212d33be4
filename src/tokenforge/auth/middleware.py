"""Authentication as pure ASGI middleware: the principal goes into the request scope.

FastAPI's ``Depends(Header(...))`` machinery alone costs ~80 µs per request, ~80× a cached
verification (PERFORMANCE.md §3b), so credentials are read here, once, from the raw header list;
route dependencies only read ``scope[SCOPE_KEY]``.

Which schemes count depends on the surface: the REST API takes ``token``, ``Bearer`` and Basic;
git takes Basic only (``Bearer`` to git is treated as no credentials, so git asks for Basic).
The web UI authenticates with its session cookie and ignores the header.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tokenforge.auth.authenticator import NO_CREDENTIALS, Authentication, Authenticator
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
            if path.startswith("/api/"):
                scope[SCOPE_KEY] = self._authenticate(scope, ALL_SCHEMES)
            elif is_git_path(path):
                scope[SCOPE_KEY] = self._authenticate(scope, BASIC_ONLY)
        await self.app(scope, receive, send)

    def _authenticate(self, scope: Scope, schemes: Any) -> Authentication:
        value = None
        for name, raw in scope["headers"]:
            if name == b"authorization":
                value = raw.decode("latin-1")
                break
        client = scope.get("client")
        return self.authenticator.authenticate(value, ip=client[0] if client else None, schemes=schemes)


def authentication(scope: Scope) -> Authentication:
    auth: Authentication = scope.get(SCOPE_KEY, NO_CREDENTIALS)
    return auth
