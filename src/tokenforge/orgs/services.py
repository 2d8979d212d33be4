"""Organizations and memberships."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account, Membership, Organization, User
from tokenforge.accounts.services import ensure_login_free, find_account
from tokenforge.audit.services import record
from tokenforge.auth.generation import access_changed
from tokenforge.authz.requirements import Target
from tokenforge.authz.roles import OrgRole
from tokenforge.authz.subjects import OrgPolicy, Resource
from tokenforge.errors import Invalid, NotFound


def get_org(session: Session, login: str) -> Organization:
    account = find_account(session, login)
    if not isinstance(account, Organization):
        raise NotFound(f"No organization named '{login}'")
    return account


def create_org(
    session: Session, *, login: str, owner: User, now: datetime, actor: Account | None = None
) -> Organization:
    ensure_login_free(session, login)
    org = Organization(login=login, login_key=login.lower(), created_at=now, updated_at=now)
    session.add(org)
    session.flush()
    session.add(Membership(org_id=org.id, user_id=owner.id, role=OrgRole.OWNER.label, created_at=now))
    record(session, "org.created", now=now, actor=actor or owner, org=org, owner=owner.login)
    return org


def membership(session: Session, org: Organization, user: User) -> Membership | None:
    return session.get(Membership, (org.id, user.id))


def org_role(session: Session, org_id: int, user_id: int) -> OrgRole | None:
    role = session.scalar(select(Membership.role).where(Membership.org_id == org_id, Membership.user_id == user_id))
    return OrgRole.parse(role) if role else None


def set_member(
    session: Session, *, org: Organization, user: User, role: OrgRole, now: datetime, actor: Account | None = None
) -> Membership:
    """Add a member, or change an existing member's role.

    Either way cached access facts embed the user's standing (auth/resources.py), so the
    generation moves — an addition too, or a cached "not a member" would keep refusing.
    """
    current = membership(session, org, user)
    if current is None:
        current = Membership(org_id=org.id, user_id=user.id, role=role.label, created_at=now)
        session.add(current)
        access_changed(session)
        record(session, "org.member_added", now=now, actor=actor, org=org, member=user.login, role=role.label)
    elif current.role != role.label:
        previous = current.role
        current.role = role.label
        access_changed(session)
        record(
            session,
            "org.member_role_changed",
            now=now,
            actor=actor,
            org=org,
            member=user.login,
            role=role.label,
            previous=previous,
        )
    session.flush()
    return current


def remove_member(
    session: Session, *, org: Organization, user: User, now: datetime, actor: Account | None = None
) -> None:
    """Take a user out of an organization. Their tokens lose what the membership gave them at once:
    fine-grained tokens aimed at the organization stop reaching its private resources."""
    current = membership(session, org, user)
    if current is None:
        raise NotFound(f"{user.login} is not a member of {org.login}")
    if current.role == OrgRole.OWNER.label:
        owners = session.scalar(
            select(func.count()).select_from(Membership).where(Membership.org_id == org.id, Membership.role == "owner")
        )
        if (owners or 0) <= 1:
            raise Invalid(f"{user.login} is the last owner of {org.login}", field="login")
    session.delete(current)
    access_changed(session)
    session.flush()
    record(session, "org.member_removed", now=now, actor=actor, org=org, member=user.login)


def _days(n: int | None) -> timedelta | None:
    return None if n is None else timedelta(days=n)


def policy_of(org: Organization) -> OrgPolicy:
    days = _days
    return OrgPolicy(
        classic_allowed=org.classic_tokens_allowed,
        fine_grained_allowed=org.fine_grained_tokens_allowed,
        approval_required=org.approval_required,
        max_lifetime_fine_grained=days(org.max_lifetime_fine_grained_days),
        max_lifetime_classic=days(org.max_lifetime_classic_days),
    )


def org_resource(org: Organization, role: OrgRole | None) -> Resource:
    """An organization as ``authz.decide`` sees it for one user (``role``: their standing now)."""
    return Resource(
        Target.ORGANIZATION,
        owner_id=org.id,
        owner_login=org.login,
        public=True,
        name=org.login,
        org_policy=policy_of(org),
        org_role=role,
    )


def memberships(session: Session, user: User) -> list[tuple[Organization, OrgRole]]:
    """The organizations ``user`` belongs to, with their role in each, by login."""
    rows = session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.login_key)
    ).all()
    return [(org, OrgRole.parse(role)) for org, role in rows]
