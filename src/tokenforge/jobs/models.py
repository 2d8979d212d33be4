"""The ledger that makes periodic work happen once, whatever the number of server processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tokenforge.db import Base, utcnow


class Claim(Base):
    """One row per piece of periodic work done: "reminder 7 days before expiry X of token 5".

    A job inserts the claim in the same transaction as the work (and the mail queued to go out
    after its commit). The unique key makes a second process's insert fail — on PostgreSQL it
    waits for the first transaction and then conflicts; on SQLite the write lock serializes them —
    so each reminder is sent at most once, across processes and restarts.
    """

    __tablename__ = "job_claims"
    __table_args__ = (UniqueConstraint("kind", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "expiry_reminder", "expired", "unused", "org_digest"
    subject: Mapped[str] = mapped_column(String(200))  # what it was about, e.g. "token:5:2026-12-01T00:00:00Z:7"
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
