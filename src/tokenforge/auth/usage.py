"""Last-used tracking without a write per request.

A durable SQLite commit costs 200-400 µs on this kind of machine, 25-50× the whole read path
(PERFORMANCE.md §3d); Gitea writes on every request, GitLab at most every 10 minutes. Here a
request only updates an in-memory record; ``flush`` writes every touched token in one batch —
called once a minute by the server and at shutdown — so the database sees at most one write per
token per minute, and a crash loses at most a minute of last-used data and nothing else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update

from tokenforge.db import Database
from tokenforge.tokens.models import Token

RECENT_IPS = 5  # GitLab keeps the last five


@dataclass
class _Usage:
    last_used: float  # POSIX seconds: recorded on every request, where a datetime costs 4× a float
    ips: list[str] = field(default_factory=list)  # most recent first, distinct


class UsageRecorder:
    def __init__(self) -> None:
        self._pending: dict[int, _Usage] = {}
        self._lock = threading.Lock()
        self.flushes = 0

    def record(self, token_id: int, ip: str | None, now: float) -> None:
        """``now``: POSIX seconds (``Clock.timestamp()``)."""
        usage = self._pending.get(token_id)
        if usage is None:
            with self._lock:
                usage = self._pending.setdefault(token_id, _Usage(now))
        if now > usage.last_used:  # noqa: PLR1730 (not max(): the builtin call costs more than the comparison)
            usage.last_used = now
        if ip and (not usage.ips or usage.ips[0] != ip):
            if ip in usage.ips:
                usage.ips.remove(ip)
            usage.ips.insert(0, ip)
            del usage.ips[RECENT_IPS:]

    def pending(self) -> int:
        return len(self._pending)

    def flush(self, db: Database) -> int:
        """Write what was recorded since the last flush; returns the number of tokens written."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            with db.unit_of_work() as session:
                query = select(Token.id, Token.recent_ips).where(Token.id.in_(batch))
                stored: dict[int, list[str]] = {row.id: row.recent_ips for row in session.execute(query)}
                rows = []
                for token_id, usage in batch.items():
                    if token_id not in stored:
                        continue  # deleted since
                    merged = usage.ips + [ip for ip in (stored[token_id] or []) if ip not in usage.ips]
                    used = datetime.fromtimestamp(usage.last_used, UTC)
                    rows.append({"tid": token_id, "used": used, "ips": merged[:RECENT_IPS]})
                if rows:
                    session.connection().execute(
                        update(Token.__table__)  # type: ignore[arg-type]
                        .where(Token.__table__.c.id == bindparam("tid"))
                        # updated_at records edits, not use: keep it as it is.
                        .values(
                            last_used_at=bindparam("used"),
                            recent_ips=bindparam("ips"),
                            updated_at=Token.__table__.c.updated_at,
                        ),
                        rows,
                    )
        except Exception:
            # Put the batch back so a transient failure loses nothing; newer records win.
            with self._lock:
                for token_id, usage in batch.items():
                    current = self._pending.get(token_id)
                    if current is None or current.last_used < usage.last_used:
                        self._pending[token_id] = usage
            raise
        self.flushes += 1
        return len(rows)
