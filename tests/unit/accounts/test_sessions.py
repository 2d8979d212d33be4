"""Sessions, CSRF, sudo mode and verification links, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tokenforge.accounts.models import Email, User
from tokenforge.accounts.passwords import hash_password
from tokenforge.accounts.sessions import (
    SessionCodec,
    WebSession,
    confirm_sudo,
    csrf_matches,
    derive_key,
    sign_in,
    sudo_active,
)
from tokenforge.accounts.verification import VerificationLinks
from tokenforge.clock import FixedClock
from tokenforge.config import Settings
from tokenforge.errors import Invalid, NotFound
from tokenforge.web import present
from tokenforge.web.core import safe_return_to
from tokenforge.web.forms import Expiration, parse_id

START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SECRET = "unit-secret-key-0123456789abcdef"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def codec(clock: FixedClock) -> SessionCodec:
    return SessionCodec(Settings(secret_key=SECRET), clock)


def alice() -> User:
    return User(id=7, login="alice", login_key="alice", password_hash=hash_password("a long password"))


def test_a_session_survives_the_round_trip_and_nothing_else_does(codec: SessionCodec, clock: FixedClock) -> None:
    session = sign_in(codec, WebSession(), alice(), now=clock.now())
    session.flash("hello")
    cookie = codec.dump(session)
    loaded = codec.load(cookie)
    assert (loaded.user_id, loaded.csrf, loaded.flashes) == (7, session.csrf, [("notice", "hello")])
    assert SECRET not in cookie
    for bad in (_tampered(cookie), cookie.replace(".", "!", 1), "", "x" * 5000):
        assert codec.load(bad).user_id is None
    other = SessionCodec(Settings(secret_key="another-secret-0123456789"), clock)
    assert other.load(cookie).user_id is None


def _tampered(cookie: str) -> str:
    """One character of the signature changed. Not the last: base64's last character carries
    padding bits, and changing only those (or writing what was there already, as replacing the
    last two with "xx" did about once in a thousand runs) leaves the signature valid."""
    i = len(cookie) - 5
    return cookie[:i] + ("A" if cookie[i] != "A" else "B") + cookie[i + 1 :]


def test_the_previous_secret_still_verifies_sessions(clock: FixedClock) -> None:
    old = SessionCodec(Settings(secret_key=SECRET), clock)
    cookie = old.dump(sign_in(old, WebSession(), alice(), now=clock.now()))
    rotated = SessionCodec(Settings(secret_key="the-new-secret-0123456789", previous_secret_keys=(SECRET,)), clock)
    assert rotated.load(cookie).user_id == 7


def test_sessions_end_after_their_lifetime(codec: SessionCodec, clock: FixedClock) -> None:
    cookie = codec.dump(sign_in(codec, WebSession(), alice(), now=clock.now()))
    clock.advance(codec.lifetime - timedelta(seconds=1))
    assert codec.load(cookie).user_id == 7
    clock.advance(timedelta(seconds=2))
    assert codec.load(cookie).user_id is None


def test_the_password_mark_follows_the_password(codec: SessionCodec, clock: FixedClock) -> None:
    user = alice()
    session = sign_in(codec, WebSession(), user, now=clock.now())
    assert codec.user_matches(session, user)
    user.password_hash = hash_password("another long password")
    assert not codec.user_matches(session, user)
    assert not codec.user_matches(session, None)


def test_csrf_comparison() -> None:
    session = WebSession()
    assert csrf_matches(session, session.csrf)
    for bad in (None, "", session.csrf[:-1], session.csrf + "x", "ü" * 10):
        assert not csrf_matches(session, bad)


def test_signing_in_replaces_the_csrf_token(codec: SessionCodec, clock: FixedClock) -> None:
    anonymous = WebSession()
    assert sign_in(codec, anonymous, alice(), now=clock.now()).csrf != anonymous.csrf


def test_sudo_window(codec: SessionCodec, clock: FixedClock) -> None:
    user = alice()
    session = sign_in(codec, WebSession(), user, now=clock.now())
    assert sudo_active(session, now=clock.now(), minutes=10)
    assert not sudo_active(session, now=clock.now() + timedelta(minutes=10, seconds=1), minutes=10)
    assert not sudo_active(session, now=clock.now(), minutes=0)
    assert not sudo_active(session, now=clock.now() - timedelta(minutes=1), minutes=10)  # clock went back
    later = clock.now() + timedelta(hours=1)
    assert not confirm_sudo(session, user, "wrong", now=later)
    assert confirm_sudo(session, user, "a long password", now=later)
    assert sudo_active(session, now=later, minutes=10)


def test_verification_links(clock: FixedClock) -> None:
    settings = Settings(secret_key=SECRET, base_url="https://forge.example")
    links = VerificationLinks(settings, clock)
    email = Email(id=3, address="Alice@Example.com", address_key="alice@example.com")
    url = links.url_for(email)
    assert url.startswith("https://forge.example/settings/emails/verify/")
    token = url.rsplit("/", 1)[1]
    assert links.email_id(token) == (3, "alice@example.com")
    # Not interchangeable with a session cookie: different key, different salt.
    codec = SessionCodec(settings, clock)
    with pytest.raises(Invalid):
        links.email_id(codec.dump(WebSession()))
    clock.advance(links.max_age + timedelta(seconds=1))
    with pytest.raises(Invalid, match="invalid or has expired"):
        links.email_id(token)


def test_derived_keys_differ_by_label() -> None:
    assert derive_key(SECRET, b"a") != derive_key(SECRET, b"b")
    assert SECRET.encode() not in derive_key(SECRET, b"a")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/settings/tokens", "/settings/tokens"),
        ("/settings/tokens/new?scopes=repo", "/settings/tokens/new?scopes=repo"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
        ("", "/"),
    ],
)
def test_return_to_stays_on_the_site(value: str, expected: str) -> None:
    assert safe_return_to(value) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "²", "2147483648", "1" * 11, ""])
def test_ids_that_cannot_exist(raw: str) -> None:
    with pytest.raises(NotFound):
        parse_id(raw)


def test_expiration_choices() -> None:
    assert Expiration("30").resolve(START) == START + timedelta(days=30)
    assert Expiration("none").resolve(START) is None
    assert Expiration("custom", "2026-12-31").resolve(START) == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    for bad in (Expiration("45"), Expiration("custom", "31/12/2026"), Expiration("custom", "2026-13-01")):
        with pytest.raises(Invalid):
            bad.resolve(START)
    assert Expiration.from_days("90", START) == Expiration("90")
    assert Expiration.from_days("45", START) == Expiration("custom", "2027-01-05")
    with pytest.raises(Invalid):
        Expiration.from_days("367", START)


def test_githubs_wording() -> None:
    assert present.last_used(None, START) == "Never used"
    assert present.last_used(START - timedelta(days=3), START) == "Last used within the last week"
    assert present.last_used(START - timedelta(days=20), START) == "Last used within the last month"
    assert present.last_used(START - timedelta(days=500), START) == "Last used more than a year ago"
    assert present.expiry(None, START) == "This token has no expiration date"
    assert present.expiry(START + timedelta(days=30), START) == "Expires on Mon, Dec 21 2026"
    assert present.expiry(START, START) == "Expired on Sat, Nov 21 2026"
    assert present.permission_summary({"contents": "write", "metadata": "read", "issues": "write"}) == [
        "Read and write: Contents, Issues",
        "Read-only: Metadata",
    ]
