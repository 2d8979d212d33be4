"""Accounts in the web UI over real HTTP: sign-up, sign-in, cookies, CSRF, email verification
(outbox and real SMTP), and sudo mode."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

import factories
from live import LiveServer
from smtp import Inbox, smtp_server
from tokenforge.accounts.models import Email, User
from tokenforge.accounts.passwords import hash_password
from tokenforge.accounts.services import get_user
from tokenforge.app import create_app
from tokenforge.clock import FixedClock
from tokenforge.config import Settings
from tokenforge.tokens.models import Token
from webui import PASSWORD, WebClient, csrf_of, field_errors, link_in, outbox_link, outbox_messages, web_server


@dataclass
class Site:
    server: LiveServer
    clock: FixedClock
    clients: list[WebClient] = field(default_factory=list)

    def client(self) -> WebClient:
        client = WebClient(self.server.url)
        self.clients.append(client)
        return client

    def user(self, login: str, *, verified: bool = True) -> None:
        with self.server.services.db.unit_of_work() as session:
            factories.user(session, login, self.clock.now(), verified=verified, password=PASSWORD)

    def signed_in(self, login: str, *, verified: bool = True) -> WebClient:
        self.user(login, verified=verified)
        client = self.client()
        client.login(login)
        return client

    def count(self, model: type) -> int:
        with self.server.services.db.unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    with web_server(settings) as (server, clock):
        running = Site(server, clock)
        try:
            yield running
        finally:
            for client in running.clients:
                client.close()


# -- sign-up ----------------------------------------------------------------------------------------


def test_sign_up_shows_every_problem_next_to_its_field(site: Site) -> None:
    client = site.client()
    response = client.submit("/signup", "/signup", {"login": "-bad-", "email": "nope", "password": "short"})
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert set(errors) == {"login", "email", "password"}
    assert "Password is too short" in errors["password"]
    assert "'nope' is not a valid email address" in errors["email"]
    assert 'value="-bad-"' in response.text  # what was typed is kept (escaped), the password is not
    assert "short" not in response.text.split('id="password"')[1].split(">")[0]
    assert site.count(User) == 0


def test_sign_up_refuses_a_taken_login_or_address(site: Site) -> None:
    site.user("alice")
    client = site.client()
    taken = client.submit("/signup", "/signup", {"login": "ALICE", "email": "new@example.com", "password": PASSWORD})
    assert taken.status_code == 422
    assert field_errors(taken.text) == {"login": "Login 'ALICE' is already taken"}
    reused = client.submit(
        "/signup", "/signup", {"login": "alicia", "email": "Alice@Example.com", "password": PASSWORD}
    )
    assert field_errors(reused.text) == {"email": "Email 'Alice@Example.com' is already in use"}
    assert site.count(User) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {},  # nothing at all
        {"login": "x" * 10_000, "email": "é@é.é", "password": "p" * 5000},
        {"login": "аlice", "email": "alice@example.com", "password": PASSWORD},  # Cyrillic "а"
        {"login": ["a", "b"], "email": ["a@example.com", "b@example.com"], "password": PASSWORD},
    ],
)
def test_odd_sign_up_input_is_a_form_error_never_a_500(site: Site, fields: dict[str, object]) -> None:
    response = site.client().submit("/signup", "/signup", fields)  # type: ignore[arg-type]
    assert response.status_code in {303, 422}, response.text[:500]


def test_sign_up_signs_in_and_sends_the_verification_link(site: Site) -> None:
    client = site.client()
    response = client.signup("alice")
    assert response.headers["location"] == "/settings/emails"
    page = client.page("/settings/emails")
    assert "alice@example.com" in page
    assert "Unverified" in page
    assert "We sent a verification link to alice@example.com" in page
    (message,) = outbox_messages(site.server.settings, "alice@example.com")
    assert message["Subject"] == "[Tokenforge] Please verify your email address"


# -- cookies, sign-in, sign-out -----------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite(site: Site) -> None:
    site.user("alice")
    client = site.client()
    response = client.submit("/login", "/login", {"login": "alice", "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tokenforge_session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # http:// base URL: a Secure cookie would never come back
    assert site.server.settings.secret_key not in cookie


def test_https_base_url_makes_the_cookie_secure_and_host_only(settings: Settings) -> None:
    secure = settings.model_copy(update={"base_url": "https://tokenforge.example"})
    app = create_app(secure)

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://tokenforge.example") as client:
            return await client.get("/login")

    try:
        response = asyncio.run(fetch())
    finally:
        app.state.services.close()
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-tokenforge_session=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "Domain" not in cookie


def test_failed_sign_in_says_one_generic_thing(site: Site) -> None:
    site.user("alice")
    with site.server.services.db.unit_of_work() as session:
        factories.user(session, "nopass", site.clock.now())  # created by the CLI: no password
    client = site.client()
    pages = [
        client.submit("/login", "/login", {"login": login, "password": password})
        for login, password in [("alice", "wrong password"), ("nobody", PASSWORD), ("nopass", ""), ("", "")]
    ]
    assert {p.status_code for p in pages} == {401}
    for page in pages:
        assert "Incorrect username or password." in page.text
    assert client.get("/settings/tokens").status_code == 303  # still signed out


@contextmanager
def server_with_alice(settings: Settings, **overrides: object) -> Iterator[tuple[LiveServer, FixedClock]]:
    """A live server with these settings and one user, alice, whose password is ``PASSWORD``."""
    with web_server(settings, **overrides) as (server, clock):
        with server.services.db.unit_of_work() as session:
            factories.user(session, "alice", clock.now(), password=PASSWORD)
        yield server, clock


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The real argon2 check, with a record of each time it ran (the server runs in this process)."""
    from tokenforge.accounts import sessions

    checked: list[str] = []
    real = sessions.verify_password

    def counted(stored: str | None, password: str) -> bool:
        checked.append(password)
        return real(stored, password)

    monkeypatch.setattr(sessions, "verify_password", counted)
    return checked


def test_password_guessing_locks_the_sign_in_form_before_any_hash_is_computed(
    settings: Settings, password_checks: list[str]
) -> None:
    with (
        server_with_alice(settings, sign_in_failures_per_login=3, password_window_seconds=900) as (server, clock),
        WebClient(server.url) as client,
    ):
        for guess in ("guess 1", "guess 2", "guess 3"):
            wrong = client.submit("/login", "/login", {"login": "alice", "password": guess})
            assert wrong.status_code == 401
        # Locked: even the right password is refused, and it is never hashed.
        locked = client.submit("/login", "/login", {"login": "Alice", "password": PASSWORD})
        assert locked.status_code == 429
        assert "Maximum number of login attempts exceeded. Please try again later." in locked.text
        assert 1 <= int(locked.headers["Retry-After"]) <= 900
        assert 'value="Alice"' in locked.text  # what was typed is kept in the form
        assert password_checks == ["guess 1", "guess 2", "guess 3"]
        assert client.get("/settings/tokens").status_code == 303  # still signed out
        # Another account from the same address is not locked out by alice's.
        with server.services.db.unit_of_work() as session:
            factories.user(session, "bob", clock.now(), password=PASSWORD)
        assert client.submit("/login", "/login", {"login": "bob", "password": PASSWORD}).status_code == 303
        clock.advance(timedelta(seconds=900))
        client.http.cookies.clear()
        assert client.login("alice").status_code == 303


def test_signing_in_successfully_does_not_count_towards_the_lockout(settings: Settings) -> None:
    with server_with_alice(settings, sign_in_failures_per_login=2, sign_in_failures_per_address=2) as (server, _clock):
        for _ in range(5):
            with WebClient(server.url) as client:
                client.login("alice")
        with WebClient(server.url) as client:
            assert client.submit("/login", "/login", {"login": "alice", "password": "typo"}).status_code == 401
            client.login("alice")


def test_sign_in_by_email_returns_to_the_page_asked_for(site: Site) -> None:
    site.user("alice")
    client = site.client()
    start = client.get("/settings/tokens/new?scopes=repo&description=ci")
    assert start.status_code == 303
    assert start.headers["location"] == "/login?return_to=%2Fsettings%2Ftokens%2Fnew%3Fscopes%3Drepo%26description%3Dci"
    form = client.page(start.headers["location"])
    response = client.post(
        "/login",
        {"login": "alice@example.com", "password": PASSWORD, "return_to": "/settings/tokens/new?scopes=repo"},
        csrf=csrf_of(form),
    )
    assert response.headers["location"] == "/settings/tokens/new?scopes=repo"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x"])
def test_sign_in_never_redirects_off_site(site: Site, target: str) -> None:
    site.user("alice")
    client = site.client()
    response = client.submit("/login", "/login", {"login": "alice", "password": PASSWORD, "return_to": target})
    assert response.headers["location"] == "/settings/tokens"


def test_sign_out_clears_the_session(site: Site) -> None:
    client = site.signed_in("alice")
    assert client.get("/settings/tokens").status_code == 200
    response = client.submit("/logout", "/logout", {})
    assert response.status_code == 303
    assert client.get("/settings/tokens").status_code == 303
    assert "Sign in" in client.page("/")


def test_a_forged_or_foreign_cookie_is_just_signed_out(site: Site, settings: Settings) -> None:
    client = site.signed_in("alice")
    genuine = client.http.cookies["tokenforge_session"]
    # Signed by another server (another secret): worthless here.
    other_settings = settings.model_copy(update={"secret_key": "another-secret-key-0123456789"})
    with web_server(other_settings) as (other, _), WebClient(other.url) as other_client:
        other_client.http.cookies.set("tokenforge_session", genuine)
        assert other_client.get("/settings/tokens").status_code == 303
    client.http.cookies.set("tokenforge_session", genuine[:-3] + "xyz")
    assert client.get("/settings/tokens").status_code == 303
    client.http.cookies.set("tokenforge_session", "garbage" * 1000)
    assert client.get("/").status_code == 200


def test_changing_the_password_ends_existing_sessions(site: Site) -> None:
    client = site.signed_in("alice")
    with site.server.services.db.unit_of_work() as session:
        get_user(session, "alice").password_hash = hash_password("a brand new password")
    assert client.get("/settings/tokens").status_code == 303


def test_a_session_ends_after_its_lifetime(site: Site) -> None:
    client = site.signed_in("alice")
    site.clock.advance(timedelta(hours=site.server.settings.session_hours, minutes=1))
    assert client.get("/settings/tokens").status_code == 303


# -- CSRF -------------------------------------------------------------------------------------------


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    client = site.client()
    client.page("/signup")  # has a session (and a CSRF token) now
    fields = {"login": "mallory", "email": "m@example.com", "password": PASSWORD}
    for csrf in (None, "", "wrong", "x" * 5000):
        response = client.post("/signup", fields, csrf=csrf)
        assert response.status_code == 403
        assert "Your form has expired" in response.text
    # Another visitor's valid token does not work in this session.
    other = site.client()
    response = client.post("/signup", fields, csrf=csrf_of(other.page("/signup")))
    assert response.status_code == 403
    # Not a form at all.
    assert client.http.post("/signup", json=fields).status_code == 403
    assert site.count(User) == 0


def test_csrf_protects_token_changes(site: Site) -> None:
    client = site.signed_in("alice")
    response = client.post("/settings/tokens/new", {"note": "x", "expiration": "30"}, csrf="forged")
    assert response.status_code == 403
    assert site.count(Token) == 0
    # A token made properly, then a forged delete: it survives.
    created = client.submit("/settings/tokens/new", "/settings/tokens/new", {"note": "ci", "expiration": "30"})
    assert created.status_code == 200
    assert client.post("/settings/tokens/1/delete", {}, csrf=None).status_code == 403
    assert "ci" in client.page("/settings/tokens")
    # Signing out by a third-party form does not work either.
    assert client.post("/logout", {}, csrf="nope").status_code == 403
    assert client.get("/settings/tokens").status_code == 200


def test_signing_in_replaces_the_csrf_token(site: Site) -> None:
    site.user("alice")
    client = site.client()
    before = csrf_of(client.page("/login"))
    client.post("/login", {"login": "alice", "password": PASSWORD}, csrf=before)
    after = csrf_of(client.page("/logout"))
    assert before != after
    assert client.post("/logout", {}, csrf=before).status_code == 403


# -- email verification -----------------------------------------------------------------------------


def test_email_verification_through_the_outbox(site: Site) -> None:
    client = site.client()
    client.signup("alice")
    link = outbox_link(site.server.settings, "alice@example.com")
    assert link.startswith(site.server.url + "/settings/emails/verify/")
    # The link works without a session too (opened on another device); it is the proof.
    anonymous = site.client()
    response = anonymous.get(link)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    page = client.page("/settings/emails")
    assert "Verified" in page
    assert "Unverified" not in page
    # A second click changes nothing and is not an error.
    assert anonymous.get(link).status_code == 303


def test_verification_links_are_signed_and_expire(site: Site) -> None:
    client = site.client()
    client.signup("alice")
    link = outbox_link(site.server.settings, "alice@example.com")
    for bad in (link[:-4] + "abcd", link.replace("verify/", "verify/x"), site.server.url + "/settings/emails/verify/x"):
        response = client.get(bad)
        assert response.status_code == 400
        assert "invalid or has expired" in response.text
    site.clock.advance(timedelta(hours=site.server.settings.email_verification_hours, minutes=1))
    assert client.get(link).status_code == 400
    with site.server.services.db.unit_of_work() as session:
        assert session.scalars(select(Email.verified)).all() == [False]


def test_email_verification_through_a_real_smtp_server(settings: Settings) -> None:
    with (
        smtp_server() as (inbox, url),
        web_server(settings, smtp_url=url) as (server, _),
        WebClient(server.url) as client,
    ):
        client.signup("alice")
        (message,) = inbox.to("alice@example.com")
        link = link_in(Inbox.body(message))
        assert client.get(link).status_code == 303
        assert "Verified" in client.page("/settings/emails")
        assert not server.settings.outbox_dir.exists()


def test_resend_is_limited_to_once_a_minute(site: Site) -> None:
    client = site.client()
    client.signup("alice")
    page = client.page("/settings/emails")
    response = client.post("/settings/emails/resend", {"email_id": "1"}, csrf=csrf_of(page))
    assert response.status_code == 303
    assert "less than a minute ago" in client.page("/settings/emails")
    site.clock.advance(timedelta(minutes=2))
    client.post("/settings/emails/resend", {"email_id": "1"}, csrf=csrf_of(page))
    assert "We sent a verification link to alice@example.com" in client.page("/settings/emails")
    assert len(outbox_messages(site.server.settings, "alice@example.com")) == 2


def test_resend_for_someone_elses_address_is_404(site: Site) -> None:
    site.user("bob", verified=False)
    client = site.signed_in("alice", verified=False)
    page = client.page("/settings/emails")
    for email_id in ("1", "99999999999", "abc", "-1"):
        assert client.post("/settings/emails/resend", {"email_id": email_id}, csrf=csrf_of(page)).status_code == 404
    assert outbox_messages(site.server.settings, "bob@example.com") == []


def test_an_unverified_user_is_told_why_they_cannot_create_tokens(site: Site) -> None:
    client = site.signed_in("alice", verified=False)
    for path in ("/settings/tokens/new", "/settings/personal-access-tokens/new"):
        page = client.page(path)
        assert "Verify your email address before creating a personal access token" in page
        assert "Resend verification email" in page
    response = client.submit("/settings/tokens/new", "/settings/tokens/new", {"note": "ci", "expiration": "30"})
    assert response.status_code == 422
    assert "Verify your email address before creating a personal access token" in response.text
    response = client.submit(
        "/settings/personal-access-tokens/new",
        "/settings/personal-access-tokens/new",
        {"name": "ci", "resource_owner": "alice", "expiration": "30", "repository_selection": "none"},
    )
    assert response.status_code == 422
    assert "Verify your email address" in response.text
    assert site.count(Token) == 0
    # The banner's button sends a new link for the primary address.
    resent = client.submit("/settings/tokens/new", "/settings/emails/resend", {"return_to": "/settings/tokens/new"})
    assert resent.headers["location"] == "/settings/tokens/new"
    link = outbox_link(site.server.settings, "alice@example.com")
    client.get(link)
    assert "Verify your email address" not in client.page("/settings/tokens/new")


# -- sudo mode --------------------------------------------------------------------------------------


def test_sudo_prompt_before_opening_the_new_token_page(site: Site) -> None:
    client = site.signed_in("alice")
    assert "Confirm access" not in client.page("/settings/tokens/new")  # just signed in: in sudo mode
    site.clock.advance(timedelta(minutes=site.server.settings.sudo_minutes, seconds=1))
    prompt = client.page("/settings/tokens/new?scopes=gist")
    assert "Confirm access" in prompt
    assert 'action="/sessions/sudo"' in prompt
    assert 'name="return_to" value="/settings/tokens/new?scopes=gist"' in prompt
    wrong = client.post(
        "/sessions/sudo",
        {"sudo_password": "nope", "return_to": "/settings/tokens/new?scopes=gist"},
        csrf=csrf_of(prompt),
    )
    assert wrong.status_code == 401
    assert "Incorrect password." in wrong.text
    right = client.post(
        "/sessions/sudo",
        {"sudo_password": PASSWORD, "return_to": "/settings/tokens/new?scopes=gist"},
        csrf=csrf_of(prompt),
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/settings/tokens/new?scopes=gist"
    assert "Confirm access" not in client.page("/settings/tokens/new?scopes=gist")


def test_a_stale_sudo_window_interrupts_the_action_then_continues_it(site: Site) -> None:
    client = site.signed_in("alice")
    form = client.page("/settings/tokens/new")
    site.clock.advance(timedelta(minutes=site.server.settings.sudo_minutes, seconds=1))
    fields = {"note": "deploy <script>", "scopes": ["repo", "gist"], "expiration": "7"}
    prompt = client.post("/settings/tokens/new", fields, csrf=csrf_of(form))
    assert "Confirm access" in prompt.text
    assert site.count(Token) == 0
    # The prompt carries the original form (escaped) back to the same URL, plus the password.
    assert 'action="/settings/tokens/new"' in prompt.text
    assert 'value="deploy &lt;script&gt;"' in prompt.text
    assert prompt.text.count('name="scopes"') == 2
    wrong = client.post("/settings/tokens/new", {**fields, "sudo_password": "nope"}, csrf=csrf_of(prompt.text))
    assert "Incorrect password." in wrong.text
    assert site.count(Token) == 0
    done = client.post("/settings/tokens/new", {**fields, "sudo_password": PASSWORD}, csrf=csrf_of(prompt.text))
    assert done.status_code == 200
    assert "Make sure to copy your personal access token now" in done.text
    # Sudo mode now lasts for the window: the next sensitive action does not ask.
    again = client.submit("/settings/tokens/new", "/settings/tokens/new", {"note": "second", "expiration": "7"})
    assert again.status_code == 200
    assert site.count(Token) == 2


def test_sudo_password_guessing_is_locked_on_the_prompt_and_inline(
    settings: Settings, password_checks: list[str]
) -> None:
    with (
        server_with_alice(settings, sudo_minutes=0, sudo_failures_per_user=2) as (server, clock),
        WebClient(server.url) as client,
    ):
        client.login("alice")
        prompt = client.page("/settings/tokens/new")
        assert "Confirm access" in prompt
        fields = {"note": "deploy", "scopes": ["repo"], "expiration": "7"}
        first = client.post("/settings/tokens/new", {**fields, "sudo_password": "guess 1"}, csrf=csrf_of(prompt))
        assert first.status_code == 401
        assert "Incorrect password." in first.text
        second = client.post("/sessions/sudo", {"sudo_password": "guess 2", "return_to": "/"}, csrf=csrf_of(prompt))
        assert second.status_code == 401
        # Both prompts are locked now, for the right password too, which is never checked.
        inline = client.post("/settings/tokens/new", {**fields, "sudo_password": PASSWORD}, csrf=csrf_of(prompt))
        assert inline.status_code == 429
        assert "Maximum number of login attempts exceeded" in inline.text
        assert 'value="deploy"' in inline.text  # the form is carried, ready to post again
        assert int(inline.headers["Retry-After"]) >= 1
        direct = client.post("/sessions/sudo", {"sudo_password": PASSWORD, "return_to": "/"}, csrf=csrf_of(prompt))
        assert direct.status_code == 429
        assert password_checks.count(PASSWORD) == 1  # at sign-in only
        with server.services.db.unit_of_work() as session:
            assert int(session.scalar(select(func.count()).select_from(Token)) or 0) == 0
        clock.advance(timedelta(seconds=server.settings.password_window_seconds))
        done = client.post("/settings/tokens/new", {**fields, "sudo_password": PASSWORD}, csrf=csrf_of(prompt))
        assert done.status_code == 200
        assert "Make sure to copy your personal access token now" in done.text


def test_sudo_is_asked_every_time_when_the_window_is_zero(settings: Settings) -> None:
    with web_server(settings, sudo_minutes=0) as (server, clock):
        with server.services.db.unit_of_work() as session:
            factories.user(session, "alice", clock.now(), password=PASSWORD)
        with WebClient(server.url) as client:
            client.login("alice")
            assert "Confirm access" in client.page("/settings/tokens/new")


def test_pages_carry_security_headers_and_no_third_party_assets(site: Site) -> None:
    response = httpx.get(site.server.url + "/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "http" not in response.text.split("<body>")[0].replace('content="width', "")
    for asset in ("/static/tokenforge.css", "/static/tokenforge.js", "/static/favicon.svg"):
        assert httpx.get(site.server.url + asset).status_code == 200
    assert httpx.get(site.server.url + "/static/..%2Fcore.py").status_code == 404
    assert httpx.get(site.server.url + "/health").headers.get("set-cookie") is None


def test_oversized_or_nul_input_is_a_clean_refusal(site: Site) -> None:
    client = site.client()
    token = csrf_of(client.page("/signup"))
    huge = client.post("/signup", {"login": "a" * 400_000}, csrf=token)
    assert huge.status_code == 413
    nul = client.post("/signup", {"login": "al\x00ice", "email": "a@example.com", "password": PASSWORD}, csrf=token)
    assert nul.status_code == 400
    assert client.get("/login?return_to=%00").status_code == 400
    assert site.count(User) == 0
