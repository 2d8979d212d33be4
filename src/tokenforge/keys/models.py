"""Deploy keys: SSH public keys with access to one repository.

``token_id`` records the personal access token that created the key: GitHub deletes a deploy key
when the token that created it is deleted (spec §6.3), and the token service does the same in
the same transaction. The foreign key cascades too, for tokens removed with their user.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tokenforge.db import Base, utcnow


class DeployKey(Base):
    __tablename__ = "deploy_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(Text)  # "ssh-ed25519 AAAA…" without the comment
    # SHA256 fingerprint of the key blob; unique: a key may be a deploy key of one repository only.
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=True)
    added_by: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(default=None)
