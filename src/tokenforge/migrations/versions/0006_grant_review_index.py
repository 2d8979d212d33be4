"""an index for organizations' grant review pages

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 11:05:00
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_fine_grained_grants_owner_approval_token',
        'fine_grained_grants',
        ['resource_owner_id', 'approval', 'token_id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_fine_grained_grants_owner_approval_token', table_name='fine_grained_grants')
