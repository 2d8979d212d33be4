"""What every page shares: the session cookie, CSRF, sign-in and sudo gates, rendering, and the
translation of service errors into pages.

Every web route uses ``WebRoute``. Around each request it:

1. reads the form (POST) and the query, refusing NUL characters up front — PostgreSQL cannot
   store them, and a form must never turn into a 500;
2. loads the session from its signed cookie (no database access);
3. on every POST, compares the form's ``csrf_token`` with the session's in constant time; a
   missing or wrong token is a 403 page and the route never runs, so nothing changes;
4. runs the route, turning ``LoginRequired`` into a redirect to /login, ``SudoRequired`` into
   the password prompt, ``NotFound`` into a 404 page and ``Unavailable`` into a 503 page;
5. writes the cookie back if the session changed, and adds the security headers.

Routes stay thin: parse the form, call one service inside one unit of work, render.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from tokenforge.accounts.models import User
from tokenforge.accounts.sessions import (
    SessionCodec,
    WebSession,
    confirm_sudo,
    csrf_matches,
    sudo_active,
)
from tokenforge.accounts.throttle import LOCKED_OUT
from tokenforge.accounts.verification import VerificationLinks
from tokenforge.authz.subjects import UserSession
from tokenforge.errors import NotFound, Unavailable
from tokenforge.mail import Mailer, mailer_for
from tokenforge.web import present
from tokenforge.web.chrome import ExpiringSoon, expiring_soon, managed_organizations

if TYPE_CHECKING:
    from tokenforge.app import Services

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["present"] = present
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

# Forms here are a few KB; anything much larger is refused (413) before it is parsed.
MAX_FORM_BYTES = 256 * 1024
CSRF_FIELD = "csrf_token"
SUDO_FIELD = "sudo_password"

# No inline script or style anywhere, so the policy can forbid both: an injected <script> does
# not run even if escaping were ever missed. Forms may only post to this origin.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class BadRequest(Exception):
    """Input no form of ours can produce (NUL characters, a body that is not a form)."""


class LoginRequired(Exception):
    """The page needs a signed-in user; the visitor is sent to /login and back."""


INCORRECT_PASSWORD = "Incorrect password."  # noqa: S105 (a message, not a password)


class SudoRequired(Exception):
    """The action needs the password again (sudo mode); ``error`` after a wrong one, and
    ``retry_after`` (seconds) when too many wrong ones locked the prompt (accounts/throttle.py)."""

    def __init__(self, error: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(error or "sudo mode required")
        self.error = error
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        if self.retry_after is not None:
            return 429
        return 401 if self.error else 200


@dataclass
class WebState:
    """Built once per application (on first use): the cookie codec, verification links, mailer."""

    codec: SessionCodec
    links: VerificationLinks
    mailer: Mailer


def web_state(request: Request) -> WebState:
    state = getattr(request.app.state, "web", None)
    if state is None:
        services = request.app.state.services
        state = WebState(
            SessionCodec(services.settings, services.clock),
            VerificationLinks(services.settings, services.clock),
            mailer_for(services.settings),
        )
        request.app.state.web = state
    return state


def cookie_name(https: bool) -> str:
    # "__Host-" makes browsers refuse the cookie unless it is Secure, host-only and Path=/, so
    # neither a sibling subdomain nor a plain-HTTP response can plant or overwrite it.
    return "__Host-tokenforge_session" if https else "tokenforge_session"


class WebContext:
    """One request's view of the session, the form and the services."""

    def __init__(self, request: Request, form: dict[str, list[str]], session: WebSession) -> None:
        self.request = request
        self.services: Services = request.app.state.services
        self.state = web_state(request)
        self.form = form
        self.session = session
        self.viewer: str | None = None  # the signed-in user's login, once loaded
        self.viewer_verified = True
        # Loaded with the user (web/chrome.py): the header's warning and the settings menu.
        self.expiring: ExpiringSoon | None = None
        self.viewer_orgs: list[str] = []

    # -- input ------------------------------------------------------------------------------

    @property
    def https(self) -> bool:
        return self.services.settings.base_url.startswith("https://")

    @property
    def ip(self) -> str | None:
        client = self.request.client
        return client.host if client else None

    @property
    def now(self) -> datetime:
        return self.services.clock.now()

    def text(self, name: str) -> str:
        values = self.form.get(name)
        return values[0] if values else ""

    def texts(self, name: str) -> list[str]:
        return list(self.form.get(name, ()))

    def query(self, name: str) -> str:
        value = self.request.query_params.get(name)
        return value if value is not None else ""

    # -- session and user --------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with self.services.db.unit_of_work() as session:
            yield session

    def user(self, session: Session) -> User | None:
        """The signed-in user, or None (also when the session no longer matches the account)."""
        uid = self.session.user_id
        if uid is None:
            return None
        user = session.get(User, uid)
        if user is None or not self.state.codec.user_matches(self.session, user):
            # The account is gone or its password changed since sign-in: sign out.
            self.session = WebSession(dirty=True)
            return None
        self.viewer = user.login
        self.viewer_verified = user.has_verified_email
        self.expiring = expiring_soon(session, user, self.now)
        self.viewer_orgs = managed_organizations(session, user)
        return user

    def require_user(self, session: Session) -> User:
        user = self.user(session)
        if user is None:
            raise LoginRequired
        return user

    def principal(self, user: User) -> UserSession:
        return UserSession(user_id=user.id, login=user.login)

    def require_sudo(self, user: User) -> None:
        """Continue only in sudo mode. A POST may carry the password (the prompt posts the
        original form back with it), which starts sudo mode and lets the action go on."""
        settings = self.services.settings
        if sudo_active(self.session, now=self.now, minutes=settings.sudo_minutes):
            return
        password = self.text(SUDO_FIELD)
        if self.request.method == "POST" and password:
            self.confirm_sudo(user, password)
            return
        raise SudoRequired

    def confirm_sudo(self, user: User, password: str) -> None:
        """The password again, within the guessing limit: sudo mode starts, or ``SudoRequired``
        says why not. Locked out, the password is not even checked."""
        throttle, now = self.services.passwords, self.now.timestamp()
        lockout = throttle.sudo_attempt(user.id, now)
        if lockout is not None:
            raise SudoRequired(LOCKED_OUT, retry_after=lockout.retry_after(now))
        if not confirm_sudo(self.session, user, password, now=self.now):
            raise SudoRequired(INCORRECT_PASSWORD)
        throttle.sudo_succeeded(user.id, now)

    @property
    def csrf_token(self) -> str:
        # Rendering a form is what makes a visitor's session worth a cookie.
        self.session.dirty = True
        return self.session.csrf

    def flash(self, message: str, kind: str = "notice") -> None:
        self.session.flash(message, kind)

    # -- output -----------------------------------------------------------------------------

    def render(self, template: str, context: dict[str, Any] | None = None, *, status: int = 200) -> HTMLResponse:
        values: dict[str, Any] = {
            "ctx": self,
            "viewer": self.viewer,
            "viewer_verified": self.viewer_verified,
            "expiring": self.expiring,
            "viewer_orgs": self.viewer_orgs,
            "csrf_field": CSRF_FIELD,
            "flashes": self.session.pop_flashes(),
            "errors": {},
        }
        values.update(context or {})
        return templates.TemplateResponse(self.request, template, values, status_code=status)

    def redirect(self, url: str) -> RedirectResponse:
        # 303: the browser follows with GET, so a reload never re-posts (POST-redirect-GET).
        return RedirectResponse(url, status_code=303)

    def error_page(self, status: int, title: str, message: str) -> HTMLResponse:
        return self.render("error.html", {"title": title, "message": message}, status=status)

    def sudo_page(self, refused: SudoRequired) -> HTMLResponse:
        request = self.request
        if request.method == "POST":
            # Post the original form back to the same URL, with the password added: the action
            # continues in one step, and nothing (least of all a secret) goes into a URL.
            action = request.url.path
            carried = [(k, v) for k, vs in self.form.items() if k not in {CSRF_FIELD, SUDO_FIELD} for v in vs]
            return_to = ""
        else:
            action = "/sessions/sudo"
            carried = []
            return_to = local_path(request)
        return self.sudo_prompt(refused, action=action, carried=carried, return_to=return_to)

    def sudo_prompt(
        self, refused: SudoRequired, *, action: str, carried: list[tuple[str, str]], return_to: str
    ) -> HTMLResponse:
        page = self.render(
            "sudo.html",
            {"action": action, "carried": carried, "return_to": return_to, "error": refused.error},
            status=refused.status,
        )
        if refused.retry_after is not None:
            page.headers["Retry-After"] = str(refused.retry_after)
        return page

    def finish(self, response: Response) -> Response:
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # Pages show tokens, emails and forms with CSRF tokens: never keep them in a cache.
        response.headers.setdefault("Cache-Control", "no-store")
        if self.session.dirty:
            codec = self.state.codec
            response.set_cookie(
                cookie_name(self.https),
                codec.dump(self.session),
                max_age=int(codec.lifetime.total_seconds()),
                path="/",
                secure=self.https,
                httponly=True,
                samesite="lax",
            )
        return response


def local_path(request: Request) -> str:
    """The request's own path and query, to come back to after signing in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_return_to(value: str, default: str = "/") -> str:
    """A path on this site only: "/x" yes; "//evil.example", "/\\evil", "https://…" no."""
    if (
        not value
        or len(value) > 2048
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ch in value for ch in "\r\n\t\\")
    ):
        return default
    return value


def login_url(return_to: str) -> str:
    return "/login?return_to=" + quote(return_to, safe="")


async def _read_form(request: Request) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if request.method != "POST":
        return fields
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise BadRequest("The form is too large.")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return fields  # no CSRF token either: refused with 403 below
    form = await request.form(max_files=0, max_fields=2000)
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return fields


def _refuse_nul(fields: dict[str, list[str]], request: Request) -> None:
    pairs = [(k, v) for k, vs in fields.items() for v in vs] + list(request.query_params.multi_items())
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise BadRequest("The form contains characters that are not allowed.")


class WebRoute(APIRoute):
    """An APIRoute with the session, CSRF and error handling described in the module docstring."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            state = web_state(request)
            https = request.app.state.services.settings.base_url.startswith("https://")
            session = state.codec.load(request.cookies.get(cookie_name(https)))
            try:
                form = await _read_form(request)
                _refuse_nul(form, request)
            except BadRequest as exc:
                ctx = WebContext(request, {}, session)
                return ctx.finish(ctx.error_page(400, "Bad request", str(exc)))
            ctx = WebContext(request, form, session)
            request.state.web = ctx
            if request.method == "POST" and not csrf_matches(ctx.session, ctx.text(CSRF_FIELD)):
                response: Response = ctx.error_page(
                    403,
                    "Your form has expired",
                    "The page you submitted was out of date or did not come from Tokenforge, so nothing "
                    "was changed. Go back, reload the page, and try again.",
                )
                return ctx.finish(response)
            try:
                response = await original(request)
            except LoginRequired:
                response = ctx.redirect(login_url(local_path(request) if request.method == "GET" else "/"))
            except SudoRequired as exc:
                response = ctx.sudo_page(exc)
            except NotFound:
                response = ctx.error_page(404, "Page not found", "There is nothing here, or it is not yours to see.")
            except Unavailable:
                log.exception("database unavailable")
                response = ctx.error_page(503, "Unavailable", "Tokenforge cannot reach its database. Try again soon.")
            return ctx.finish(response)

        return handler


def context(request: Request) -> WebContext:
    ctx: WebContext = request.state.web
    return ctx
