"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 06:56:29.916307
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tokenforge.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('login', sa.String(length=39), nullable=False),
    sa.Column('login_key', sa.String(length=39), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('user', 'organization')", name=op.f('ck_accounts_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('login_key', name=op.f('uq_accounts_login_key'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_login', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('token_name', sa.String(length=255), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['accounts.id'], name=op.f('fk_audit_events_actor_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['accounts.id'], name=op.f('fk_audit_events_org_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['accounts.id'], name=op.f('fk_audit_events_user_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_audit_events_org_created', ['org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_audit_events_user_created', ['user_id', 'created_at'], unique=False)

    op.create_table('organizations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('classic_tokens_allowed', sa.Boolean(), nullable=False),
    sa.Column('fine_grained_tokens_allowed', sa.Boolean(), nullable=False),
    sa.Column('approval_required', sa.Boolean(), nullable=False),
    sa.Column('max_lifetime_fine_grained_days', sa.Integer(), nullable=True),
    sa.Column('max_lifetime_classic_days', sa.Integer(), nullable=True),
    sa.Column('default_repository_role', sa.String(length=16), nullable=False),
    sa.CheckConstraint("default_repository_role IN ('none', 'read', 'triage', 'write', 'maintain', 'admin')", name=op.f('ck_organizations_default_repository_role')),
    sa.CheckConstraint('max_lifetime_classic_days IS NULL OR max_lifetime_classic_days > 0', name=op.f('ck_organizations_classic_lifetime_positive')),
    sa.CheckConstraint('max_lifetime_fine_grained_days IS NULL OR max_lifetime_fine_grained_days > 0', name=op.f('ck_organizations_fine_grained_lifetime_positive')),
    sa.ForeignKeyConstraint(['id'], ['accounts.id'], name=op.f('fk_organizations_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations'))
    )
    op.create_table('repositories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('default_branch', sa.String(length=255), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('pushed_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['accounts.id'], name=op.f('fk_repositories_owner_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repositories')),
    sa.UniqueConstraint('id', 'owner_id', name=op.f('uq_repositories_id_owner_id')),
    sa.UniqueConstraint('owner_id', 'name_key', name=op.f('uq_repositories_owner_id_name_key'))
    )
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repositories_owner_id'), ['owner_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('site_admin', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['id'], ['accounts.id'], name=op.f('fk_users_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    op.create_table('collaborators',
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('read', 'triage', 'write', 'maintain', 'admin')", name=op.f('ck_collaborators_role')),
    sa.ForeignKeyConstraint(['repo_id'], ['repositories.id'], name=op.f('fk_collaborators_repo_id_repositories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_collaborators_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('repo_id', 'user_id', name=op.f('pk_collaborators'))
    )
    with op.batch_alter_table('collaborators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collaborators_user_id'), ['user_id'], unique=False)

    op.create_table('emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('address_key', sa.String(length=320), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_emails_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emails')),
    sa.UniqueConstraint('address_key', name=op.f('uq_emails_address_key'))
    )
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emails_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_emails_one_primary', ['user_id'], unique=True, sqlite_where=sa.text('is_primary'), postgresql_where=sa.text('is_primary'))

    op.create_table('memberships',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'member')", name=op.f('ck_memberships_role')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_memberships_org_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'user_id', name=op.f('pk_memberships'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)

    op.create_table('tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('pepper_id', sa.String(length=8), nullable=False),
    sa.Column('last_eight', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('scopes', sa.String(length=1024), nullable=True),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('regenerated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=True),
    sa.CheckConstraint("(kind = 'classic' AND scopes IS NOT NULL) OR (kind = 'fine_grained' AND scopes IS NULL)", name=op.f('ck_tokens_scopes_only_classic')),
    sa.CheckConstraint("kind IN ('classic', 'fine_grained')", name=op.f('ck_tokens_kind')),
    sa.CheckConstraint('(revoked_at IS NULL) = (revoked_reason IS NULL)', name=op.f('ck_tokens_revoked_reason')),
    sa.CheckConstraint('expires_at IS NULL OR expires_at > created_at', name=op.f('ck_tokens_expires_after_created')),
    sa.CheckConstraint('length(last_eight) = 8', name=op.f('ck_tokens_last_eight_length')),
    sa.CheckConstraint('length(name) > 0', name=op.f('ck_tokens_name_not_empty')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tokens')),
    sa.UniqueConstraint('digest', name=op.f('uq_tokens_digest')),
    sa.UniqueConstraint('id', 'kind', name=op.f('uq_tokens_id_kind'))
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_tokens_live_name', ['user_id', 'kind', 'name'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))

    op.create_table('fine_grained_grants',
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('token_kind', sa.String(length=16), nullable=False),
    sa.Column('resource_owner_id', sa.Integer(), nullable=False),
    sa.Column('repository_selection', sa.String(length=8), nullable=False),
    sa.Column('permissions', sa.JSON(), nullable=False),
    sa.Column('approval', sa.String(length=16), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.CheckConstraint("approval IN ('approved', 'pending', 'denied', 'revoked')", name=op.f('ck_fine_grained_grants_approval')),
    sa.CheckConstraint("repository_selection IN ('none', 'all', 'subset')", name=op.f('ck_fine_grained_grants_repository_selection')),
    sa.CheckConstraint("token_kind = 'fine_grained'", name=op.f('ck_fine_grained_grants_token_kind')),
    sa.ForeignKeyConstraint(['resource_owner_id'], ['accounts.id'], name=op.f('fk_fine_grained_grants_resource_owner_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id', 'token_kind'], ['tokens.id', 'tokens.kind'], name='fk_fine_grained_grants_token', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_id', name=op.f('pk_fine_grained_grants')),
    sa.UniqueConstraint('token_id', 'resource_owner_id', name=op.f('uq_fine_grained_grants_token_id_resource_owner_id'))
    )
    with op.batch_alter_table('fine_grained_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fine_grained_grants_resource_owner_id'), ['resource_owner_id'], unique=False)

    op.create_table('token_repositories',
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('resource_owner_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['repo_id', 'resource_owner_id'], ['repositories.id', 'repositories.owner_id'], name='fk_token_repositories_repository', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id', 'resource_owner_id'], ['fine_grained_grants.token_id', 'fine_grained_grants.resource_owner_id'], name='fk_token_repositories_grant', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_id', 'repo_id', name=op.f('pk_token_repositories'))
    )
    with op.batch_alter_table('token_repositories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_token_repositories_repo_id'), ['repo_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('token_repositories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_token_repositories_repo_id'))

    op.drop_table('token_repositories')
    with op.batch_alter_table('fine_grained_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fine_grained_grants_resource_owner_id'))

    op.drop_table('fine_grained_grants')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index('uq_tokens_live_name', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_tokens_user_id'))

    op.drop_table('tokens')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))

    op.drop_table('memberships')
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.drop_index('uq_emails_one_primary', sqlite_where=sa.text('is_primary'), postgresql_where=sa.text('is_primary'))
        batch_op.drop_index(batch_op.f('ix_emails_user_id'))

    op.drop_table('emails')
    with op.batch_alter_table('collaborators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collaborators_user_id'))

    op.drop_table('collaborators')
    op.drop_table('users')
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repositories_owner_id'))

    op.drop_table('repositories')
    op.drop_table('organizations')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_user_created')
        batch_op.drop_index('ix_audit_events_org_created')
        batch_op.drop_index(batch_op.f('ix_audit_events_created_at'))

    op.drop_table('audit_events')
    op.drop_table('accounts')
