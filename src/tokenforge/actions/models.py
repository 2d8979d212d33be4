"""GitHub Actions as far as tokens are concerned: workflows found under .github/workflows/ on
the default branch, and the runs that ``workflow_dispatch`` records. Nothing executes a run; the
dispatch — who asked, with which token, ref and inputs — is recorded faithfully."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tokenforge.db import Base, utcnow


class Workflow(Base):
    """A workflow file, registered the first time it is seen (its id must stay stable)."""

    __tablename__ = "workflows"
    __table_args__ = (
        UniqueConstraint("repo_id", "path"),
        CheckConstraint("state IN ('active', 'disabled_manually')", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1024))  # ".github/workflows/ci.yml"
    name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowRun(Base):
    """A recorded dispatch."""

    __tablename__ = "workflow_runs"
    __table_args__ = (UniqueConstraint("workflow_id", "run_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), index=True)
    run_number: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32), default="workflow_dispatch")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    conclusion: Mapped[str | None] = mapped_column(String(16), default=None)
    head_branch: Mapped[str] = mapped_column(String(255))
    head_sha: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_login: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[int | None] = mapped_column(Integer)  # which token dispatched it (audit; no FK)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
