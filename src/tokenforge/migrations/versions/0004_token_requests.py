"""token requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 07:25:50.556719
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tokenforge.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('token_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('repository_selection', sa.String(length=8), nullable=False),
    sa.Column('repository_ids', sa.JSON(), nullable=False),
    sa.Column('permissions', sa.JSON(), nullable=False),
    sa.Column('upgrade', sa.Boolean(), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=False),
    sa.CheckConstraint("repository_selection IN ('none', 'all', 'subset')", name=op.f('ck_token_requests_repository_selection')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'denied', 'cancelled')", name=op.f('ck_token_requests_status')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_token_requests_org_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_token_requests_reviewer_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['token_id'], ['tokens.id'], name=op.f('fk_token_requests_token_id_tokens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_token_requests'))
    )
    with op.batch_alter_table('token_requests', schema=None) as batch_op:
        batch_op.create_index('ix_token_requests_org_status', ['org_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_token_requests_token_id'), ['token_id'], unique=False)
        batch_op.create_index('uq_token_requests_one_pending', ['token_id'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    with op.batch_alter_table('fine_grained_grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_granted_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True))

    # Tokens that were pending before requests existed get their request row. (Approving a
    # first request only flips the grant's state, so the requested access need not be copied.)
    op.execute(
        "INSERT INTO token_requests (token_id, org_id, status, reason, repository_selection, repository_ids, "
        "permissions, upgrade, created_at, review_reason) "
        "SELECT g.token_id, g.resource_owner_id, 'pending', g.justification, g.repository_selection, '[]', "
        "g.permissions, false, t.created_at, '' "
        "FROM fine_grained_grants g JOIN tokens t ON t.id = g.token_id WHERE g.approval = 'pending'"
    )



def downgrade() -> None:
    with op.batch_alter_table('fine_grained_grants', schema=None) as batch_op:
        batch_op.drop_column('access_granted_at')

    with op.batch_alter_table('token_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_token_requests_one_pending', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_token_requests_token_id'))
        batch_op.drop_index('ix_token_requests_org_status')

    op.drop_table('token_requests')
