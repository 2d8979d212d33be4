"""auth state and token usage

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:09:01.199198
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tokenforge.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_auth_state_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_state'))
    )
    # The single row that access-reducing changes increment (tokenforge/auth/generation.py).
    op.execute("INSERT INTO auth_state (id, generation) VALUES (1, 0)")
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        # Existing rows get an empty list; new rows get one from the model's default.
        batch_op.add_column(sa.Column('recent_ips', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))



def downgrade() -> None:
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_column('recent_ips')

    op.drop_table('auth_state')
