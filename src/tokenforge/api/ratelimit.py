"""GitHub's primary rate limit: a fixed hourly window per user (all their tokens) or per IP.

Two counters with one interface:

* ``RateLimiter`` — in-process (a dict probe, well under the 2 µs budget of PERFORMANCE.md S8).
  Each process counts on its own, so with N processes the effective limit is up to N×.
* ``RedisRateLimiter`` — shared by every process when ``TOKENFORGE_REDIS_URL`` is set: one
  round trip per counted request (a pipelined ``INCR`` + ``EXPIRE … NX`` on the window's key),
  ~60-100 µs on loopback. If Redis is unreachable the request is served (fail open) and the
  failure logged: a rate limiter must not turn a Redis outage into an API outage.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

WINDOW = 3600
log = logging.getLogger(__name__)
# Run by Redis atomically: another process's INCR cannot slip between the read and the decrement.
_RELEASE = "if tonumber(redis.call('get', KEYS[1]) or '0') > 0 then return redis.call('decr', KEYS[1]) end return 0"


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    used: int
    reset: int  # epoch seconds when the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self, resource: str = "core") -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Used": str(min(self.used, self.limit)),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Resource": resource,
        }


class RateLimiter:
    def __init__(self, *, enabled: bool, per_user: int, per_ip: int, window: int = WINDOW) -> None:
        """``window``: seconds (GitHub's rate limit: an hour; accounts/throttle.py counts failed
        passwords in shorter ones)."""
        self.enabled = enabled
        self.per_user = per_user
        self.per_ip = per_ip
        self.window = window
        self._windows: dict[str, list[int]] = {}  # key -> [window start, used]
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.per_user if key.startswith("user:") else self.per_ip

    def peek(self, key: str, now: float) -> Quota:
        start = int(now) - int(now) % self.window
        window = self._windows.get(key)
        used = window[1] if window is not None and window[0] == start else 0
        return Quota(self._limit(key), used, start + self.window)

    def hit(self, key: str, now: float) -> Quota:
        """Count one request and return the quota after it."""
        start = int(now) - int(now) % self.window
        with self._lock:
            window = self._windows.get(key)
            if window is None or window[0] != start:
                if len(self._windows) > 100_000:  # old windows of departed clients
                    self._windows = {k: w for k, w in self._windows.items() if w[0] == start}
                window = self._windows[key] = [start, 0]
            window[1] += 1
            used = window[1]
        return Quota(self._limit(key), used, start + self.window)

    def release(self, key: str, now: float) -> None:
        """Take back one ``hit`` of the current window (never below zero; a new window has none)."""
        start = int(now) - int(now) % self.window
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window[0] == start and window[1] > 0:
                window[1] -= 1


class Limiter(Protocol):
    enabled: bool

    def peek(self, key: str, now: float) -> Quota: ...

    def hit(self, key: str, now: float) -> Quota: ...

    def release(self, key: str, now: float) -> None: ...


class RedisRateLimiter:
    """Counts in Redis so that every server process shares one budget per user or address."""

    def __init__(
        self,
        url: str,
        *,
        enabled: bool,
        per_user: int,
        per_ip: int,
        prefix: str = "tokenforge:rl:",
        window: int = WINDOW,
    ) -> None:
        import redis

        self.enabled = enabled
        self.per_user = per_user
        self.per_ip = per_ip
        self.prefix = prefix
        self.window = window
        self._redis: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.errors = 0

    def _limit(self, key: str) -> int:
        return self.per_user if key.startswith("user:") else self.per_ip

    def _key(self, key: str, start: int) -> str:
        return f"{self.prefix}{key}:{start}"

    def peek(self, key: str, now: float) -> Quota:
        start = int(now) - int(now) % self.window
        try:
            used = int(self._redis.get(self._key(key, start)) or 0)
        except Exception:
            self._failed()
            used = 0
        return Quota(self._limit(key), used, start + self.window)

    def hit(self, key: str, now: float) -> Quota:
        start = int(now) - int(now) % self.window
        name = self._key(key, start)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(name)
            pipe.expire(name, self.window + 60, nx=True)
            used = int(pipe.execute()[0])
        except Exception:
            self._failed()
            used = 0
        return Quota(self._limit(key), used, start + self.window)

    def release(self, key: str, now: float) -> None:
        """Take back one ``hit`` of the current window: a decrement only of a window's key that
        still exists and is above zero (a plain DECR would create the key at -1 without expiry)."""
        start = int(now) - int(now) % self.window
        try:
            self._redis.eval(_RELEASE, 1, self._key(key, start))
        except Exception:
            self._failed()

    def _failed(self) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 1000 == 0:
            log.error("rate limiting: Redis is unreachable (%d failures); serving without a limit", self.errors)

    def close(self) -> None:
        self._redis.close()
