"""The Redis the tests share (127.0.0.1:6379 on this machine), and why a test must skip without it."""

from __future__ import annotations

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_unavailable() -> str | None:
    """None if Redis answers; otherwise the reason to give ``pytest.skip`` (never a silent pass)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} is not available: {exc}"
    return None
