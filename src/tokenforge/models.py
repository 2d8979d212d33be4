"""Every model, imported once so that ``Base.metadata`` is complete (Alembic, tests)."""

from tokenforge.accounts.models import Account, AccountKind, Email, Membership, Organization, User
from tokenforge.actions.models import Workflow, WorkflowRun
from tokenforge.audit.models import AuditEvent
from tokenforge.auth.generation import AuthState
from tokenforge.db import Base
from tokenforge.issues.models import Issue, IssueComment, Label, PullRequest, ReviewComment
from tokenforge.jobs.models import Claim
from tokenforge.keys.models import DeployKey
from tokenforge.repos.models import Collaborator, Repository
from tokenforge.tokens.models import FineGrainedGrant, Token, TokenRepository, TokenRequest

__all__ = [
    "Account",
    "AccountKind",
    "AuditEvent",
    "AuthState",
    "Base",
    "Claim",
    "Collaborator",
    "DeployKey",
    "Email",
    "FineGrainedGrant",
    "Issue",
    "IssueComment",
    "Label",
    "Membership",
    "Organization",
    "PullRequest",
    "Repository",
    "ReviewComment",
    "Token",
    "TokenRepository",
    "TokenRequest",
    "User",
    "Workflow",
    "WorkflowRun",
]
