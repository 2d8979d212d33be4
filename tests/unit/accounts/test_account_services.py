"""Users and organizations: login rules, case-insensitive uniqueness, argon2id passwords."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session

import factories
from tokenforge.accounts.passwords import hash_password, verify_password
from tokenforge.accounts.services import create_user, get_account, get_user, validate_login
from tokenforge.authz.roles import OrgRole
from tokenforge.errors import Conflict, Invalid, NotFound
from tokenforge.orgs.services import create_org, get_org, org_role, set_member


@pytest.mark.parametrize("login", ["a", "alice", "Alice-Bob", "a1-b2-c3", "x" * 39])
def test_valid_logins(login: str) -> None:
    assert validate_login(login) == login


@pytest.mark.parametrize(
    "login", ["", "-alice", "alice-", "al--ice", "al_ice", "al.ice", "x" * 40, "é", "settings", "API"]
)
def test_invalid_logins(login: str) -> None:
    with pytest.raises(Invalid):
        validate_login(login)


def test_logins_are_unique_without_regard_to_case(session: Session, now: datetime) -> None:
    factories.user(session, "alice", now)
    with pytest.raises(Conflict, match="already taken"):
        create_user(session, login="ALICE", email="other@example.com", password=None, now=now)
    assert get_user(session, "aLiCe").login == "alice"


def test_orgs_share_the_login_namespace(session: Session, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    with pytest.raises(Conflict):
        create_org(session, login="Alice", owner=alice, now=now)
    factories.org(session, "acme", alice, now)
    with pytest.raises(Conflict):
        create_user(session, login="acme", email="acme@example.com", password=None, now=now)
    with pytest.raises(NotFound):
        get_user(session, "acme")
    assert get_account(session, "ACME").login == "acme"
    with pytest.raises(NotFound):
        get_org(session, "alice")


def test_emails_are_unique_and_validated(session: Session, now: datetime) -> None:
    factories.user(session, "alice", now)
    with pytest.raises(Conflict, match="already in use"):
        create_user(session, login="bob", email="ALICE@example.com", password=None, now=now)
    with pytest.raises(Invalid, match="not a valid email"):
        create_user(session, login="bob", email="not-an-email", password=None, now=now)


def test_passwords_are_argon2id() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse battery!")
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")
    with pytest.raises(Invalid, match="too short"):
        hash_password("short")


def test_memberships(session: Session, now: datetime) -> None:
    alice, bob = factories.user(session, "alice", now), factories.user(session, "bob", now)
    acme = factories.org(session, "acme", alice, now)
    assert org_role(session, acme.id, alice.id) is OrgRole.OWNER
    assert org_role(session, acme.id, bob.id) is None
    set_member(session, org=acme, user=bob, role=OrgRole.MEMBER, now=now)
    assert org_role(session, acme.id, bob.id) is OrgRole.MEMBER
    set_member(session, org=acme, user=bob, role=OrgRole.OWNER, now=now)
    assert org_role(session, acme.id, bob.id) is OrgRole.OWNER
