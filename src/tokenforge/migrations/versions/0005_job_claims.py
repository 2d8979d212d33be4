"""job claims

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 07:38:01.132676
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tokenforge.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('claimed_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_claims')),
    sa.UniqueConstraint('kind', 'subject', name=op.f('uq_job_claims_kind_subject'))
    )


def downgrade() -> None:
    op.drop_table('job_claims')
