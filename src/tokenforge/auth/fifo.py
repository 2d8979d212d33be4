"""The bounded store behind every verification cache: first in, first out.

FIFO rather than LRU: a hit is one probe and no reordering (the hot path reads far more often
than it stores), and an entry evicted while hot is simply reloaded.

An ``OrderedDict``, not a plain dict: evicting a dict's oldest entry with ``next(iter(d))`` walks
over every slot deleted since the dict was last compacted — 1.1 µs per insert with 1,000 entries
and 3.7 µs with 10,000, measured here — and a cold-cache load stores on every request.
``popitem(last=False)`` is constant time (0.3–0.5 µs), and a probe costs within 0.04 µs of a
dict's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedFifo(OrderedDict[K, V]):
    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max_entries

    def put(self, key: K, value: V) -> None:
        """Store ``value`` as the newest entry, first forgetting the oldest ones beyond the bound.
        A bound of 0 stores nothing."""
        if self.max_entries <= 0:
            return
        self.pop(key, None)  # a replaced entry becomes the newest
        while len(self) >= self.max_entries:
            try:
                self.popitem(last=False)
            except KeyError:  # emptied meanwhile by another thread
                break
        self[key] = value
