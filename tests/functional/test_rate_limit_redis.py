"""Rate limits shared by several server processes through Redis (TOKENFORGE_REDIS_URL)."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest

import factories
from live import LiveServer
from redis_check import REDIS_URL, redis_unavailable
from tokenforge.config import Settings
from tokenforge.db import Database


def test_two_servers_share_one_budget(settings: Settings, db: Database, now: datetime) -> None:
    reason = redis_unavailable()
    if reason:
        pytest.skip(reason)
    with db.unit_of_work() as s:
        token = factories.classic(s, settings, factories.user(s, "alice", now), now, "repo").secret
    shared = settings.model_copy(
        update={
            "redis_url": REDIS_URL,
            "rate_limit_per_hour": 4,
            "redis_key_prefix": f"tokenforge-test:{uuid.uuid4().hex}:",
        }
    )
    first, second = LiveServer(shared).start(), LiveServer(shared).start()
    try:
        auth = {"Authorization": f"token {token}"}
        for server in (first, second, first, second):
            assert httpx.get(f"{server.url}/api/v3/user", headers=auth).status_code == 200
        over = httpx.get(f"{second.url}/api/v3/user", headers=auth)
        assert over.status_code == 403
        assert over.json()["message"].startswith("API rate limit exceeded for user ID ")
        assert over.headers["X-RateLimit-Used"] == "4"
        assert httpx.get(f"{first.url}/api/v3/user", headers=auth).status_code == 403
        limits = httpx.get(f"{first.url}/api/v3/rate_limit", headers=auth).json()
        assert limits["resources"]["core"]["remaining"] == 0
    finally:
        first.stop()
        second.stop()


def test_an_unreachable_redis_fails_open(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
    server = LiveServer(broken).start()
    try:
        response = httpx.get(f"{server.url}/api/v3/")
        assert response.status_code == 200
    finally:
        server.stop()
    assert "Redis is unreachable" in caplog.text
