"""Issues, pull requests and their comments.

As on GitHub, a pull request *is* an issue (it shares the repository's number sequence, its
title, body, state and conversation comments) with a ``PullRequest`` row carrying the branches.
Authors are kept as ``SET NULL`` references plus a copied login, so deleting a user leaves their
issues readable (GitHub shows them as "ghost").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tokenforge.db import Base, utcnow

issue_labels = Table(
    "issue_labels",
    Base.metadata,
    Column("issue_id", ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    Column("label_id", ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("repo_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    name_key: Mapped[str] = mapped_column(String(50))  # lower-cased: labels are case-insensitive
    color: Mapped[str] = mapped_column(String(6), default="ededed")
    description: Mapped[str] = mapped_column(String(100), default="")


class Issue(Base):
    """An issue, or the issue half of a pull request."""

    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("repo_id", "number"),
        CheckConstraint("state IN ('open', 'closed')", name="state"),
        CheckConstraint("number > 0", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    # Per repository, shared with pull requests; allocated from repositories.issue_counter.
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(256))
    body: Mapped[str | None] = mapped_column(Text, default=None)
    state: Mapped[str] = mapped_column(String(8), default="open")
    state_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    author_login: Mapped[str] = mapped_column(String(64))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    labels: Mapped[list[Label]] = relationship(secondary=issue_labels, order_by="Label.name_key")
    comments: Mapped[list[IssueComment]] = relationship(
        back_populates="issue", cascade="all, delete-orphan", order_by="IssueComment.id"
    )
    pull_request: Mapped[PullRequest | None] = relationship(
        back_populates="issue", cascade="all, delete-orphan", uselist=False
    )


class IssueComment(Base):
    """A conversation comment on an issue or a pull request."""

    __tablename__ = "issue_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_login: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    issue: Mapped[Issue] = relationship(back_populates="comments")


class PullRequest(Base):
    """The pull-request half: which branches, and the commits they pointed at when opened."""

    __tablename__ = "pull_requests"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    head_ref: Mapped[str] = mapped_column(String(255))
    base_ref: Mapped[str] = mapped_column(String(255))
    head_sha: Mapped[str] = mapped_column(String(64))
    base_sha: Mapped[str] = mapped_column(String(64))
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    merged: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_at: Mapped[datetime | None] = mapped_column(default=None)

    issue: Mapped[Issue] = relationship(back_populates="pull_request")
    review_comments: Mapped[list[ReviewComment]] = relationship(
        back_populates="pull_request", cascade="all, delete-orphan", order_by="ReviewComment.id"
    )


class ReviewComment(Base):
    """A comment on a line (or a file) of a pull request's diff; replies point at the first."""

    __tablename__ = "review_comments"
    __table_args__ = (
        CheckConstraint("side IN ('LEFT', 'RIGHT')", name="side"),
        CheckConstraint("start_side IS NULL OR start_side IN ('LEFT', 'RIGHT')", name="start_side"),
        CheckConstraint("subject_type IN ('line', 'file')", name="subject_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pull_issue_id: Mapped[int] = mapped_column(ForeignKey("pull_requests.issue_id", ondelete="CASCADE"), index=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_login: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    commit_id: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(4096))
    line: Mapped[int | None] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(5), default="RIGHT")
    start_line: Mapped[int | None] = mapped_column(Integer)
    start_side: Mapped[str | None] = mapped_column(String(5))
    subject_type: Mapped[str] = mapped_column(String(4), default="line")
    diff_hunk: Mapped[str] = mapped_column(Text, default="")
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("review_comments.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    pull_request: Mapped[PullRequest] = relationship(back_populates="review_comments")
