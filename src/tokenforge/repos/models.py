"""Repositories and their collaborators. The git data lives in a bare repository on disk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tokenforge.accounts.models import Account
from tokenforge.db import Base, utcnow

REPO_NAME_MAX = 100
ROLE_CHECK = "role IN ('read', 'triage', 'write', 'maintain', 'admin')"


class Repository(Base):
    """A repository owned by a user or an organization.

    On disk it is ``<data_dir>/repositories/<id>.git``: named by id, so a rename or a change
    of owner never moves files.
    """

    __tablename__ = "repositories"
    __table_args__ = (
        UniqueConstraint("owner_id", "name_key"),
        # Target of the composite foreign key from token_repositories: lets the database itself
        # guarantee that a fine-grained token selects only repositories of its resource owner.
        UniqueConstraint("id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(REPO_NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(REPO_NAME_MAX))  # lower-cased, for uniqueness
    description: Mapped[str] = mapped_column(Text, default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    pushed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The last issue/pull request number handed out (issues.services allocates with an UPDATE).
    issue_counter: Mapped[int] = mapped_column(default=0)

    owner: Mapped[Account] = relationship()
    collaborators: Mapped[list[Collaborator]] = relationship(back_populates="repository", cascade="all, delete-orphan")

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    @property
    def visibility(self) -> str:
        return "private" if self.private else "public"


class Collaborator(Base):
    """A user given an explicit role on a repository (an outside collaborator, or a member
    given more than the organization's base role)."""

    __tablename__ = "collaborators"
    __table_args__ = (CheckConstraint(ROLE_CHECK, name="role"),)

    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    repository: Mapped[Repository] = relationship(back_populates="collaborators")
