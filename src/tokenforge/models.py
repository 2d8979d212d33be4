"""Every model, imported once so that ``Base.metadata`` is complete (Alembic, tests)."""

from tokenforge.accounts.models import Account, AccountKind, Email, Membership, Organization, User
from tokenforge.audit.models import AuditEvent
from tokenforge.auth.generation import AuthState
from tokenforge.db import Base
from tokenforge.repos.models import Collaborator, Repository
from tokenforge.tokens.models import FineGrainedGrant, Token, TokenRepository

__all__ = [
    "Account",
    "AccountKind",
    "AuditEvent",
    "AuthState",
    "Base",
    "Collaborator",
    "Email",
    "FineGrainedGrant",
    "Membership",
    "Organization",
    "Repository",
    "Token",
    "TokenRepository",
    "User",
]
