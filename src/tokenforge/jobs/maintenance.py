"""Periodic token lifecycle work: expiry reminders, expiry notices, removal of unused tokens, and
organization owners' daily digest of pending requests.

Runs inside the server every ``maintenance_interval_seconds`` and on demand
(``tokenforge maintenance run``). Safe with any number of processes running it at once: each piece
of work is claimed (jobs/models.py) in the transaction that does it, so nothing is done or mailed
twice, and a crashed run is simply finished by the next one. Time comes in as ``now`` — tests move
it instead of sleeping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Membership, Organization, User
from tokenforge.audit.services import record
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.jobs.models import Claim
from tokenforge.mail import Mail, Mailer, send_after_commit
from tokenforge.tokens.models import RevokedReason, Token, TokenRequest
from tokenforge.tokens.services import revoke_token

log = logging.getLogger(__name__)

# An expiry notice is only sent for tokens that expired recently: the first run on an old
# database must not mail about every token that expired years ago.
EXPIRED_NOTICE_WINDOW = timedelta(days=7)


@dataclass
class Report:
    reminders: list[int] = field(default_factory=list)  # token ids
    expired: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)  # organization logins

    def lines(self) -> list[str]:
        return [
            f"expiry reminders sent: {len(self.reminders)}",
            f"expiry notices sent: {len(self.expired)}",
            f"unused tokens removed: {len(self.removed)}",
            f"owner digests sent: {len(self.digests)}",
        ]


def _claim(session: Session, kind: str, subject: str, now: datetime) -> bool:
    """Claim a piece of work inside the current transaction.

    If another process (or an earlier run) holds the claim, the insert raises IntegrityError and
    ``_one`` rolls this unit of work back — nothing of it happens, nothing is mailed.
    """
    session.add(Claim(kind=kind, subject=subject, claimed_at=now))
    session.flush()
    return True


def _token_url(settings: Settings, token: Token) -> str:
    if token.grant is None:
        return settings.web_url(f"/settings/tokens/{token.id}")
    return settings.web_url(f"/settings/personal-access-tokens/{token.id}")


def _regenerate_url(settings: Settings, token: Token) -> str:
    return _token_url(settings, token) + "/regenerate"


def _describe(token: Token) -> str:
    if token.grant is None:
        return f'the personal access token (classic) "{token.name}" (scopes: {", ".join(token.scope_list) or "none"})'
    return f'the fine-grained personal access token "{token.name}"'


def _mail_owner(session: Session, mailer: Mailer, token: Token, subject: str, body: str) -> None:
    email = token.user.primary_email
    if email is not None:
        send_after_commit(session, mailer, Mail(email.address, f"[Tokenforge] {subject}", body))


def _one(db: Database, work: str, fn: object) -> bool:
    """Run one piece of work in its own unit of work; a failure is logged and retried next run."""
    try:
        with db.unit_of_work() as session:
            return bool(fn(session))  # type: ignore[operator]
    except IntegrityError:
        return False  # claimed by someone else: already done
    except Exception:
        log.exception("maintenance: %s failed; it will be retried", work)
        return False


def run(db: Database, settings: Settings, mailer: Mailer, *, now: datetime) -> Report:
    report = Report()
    _expiry(db, settings, mailer, now, report)
    _unused(db, settings, mailer, now, report)
    _digests(db, settings, mailer, now, report)
    return report


def _live_expiring(session: Session, now: datetime, until: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Token.id).where(Token.revoked_at.is_(None), Token.expires_at > now, Token.expires_at <= until)
        )
    )


def _expiry(db: Database, settings: Settings, mailer: Mailer, now: datetime, report: Report) -> None:
    for days in sorted(set(settings.expiry_reminder_days), reverse=True):
        with db.unit_of_work() as session:
            ids = _live_expiring(session, now, now + timedelta(days=days))
        for token_id in ids:

            def remind(session: Session, token_id: int = token_id, days: int = days) -> bool:
                token = session.get(Token, token_id)
                if token is None or token.revoked_at is not None or token.expires_at is None:
                    return False
                # Keyed by the expiry instant too: a regenerated token gets its reminders again.
                subject = f"token:{token.id}:{token.expires_at.isoformat()}:{days}"
                if not _claim(session, "expiry_reminder", subject, now):
                    return False
                left = token.expires_at - now
                when = "tomorrow" if left <= timedelta(days=1) else f"in {left.days} days"
                _mail_owner(
                    session,
                    mailer,
                    token,
                    f'Your personal access token "{token.name}" expires {when}',
                    f"Hi {token.user.login},\n\n{_describe(token).capitalize()} expires {when}, on "
                    f"{token.expires_at.strftime('%Y-%m-%d %H:%M UTC')}.\n\nIf it is still needed, "
                    f"regenerate it before then: {_regenerate_url(settings, token)}\n",
                )
                return True

            if _one(db, f"expiry reminder for token {token_id}", remind):
                report.reminders.append(token_id)

    with db.unit_of_work() as session:
        expired = list(
            session.scalars(
                select(Token.id).where(
                    Token.revoked_at.is_(None), Token.expires_at <= now, Token.expires_at > now - EXPIRED_NOTICE_WINDOW
                )
            )
        )
    for token_id in expired:

        def notice(session: Session, token_id: int = token_id) -> bool:
            token = session.get(Token, token_id)
            if token is None or token.expires_at is None:
                return False
            if not _claim(session, "expired", f"token:{token.id}:{token.expires_at.isoformat()}", now):
                return False
            record(session, "token.expired", now=now, actor=None, token=token)
            _mail_owner(
                session,
                mailer,
                token,
                f'Your personal access token "{token.name}" has expired',
                f"Hi {token.user.login},\n\n{_describe(token).capitalize()} expired on "
                f"{token.expires_at.strftime('%Y-%m-%d %H:%M UTC')}.\n\nIf this token is still needed, "
                f"visit {_regenerate_url(settings, token)} to generate an equivalent.\n",
            )
            return True

        if _one(db, f"expiry notice for token {token_id}", notice):
            report.expired.append(token_id)


def _unused(db: Database, settings: Settings, mailer: Mailer, now: datetime, report: Report) -> None:
    if settings.unused_token_days <= 0:
        return
    cutoff = now - timedelta(days=settings.unused_token_days)
    with db.unit_of_work() as session:
        ids = list(
            session.scalars(
                select(Token.id).where(
                    Token.revoked_at.is_(None),
                    or_(Token.last_used_at < cutoff, Token.last_used_at.is_(None) & (Token.created_at < cutoff)),
                )
            )
        )
    for token_id in ids:

        def remove(session: Session, token_id: int = token_id) -> bool:
            token = session.get(Token, token_id)
            if token is None or token.revoked_at is not None:
                return False
            if not _claim(session, "unused", f"token:{token.id}", now):
                return False
            last = token.last_used_at
            revoke_token(session, token=token, reason=RevokedReason.UNUSED, now=now, actor=None)
            used = f"last used on {last.strftime('%Y-%m-%d')}" if last else "never used"
            _mail_owner(
                session,
                mailer,
                token,
                f'Your unused personal access token "{token.name}" was removed',
                f"Hi {token.user.login},\n\n{_describe(token).capitalize()} was {used}, so it was removed "
                f"after {settings.unused_token_days} days without use. Any deploy keys it created were "
                f"removed with it.\n\nCreate a new token if you need one: "
                f"{settings.web_url('/settings/tokens')}\n",
            )
            return True

        if _one(db, f"removal of unused token {token_id}", remove):
            report.removed.append(token_id)


def _digests(db: Database, settings: Settings, mailer: Mailer, now: datetime, report: Report) -> None:
    with db.unit_of_work() as session:
        orgs = list(
            session.scalars(
                select(Organization.id)
                .join(TokenRequest, TokenRequest.org_id == Organization.id)
                .where(TokenRequest.status == "pending")
                .group_by(Organization.id)
            )
        )
    day = now.strftime("%Y-%m-%d")
    for org_id in orgs:

        def digest(session: Session, org_id: int = org_id) -> bool:
            org = session.get(Organization, org_id)
            if org is None or not _claim(session, "org_digest", f"org:{org_id}:{day}", now):
                return False
            pending = (
                session.scalar(
                    select(func.count())
                    .select_from(TokenRequest)
                    .where(TokenRequest.org_id == org_id, TokenRequest.status == "pending")
                )
                or 0
            )
            owners = session.scalars(
                select(User)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.org_id == org_id, Membership.role == "owner")
            ).all()
            review = settings.web_url(f"/organizations/{org.login}/settings/personal-access-token-requests")
            for owner in owners:
                if owner.primary_email is not None:
                    send_after_commit(
                        session,
                        mailer,
                        Mail(
                            owner.primary_email.address,
                            f"[Tokenforge] {pending} pending personal access token request"
                            f"{'' if pending == 1 else 's'} in {org.login}",
                            f"Hi {owner.login},\n\n{pending} fine-grained personal access token request"
                            f"{' is' if pending == 1 else 's are'} waiting for an owner of {org.login} to review.\n\n"
                            f"Review them: {review}\n(or: tokenforge org requests {org.login})\n",
                        ),
                    )
            return True

        if _one(db, f"digest for organization {org_id}", digest):
            with db.unit_of_work() as session:
                org = session.get(Organization, org_id)
                report.digests.append(org.login if org else str(org_id))
