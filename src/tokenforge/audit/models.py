"""The audit trail: one row per security-relevant change, kept after its subject is gone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tokenforge.db import Base, utcnow


class AuditEvent(Base):
    """Who did what to which token or account, when and from where.

    Names are copied (``actor_login``, ``token_name``) and ``token_id`` has no foreign key on
    purpose: the trail must still read correctly after the token or the account is deleted.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_user_created", "user_id", "created_at"),
        Index("ix_audit_events_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64))  # e.g. "token.created", "org.policy_changed"
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    actor_login: Mapped[str] = mapped_column(String(64), default="")  # "" = the system (a job, the CLI)
    # Whose security log shows it (the token's owner, the account changed).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    token_id: Mapped[int | None] = mapped_column(Integer)
    token_name: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
