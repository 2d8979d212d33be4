"""Signing in to the web UI: the password check, what the session cookie carries, CSRF tokens,
and "sudo mode".

No FastAPI here. The web layer hands in the cookie's text and writes back what ``dump``
returns; everything that decides something (is this password right, is this session still
valid, is the user in sudo mode, does this CSRF token match) lives in this module.

The session is a signed cookie, not a server-side row: there is nothing to clean up and nothing
to look up beyond the user, whom every page loads anyway. What that costs, and how it is paid:

* A signed cookie cannot be revoked server-side one by one. So the cookie carries the time of
  sign-in (an absolute lifetime, ``session_hours``, enforced here, not by the browser) and a
  *password mark*: a keyed fingerprint of the user's password hash. Changing the password
  changes the mark and ends every session of that user at once.
* The signing key is derived from ``TOKENFORGE_SECRET_KEY`` with a label of its own (as the
  token pepper is, credentials/digest.py), so the cookie key and the token pepper never
  coincide, and a forged cookie needs the server secret. Older secrets still verify cookies
  after a rotation, so rotating the secret does not sign everyone out.
* Time comes from the application's ``Clock``, not the wall clock, so tests move it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Email, User
from tokenforge.accounts.passwords import MAX_LENGTH, hash_password, verify_password
from tokenforge.accounts.services import find_account
from tokenforge.audit.services import record
from tokenforge.clock import Clock
from tokenforge.config import Settings

_SESSION_LABEL = b"tokenforge/web-session/v1"
_MARK_LABEL = b"tokenforge/password-mark/v1"
CSRF_BYTES = 32
# GitHub's wording. One message for an unknown login, a wrong password and an account without
# a password, so the form cannot be used to find out which logins exist.
LOGIN_FAILED = "Incorrect username or password."


def derive_key(secret: str, label: bytes) -> bytes:
    """A key for one purpose, derived from the operator's secret (never the secret itself)."""
    return hmac.digest(secret.encode("utf-8"), label, "sha256")


class ClockSigner(TimestampSigner):
    """itsdangerous' timestamp signer, reading time from the application's clock."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock.now().timestamp())


def signed_serializer(settings: Settings, clock: Clock, label: bytes, salt: str) -> URLSafeTimedSerializer:
    """A URL-safe, timed, signed serializer under a key derived for ``label``.

    The current secret signs; previous ones (``TOKENFORGE_PREVIOUS_SECRET_KEYS``) still verify.
    itsdangerous signs with the *last* key of the list.
    """
    keys = [derive_key(old, label) for old in reversed(settings.previous_secret_keys)]
    keys.append(derive_key(settings.effective_secret_key(), label))
    return URLSafeTimedSerializer(
        keys,
        salt=salt,
        signer=ClockSigner,
        signer_kwargs={"clock": clock, "key_derivation": "hmac", "digest_method": hashlib.sha256},
    )


def new_csrf_token() -> str:
    return secrets.token_urlsafe(CSRF_BYTES)


@dataclass
class WebSession:
    """What the cookie carries. Anonymous visitors have one too: it holds their CSRF token,
    so the sign-in and sign-up forms are protected like every other form."""

    csrf: str = field(default_factory=new_csrf_token)
    user_id: int | None = None
    signed_in_at: float | None = None  # epoch seconds, application clock
    sudo_at: float | None = None  # when the password was last entered
    password_mark: str | None = None
    # One-time notices for the next page ("Token deleted"). Never a secret.
    flashes: list[tuple[str, str]] = field(default_factory=list)
    # Set when anything changed, so the web layer writes the cookie only then.
    dirty: bool = False

    def flash(self, message: str, kind: str = "notice") -> None:
        self.flashes.append((kind, message))
        self.dirty = True

    def pop_flashes(self) -> list[tuple[str, str]]:
        flashes, self.flashes = self.flashes, []
        if flashes:
            self.dirty = True
        return flashes


class SessionCodec:
    """Turns a ``WebSession`` into cookie text and back, with its signature and lifetime."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._serializer = signed_serializer(settings, clock, _SESSION_LABEL, "session")
        self._mark_key = derive_key(settings.effective_secret_key(), _MARK_LABEL)
        self.lifetime = timedelta(hours=settings.session_hours)

    def dump(self, session: WebSession) -> str:
        payload: dict[str, Any] = {"c": session.csrf}
        if session.user_id is not None:
            payload |= {
                "u": session.user_id,
                "t": session.signed_in_at,
                "s": session.sudo_at,
                "p": session.password_mark,
            }
        if session.flashes:
            payload["f"] = session.flashes
        return str(self._serializer.dumps(payload))

    def load(self, cookie: str | None) -> WebSession:
        """The session in the cookie, or a fresh anonymous one if it is missing, forged, expired
        or malformed (a bad cookie is never an error page: the visitor just signs in again)."""
        if not cookie:
            # Not dirty: a visitor gets a cookie only once a page needs one (a form's CSRF
            # token), so /health and static files never set cookies.
            return WebSession()
        if len(cookie) > 4096:
            return WebSession(dirty=True)
        try:
            payload = self._serializer.loads(cookie, max_age=int(self.lifetime.total_seconds()))
        except (BadSignature, ValueError, TypeError):
            return WebSession(dirty=True)
        session = _parse(payload)
        if session is None:
            return WebSession(dirty=True)
        if session.user_id is not None and (
            session.signed_in_at is None
            or self._clock.now().timestamp() - session.signed_in_at > self.lifetime.total_seconds()
        ):
            return WebSession(dirty=True)
        return session

    def password_mark(self, user: User) -> str:
        return hmac.digest(self._mark_key, (user.password_hash or "").encode(), "sha256")[:12].hex()

    def user_matches(self, session: WebSession, user: User | None) -> bool:
        """Whether the signed-in user still exists and still has the password they signed in with."""
        return (
            user is not None
            and user.password_hash is not None
            and session.password_mark is not None
            and hmac.compare_digest(session.password_mark, self.password_mark(user))
        )


def _parse(payload: object) -> WebSession | None:
    # The payload is signed by us, so this is defence in depth against our own older formats,
    # not against forgery.
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), str):
        return None
    session = WebSession(csrf=payload["c"])
    user_id = payload.get("u")
    if user_id is not None:
        signed_in, sudo, mark = payload.get("t"), payload.get("s"), payload.get("p")
        if not (isinstance(user_id, int) and isinstance(signed_in, int | float) and isinstance(mark, str)):
            return None
        session.user_id, session.signed_in_at, session.password_mark = user_id, float(signed_in), mark
        session.sudo_at = float(sudo) if isinstance(sudo, int | float) else None
    flashes = payload.get("f")
    if isinstance(flashes, list):
        session.flashes = [(str(k), str(m)) for k, m in (f for f in flashes if isinstance(f, list) and len(f) == 2)]
    return session


def csrf_matches(session: WebSession, submitted: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the session's."""
    if not submitted or not session.csrf:
        return False
    return hmac.compare_digest(submitted.encode("utf-8", "replace"), session.csrf.encode("utf-8"))


# -- signing in -----------------------------------------------------------------------------------


@functools.cache
def _dummy_hash() -> str:
    # A real argon2id hash of a random password, verified against when the login is unknown, so
    # an unknown login costs the same time as a wrong password (no user enumeration by timing).
    return hash_password(secrets.token_urlsafe(16))


def authenticate(session: Session, login_or_email: str, password: str) -> User | None:
    """The user with this login (or email address) and password, or None."""
    identifier = login_or_email.strip()
    user: User | None = None
    if 0 < len(identifier) <= 320:
        if "@" in identifier:
            user = session.scalar(select(User).join(Email).where(Email.address_key == identifier.lower()))
        else:
            account = find_account(session, identifier)
            user = account if isinstance(account, User) else None
    if user is None or user.password_hash is None:
        verify_password(_dummy_hash(), password[:MAX_LENGTH])
        return None
    return user if verify_password(user.password_hash, password) else None


def sign_in(codec: SessionCodec, web: WebSession, user: User, *, now: datetime) -> WebSession:
    """A new session for ``user``. A new CSRF token too: nothing an anonymous visitor saw (or
    an attacker planted before sign-in) stays valid. Entering the password starts sudo mode."""
    return WebSession(
        user_id=user.id,
        signed_in_at=now.timestamp(),
        sudo_at=now.timestamp(),
        password_mark=codec.password_mark(user),
        flashes=web.flashes,
        dirty=True,
    )


def sign_out(web: WebSession) -> WebSession:
    return WebSession(dirty=True)


def record_sign_in(session: Session, user: User, *, now: datetime, ip: str | None) -> None:
    record(session, "user.login", now=now, actor=user, user=user, ip=ip)


def sudo_active(web: WebSession, *, now: datetime, minutes: int) -> bool:
    """Whether the password was entered recently enough for a sensitive action."""
    if web.sudo_at is None or minutes <= 0:
        return False
    elapsed = now.timestamp() - web.sudo_at
    return 0 <= elapsed <= minutes * 60


def confirm_sudo(web: WebSession, user: User, password: str, *, now: datetime) -> bool:
    """Check the password again; on success, sudo mode starts now."""
    if user.password_hash is None or not verify_password(user.password_hash, password):
        return False
    web.sudo_at = now.timestamp()
    web.dirty = True
    return True
