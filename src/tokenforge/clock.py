"""Time as a dependency: surfaces read a ``Clock`` and pass ``now`` into services, so tests
control time without sleeping or patching."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def timestamp(self) -> float:
        """``now()`` as POSIX seconds: what the per-request hot path compares (a float from
        ``time.time()`` costs a quarter of ``datetime.now(UTC)``)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        return time.time()


class FixedClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment
