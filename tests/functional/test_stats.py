"""The opt-in /-/stats endpoint reports what the hot path did (it drives the benchmarks)."""

from __future__ import annotations

import os
from datetime import datetime

import httpx

import factories
from live import LiveServer
from tokenforge.config import Settings
from tokenforge.db import Database


def test_stats_count_queries_cache_hits_and_writes(settings: Settings, db: Database, now: datetime) -> None:
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        factories.repo(s, settings, alice, "dots", now, private=True)
        token = factories.classic(s, settings, alice, now, "repo").secret
    server = LiveServer(settings.model_copy(update={"expose_stats": True})).start()
    try:
        auth = {"Authorization": f"token {token}"}
        for _ in range(10):
            assert httpx.get(f"{server.url}/api/v3/repos/alice/dots", headers=auth).status_code == 200
        stats = httpx.get(f"{server.url}/-/stats").json()
        assert stats["token_queries"] == 1  # one miss, then hits
        assert stats["repository_queries"] == 1
        assert stats["principal_cache"]["hits"] == 9
        assert stats["writes"]["statements"] == 0  # nothing written on the request path
        assert stats["usage"]["pending_tokens"] == 1
        assert stats["rss_kib"] > 0
        assert len(stats["gc_collections"]) == 3  # per generation, for the benchmarks' records
        assert stats["pid"] == os.getpid()  # the live server is a thread of this process
        server.services.flush_usage()
        after = httpx.get(f"{server.url}/-/stats").json()
        assert after["writes"]["by_table"] == {"tokens": 1}  # one batched UPDATE for last-used
    finally:
        server.stop()


def test_stats_are_off_by_default_and_tracking_can_be_switched_off(
    settings: Settings, db: Database, now: datetime
) -> None:
    with db.unit_of_work() as s:
        token = factories.classic(s, settings, factories.user(s, "alice", now), now, "repo").secret
    server = LiveServer(settings.model_copy(update={"track_usage": False})).start()
    try:
        assert httpx.get(f"{server.url}/-/stats").status_code == 404
        assert httpx.get(f"{server.url}/api/v3/user", headers={"Authorization": f"token {token}"}).status_code == 200
        assert server.services.usage.pending() == 0
    finally:
        server.stop()
