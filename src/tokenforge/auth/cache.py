"""A bounded in-process cache of verified principals, keyed by token digest.

Keyed by the digest, never by the token: a heap dump or a debugger then shows no usable secret.
A hit is valid only while the generation it was loaded under is current (see generation.py) and
before the token's expiry, so revocation and expiry are never served from a stale entry.

Eviction is FIFO over insertion order (a plain dict): a hit costs one dict probe and no
reordering, and an entry evicted while hot is simply reloaded. Bounded so memory stays flat
whatever the number of distinct tokens presented.
"""

from __future__ import annotations

from typing import NamedTuple

from tokenforge.authz.subjects import TokenPrincipal


class _Entry(NamedTuple):
    principal: TokenPrincipal
    generation: int
    expires_at: float  # POSIX seconds; infinity for a token without expiry


_FOREVER = float("inf")


class PrincipalCache:
    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[bytes, _Entry] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes, generation: int, now: float) -> TokenPrincipal | None:
        """``now``: POSIX seconds (``Clock.timestamp()``)."""
        entry = self._entries.get(key)
        if entry is None or entry.generation != generation or now >= entry.expires_at:
            self.misses += 1
            return None
        self.hits += 1
        return entry.principal

    def put(self, key: bytes, principal: TokenPrincipal, generation: int) -> None:
        if self.max_entries <= 0:
            return
        entries = self._entries
        entries.pop(key, None)
        while len(entries) >= self.max_entries:
            try:
                del entries[next(iter(entries))]
            except (StopIteration, KeyError, RuntimeError):  # concurrent eviction by another thread
                break
        expires = principal.expires_at
        entries[key] = _Entry(principal, generation, _FOREVER if expires is None else expires.timestamp())

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
