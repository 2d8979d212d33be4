"""an index for the repository filter of organizations' grant review pages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 19:20:00
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_fine_grained_grants_owner_selection',
        'fine_grained_grants',
        ['resource_owner_id', 'repository_selection', 'approval', 'token_id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_fine_grained_grants_owner_selection', table_name='fine_grained_grants')
