"""Headers GitHub sends on every REST response, and the checks that come before any route.

Pure ASGI (no per-request FastAPI machinery). In order:

1. ``?access_token=`` in the query → 401 (GitHub removed query-string tokens in 2021; accepting
   them would put secrets in access logs).
2. Credentials sent but not a live token → 401 ``Bad credentials``, on every endpoint: a bad
   token never falls back to anonymous.
3. An unsupported ``X-GitHub-Api-Version`` → 400.
4. The rate limit, per user or per IP (``/rate_limit`` itself is free) → 403 when exceeded.

Then every response gets ``X-GitHub-Media-Type``, ``X-GitHub-Api-Version-Selected``,
``X-GitHub-Request-Id``, the ``X-RateLimit-*`` set, ``X-OAuth-Scopes`` for classic tokens,
``GitHub-Authentication-Token-Expiration`` for expiring tokens, and the ``X-Accepted-*`` headers
of the decision the route made (routes leave them in ``scope[ACCEPTED]``).
"""

from __future__ import annotations

import functools
import random
import time
from datetime import datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenforge.api.ratelimit import Limiter, Quota
from tokenforge.api.responses import error_response
from tokenforge.auth.middleware import authentication
from tokenforge.authz.subjects import ClassicToken, FineGrainedToken

_ids = random.Random()  # noqa: S311 (request ids need uniqueness, not unpredictability)
ACCEPTED = "tokenforge.accepted"  # (X-Accepted-OAuth-Scopes, X-Accepted-GitHub-Permissions)
API_VERSIONS = ("2022-11-28", "2026-03-10")
FREE_PATHS = ("/api/v3/rate_limit",)
_BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def expiration_header(principal: ClassicToken | FineGrainedToken) -> str | None:
    return None if principal.expires_at is None else _expiration(principal.expires_at)


@functools.lru_cache(maxsize=4096)
def _expiration(moment: datetime) -> str:
    # Formatted on every token request: remembered per expiry (strftime alone was ~2.5 % of a
    # cold-cache request's CPU). Bounded: at most 4096 distinct expiries are kept.
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class ApiHeadersMiddleware:
    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth = authentication(scope)
        token = auth.token
        version = _header(scope, b"x-github-api-version")
        base = _identity_headers(token, version)
        quota = self._count(scope, token, failed=auth.failed)
        if quota is not None:
            base.update(quota.headers())

        refusal = _refusal(scope, token, failed=auth.failed, version=version, quota=quota)
        if refusal is not None:
            refusal.headers.update(base)
            await refusal(scope, receive, send)
            return
        if scope["method"] in _BODY_METHODS:
            # GitHub reads every request body as JSON whatever its Content-Type (curl -d sends
            # form encoding), so the routes' JSON parsing must not depend on the header.
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope["headers"].append((b"content-type", b"application/json"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in base.items():
                    headers[name] = value
                accepted = scope.get(ACCEPTED)
                if accepted is not None:
                    oauth, permissions = accepted
                    if not isinstance(token, FineGrainedToken):
                        headers["X-Accepted-OAuth-Scopes"] = oauth
                    if not isinstance(token, ClassicToken):
                        headers["X-Accepted-GitHub-Permissions"] = permissions
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _count(self, scope: Scope, token: ClassicToken | FineGrainedToken | None, *, failed: bool) -> Quota | None:
        if not self.limiter.enabled:
            return None
        key = f"user:{token.user_id}" if token is not None else f"ip:{_client(scope)}"
        now = time.time()
        if scope["path"] in FREE_PATHS or failed:
            return self.limiter.peek(key, now)
        return self.limiter.hit(key, now)


class HeadAsGet:
    """HEAD answered as the GET of the same URL, without the body (RFC 9110 §9.3.2), as GitHub's API
    does: clients probe a repository's or a user's existence with HEAD.

    FastAPI routes declared for GET do not answer HEAD (Starlette's plain routes do; FastAPI's
    API routes do not), so without this every HEAD would be a 405. Authenticated, authorized and
    rate-limited exactly as the GET (GitHub counts both as one point), because from here inward it
    *is* the GET. The scope is copied, not changed: the server still reads the request method
    from its own scope, and must know that no body follows the headers, whose Content-Length is
    the GET's (what HEAD should carry).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _identity_headers(token: ClassicToken | FineGrainedToken | None, version: str | None) -> dict[str, str]:
    # Unique, not secret: a request id names a request in logs. os.urandom (behind ``secrets``)
    # releases the GIL, and on a busy server the event loop then waited up to milliseconds to
    # get it back (measured, bench/http_load.py); the Mersenne Twister never leaves the GIL.
    bits = _ids.getrandbits(64)
    request_id = f"{bits >> 48:04X}:{(bits >> 24) & 0xFFFFFF:06X}:{bits & 0xFFFFFF:06X}{_ids.getrandbits(8):02X}"
    base = {
        "X-GitHub-Media-Type": "github.v3; format=json",
        "X-GitHub-Request-Id": request_id,
        "X-GitHub-Api-Version-Selected": version if version in API_VERSIONS else API_VERSIONS[0],
    }
    if isinstance(token, ClassicToken):
        base["X-OAuth-Scopes"] = ", ".join(token.scopes)
    if token is not None:
        expiry = expiration_header(token)
        if expiry:
            base["GitHub-Authentication-Token-Expiration"] = expiry
    return base


def _refusal(
    scope: Scope,
    token: ClassicToken | FineGrainedToken | None,
    *,
    failed: bool,
    version: str | None,
    quota: Quota | None,
) -> Response | None:
    if b"access_token=" in scope.get("query_string", b"") or failed:
        return error_response(401, "Bad credentials")
    if version is not None and version not in API_VERSIONS:
        return error_response(400, f"API version {version[:40]} is not supported.")
    if quota is not None and quota.exceeded and scope["path"] not in FREE_PATHS:
        who = f"user ID {token.user_id}" if token is not None else _client(scope)
        message = f"API rate limit exceeded for {who}."
        if token is None:
            message += (
                " (But here's the good news: Authenticated requests get a higher rate limit. "
                "Check out the documentation for more details.)"
            )
        return error_response(403, message)
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _client(scope: Scope) -> str:
    client: Any = scope.get("client")
    return str(client[0]) if client else "unknown"
