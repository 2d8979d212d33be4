"""Accounts: users and organizations share one namespace and one id sequence, as on GitHub."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tokenforge.db import Base, utcnow


class AccountKind(StrEnum):
    USER = "user"
    ORGANIZATION = "organization"


LOGIN_MAX = 39  # GitHub's limit


class Account(Base):
    """Anything that can own repositories and be a token's resource owner."""

    __tablename__ = "accounts"
    __table_args__: tuple[object, ...] = (CheckConstraint("kind IN ('user', 'organization')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    login: Mapped[str] = mapped_column(String(LOGIN_MAX))
    # Logins are unique without regard to case ("Alice" and "alice" are one account); the
    # lower-cased key carries the unique index, ``login`` keeps the spelling chosen.
    login_key: Mapped[str] = mapped_column(String(LOGIN_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"polymorphic_on": "kind"}

    @property
    def is_organization(self) -> bool:
        return self.kind == AccountKind.ORGANIZATION


class User(Account):
    """A person. Signs in with a password (web) or a token (API, git)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    # argon2id; None for an account that cannot sign in with a password (created by the CLI
    # without --password-stdin). Tokens never use it.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    site_admin: Mapped[bool] = mapped_column(Boolean, default=False)

    emails: Mapped[list[Email]] = relationship(back_populates="user", cascade="all, delete-orphan", order_by="Email.id")
    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")

    __mapper_args__ = {"polymorphic_identity": AccountKind.USER.value}

    @property
    def primary_email(self) -> Email | None:
        return next((e for e in self.emails if e.primary), None)

    @property
    def has_verified_email(self) -> bool:
        return any(e.verified for e in self.emails)


class Organization(Account):
    """An organization and its personal-access-token policy (spec §5.1)."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(
            "max_lifetime_fine_grained_days IS NULL OR max_lifetime_fine_grained_days > 0",
            name="fine_grained_lifetime_positive",
        ),
        CheckConstraint(
            "max_lifetime_classic_days IS NULL OR max_lifetime_classic_days > 0",
            name="classic_lifetime_positive",
        ),
        CheckConstraint(
            "default_repository_role IN ('none', 'read', 'triage', 'write', 'maintain', 'admin')",
            name="default_repository_role",
        ),
    )

    id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    classic_tokens_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    fine_grained_tokens_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    # On by default for new organizations, as on GitHub since fine-grained tokens went GA.
    approval_required: Mapped[bool] = mapped_column(Boolean, default=True)
    # NULL = no limit. GitHub's defaults: 366 days for fine-grained, none for classic.
    max_lifetime_fine_grained_days: Mapped[int | None] = mapped_column(Integer, default=366)
    max_lifetime_classic_days: Mapped[int | None] = mapped_column(Integer, default=None)
    # GitHub's "base permission": the role every member has on every repository.
    default_repository_role: Mapped[str] = mapped_column(String(16), default="read")

    memberships: Mapped[list[Membership]] = relationship(back_populates="organization", cascade="all, delete-orphan")

    __mapper_args__ = {"polymorphic_identity": AccountKind.ORGANIZATION.value}


class Email(Base):
    """An email address of a user. A token can be created only with a verified one."""

    __tablename__ = "emails"
    __table_args__ = (
        # At most one primary address per user (a partial unique index, on both databases).
        Index(
            "uq_emails_one_primary",
            "user_id",
            unique=True,
            sqlite_where=text("is_primary"),
            postgresql_where=text("is_primary"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320))
    # Lower-cased; an address belongs to one account at most.
    address_key: Mapped[str] = mapped_column(String(320), unique=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    primary: Mapped[bool] = mapped_column("is_primary", Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="emails")


class Membership(Base):
    """A user's role in an organization."""

    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint("role IN ('owner', 'member')", name="role"),)

    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


__all__ = ["Account", "AccountKind", "Email", "Membership", "Organization", "User"]
