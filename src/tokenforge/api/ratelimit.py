"""GitHub's primary rate limit: a fixed hourly window per user (all their tokens) or per IP.

In-process by default (a dict probe, well under the 2 µs budget of PERFORMANCE.md S8). Every
process counts on its own, so with N processes the effective limit is up to N× — documented;
shared counting across processes comes with a Redis backend.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

WINDOW = 3600


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
    def __init__(self, *, enabled: bool, per_user: int, per_ip: int) -> None:
        self.enabled = enabled
        self.per_user = per_user
        self.per_ip = per_ip
        self._windows: dict[str, list[int]] = {}  # key -> [window start, used]
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.per_user if key.startswith("user:") else self.per_ip

    def peek(self, key: str, now: float) -> Quota:
        start = int(now) - int(now) % WINDOW
        window = self._windows.get(key)
        used = window[1] if window is not None and window[0] == start else 0
        return Quota(self._limit(key), used, start + WINDOW)

    def hit(self, key: str, now: float) -> Quota:
        """Count one request and return the quota after it."""
        start = int(now) - int(now) % WINDOW
        with self._lock:
            window = self._windows.get(key)
            if window is None or window[0] != start:
                if len(self._windows) > 100_000:  # old windows of departed clients
                    self._windows = {k: w for k, w in self._windows.items() if w[0] == start}
                window = self._windows[key] = [start, 0]
            window[1] += 1
            used = window[1]
        return Quota(self._limit(key), used, start + WINDOW)
