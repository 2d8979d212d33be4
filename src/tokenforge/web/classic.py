"""Settings → Developer settings → Personal access tokens → Tokens (classic)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenforge.credentials import scopes as scope_catalog
from tokenforge.credentials.format import TokenKind
from tokenforge.errors import TokenforgeError
from tokenforge.tokens.services import (
    create_classic_token,
    regenerate_token,
    tokens_query,
    update_classic_token,
)
from tokenforge.web.core import MAX_FORM_BYTES, WebContext, WebRoute, context
from tokenforge.web.forms import ClassicForm, Expiration, errors_of, expiration_options
from tokenforge.web.paging import page_number, page_of, pager
from tokenforge.web.tokens import CLASSIC_LIST, LIST_PAGE, delete, delete_form, owned_token, row, show_once

router = APIRouter(route_class=WebRoute, max_body_size=MAX_FORM_BYTES)


def _form_page(
    ctx: WebContext, form: ClassicForm, errors: dict[str, str], *, verified: bool, status: int = 200
) -> Response:
    return ctx.render(
        "classic_new.html",
        {
            "form": form,
            "errors": errors,
            "groups": scope_catalog.GROUPS,
            "expirations": expiration_options(ctx.now, None),
            "verified": verified,
            "nav": "classic",
        },
        status=status,
    )


def _submitted(ctx: WebContext) -> ClassicForm:
    return ClassicForm(
        note=ctx.text("note"),
        scopes=ctx.texts("scopes"),
        expiration=Expiration(ctx.text("expiration"), ctx.text("expiration_date")),
    )


@router.get(CLASSIC_LIST)
def classic_list(request: Request) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        number = page_number(ctx.query("page"))
        tokens, more = page_of(session, tokens_query(user, TokenKind.CLASSIC), number, LIST_PAGE)
        rows = [row(t, ctx.now) for t in tokens]
        values = {"tokens": rows, "pager": pager(request, number, has_next=more), "nav": "classic"}
    return ctx.render("classic_list.html", values)


@router.get(CLASSIC_LIST + "/new")
def classic_new(request: Request) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        ctx.require_sudo(user)
        verified = user.has_verified_email
    form, errors = ClassicForm.from_query(ctx.query("scopes"), ctx.query("description"))
    return _form_page(ctx, form, errors, verified=verified)


@router.post(CLASSIC_LIST + "/new")
def classic_create(request: Request) -> Response:
    ctx = context(request)
    form = _submitted(ctx)
    verified = True
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            ctx.require_sudo(user)
            verified = user.has_verified_email
            issued = create_classic_token(
                session,
                ctx.services.settings,
                user=user,
                note=form.note,
                scopes=form.scopes,
                expires_at=form.expiration.resolve(ctx.now),
                now=ctx.now,
                ip=ctx.ip,
                mailer=ctx.state.mailer,
            )
    except TokenforgeError as exc:
        return _form_page(ctx, form, errors_of(exc), verified=verified, status=422)
    return show_once(ctx, issued, regenerated=False)


def _token_page(ctx: WebContext, token: Any, form: ClassicForm, errors: dict[str, str], status: int = 200) -> Response:
    return ctx.render(
        "classic_show.html",
        {"token": token, "form": form, "errors": errors, "groups": scope_catalog.GROUPS, "nav": "classic"},
        status=status,
    )


@router.get(CLASSIC_LIST + "/{token_id}")
def classic_show(request: Request, token_id: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        token = owned_token(ctx, session, user, token_id, TokenKind.CLASSIC)
        view = row(token, ctx.now)
    return _token_page(ctx, view, ClassicForm(note=view.name, scopes=view.scopes), {})


@router.post(CLASSIC_LIST + "/{token_id}")
def classic_update(request: Request, token_id: str) -> Response:
    ctx = context(request)
    form = _submitted(ctx)
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            token = owned_token(ctx, session, user, token_id, TokenKind.CLASSIC)
            view = row(token, ctx.now)
            update_classic_token(session, token=token, note=form.note, scopes=form.scopes, now=ctx.now, ip=ctx.ip)
    except TokenforgeError as exc:
        if exc.field is None:  # NotFound and the like: the wrapper's page
            raise
        return _token_page(ctx, view, form, errors_of(exc), status=422)
    ctx.flash("Token updated.")
    return ctx.redirect(view.url)


@router.get(CLASSIC_LIST + "/{token_id}/regenerate")
def classic_regenerate_form(request: Request, token_id: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        view = row(owned_token(ctx, session, user, token_id, TokenKind.CLASSIC), ctx.now)
        ctx.require_sudo(user)
    return _regenerate_page(ctx, view, Expiration(), {})


def _regenerate_page(
    ctx: WebContext, view: Any, expiration: Expiration, errors: dict[str, str], status: int = 200
) -> Response:
    return ctx.render(
        "regenerate.html",
        {
            "token": view,
            "expiration": expiration,
            "expirations": expiration_options(ctx.now, None),
            "errors": errors,
            "nav": "classic",
            "max_days": None,
        },
        status=status,
    )


@router.post(CLASSIC_LIST + "/{token_id}/regenerate")
def classic_regenerate(request: Request, token_id: str) -> Response:
    ctx = context(request)
    expiration = Expiration(ctx.text("expiration"), ctx.text("expiration_date"))
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            token = owned_token(ctx, session, user, token_id, TokenKind.CLASSIC)
            view = row(token, ctx.now)
            ctx.require_sudo(user)
            issued = regenerate_token(
                session,
                ctx.services.settings,
                token=token,
                expires_at=expiration.resolve(ctx.now),
                now=ctx.now,
                ip=ctx.ip,
                mailer=ctx.state.mailer,
            )
    except TokenforgeError as exc:
        if exc.field is None:
            raise
        return _regenerate_page(ctx, view, expiration, errors_of(exc), status=422)
    return show_once(ctx, issued, regenerated=True)


@router.get(CLASSIC_LIST + "/{token_id}/delete")
def classic_delete_form(request: Request, token_id: str) -> Response:
    return delete_form(context(request), token_id, TokenKind.CLASSIC, "classic")


@router.post(CLASSIC_LIST + "/{token_id}/delete")
def classic_delete(request: Request, token_id: str) -> Response:
    return delete(context(request), token_id, TokenKind.CLASSIC, CLASSIC_LIST)
