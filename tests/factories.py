"""Test data through the real services (no direct row inserts), so tests exercise what users do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account, Organization, User
from tokenforge.accounts.services import create_user
from tokenforge.authz.roles import OrgRole, RepoRole
from tokenforge.authz.subjects import RepositorySelection
from tokenforge.config import Settings
from tokenforge.orgs.services import create_org, set_member
from tokenforge.repos.models import Repository
from tokenforge.repos.services import add_collaborator, create_repository
from tokenforge.tokens.services import IssuedToken, create_classic_token, create_fine_grained_token


def user(session: Session, login: str, now: datetime, *, verified: bool = True, password: str | None = None) -> User:
    return create_user(
        session, login=login, email=f"{login}@example.com", password=password, verified=verified, now=now
    )


def org(
    session: Session, login: str, owner: User, now: datetime, *, members: Sequence[User] = (), **policy: object
) -> Organization:
    organization = create_org(session, login=login, owner=owner, now=now)
    for member in members:
        set_member(session, org=organization, user=member, role=OrgRole.MEMBER, now=now)
    for key, value in policy.items():
        setattr(organization, key, value)
    session.flush()
    return organization


def repo(
    session: Session,
    settings: Settings,
    owner: Account,
    name: str,
    now: datetime,
    *,
    private: bool = False,
    collaborators: dict[User, RepoRole] | None = None,
) -> Repository:
    repository = create_repository(session, settings, owner=owner, name=name, private=private, now=now)
    for person, role in (collaborators or {}).items():
        add_collaborator(session, repo=repository, user=person, role=role, now=now)
    return repository


def classic(
    session: Session,
    settings: Settings,
    owner: User,
    now: datetime,
    *scopes: str,
    note: str | None = None,
    expires_in: timedelta | None = timedelta(days=30),
) -> IssuedToken:
    return create_classic_token(
        session,
        settings,
        user=owner,
        note=note or f"token {'+'.join(scopes) or 'no-scope'}",
        scopes=scopes,
        expires_at=now + expires_in if expires_in else None,
        now=now,
    )


def fine_grained(
    session: Session,
    settings: Settings,
    owner: User,
    now: datetime,
    *,
    resource_owner: Account | None = None,
    name: str = "fg token",
    repositories: Sequence[Repository] | None = None,
    all_repos: bool = False,
    permissions: dict[str, str] | None = None,
    expires_in: timedelta | None = timedelta(days=30),
) -> IssuedToken:
    if repositories:
        selection = RepositorySelection.SUBSET
    elif all_repos:
        selection = RepositorySelection.ALL
    else:
        selection = RepositorySelection.NONE
    return create_fine_grained_token(
        session,
        settings,
        user=owner,
        name=name,
        resource_owner=resource_owner or owner,
        permissions=permissions or {},
        repository_selection=selection,
        repositories=repositories or (),
        expires_at=now + expires_in if expires_in else None,
        now=now,
    )
