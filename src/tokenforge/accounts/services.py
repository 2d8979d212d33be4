"""Users: creation, lookup. One function per state change, used by every surface."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import LOGIN_MAX, Account, Email, Organization, User
from tokenforge.accounts.passwords import hash_password
from tokenforge.audit.services import record
from tokenforge.errors import Conflict, Invalid, NotFound

# GitHub's rule: letters, digits and single hyphens, not at either end, at most 39 characters.
_LOGIN_RE = re.compile(rf"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){{0,{LOGIN_MAX - 1}}}")
# Deliberately loose: one "@", something on each side, a dot in the domain, no spaces. The
# verification email is the real check.
_EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
EMAIL_MAX = 320
# Paths of the web UI that a login must not shadow (/{owner} is a profile URL).
RESERVED_LOGINS = frozenset(
    {
        "api",
        "login",
        "logout",
        "signup",
        "settings",
        "organizations",
        "orgs",
        "static",
        "new",
        "admin",
        "assets",
        "health",
        "about",
        "explore",
        "repositories",
        "users",
        "site",
        "ghost",
    }
)


def validate_login(login: str) -> str:
    if not _LOGIN_RE.fullmatch(login):
        raise Invalid(
            "Login may only contain letters, digits and single hyphens, cannot begin or end with a "
            f"hyphen, and is at most {LOGIN_MAX} characters",
            field="login",
        )
    if login.lower() in RESERVED_LOGINS:
        raise Invalid(f"Login '{login}' is reserved", field="login")
    return login


def validate_email(address: str) -> str:
    address = address.strip()
    if len(address) > EMAIL_MAX or not _EMAIL_RE.fullmatch(address):
        raise Invalid(f"'{address[:100]}' is not a valid email address", field="email")
    return address


def find_account(session: Session, login: str) -> Account | None:
    if "\x00" in login:  # PostgreSQL refuses NUL in text; no login can contain one anyway
        return None
    return session.scalar(select(Account).where(Account.login_key == login.lower()))


def get_account(session: Session, login: str) -> Account:
    account = find_account(session, login)
    if account is None:
        raise NotFound(f"No user or organization named '{login}'")
    return account


def get_user(session: Session, login: str) -> User:
    account = find_account(session, login)
    if not isinstance(account, User):
        raise NotFound(f"No user named '{login}'")
    return account


def get_user_by_id(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}")
    return user


def ensure_login_free(session: Session, login: str) -> None:
    validate_login(login)
    if find_account(session, login) is not None:
        raise Conflict(f"Login '{login}' is already taken", field="login")


def create_user(
    session: Session,
    *,
    login: str,
    email: str,
    password: str | None,
    now: datetime,
    verified: bool = False,
    site_admin: bool = False,
    actor: Account | None = None,
) -> User:
    ensure_login_free(session, login)
    address = validate_email(email)
    if session.scalar(select(Email.id).where(Email.address_key == address.lower())) is not None:
        raise Conflict(f"Email '{address}' is already in use", field="email")
    user = User(
        login=login,
        login_key=login.lower(),
        password_hash=hash_password(password) if password is not None else None,
        site_admin=site_admin,
        created_at=now,
        updated_at=now,
    )
    user.emails.append(
        Email(address=address, address_key=address.lower(), verified=verified, primary=True, created_at=now)
    )
    session.add(user)
    session.flush()
    record(session, "user.created", now=now, actor=actor or user, user=user, email=address, site_admin=site_admin)
    return user


def is_organization(account: Account) -> bool:
    return isinstance(account, Organization)
