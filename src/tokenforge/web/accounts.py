"""Sign up, sign in, sign out, sudo mode, and email addresses with their verification."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenforge.accounts.models import Email
from tokenforge.accounts.passwords import check_strength
from tokenforge.accounts.services import validate_email, validate_login
from tokenforge.accounts.sessions import (
    LOGIN_FAILED,
    authenticate,
    record_sign_in,
    sign_in,
    sign_out,
)
from tokenforge.accounts.throttle import LOCKED_OUT
from tokenforge.accounts.verification import confirm_email, send_verification, sign_up
from tokenforge.errors import Invalid, NotFound, TokenforgeError
from tokenforge.web.core import MAX_FORM_BYTES, SudoRequired, WebRoute, context, safe_return_to
from tokenforge.web.forms import errors_of, parse_id

router = APIRouter(route_class=WebRoute, max_body_size=MAX_FORM_BYTES)

AFTER_SIGN_IN = "/settings/tokens"


@router.get("/signup")
def signup_form(request: Request) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        if ctx.user(session) is not None:
            return ctx.redirect(AFTER_SIGN_IN)
    return ctx.render("signup.html", {"values": {}})


@router.post("/signup")
def signup(request: Request) -> Response:
    ctx = context(request)
    login, email, password = ctx.text("login").strip(), ctx.text("email").strip(), ctx.text("password")
    values = {"login": login, "email": email}
    # Each field's own check first, so every message shows at once; then the service, which
    # checks them again and adds what needs the database (a taken login or address).
    errors: dict[str, str] = {}
    for check, value in ((validate_login, login), (validate_email, email), (check_strength, password)):
        try:
            check(value)
        except Invalid as exc:
            errors[exc.field or "form"] = exc.message
    if not errors:
        try:
            with ctx.unit_of_work() as session:
                user = sign_up(
                    session,
                    ctx.services.settings,
                    ctx.state.mailer,
                    ctx.state.links,
                    login=login,
                    email=email,
                    password=password,
                    now=ctx.now,
                    ip=ctx.ip,
                )
                record_sign_in(session, user, now=ctx.now, ip=ctx.ip)
        except TokenforgeError as exc:
            errors = errors_of(exc)
    if errors:
        return ctx.render("signup.html", {"values": values, "errors": errors}, status=422)
    ctx.session = sign_in(ctx.state.codec, ctx.session, user, now=ctx.now)
    ctx.flash(f"Welcome to Tokenforge, {user.login}! We sent a verification link to {email}.")
    return ctx.redirect("/settings/emails")


@router.get("/login")
def login_form(request: Request) -> Response:
    ctx = context(request)
    return_to = safe_return_to(ctx.query("return_to"), AFTER_SIGN_IN)
    with ctx.unit_of_work() as session:
        if ctx.user(session) is not None:
            return ctx.redirect(return_to)
    return ctx.render("login.html", {"return_to": return_to, "login": ""})


@router.post("/login")
def login(request: Request) -> Response:
    ctx = context(request)
    identifier, password = ctx.text("login"), ctx.text("password")
    return_to = safe_return_to(ctx.text("return_to"), AFTER_SIGN_IN)
    throttle, now = ctx.services.passwords, ctx.now.timestamp()
    values = {"return_to": return_to, "login": identifier[:320]}
    # Counted before the password is checked (see accounts/throttle.py); refused unchecked when locked out.
    lockout = throttle.sign_in_attempt(identifier, ctx.ip, now)
    if lockout is not None:
        page = ctx.render("login.html", {**values, "errors": {"form": LOCKED_OUT}}, status=429)
        page.headers["Retry-After"] = str(lockout.retry_after(now))
        return page
    with ctx.unit_of_work() as session:
        user = authenticate(session, identifier, password)
        if user is not None:
            record_sign_in(session, user, now=ctx.now, ip=ctx.ip)
    if user is None:
        return ctx.render("login.html", {**values, "errors": {"form": LOGIN_FAILED}}, status=401)
    throttle.sign_in_succeeded(identifier, ctx.ip, now)
    ctx.session = sign_in(ctx.state.codec, ctx.session, user, now=ctx.now)
    return ctx.redirect(return_to)


@router.get("/logout")
def logout_form(request: Request) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        if ctx.user(session) is None:
            return ctx.redirect("/")
    return ctx.render("logout.html")


@router.post("/logout")
def logout(request: Request) -> Response:
    ctx = context(request)
    ctx.session = sign_out(ctx.session)
    ctx.flash("You have signed out.")
    return ctx.redirect("/")


@router.post("/sessions/sudo")
def sudo(request: Request) -> Response:
    """The prompt shown before opening a sensitive page: confirm, then back to that page (GET)."""
    ctx = context(request)
    return_to = safe_return_to(ctx.text("return_to"), AFTER_SIGN_IN)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
    try:
        ctx.confirm_sudo(user, ctx.text("sudo_password"))
    except SudoRequired as refused:
        return ctx.sudo_prompt(refused, action="/sessions/sudo", carried=[], return_to=return_to)
    return ctx.redirect(return_to)


@router.get("/settings")
def settings_root(request: Request) -> Response:
    return context(request).redirect("/settings/emails")


@router.get("/settings/apps")
def developer_settings(request: Request) -> Response:
    # GitHub's "Developer settings" entry; tokens are all it holds here.
    return context(request).redirect("/settings/personal-access-tokens")


@router.get("/settings/emails")
def emails(request: Request) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        rows = [{"id": e.id, "address": e.address, "verified": e.verified, "primary": e.primary} for e in user.emails]
    return ctx.render("emails.html", {"emails": rows, "nav": "emails"})


@router.post("/settings/emails/resend")
def resend(request: Request) -> Response:
    ctx = context(request)
    return_to = safe_return_to(ctx.text("return_to"), "/settings/emails")
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            # No id: the primary address (the banner on the new-token pages).
            raw_id = ctx.text("email_id")
            email = session.get(Email, parse_id(raw_id)) if raw_id else user.primary_email
            if email is None or email.user_id != user.id:
                raise NotFound("No such email")
            send_verification(
                session,
                ctx.services.settings,
                ctx.state.mailer,
                ctx.state.links,
                user=user,
                email=email,
                now=ctx.now,
                ip=ctx.ip,
            )
            address = email.address
    except Invalid as exc:  # already verified, or sent a moment ago; an unknown id is a 404
        ctx.flash(exc.message, "error")
        return ctx.redirect(return_to)
    ctx.flash(f"We sent a verification link to {address}. It may take a minute to arrive.")
    return ctx.redirect(return_to)


@router.get("/settings/emails/verify/{token}")
def verify(request: Request, token: str) -> Response:
    ctx = context(request)
    try:
        with ctx.unit_of_work() as session:
            email = confirm_email(session, ctx.state.links, token, now=ctx.now, ip=ctx.ip)
            address = email.address
            signed_in = ctx.user(session) is not None
    except Invalid as exc:
        return ctx.error_page(400, "Verification failed", exc.message)
    ctx.flash(f"Your email address {address} is verified. You can now create personal access tokens.")
    return ctx.redirect("/settings/emails" if signed_in else "/login")
