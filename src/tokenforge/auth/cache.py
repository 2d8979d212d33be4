"""A bounded in-process cache of verified credentials, keyed by a keyed digest.

Keyed by the digest, never by the token: a heap dump or a debugger then shows no usable secret
(the authenticator keys it by the whole Authorization header; see authenticator.py). A hit is
valid only while the generation it was loaded under is current (see generation.py) and before the
token's expiry, so revocation and expiry are never served from a stale entry.

Eviction is FIFO over insertion order (fifo.py): a hit costs one probe and no reordering, and an
entry evicted while hot is simply reloaded. Bounded so memory stays flat whatever the number of
distinct tokens presented.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from tokenforge.auth.fifo import BoundedFifo

V = TypeVar("V")


class _Entry(NamedTuple, Generic[V]):
    value: V
    generation: int
    expires_at: float  # POSIX seconds; infinity for a token without expiry


_FOREVER = float("inf")


class PrincipalCache(Generic[V]):
    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: BoundedFifo[bytes, _Entry[V]] = BoundedFifo(max_entries)
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes, generation: int, now: float) -> V | None:
        """``now``: POSIX seconds (``Clock.timestamp()``)."""
        entry = self._entries.get(key)
        if entry is None or entry.generation != generation or now >= entry.expires_at:
            self.misses += 1
            return None
        self.hits += 1
        return entry.value

    def put(self, key: bytes, value: V, generation: int, expires_at: datetime | None) -> None:
        """``expires_at``: the token's expiry; the entry is never served from that instant on."""
        self._entries.put(key, _Entry(value, generation, _FOREVER if expires_at is None else expires_at.timestamp()))

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
