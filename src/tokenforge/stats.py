"""``GET /-/stats`` (only with ``TOKENFORGE_EXPOSE_STATS=true``): what the hot path did, for the
benchmarks in bench/ and for operators. Counters since the process started; no secrets."""

from __future__ import annotations

import gc
import os
import resource
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

if TYPE_CHECKING:
    from tokenforge.app import Services


class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements the application's engine sends."""

    def __init__(self) -> None:
        self.writes = 0
        self.by_table: dict[str, int] = {}

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def count(*args: Any) -> None:  # SQLAlchemy's (conn, cursor, statement, params, context, many)
            statement: str = args[2]
            verb = statement.lstrip()[:6].upper()
            if verb in {"INSERT", "UPDATE", "DELETE"}:
                self.writes += 1
                words = statement.split()
                table = words[2] if verb in {"INSERT", "DELETE"} else words[1]
                table = table.strip('"')
                self.by_table[table] = self.by_table.get(table, 0) + 1


def snapshot(services: Services, writes: WriteCounter) -> dict[str, Any]:
    auth = services.authenticator
    return {
        # Which process answered: with several workers behind one port, each has its own figures.
        "pid": os.getpid(),
        "token_queries": services.lookup.queries,
        "repository_queries": services.repo_access.queries,
        "document_queries": services.repo_reads.queries,
        "generation_reads": services.generation.reads,
        "principal_cache": {
            "entries": len(auth.cache),
            "hits": auth.cache.hits,
            "misses": auth.cache.misses,
            "max_entries": auth.cache.max_entries,
        },
        "usage": {"pending_tokens": services.usage.pending(), "flushes": services.usage.flushes},
        "writes": {"statements": writes.writes, "by_table": dict(writes.by_table)},
        # Collections per generation since start: a full (generation 2) collection walks every
        # tracked object of the process, so cache churn that promotes objects shows up here.
        "gc_collections": [generation["collections"] for generation in gc.get_stats()],
        # ru_maxrss is the peak; the current resident set comes from /proc where available.
        "rss_kib": _rss_kib(),
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _rss_kib() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
