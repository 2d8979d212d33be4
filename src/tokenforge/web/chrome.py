"""What frames every page of a signed-in user: the header's expiry warning and the organizations
listed in the settings menu.

Both are loaded with the user, inside the page's unit of work, so a page view costs one indexed
query for each (``tokens.user_id``, ``memberships.user_id``) and never a second transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import User
from tokenforge.authz.policy import decide
from tokenforge.authz.requirements import ORG_TOKENS_READ
from tokenforge.authz.subjects import UserSession
from tokenforge.credentials.format import TokenKind
from tokenforge.orgs.services import memberships, org_resource
from tokenforge.tokens.models import Token
from tokenforge.web import present

# GitHub's first reminder comes a week ahead; the header says the same from then on.
EXPIRY_WARNING = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ExpiringSoon:
    """The signed-in user's token that expires first within the warning window."""

    name: str
    url: str
    day: str
    others: bool  # more than one token expires within the window


def token_path(kind: str, token_id: int) -> str:
    # web/tokens.py builds the same paths; it imports web/core, which imports this module.
    section = "tokens" if kind == TokenKind.CLASSIC.value else "personal-access-tokens"
    return f"/settings/{section}/{token_id}"


def expiring_soon(session: Session, user: User, now: datetime) -> ExpiringSoon | None:
    """One query on the user's tokens (indexed by user), at most two rows back."""
    rows = session.execute(
        select(Token.id, Token.kind, Token.name, Token.expires_at)
        .where(
            Token.user_id == user.id,
            Token.revoked_at.is_(None),
            Token.expires_at > now,
            Token.expires_at <= now + EXPIRY_WARNING,
        )
        .order_by(Token.expires_at, Token.id)
        .limit(2)
    ).all()
    if not rows:
        return None
    token_id, kind, name, expires_at = rows[0]
    assert expires_at is not None  # the query asked for tokens that expire
    return ExpiringSoon(name, token_path(kind, token_id), present.day(expires_at), others=len(rows) > 1)


def managed_organizations(session: Session, user: User) -> list[str]:
    """The organizations whose token settings the user may open, for the settings menu.

    Listing is not permitting (each page decides again), but the menu asks ``decide`` with the
    pages' own requirement so it never offers a page that would answer 404.
    """
    principal = UserSession(user_id=user.id, login=user.login)
    return [
        org.login
        for org, role in memberships(session, user)
        if decide(principal, org_resource(org, role), ORG_TOKENS_READ).allowed
    ]
