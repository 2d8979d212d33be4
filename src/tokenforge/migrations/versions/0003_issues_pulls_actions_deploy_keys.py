"""issues pulls actions deploy keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 07:12:52.354675
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tokenforge.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=256), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('state_reason', sa.String(length=16), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_login', sa.String(length=64), nullable=False),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("state IN ('open', 'closed')", name=op.f('ck_issues_state')),
    sa.CheckConstraint('number > 0', name=op.f('ck_issues_number_positive')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_issues_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_issues_closed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repo_id'], ['repositories.id'], name=op.f('fk_issues_repo_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issues')),
    sa.UniqueConstraint('repo_id', 'number', name=op.f('uq_issues_repo_id_number'))
    )
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issues_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issues_repo_id'), ['repo_id'], unique=False)

    op.create_table('labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('name_key', sa.String(length=50), nullable=False),
    sa.Column('color', sa.String(length=6), nullable=False),
    sa.Column('description', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repositories.id'], name=op.f('fk_labels_repo_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_labels')),
    sa.UniqueConstraint('repo_id', 'name_key', name=op.f('uq_labels_repo_id_name_key'))
    )
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_labels_repo_id'), ['repo_id'], unique=False)

    op.create_table('workflows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('active', 'disabled_manually')", name=op.f('ck_workflows_state')),
    sa.ForeignKeyConstraint(['repo_id'], ['repositories.id'], name=op.f('fk_workflows_repo_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflows')),
    sa.UniqueConstraint('repo_id', 'path', name=op.f('uq_workflows_repo_id_path'))
    )
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workflows_repo_id'), ['repo_id'], unique=False)

    op.create_table('deploy_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('read_only', sa.Boolean(), nullable=False),
    sa.Column('added_by', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_deploy_keys_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repo_id'], ['repositories.id'], name=op.f('fk_deploy_keys_repo_id_repositories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id'], ['tokens.id'], name=op.f('fk_deploy_keys_token_id_tokens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deploy_keys')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_deploy_keys_fingerprint'))
    )
    with op.batch_alter_table('deploy_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deploy_keys_repo_id'), ['repo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deploy_keys_token_id'), ['token_id'], unique=False)

    op.create_table('issue_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_login', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_issue_comments_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_comments_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repo_id'], ['repositories.id'], name=op.f('fk_issue_comments_repo_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_comments'))
    )
    with op.batch_alter_table('issue_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_comments_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_comments_repo_id'), ['repo_id'], unique=False)

    op.create_table('issue_labels',
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('label_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_labels_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['label_id'], ['labels.id'], name=op.f('fk_issue_labels_label_id_labels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('issue_id', 'label_id', name=op.f('pk_issue_labels'))
    )
    with op.batch_alter_table('issue_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_labels_label_id'), ['label_id'], unique=False)

    op.create_table('pull_requests',
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('head_ref', sa.String(length=255), nullable=False),
    sa.Column('base_ref', sa.String(length=255), nullable=False),
    sa.Column('head_sha', sa.String(length=64), nullable=False),
    sa.Column('base_sha', sa.String(length=64), nullable=False),
    sa.Column('draft', sa.Boolean(), nullable=False),
    sa.Column('merged', sa.Boolean(), nullable=False),
    sa.Column('merged_at', tokenforge.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_pull_requests_issue_id_issues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('issue_id', name=op.f('pk_pull_requests'))
    )
    op.create_table('workflow_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('workflow_id', sa.Integer(), nullable=False),
    sa.Column('run_number', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('conclusion', sa.String(length=16), nullable=True),
    sa.Column('head_branch', sa.String(length=255), nullable=False),
    sa.Column('head_sha', sa.String(length=64), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_login', sa.String(length=64), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_workflow_runs_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repo_id'], ['repositories.id'], name=op.f('fk_workflow_runs_repo_id_repositories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_workflow_runs_workflow_id_workflows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_runs')),
    sa.UniqueConstraint('workflow_id', 'run_number', name=op.f('uq_workflow_runs_workflow_id_run_number'))
    )
    with op.batch_alter_table('workflow_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workflow_runs_repo_id'), ['repo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_workflow_runs_workflow_id'), ['workflow_id'], unique=False)

    op.create_table('review_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pull_issue_id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_login', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('commit_id', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=4096), nullable=False),
    sa.Column('line', sa.Integer(), nullable=True),
    sa.Column('side', sa.String(length=5), nullable=False),
    sa.Column('start_line', sa.Integer(), nullable=True),
    sa.Column('start_side', sa.String(length=5), nullable=True),
    sa.Column('subject_type', sa.String(length=4), nullable=False),
    sa.Column('diff_hunk', sa.Text(), nullable=False),
    sa.Column('in_reply_to_id', sa.Integer(), nullable=True),
    sa.Column('created_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tokenforge.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("side IN ('LEFT', 'RIGHT')", name=op.f('ck_review_comments_side')),
    sa.CheckConstraint("start_side IS NULL OR start_side IN ('LEFT', 'RIGHT')", name=op.f('ck_review_comments_start_side')),
    sa.CheckConstraint("subject_type IN ('line', 'file')", name=op.f('ck_review_comments_subject_type')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_review_comments_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['in_reply_to_id'], ['review_comments.id'], name=op.f('fk_review_comments_in_reply_to_id_review_comments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pull_issue_id'], ['pull_requests.issue_id'], name=op.f('fk_review_comments_pull_issue_id_pull_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repo_id'], ['repositories.id'], name=op.f('fk_review_comments_repo_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_comments'))
    )
    with op.batch_alter_table('review_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_comments_pull_issue_id'), ['pull_issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_comments_repo_id'), ['repo_id'], unique=False)

    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issue_counter', sa.Integer(), nullable=False, server_default=sa.text('0')))



def downgrade() -> None:
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.drop_column('issue_counter')

    with op.batch_alter_table('review_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_comments_repo_id'))
        batch_op.drop_index(batch_op.f('ix_review_comments_pull_issue_id'))

    op.drop_table('review_comments')
    with op.batch_alter_table('workflow_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workflow_runs_workflow_id'))
        batch_op.drop_index(batch_op.f('ix_workflow_runs_repo_id'))

    op.drop_table('workflow_runs')
    op.drop_table('pull_requests')
    with op.batch_alter_table('issue_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_labels_label_id'))

    op.drop_table('issue_labels')
    with op.batch_alter_table('issue_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_comments_repo_id'))
        batch_op.drop_index(batch_op.f('ix_issue_comments_issue_id'))

    op.drop_table('issue_comments')
    with op.batch_alter_table('deploy_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deploy_keys_token_id'))
        batch_op.drop_index(batch_op.f('ix_deploy_keys_repo_id'))

    op.drop_table('deploy_keys')
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workflows_repo_id'))

    op.drop_table('workflows')
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_labels_repo_id'))

    op.drop_table('labels')
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issues_repo_id'))
        batch_op.drop_index(batch_op.f('ix_issues_author_id'))

    op.drop_table('issues')
