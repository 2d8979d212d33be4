"""cancel the pending requests of tokens already revoked

Since this revision, revoking a token cancels its pending requests for organization access
(``tokens.services.revoke_token``), so an organization's pending tab counts its requests without
reading the tokens (``orgs.review.pending_count``). Requests left pending by a revocation before
it are cancelled here, once. Data only: the downgrade leaves them cancelled (nobody could act on
them; the reviewer's list never showed them).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 03:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE token_requests SET status = 'cancelled' WHERE status = 'pending' "
        "AND token_id IN (SELECT id FROM tokens WHERE revoked_at IS NOT NULL)"
    )


def downgrade() -> None:
    pass
