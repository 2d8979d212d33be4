"""Personal access tokens: the stored digest, and a fine-grained token's grant.

No column ever holds a plaintext token. ``digest`` is HMAC-SHA256 under the pepper named by
``pepper_id`` (credentials/digest.py); ``last_eight`` is what may be displayed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tokenforge.accounts.models import Account, User
from tokenforge.credentials.format import TokenKind
from tokenforge.db import Base, utcnow
from tokenforge.repos.models import Repository

NAME_MAX = 255  # classic notes; fine-grained names are limited to 40 by the service
FINE_GRAINED_NAME_MAX = 40
DESCRIPTION_MAX = 1024


class RevokedReason(StrEnum):
    """Why a token stopped working before its expiry; recorded with the audit event."""

    USER = "user"  # deleted by its owner
    ADMIN = "admin"  # revoked by a site administrator
    CREDENTIALS_API = "credentials_api"  # reported through POST /credentials/revoke
    UNUSED = "unused"  # removed after a year without use
    LEAKED = "leaked"  # found in pushed content


class Token(Base):
    """A personal access token of either kind."""

    __tablename__ = "tokens"
    __table_args__ = (
        CheckConstraint("kind IN ('classic', 'fine_grained')", name="kind"),
        # Classic tokens carry scopes; fine-grained ones carry a grant row instead.
        CheckConstraint(
            "(kind = 'classic' AND scopes IS NOT NULL) OR (kind = 'fine_grained' AND scopes IS NULL)",
            name="scopes_only_classic",
        ),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        CheckConstraint("length(last_eight) = 8", name="last_eight_length"),
        CheckConstraint("(revoked_at IS NULL) = (revoked_reason IS NULL)", name="revoked_reason"),
        CheckConstraint("expires_at IS NULL OR expires_at > created_at", name="expires_after_created"),
        # A live token's name is unique among its user's tokens of that kind (GitHub: "Name has
        # already been taken"). Revoked tokens keep their rows (for the audit trail and so
        # their digests can never be reissued) but free their names.
        Index(
            "uq_tokens_live_name",
            "user_id",
            "kind",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        # Target of fine_grained_grants' composite key: a grant can only hang off a
        # fine-grained token.
        UniqueConstraint("id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # The lookup key of every authenticated request: one equality probe on this unique index.
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    pepper_id: Mapped[str] = mapped_column(String(8))
    last_eight: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(NAME_MAX))  # fine-grained name, or classic note
    description: Mapped[str] = mapped_column(Text, default="")
    # Classic only: normalized scopes, comma-separated ("gist,user"); "" for a no-scope token.
    scopes: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # A regenerated token's lifetime counts from its regeneration (organization lifetime
    # policies measure expires_at - lifetime_start).
    regenerated_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    # The last few distinct client addresses, most recent first (written by auth/usage.py).
    recent_ips: Mapped[list[str]] = mapped_column(JSON, default=list)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)

    user: Mapped[User] = relationship()
    grant: Mapped[FineGrainedGrant | None] = relationship(
        back_populates="token", cascade="all, delete-orphan", uselist=False
    )

    @property
    def token_kind(self) -> TokenKind:
        return TokenKind(self.kind)

    @property
    def scope_list(self) -> tuple[str, ...]:
        return tuple(s for s in (self.scopes or "").split(",") if s)

    @property
    def lifetime_start(self) -> datetime:
        return self.regenerated_at or self.created_at

    @property
    def lifetime(self) -> timedelta | None:
        return None if self.expires_at is None else self.expires_at - self.lifetime_start

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class FineGrainedGrant(Base):
    """What a fine-grained token may reach: one resource owner, a repository selection and
    a permission map (spec §3.1–3.3), plus its approval state with an organization owner."""

    __tablename__ = "fine_grained_grants"
    __table_args__ = (
        ForeignKeyConstraint(
            ["token_id", "token_kind"],
            ["tokens.id", "tokens.kind"],
            ondelete="CASCADE",
            name="fk_fine_grained_grants_token",
        ),
        CheckConstraint("token_kind = 'fine_grained'", name="token_kind"),
        CheckConstraint("repository_selection IN ('none', 'all', 'subset')", name="repository_selection"),
        CheckConstraint("approval IN ('approved', 'pending', 'denied', 'revoked')", name="approval"),
        UniqueConstraint("token_id", "resource_owner_id"),
        # An organization's review pages list its grants of one approval state, newest token first:
        # walked in this index's order, a page of an organization with half a million grants reads
        # a page of rows, not all of them (docs/benchmarks.md, scale).
        Index("ix_fine_grained_grants_owner_approval_token", "resource_owner_id", "approval", "token_id"),
        # The review page's repository filter (orgs/review.py, ``active_grants``) gathers its
        # candidates from two small sets: the tokens that select that repository (by
        # token_repositories' repo_id index) and the grants on all repositories, found here
        # without reading the organization's every grant.
        Index(
            "ix_fine_grained_grants_owner_selection",
            "resource_owner_id",
            "repository_selection",
            "approval",
            "token_id",
        ),
    )

    # The primary key is the token: exactly one grant, hence exactly one resource owner.
    token_id: Mapped[int] = mapped_column(primary_key=True)
    token_kind: Mapped[str] = mapped_column(String(16), default=TokenKind.FINE_GRAINED.value)
    resource_owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    repository_selection: Mapped[str] = mapped_column(String(8))
    # {"contents": "write", "metadata": "read", ...}; validated by credentials.permissions.
    permissions: Mapped[dict[str, Any]] = mapped_column(JSON)
    approval: Mapped[str] = mapped_column(String(16), default="approved")
    justification: Mapped[str] = mapped_column(Text, default="")
    # When an organization owner approved this grant (GitHub's ``access_granted_at``).
    access_granted_at: Mapped[datetime | None] = mapped_column(default=None)

    token: Mapped[Token] = relationship(back_populates="grant")
    resource_owner: Mapped[Account] = relationship()
    # Unordered on purpose (sort at display, ≤ 50 rows): with ORDER BY repositories.name_key,
    # SQLite's planner walked the whole repositories table in name order and probed
    # token_repositories for each — 16 ms per token with 100,000 repositories — instead of
    # reading the token's few rows by primary key.
    repositories: Mapped[list[Repository]] = relationship(secondary="token_repositories", viewonly=True)


class TokenRepository(Base):
    """A repository selected by a fine-grained token (``repository_selection = 'subset'``)."""

    __tablename__ = "token_repositories"
    __table_args__ = (
        ForeignKeyConstraint(
            ["token_id", "resource_owner_id"],
            ["fine_grained_grants.token_id", "fine_grained_grants.resource_owner_id"],
            ondelete="CASCADE",
            name="fk_token_repositories_grant",
        ),
        # The same resource_owner_id must own the repository: selecting someone else's
        # repository is impossible, not merely rejected by the service.
        ForeignKeyConstraint(
            ["repo_id", "resource_owner_id"],
            ["repositories.id", "repositories.owner_id"],
            ondelete="CASCADE",
            name="fk_token_repositories_repository",
        ),
    )

    token_id: Mapped[int] = mapped_column(primary_key=True)
    repo_id: Mapped[int] = mapped_column(primary_key=True, index=True)
    resource_owner_id: Mapped[int] = mapped_column()


class TokenPrincipalRow(Base):
    """What an authentication cache miss reads: one row per token, keyed by its digest.

    Derived data, never written by the application: database triggers (migration 0008) recompute
    a token's row from tokens, accounts, fine_grained_grants and token_repositories whenever any
    of them changes, in the same transaction. ``principal`` is a JSON array in the order
    ``tokens/lookup.py`` decodes; ``tokens/principals.py`` checks it against the source tables.
    """

    __tablename__ = "token_principals"
    # SQLite: the rows live in the primary key's b-tree, so a lookup is one search, not two.
    __table_args__ = ({"sqlite_with_rowid": False},)

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), unique=True)
    principal: Mapped[str] = mapped_column(Text)


class TokenRequest(Base):
    """A request for an organization's approval of a fine-grained token (spec §3.4, §5.4).

    What was *asked for* lives here; what is *approved* lives on the grant. A new token aimed at
    an organization that requires approval starts with a pending request and a pending grant.
    Editing an approved token to ask for more files a new request and leaves the grant — and the
    access already approved — untouched until an owner approves (then the requested access is
    copied onto the grant) or denies (then nothing changes). ``id`` is GitHub's
    ``pat_request_id``, distinct from the token id.
    """

    __tablename__ = "token_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'denied', 'cancelled')", name="status"),
        CheckConstraint("repository_selection IN ('none', 'all', 'subset')", name="repository_selection"),
        # At most one pending request per token.
        Index(
            "uq_token_requests_one_pending",
            "token_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_token_requests_org_status", "org_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")  # the requester's justification
    repository_selection: Mapped[str] = mapped_column(String(8))
    repository_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    permissions: Mapped[dict[str, Any]] = mapped_column(JSON)
    # True when the token was already approved and this asks for more.
    upgrade: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    review_reason: Mapped[str] = mapped_column(Text, default="")

    token: Mapped[Token] = relationship()
