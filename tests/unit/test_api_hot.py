"""The hot routes' shortcut (api/hot.py) answers exactly as FastAPI's routing of the same
endpoints does: same status, body and headers, for successes and for every kind of refusal."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest

import factories
from tokenforge.api.app import create_api
from tokenforge.api.hot import HotRoutes
from tokenforge.app import Services, create_app
from tokenforge.auth.middleware import AuthenticationMiddleware
from tokenforge.config import Settings

# Random per request (the id), or counting every request of both apps (one shared limiter).
_VARYING = frozenset({"x-github-request-id", "x-ratelimit-remaining", "x-ratelimit-used"})


def _comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in _VARYING)
    return response.status_code, response.content, headers


@pytest.fixture
def tokens(settings: Settings, now: datetime) -> tuple[Services, dict[str, str]]:
    # Rate limits on (their headers are compared), high enough that no request here is refused.
    app = create_app(settings.model_copy(update={"rate_limit_anonymous_per_hour": 10_000}))
    services: Services = app.state.services
    with services.db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        bob = factories.user(s, "bob", now)
        acme = factories.org(s, "acme", alice, now, members=[bob], approval_required=False)
        factories.repo(s, settings, alice, "public-one", now)
        secret = factories.repo(s, settings, alice, "Secret", now, private=True)
        factories.repo(s, settings, acme, "tools", now, private=True)
        issued = {
            "classic-repo": factories.classic(s, settings, alice, now, "repo", "read:user").secret,
            "classic-none": factories.classic(s, settings, alice, now).secret,
            "classic-bob": factories.classic(s, settings, bob, now, "read:org").secret,
            "fine-secret": factories.fine_grained(
                s, settings, alice, now, name="secret", repositories=[secret], permissions={"metadata": "read"}
            ).secret,
            "fine-none": factories.fine_grained(s, settings, alice, now, name="nothing").secret,
            "fine-acme": factories.fine_grained(
                s, settings, bob, now, resource_owner=acme, all_repos=True, permissions={"metadata": "read"}
            ).secret,
        }
    return services, issued


# (method, path, token name, a literal header value, or None)
SHORTCUT: list[tuple[str, str, str | None]] = [
    ("GET", "/api/v3/repos/alice/public-one", None),
    ("GET", "/api/v3/repos/ALICE/Public-One", None),
    ("GET", "/api/v3/repos/alice/Secret", None),
    ("GET", "/api/v3/repos/alice/nothing-here", None),
    ("GET", "/api/v3/repos/alice/Secret", "classic-repo"),
    ("GET", "/api/v3/repos/alice/secret", "classic-none"),
    ("GET", "/api/v3/repos/alice/public-one", "classic-none"),
    ("GET", "/api/v3/repos/alice/Secret", "fine-secret"),
    ("GET", "/api/v3/repos/alice/public-one", "fine-none"),
    ("GET", "/api/v3/repos/alice/Secret", "fine-none"),
    ("GET", "/api/v3/repos/acme/tools", "fine-acme"),
    ("GET", "/api/v3/repos/acme/tools", "classic-bob"),
    ("GET", "/api/v3/repos/acme/tools", "fine-secret"),
    ("GET", "/api/v3/user", None),
    ("GET", "/api/v3/user", "classic-repo"),
    ("GET", "/api/v3/user", "classic-none"),
    ("GET", "/api/v3/user", "fine-secret"),
    # A HEAD is its GET from the headers middleware inward (api/middleware.py, HeadAsGet).
    ("HEAD", "/api/v3/repos/alice/public-one", None),
    ("HEAD", "/api/v3/user", "classic-repo"),
]
OTHERS: list[tuple[str, str, str | None]] = [
    # Refused before any route (the headers middleware): the same 401s.
    ("GET", "/api/v3/repos/alice/public-one", "ghp_not_a_token_at_all"),
    ("GET", "/api/v3/repos/alice/public-one?access_token=x", None),
    ("GET", "/api/v3/user", "garbage"),
    # Not shortcut: FastAPI's answers, whichever app.
    ("GET", "/api/v3/repos/alice/public-one/", None),
    ("GET", "/api/v3/repos/alice", None),
    ("GET", "/api/v3/user/", "classic-repo"),
]


def test_the_shortcut_answers_as_fastapi_does(
    tokens: tuple[Services, dict[str, str]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, issued = tokens
    served: list[str] = []
    original = HotRoutes._serve

    async def counting(endpoint: Any, params: dict[str, Any], scope: Any, receive: Any, send: Any) -> None:
        served.append(scope["path"])
        await original(endpoint, params, scope, receive, send)

    monkeypatch.setattr(HotRoutes, "_serve", staticmethod(counting))
    # The same services behind both: one API with the shortcut, one routing everything.
    hot = AuthenticationMiddleware(create_api(services), authenticator=services.authenticator)
    reference = AuthenticationMiddleware(create_api(services, hot_routes=False), authenticator=services.authenticator)

    def client(app: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=_Mounted(app), base_url="http://tokenforge.test")

    async def compare() -> list[tuple[str, Any, Any]]:
        differences = []
        async with client(hot) as fast, client(reference) as slow:
            for method, path, token in SHORTCUT + OTHERS:
                secret = issued.get(token, token) if token else None
                headers = {"Authorization": f"token {secret}"} if secret else {}
                # Each app twice: the first answer may fill the caches, the second comes from them.
                for _ in range(2):
                    a = _comparable(await fast.request(method, path, headers=headers))
                    b = _comparable(await slow.request(method, path, headers=headers))
                    if a != b:
                        differences.append((f"{method} {path} {token}", a, b))
        await services.aclose_loop_reader()
        return differences

    try:
        assert asyncio.run(compare()) == []
    finally:
        services.close()
    # Every shortcut request really went the short way (twice), and nothing else did.
    assert len(served) == 2 * len(SHORTCUT)


class _Mounted(httpx.ASGITransport):
    """The API app where the application mounts it (root_path /api), as ApiShortcut calls it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        inner = self.app

        async def mounted(scope: Any, receive: Any, send: Any) -> None:
            scope["root_path"] = "/api"
            await inner(scope, receive, send)

        self.app = mounted
        try:
            return await super().handle_async_request(request)
        finally:
            self.app = inner
