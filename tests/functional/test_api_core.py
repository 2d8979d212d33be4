"""The REST API's authentication, headers and error bodies, exactly as GitHub's clients expect."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

import factories
from live import LiveServer
from tokenforge.accounts.services import get_user
from tokenforge.config import Settings
from tokenforge.db import Database


@dataclass
class World:
    client: httpx.Client
    base: str
    settings: Settings
    classic: str  # alice: repo, user
    no_scope: str  # alice: no scopes
    fine: str  # bob → acme, selected private repo, contents=read, approved (approval off)
    fine_other: str  # bob → bob, all repos
    expiring: datetime


@pytest.fixture
def world(settings: Settings, db: Database, now: datetime) -> Iterator[World]:
    with db.unit_of_work() as s:
        alice, bob = factories.user(s, "alice", now), factories.user(s, "bob", now)
        acme = factories.org(s, "acme", alice, now, members=[bob], approval_required=False)
        factories.repo(s, settings, acme, "site", now)
        infra = factories.repo(s, settings, acme, "infra", now, private=True)
        factories.repo(s, settings, alice, "dots", now, private=True)
        classic = factories.classic(s, settings, alice, now, "repo", "user", expires_in=timedelta(days=400))
        no_scope = factories.classic(s, settings, alice, now, note="bare", expires_in=None)
        fine = factories.fine_grained(
            s, settings, bob, now, resource_owner=acme, repositories=[infra], permissions={"contents": "read"}
        )
        fine_other = factories.fine_grained(s, settings, bob, now, name="own", all_repos=True, expires_in=None)
    server = LiveServer(settings.model_copy(update={"rate_limit_anonymous_per_hour": 1000})).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            yield World(
                client,
                server.url,
                settings,
                classic.secret,
                no_scope.secret,
                fine.secret,
                fine_other.secret,
                now + timedelta(days=400),
            )
    finally:
        server.stop()


def get(w: World, path: str, token: str | None = None, scheme: str = "token", **headers: str) -> object:
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    return w.client.get(f"/api/v3{path}", headers=headers)


def body_of(response: object) -> dict[str, object]:
    return response.json()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("scheme", ["token", "Bearer", "bearer", "TOKEN"])
def test_token_and_bearer_schemes(world: World, scheme: str) -> None:
    response = get(world, "/user", world.classic, scheme)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert body_of(response)["login"] == "alice"


def test_basic_with_the_token_as_password(world: World) -> None:
    credentials = base64.b64encode(f"anyone:{world.classic}".encode()).decode()
    response = world.client.get("/api/v3/user", headers={"Authorization": f"Basic {credentials}"})
    assert response.status_code == 200
    assert response.json()["login"] == "alice"


@pytest.mark.parametrize(
    "authorization",
    [
        "token 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",  # valid checksum, unknown token
        "token ghp_nope",
        "token",
        "Digest abc",
        "Basic !!!notbase64",
        "Bearer github_pat_" + "1" * 82,
    ],
)
def test_bad_credentials_never_fall_back_to_anonymous(world: World, authorization: str) -> None:
    # Even a public endpoint refuses: a bad token is an error, not anonymity.
    response = world.client.get("/api/v3/repos/acme/site", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }


def test_query_string_tokens_are_refused(world: World) -> None:
    response = world.client.get(f"/api/v3/user?access_token={world.classic}")
    assert response.status_code == 401
    assert response.json()["message"] == "Bad credentials"


def test_anonymous(world: World) -> None:
    assert get(world, "/repos/acme/site").status_code == 200  # type: ignore[attr-defined]
    response = get(world, "/user")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert body_of(response) == {
        "message": "Requires authentication",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    missing = get(world, "/repos/acme/infra")
    assert missing.status_code == 404  # type: ignore[attr-defined]
    assert body_of(missing) == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }


def test_classic_headers(world: World) -> None:
    response = world.client.get("/api/v3/repos/acme/infra", headers={"Authorization": f"token {world.classic}"})
    assert response.status_code == 200
    h = response.headers
    assert h["X-OAuth-Scopes"] == "repo, user"
    assert h["X-Accepted-OAuth-Scopes"] == "repo"
    assert "X-Accepted-GitHub-Permissions" not in h
    assert h["GitHub-Authentication-Token-Expiration"] == world.expiring.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert h["X-GitHub-Media-Type"] == "github.v3; format=json"
    assert h["X-GitHub-Api-Version-Selected"] == "2022-11-28"
    assert len(h["X-GitHub-Request-Id"].split(":")) == 3
    assert h["X-RateLimit-Limit"] == "5000"
    assert h["X-RateLimit-Resource"] == "core"
    assert int(h["X-RateLimit-Used"]) == 5000 - int(h["X-RateLimit-Remaining"])
    assert h["Content-Type"] == "application/json; charset=utf-8"


def test_no_scope_classic_token_has_an_empty_scopes_header_and_no_expiry(world: World) -> None:
    response = world.client.get("/api/v3/repos/acme/infra", headers={"Authorization": f"token {world.no_scope}"})
    assert response.status_code == 404  # a private repository needs `repo`
    assert response.headers["X-OAuth-Scopes"] == ""
    assert response.headers["X-Accepted-OAuth-Scopes"] == "repo"
    assert "GitHub-Authentication-Token-Expiration" not in response.headers


def test_fine_grained_headers(world: World) -> None:
    response = world.client.get("/api/v3/repos/acme/infra", headers={"Authorization": f"Bearer {world.fine}"})
    assert response.status_code == 200
    assert "X-OAuth-Scopes" not in response.headers
    assert "X-Accepted-OAuth-Scopes" not in response.headers
    assert response.headers["X-Accepted-GitHub-Permissions"] == "metadata=read"
    assert response.json()["permissions"] == {
        "admin": False,
        "maintain": False,
        "push": False,
        "triage": False,
        "pull": True,
    }


def test_fine_grained_token_limits(world: World) -> None:
    # bob's own token cannot see acme's private repository (wrong resource owner): 404.
    assert get(world, "/repos/acme/infra", world.fine_other).status_code == 404  # type: ignore[attr-defined]
    # Without administration permission: 403 with GitHub's fine-grained message.
    response = world.client.patch(
        "/api/v3/repos/acme/infra", headers={"Authorization": f"token {world.fine}"}, json={"description": "x"}
    )
    assert response.status_code == 403
    assert response.json()["message"] == "Resource not accessible by personal access token"
    assert response.headers["X-Accepted-GitHub-Permissions"] == "administration=write"


def test_user_object(world: World) -> None:
    user = body_of(get(world, "/user", world.classic))
    assert user["url"] == f"{world.base}/api/v3/users/alice"
    assert user["type"] == "User"
    assert user["email"] == "alice@example.com"
    assert "plan" in user
    public = body_of(get(world, "/users/alice"))
    assert public["login"] == "alice"
    assert public["email"] is None
    assert "plan" not in public
    org = body_of(get(world, "/users/acme"))
    assert org["type"] == "Organization"


def test_repository_object_urls_carry_the_api_prefix(world: World) -> None:
    repo = body_of(get(world, "/repos/acme/site", world.classic))
    assert repo["url"] == f"{world.base}/api/v3/repos/acme/site"
    assert repo["issues_url"] == f"{world.base}/api/v3/repos/acme/site/issues{{/number}}"
    assert repo["clone_url"] == f"{world.base}/acme/site.git"
    assert repo["permissions"]["admin"] is True  # alice owns acme
    assert repo["owner"]["login"] == "acme"
    by_id = body_of(get(world, f"/repositories/{repo['id']}", world.classic))
    assert by_id["full_name"] == "acme/site"


def test_repository_lists_follow_visibility(world: World) -> None:
    names = {r["full_name"] for r in get(world, "/user/repos", world.classic).json()}  # type: ignore[attr-defined]
    assert names == {"acme/site", "acme/infra", "alice/dots"}
    bob = {r["full_name"] for r in get(world, "/user/repos", world.fine).json()}  # type: ignore[attr-defined]
    assert bob == {"acme/site", "acme/infra"}  # the selected private repo, plus public ones
    anonymous = {r["full_name"] for r in get(world, "/orgs/acme/repos").json()}  # type: ignore[attr-defined]
    assert anonymous == {"acme/site"}


def test_pagination_link_header(world: World, db: Database, settings: Settings, now: datetime) -> None:
    with db.unit_of_work() as s:
        owner = get_user(s, "alice")
        for i in range(5):
            factories.repo(s, settings, owner, f"r{i}", now + timedelta(seconds=i))
    response = get(world, "/users/alice/repos?per_page=2&page=2")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert len(response.json()) == 2  # type: ignore[attr-defined]
    link = response.headers["Link"]  # type: ignore[attr-defined]
    assert f'<{world.base}/api/v3/users/alice/repos?per_page=2&page=3>; rel="next"' in link
    assert 'rel="last"' in link
    assert 'rel="prev"' in link
    assert get(world, "/users/alice/repos?per_page=500").status_code == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{bad json", 400, "Problems parsing JSON"),
        (b"[1, 2]", 400, "Body should be a JSON object"),
        (b'"text"', 400, "Body should be a JSON object"),
        (b"", 400, "Body should be a JSON object"),
        (b'{"private": true}', 422, "Validation Failed"),
        (b'{"name": 5}', 422, "Validation Failed"),
    ],
)
def test_request_body_errors(world: World, body: bytes, status: int, message: str) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        response = world.client.post(
            "/api/v3/user/repos",
            content=body,
            headers={"Authorization": f"token {world.classic}", "Content-Type": content_type},
        )
        assert response.status_code == status, response.text
        assert response.json()["message"] == message
        assert response.json()["status"] == str(status)


def test_validation_failed_names_the_field(world: World) -> None:
    response = world.client.post(
        "/api/v3/user/repos", json={"private": True}, headers={"Authorization": f"token {world.classic}"}
    )
    assert response.json()["errors"] == [
        {"resource": "Repository", "field": "name", "code": "missing_field", "message": "Field required"}
    ]
    duplicate = world.client.post(
        "/api/v3/user/repos", json={"name": "dots"}, headers={"Authorization": f"token {world.classic}"}
    )
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["code"] == "already_exists"


def test_create_repositories_needs_the_right_scope(world: World) -> None:
    created = world.client.post(
        "/api/v3/user/repos", json={"name": "new", "private": True}, headers={"Authorization": f"token {world.classic}"}
    )
    assert created.status_code == 201
    assert created.json()["private"] is True
    refused = world.client.post(
        "/api/v3/user/repos", json={"name": "new2"}, headers={"Authorization": f"token {world.no_scope}"}
    )
    assert refused.status_code == 404
    assert refused.headers["X-Accepted-OAuth-Scopes"] == "public_repo"


def test_delete_repository_needs_delete_repo(world: World, settings: Settings) -> None:
    refused = world.client.delete("/api/v3/repos/alice/dots", headers={"Authorization": f"token {world.classic}"})
    assert refused.status_code == 404
    assert refused.headers["X-Accepted-OAuth-Scopes"] == "delete_repo"


def test_unknown_api_version_is_refused(world: World) -> None:
    response = get(world, "/", None, **{"X-GitHub-Api-Version": "1999-01-01"})
    assert response.status_code == 400  # type: ignore[attr-defined]
    ok = get(world, "/", None, **{"X-GitHub-Api-Version": "2026-03-10"})
    assert ok.headers["X-GitHub-Api-Version-Selected"] == "2026-03-10"  # type: ignore[attr-defined]


def test_unknown_paths_and_methods(world: World) -> None:
    assert get(world, "/nope").status_code == 404  # type: ignore[attr-defined]
    response = world.client.put("/api/v3/user")
    assert response.status_code == 405
    assert response.json()["message"] == "Method Not Allowed"


def test_head_answers_as_the_get_without_a_body(world: World) -> None:
    """Clients probe existence with HEAD; GitHub answers it as the GET (status, headers, rate
    limit) with no body. Through the real server, which must not wait for a body either."""
    auth = {"Authorization": f"token {world.classic}"}
    for path in ("/api/v3/repos/alice/dots", "/api/v3/user", "/api/v3/repos/alice/dots/issues"):
        got = world.client.get(path, headers=auth)
        head = world.client.head(path, headers=auth)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["Content-Length"] == got.headers["Content-Length"], path
        assert head.headers["Content-Type"] == got.headers["Content-Type"], path
        assert head.headers["X-OAuth-Scopes"] == "repo, user", path
        assert int(head.headers["X-RateLimit-Used"]) == int(got.headers["X-RateLimit-Used"]) + 1, path
    # Refused as the GET is: a private repository anonymously, and a bad token.
    anonymous = world.client.head("/api/v3/repos/alice/dots")
    assert (anonymous.status_code, anonymous.content) == (404, b"")
    bad = world.client.head("/api/v3/user", headers={"Authorization": "token ghp_" + "a" * 36})
    assert (bad.status_code, bad.content) == (401, b"")
    # A path with no GET answers as a GET there does.
    dispatches = "/api/v3/repos/alice/dots/dispatches"
    refused = world.client.get(dispatches, headers=auth).status_code
    assert refused in {404, 405}
    assert world.client.head(dispatches, headers=auth).status_code == refused


def test_graphql_viewer_login(world: World) -> None:
    response = world.client.post(
        "/api/graphql",
        json={"query": "query UserCurrent{viewer{login}}"},
        headers={"Authorization": f"token {world.fine}"},
    )
    assert response.json() == {"data": {"viewer": {"login": "bob"}}}
    assert world.client.post("/api/graphql", json={"query": "{viewer{login}}"}).status_code == 401


def test_meta_and_root(world: World) -> None:
    assert body_of(get(world, "/meta"))["installed_version"]
    assert body_of(get(world, "/"))["current_user_url"] == f"{world.base}/api/v3/user"


def test_credentials_revoke(world: World, db: Database) -> None:
    assert get(world, "/user", world.no_scope).status_code == 200  # type: ignore[attr-defined]
    response = world.client.post(
        "/api/v3/credentials/revoke", json={"credentials": [world.no_scope, "ghp_garbage", "github_pat_x"]}
    )
    assert response.status_code == 202
    assert response.json() == {}
    assert get(world, "/user", world.no_scope).status_code == 401  # type: ignore[attr-defined]
    with db.engine.connect() as conn:
        reason = conn.execute(text("SELECT revoked_reason FROM tokens WHERE name = 'bare'")).scalar_one()
    assert reason == "credentials_api"
    # Unknown tokens: the same answer, so the endpoint is no validity oracle.
    assert (
        world.client.post(
            "/api/v3/credentials/revoke", json={"credentials": ["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"]}
        ).status_code
        == 202
    )
    # Authenticated calls are refused.
    refused = world.client.post(
        "/api/v3/credentials/revoke",
        json={"credentials": [world.fine]},
        headers={"Authorization": f"token {world.classic}"},
    )
    assert refused.status_code == 403
    assert world.client.post("/api/v3/credentials/revoke", json={"credentials": []}).status_code == 422
    too_many = world.client.post("/api/v3/credentials/revoke", json={"credentials": ["x"] * 1001})
    assert too_many.status_code == 422


def test_rate_limit_endpoint_is_free_and_limits_apply(settings: Settings, db: Database, now: datetime) -> None:
    with db.unit_of_work() as s:
        token = factories.classic(s, settings, factories.user(s, "alice", now), now, "repo").secret
    server = LiveServer(settings.model_copy(update={"rate_limit_per_hour": 3, "rate_limit_anonymous_per_hour": 2}))
    server.start()
    with httpx.Client(base_url=server.url) as client:
        auth = {"Authorization": f"token {token}"}
        for _ in range(3):
            assert client.get("/api/v3/user", headers=auth).status_code == 200
        assert client.get("/api/v3/rate_limit", headers=auth).json()["resources"]["core"]["remaining"] == 0
        over = client.get("/api/v3/user", headers=auth)
        assert over.status_code == 403
        assert over.json()["message"].startswith("API rate limit exceeded for user ID ")
        assert over.headers["X-RateLimit-Remaining"] == "0"
        for _ in range(2):
            client.get("/api/v3/")
        anon = client.get("/api/v3/")
        assert anon.status_code == 403
        assert anon.json()["message"].startswith("API rate limit exceeded for ")
        assert "Authenticated requests get a higher rate limit" in anon.json()["message"]
    server.stop()
    unlimited = LiveServer(settings.model_copy(update={"rate_limit_enabled": False})).start()
    try:
        response = httpx.get(f"{unlimited.url}/api/v3/")
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
    finally:
        unlimited.stop()


@pytest.mark.parametrize(
    "path",
    [
        "/repos/acme%00/site",
        "/repos/acme/si%00te",
        "/users/al%00ice",
        "/orgs/ac%00me",
        "/users/alice/repos?page=99999999999999999999999",
        "/users/alice/repos?per_page=-5&page=-1",
        "/users/alice/repos?page=abc",
    ],
)
def test_hostile_paths_and_parameters_never_500(world: World, path: str) -> None:
    response = world.client.get(f"/api/v3{path}", headers={"Authorization": f"token {world.classic}"})
    assert response.status_code in {200, 404, 422}, response.text
    assert response.json() is not None


def test_open_issues_count_is_real(world: World) -> None:
    auth = {"Authorization": f"token {world.classic}"}
    for title in ("one", "two"):
        assert (
            world.client.post("/api/v3/repos/acme/site/issues", headers=auth, json={"title": title}).status_code == 201
        )
    repo = world.client.get("/api/v3/repos/acme/site", headers=auth).json()
    assert repo["open_issues_count"] == 2
    assert repo["open_issues"] == 2


def test_security_log(world: World) -> None:
    auth = {"Authorization": f"token {world.classic}"}  # classic with `user`: implies read:user
    log = world.client.get("/api/v3/user/security-log", headers=auth)
    assert log.status_code == 200
    actions = [e["action"] for e in log.json()]
    assert actions.count("token.created") == 2  # alice's two tokens
    assert all(world.classic not in str(e) for e in log.json())
    created = next(e for e in log.json() if e["action"] == "token.created")
    assert {"created_at", "actor", "token_id", "token_name", "ip", "details"} <= set(created)
    # No scope for it: GitHub-style 404 naming the scope; a fine-grained token without Events: 403.
    refused = world.client.get("/api/v3/user/security-log", headers={"Authorization": f"token {world.no_scope}"})
    assert refused.status_code == 404
    assert refused.headers["X-Accepted-OAuth-Scopes"] == "read:user"
    fine = world.client.get("/api/v3/user/security-log", headers={"Authorization": f"token {world.fine_other}"})
    assert fine.status_code == 403
    assert fine.headers["X-Accepted-GitHub-Permissions"] == "user_events=read"


def test_nul_characters_in_bodies_are_refused_not_500(world: World) -> None:
    auth = {"Authorization": f"token {world.classic}"}
    response = world.client.post("/api/v3/repos/acme/site/issues", headers=auth, json={"title": "a\u0000b"})
    assert response.status_code in {201, 422}  # SQLite stores it; PostgreSQL refuses it: never a 500
    patched = world.client.patch("/api/v3/user", headers=auth, json={"name": "x\u0000y"})
    assert patched.status_code in {200, 422}


def test_user_document_counts_and_updates(world: World) -> None:
    auth = {"Authorization": f"token {world.classic}"}
    for name, private in (("one", True), ("two", True), ("pub", False)):
        created = world.client.post("/api/v3/user/repos", headers=auth, json={"name": name, "private": private})
        assert created.status_code == 201
    me = world.client.get("/api/v3/user", headers=auth).json()
    assert me["total_private_repos"] == 3  # alice/dots, one, two
    assert me["owned_private_repos"] == 3
    assert me["public_repos"] == 1
    patched = world.client.patch("/api/v3/user", headers=auth, json={"name": "Alice Liddell"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Alice Liddell"
    assert world.client.get("/api/v3/user", headers=auth).json()["name"] == "Alice Liddell"
