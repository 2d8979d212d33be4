"""What the fine-grained token form offers: resource owners and repositories.

Offering is not permitting: the token services re-check every choice when the form comes back
(an organization that forbids fine-grained tokens, a repository the user cannot see). These
lists only keep the form from suggesting what would be refused. Which repositories a user can
see is asked of ``authz.policy.decide``, as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account, User
from tokenforge.authz.policy import decide
from tokenforge.authz.requirements import REPO_METADATA
from tokenforge.authz.roles import OrgRole
from tokenforge.authz.subjects import UserSession
from tokenforge.orgs.services import memberships, policy_of
from tokenforge.repos.models import Repository
from tokenforge.repos.services import repository_resource


@dataclass(frozen=True, slots=True)
class OwnerChoice:
    login: str
    is_org: bool
    # May grant organization permissions (an organization owner) / account permissions (yourself).
    org_owner: bool
    max_days: int | None  # the owner's lifetime policy for fine-grained tokens
    needs_approval: bool  # the token will wait for an owner's approval (justification shown)


@dataclass(frozen=True, slots=True)
class RepoChoice:
    id: int
    owner: str
    name: str
    private: bool


def owner_choices(session: Session, user: User) -> list[OwnerChoice]:
    """You, then each organization you belong to that allows fine-grained tokens (spec §3.1)."""
    choices = [OwnerChoice(user.login, is_org=False, org_owner=False, max_days=None, needs_approval=False)]
    for org, role in memberships(session, user):
        policy = policy_of(org)
        if not policy.fine_grained_allowed:
            continue
        is_owner = role is OrgRole.OWNER
        limit = policy.max_lifetime_fine_grained
        choices.append(
            OwnerChoice(
                org.login,
                is_org=True,
                org_owner=is_owner,
                max_days=None if limit is None else limit.days,
                needs_approval=policy.approval_required and not is_owner,
            )
        )
    return choices


def repository_choices(session: Session, user: User, owners: list[OwnerChoice]) -> dict[str, list[RepoChoice]]:
    """For each offered owner, the repositories it owns that the user can see, by name."""
    principal = UserSession(user_id=user.id, login=user.login)
    logins = [o.login.lower() for o in owners]
    repos = session.scalars(
        select(Repository)
        .join(Account, Account.id == Repository.owner_id)
        .where(Account.login_key.in_(logins))
        .order_by(Account.login_key, Repository.name_key)
    ).all()
    out: dict[str, list[RepoChoice]] = {o.login: [] for o in owners}
    by_key = {o.login.lower(): o.login for o in owners}
    for repo in repos:
        if decide(principal, repository_resource(session, repo, user.id), REPO_METADATA).allowed:
            owner = by_key[repo.owner.login_key]
            out[owner].append(RepoChoice(repo.id, owner, repo.name, repo.private))
    return out
