"""Settings → Developer settings → Personal access tokens → Fine-grained tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from tokenforge.accounts.models import User
from tokenforge.credentials import permissions as perms
from tokenforge.credentials.format import TokenKind
from tokenforge.errors import TokenforgeError
from tokenforge.tokens.services import (
    create_fine_grained_token,
    regenerate_token,
    tokens_query,
    update_fine_grained_token,
)
from tokenforge.web.choices import OwnerChoice, RepoChoice, owner_choices, repository_choices
from tokenforge.web.core import MAX_FORM_BYTES, WebContext, WebRoute, context
from tokenforge.web.forms import (
    PERMISSION_PREFIX,
    Expiration,
    FineGrainedForm,
    default_expiration,
    errors_of,
    expiration_options,
)
from tokenforge.web.org_rows import pending_ask
from tokenforge.web.paging import page_number, page_of, pager
from tokenforge.web.present import GROUP_TITLES, level_label
from tokenforge.web.tokens import (
    FINE_GRAINED_LIST,
    LIST_PAGE,
    TokenRow,
    delete,
    delete_form,
    owned_token,
    row,
    show_once,
)

router = APIRouter(route_class=WebRoute, max_body_size=MAX_FORM_BYTES)

# The permission catalog as the form shows it: groups in GitHub's order, each permission with
# the levels it allows ("No access" is the empty value).
PERMISSION_GROUPS = [
    (group.value, title, [p for p in perms.CATALOG.values() if p.group is group])
    for group, title in GROUP_TITLES.items()
]


class Choices:
    """Resource owners and repositories offered to one user, with the selected owner's policy."""

    def __init__(self, session: Session, user: User, only: str | None = None) -> None:
        owners = owner_choices(session, user)
        if only is not None:
            # Editing: the owner is fixed. If the user may no longer choose it (left the
            # organization, which now forbids these tokens), show it anyway: the grant still names it.
            owners = [o for o in owners if o.login.lower() == only.lower()] or [
                OwnerChoice(only, is_org=True, org_owner=False, max_days=None, needs_approval=False)
            ]
        self.owners: list[OwnerChoice] = owners
        self.repositories: dict[str, list[RepoChoice]] = repository_choices(session, user, owners)

    def owner(self, login: str) -> OwnerChoice:
        for choice in self.owners:
            if choice.login.lower() == login.lower():
                return choice
        return self.owners[0]


def _form_page(
    ctx: WebContext,
    form: FineGrainedForm,
    choices: Choices,
    errors: dict[str, str],
    *,
    verified: bool = True,
    token: TokenRow | None = None,
    status: int = 200,
) -> Response:
    selected = choices.owner(form.owner or choices.owners[0].login)
    if not form.owner:
        form.owner = selected.login
    return ctx.render(
        "fine_grained_form.html",
        {
            "form": form,
            "errors": errors,
            "choices": choices,
            "selected": selected,
            "permission_groups": PERMISSION_GROUPS,
            "prefix": PERMISSION_PREFIX,
            "level_label": level_label,
            "mandatory": perms.MANDATORY,
            "expirations": expiration_options(ctx.now, selected.max_days),
            "verified": verified,
            "token": token,
            "nav": "fine_grained",
        },
        status=status,
    )


@router.get(FINE_GRAINED_LIST)
def fine_grained_list(request: Request) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        number = page_number(ctx.query("page"))
        tokens, more = page_of(session, tokens_query(user, TokenKind.FINE_GRAINED), number, LIST_PAGE)
        rows = [row(t, ctx.now) for t in tokens]
        values = {"tokens": rows, "pager": pager(request, number, has_next=more), "nav": "fine_grained"}
    return ctx.render("fine_grained_list.html", values)


@router.get(FINE_GRAINED_LIST + "/new")
def fine_grained_new(request: Request) -> Response:
    ctx = context(request)
    query = dict(request.query_params.items())
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        ctx.require_sudo(user)
        verified = user.has_verified_email
        choices = Choices(session, user)
    form, errors = FineGrainedForm.from_query(query, ctx.now)
    if form.owner and not any(o.login.lower() == form.owner.lower() for o in choices.owners):
        # GitHub's message for a target_name that is unknown or not yours to choose (spec §6.1).
        errors["resource_owner"] = f"Cannot find the specified resource owner: {form.owner[:100]}"
        form.owner = ""
    if "expires_in" not in query:
        form.expiration = default_expiration(choices.owner(form.owner or user.login).max_days)
    return _form_page(ctx, form, choices, errors, verified=verified)


@router.post(FINE_GRAINED_LIST + "/new")
def fine_grained_create(request: Request) -> Response:
    ctx = context(request)
    form = FineGrainedForm.from_fields(ctx.form)
    verified = True
    choices: Choices | None = None
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            ctx.require_sudo(user)
            verified = user.has_verified_email
            choices = Choices(session, user)
            issued = create_fine_grained_token(
                session,
                ctx.services.settings,
                user=user,
                name=form.name,
                description=form.description,
                resource_owner=form.resolve_owner(session),
                permissions=form.permissions,
                expires_at=form.expiration.resolve(ctx.now),
                repository_selection=form.selection_value(),
                repositories=form.resolve_repositories(session),
                justification=form.justification,
                now=ctx.now,
                ip=ctx.ip,
                mailer=ctx.state.mailer,
            )
    except TokenforgeError as exc:
        if choices is None:
            raise
        return _form_page(ctx, form, choices, errors_of(exc), verified=verified, status=422)
    return show_once(ctx, issued, regenerated=False)


@router.get(FINE_GRAINED_LIST + "/{token_id}")
def fine_grained_show(request: Request, token_id: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        token = owned_token(ctx, session, user, token_id, TokenKind.FINE_GRAINED)
        view = row(token, ctx.now)
        # A request for more access waits beside the approved grant, which keeps working.
        ask = pending_ask(session, token)
    return ctx.render("fine_grained_show.html", {"token": view, "ask": ask, "nav": "fine_grained"})


def _edit_form(view: TokenRow, repo_ids: list[str]) -> FineGrainedForm:
    return FineGrainedForm(
        name=view.name,
        description=view.description,
        owner=view.owner,
        selection=view.selection,
        repository_ids=repo_ids,
        permissions={k: v for k, v in view.permissions.items() if k not in perms.MANDATORY},
    )


@router.get(FINE_GRAINED_LIST + "/{token_id}/edit")
def fine_grained_edit(request: Request, token_id: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        token = owned_token(ctx, session, user, token_id, TokenKind.FINE_GRAINED)
        view = row(token, ctx.now)
        repo_ids = [str(r.id) for r in token.grant.repositories] if token.grant else []
        choices = Choices(session, user, only=view.owner)
    return _form_page(ctx, _edit_form(view, repo_ids), choices, {}, token=view)


@router.post(FINE_GRAINED_LIST + "/{token_id}")
def fine_grained_update(request: Request, token_id: str) -> Response:
    ctx = context(request)
    form = FineGrainedForm.from_fields(ctx.form)
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            token = owned_token(ctx, session, user, token_id, TokenKind.FINE_GRAINED)
            view = row(token, ctx.now)
            # The resource owner cannot change (the grant is tied to it); ignore whatever the
            # form claims, so a tampered field cannot move the token to another owner.
            form.owner = view.owner
            choices = Choices(session, user, only=view.owner)
            update_fine_grained_token(
                session,
                token=token,
                name=form.name,
                description=form.description,
                permissions=form.permissions,
                repository_selection=form.selection_value(),
                repositories=form.resolve_repositories(session),
                now=ctx.now,
                ip=ctx.ip,
            )
    except TokenforgeError as exc:
        if exc.field is None:
            raise
        return _form_page(ctx, form, choices, errors_of(exc), token=view, status=422)
    ctx.flash("Token updated.")
    return ctx.redirect(view.url)


def _regenerate_page(
    ctx: WebContext,
    view: TokenRow,
    max_days: int | None,
    expiration: Expiration,
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response:
    return ctx.render(
        "regenerate.html",
        {
            "token": view,
            "expiration": expiration,
            "expirations": expiration_options(ctx.now, max_days),
            "max_days": max_days,
            "errors": errors,
            "nav": "fine_grained",
        },
        status=status,
    )


def _owner_limit(session: Session, user: User, view: TokenRow) -> int | None:
    return Choices(session, user, only=view.owner).owner(view.owner).max_days


@router.get(FINE_GRAINED_LIST + "/{token_id}/regenerate")
def fine_grained_regenerate_form(request: Request, token_id: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        view = row(owned_token(ctx, session, user, token_id, TokenKind.FINE_GRAINED), ctx.now)
        ctx.require_sudo(user)
        max_days = _owner_limit(session, user, view)
    return _regenerate_page(ctx, view, max_days, default_expiration(max_days), {})


@router.post(FINE_GRAINED_LIST + "/{token_id}/regenerate")
def fine_grained_regenerate(request: Request, token_id: str) -> Response:
    ctx = context(request)
    expiration = Expiration(ctx.text("expiration"), ctx.text("expiration_date"))
    max_days: int | None = None
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            token = owned_token(ctx, session, user, token_id, TokenKind.FINE_GRAINED)
            view = row(token, ctx.now)
            ctx.require_sudo(user)
            max_days = _owner_limit(session, user, view)
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
        return _regenerate_page(ctx, view, max_days, expiration, errors_of(exc), status=422)
    return show_once(ctx, issued, regenerated=True)


@router.get(FINE_GRAINED_LIST + "/{token_id}/delete")
def fine_grained_delete_form(request: Request, token_id: str) -> Response:
    return delete_form(context(request), token_id, TokenKind.FINE_GRAINED, "fine_grained")


@router.post(FINE_GRAINED_LIST + "/{token_id}/delete")
def fine_grained_delete(request: Request, token_id: str) -> Response:
    return delete(context(request), token_id, TokenKind.FINE_GRAINED, FINE_GRAINED_LIST)
