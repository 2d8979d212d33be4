"""Email verification by a signed, time-limited link, and signing up (which sends the first one).

The link carries the email's id and address, signed with a key derived for this purpose only
(never the raw secret, never the session key), and the time of signing. No table is needed:
the signature proves the link came from us, the timestamp bounds its life, and the address in
it must still be the row's address, so a link for an address that was since changed or
removed does nothing.

A user may ask for a new link at most once a minute (``RESEND_INTERVAL``); the audit trail,
which records every link sent, is what is counted, so the limit holds across processes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Email, User
from tokenforge.accounts.services import create_user
from tokenforge.accounts.sessions import signed_serializer
from tokenforge.audit.models import AuditEvent
from tokenforge.audit.services import record
from tokenforge.clock import Clock
from tokenforge.config import Settings
from tokenforge.errors import Invalid, NotFound
from tokenforge.mail import Mail, Mailer, send_after_commit

_LABEL = b"tokenforge/email-verification/v1"
RESEND_INTERVAL = timedelta(minutes=1)
SENT_ACTION = "email.verification_sent"
VERIFY_PATH = "/settings/emails/verify/"
INVALID_LINK = "This verification link is invalid or has expired. Sign in and ask for a new one."


class VerificationLinks:
    """Makes and checks verification links."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._serializer = signed_serializer(settings, clock, _LABEL, "email-verification")
        self.max_age = timedelta(hours=settings.email_verification_hours)

    def token_for(self, email: Email) -> str:
        return str(self._serializer.dumps({"e": email.id, "a": email.address_key}))

    def url_for(self, email: Email) -> str:
        return self._settings.web_url(VERIFY_PATH + self.token_for(email))

    def email_id(self, token: str) -> tuple[int, str]:
        """The (email id, address) a link names, or Invalid if it is forged, malformed or expired."""
        if not token or len(token) > 1024:
            raise Invalid(INVALID_LINK, field="token")
        try:
            payload = self._serializer.loads(token, max_age=int(self.max_age.total_seconds()))
        except (BadSignature, ValueError, TypeError):
            raise Invalid(INVALID_LINK, field="token") from None
        email_id, address = (payload.get("e"), payload.get("a")) if isinstance(payload, dict) else (None, None)
        if not isinstance(email_id, int) or not isinstance(address, str):
            raise Invalid(INVALID_LINK, field="token")
        return email_id, address


def _mail(user: User, email: Email, url: str, hours: int) -> Mail:
    # The link comes first: the outbox logs the first link of a message (mail.py), and that
    # must be this one.
    body = (
        f"{url}\n\n"
        f"Hi {user.login},\n\n"
        f"open the link above to verify {email.address} for your Tokenforge account. "
        f"It expires in {hours} hours.\n\n"
        "You need a verified email address to create personal access tokens.\n"
        "If you did not sign up for Tokenforge, ignore this message.\n"
    )
    return Mail(to=email.address, subject="[Tokenforge] Please verify your email address", body=body)


def send_verification(
    session: Session,
    settings: Settings,
    mailer: Mailer,
    links: VerificationLinks,
    *,
    user: User,
    email: Email,
    now: datetime,
    ip: str | None = None,
) -> None:
    """Send a verification link for one of ``user``'s addresses, after the commit."""
    if email.user_id != user.id:
        raise NotFound(f"No email with id {email.id}")
    if email.verified:
        raise Invalid(f"{email.address} is already verified", field="email")
    recent = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.user_id == user.id,
            AuditEvent.action == SENT_ACTION,
            AuditEvent.created_at > now - RESEND_INTERVAL,
        )
    )
    if recent:
        raise Invalid("A verification email was sent less than a minute ago; check your inbox", field="email")
    record(session, SENT_ACTION, now=now, actor=user, user=user, ip=ip, email=email.address)
    send_after_commit(session, mailer, _mail(user, email, links.url_for(email), settings.email_verification_hours))


def confirm_email(
    session: Session, links: VerificationLinks, token: str, *, now: datetime, ip: str | None = None
) -> Email:
    """Mark the address a link names as verified (idempotent: a second click changes nothing)."""
    email_id, address = links.email_id(token)
    email = session.get(Email, email_id)
    if email is None or email.address_key != address:
        raise Invalid(INVALID_LINK, field="token")
    if not email.verified:
        email.verified = True
        session.flush()
        record(session, "email.verified", now=now, actor=email.user, user=email.user, ip=ip, email=email.address)
    return email


def sign_up(
    session: Session,
    settings: Settings,
    mailer: Mailer,
    links: VerificationLinks,
    *,
    login: str,
    email: str,
    password: str,
    now: datetime,
    ip: str | None = None,
) -> User:
    """Create an account (email not yet verified) and send it the verification link."""
    user = create_user(session, login=login, email=email, password=password, now=now)
    primary = user.primary_email
    assert primary is not None, "create_user always adds a primary address"
    send_verification(session, settings, mailer, links, user=user, email=primary, now=now, ip=ip)
    return user
