"""What the two token sections share: finding the signed-in user's own token, list rows, and
the page that shows a new secret once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from tokenforge.accounts.models import User
from tokenforge.authz.policy import decide
from tokenforge.authz.requirements import Access, Requirement, Target
from tokenforge.authz.subjects import Resource
from tokenforge.credentials.format import TokenKind
from tokenforge.errors import NotFound
from tokenforge.tokens.models import RevokedReason, Token
from tokenforge.tokens.services import IssuedToken, get_token, revoke_token
from tokenforge.web import present
from tokenforge.web.core import WebContext
from tokenforge.web.forms import parse_id

# A token's settings belong to its user alone: an ACCOUNT target, so decide() answers 404 (never
# 403) for anyone else's token, and its existence is not confirmed.
TOKEN_SETTINGS = Requirement(
    "token-settings:write", Target.ACCOUNT, Access.WRITE, authenticated=True, public_read=False
)

CLASSIC_LIST = "/settings/tokens"
FINE_GRAINED_LIST = "/settings/personal-access-tokens"
# Tokens per page of a list: a page is read with LIMIT/OFFSET, so an account with thousands of
# tokens (a CI fleet's) costs a page, not the list.
LIST_PAGE = 50


def owned_token(ctx: WebContext, session: Session, user: User, raw_id: str, kind: TokenKind) -> Token:
    """The user's live token of this kind with this id; NotFound for anything else."""
    token = get_token(session, parse_id(raw_id))
    resource = Resource(
        Target.ACCOUNT, owner_id=token.user_id, owner_login=token.user.login, public=False, name=f"token {token.id}"
    )
    if not decide(ctx.principal(user), resource, TOKEN_SETTINGS).allowed or token.kind != kind.value:
        raise NotFound(f"No token with id {token.id}")
    return token


def token_url(token: Token) -> str:
    base = CLASSIC_LIST if token.kind == TokenKind.CLASSIC.value else FINE_GRAINED_LIST
    return f"{base}/{token.id}"


@dataclass
class TokenRow:
    """One token as the lists and token pages show it (built inside the unit of work)."""

    id: int
    url: str
    name: str
    description: str
    scopes: list[str]
    last_used: str
    expiry: str
    expired: bool
    created: str
    recent_ips: list[str]
    owner: str = ""
    owner_is_org: bool = False
    approval: str = "approved"
    selection: str = "none"
    repositories: list[str] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)
    last_used_at: str = ""  # the exact time, for the token's own page ("" when never used)

    @property
    def summary(self) -> list[str]:
        return present.permission_summary(self.permissions)

    @property
    def grouped(self) -> list[tuple[str, list[tuple[str, str]]]]:
        return present.grouped_permissions(self.permissions)

    @property
    def repository_access(self) -> str:
        return present.repository_access(self.selection, self.repositories)


def row(token: Token, now: datetime) -> TokenRow:
    out = TokenRow(
        id=token.id,
        url=token_url(token),
        name=token.name,
        description=token.description or "",
        scopes=list(token.scope_list),
        last_used=present.last_used(token.last_used_at, now),
        expiry=present.expiry(token.expires_at, now),
        expired=present.is_expired(token.expires_at, now),
        created=present.timestamp(token.created_at),
        recent_ips=list(token.recent_ips or []),
        last_used_at="" if token.last_used_at is None else present.timestamp(token.last_used_at),
    )
    grant = token.grant
    if grant is not None:
        out.owner = grant.resource_owner.login
        out.owner_is_org = grant.resource_owner.is_organization
        out.approval = grant.approval
        out.selection = grant.repository_selection
        out.repositories = [r.full_name for r in sorted(grant.repositories, key=lambda r: r.name_key)]
        out.permissions = dict(grant.permissions)
    return out


def show_once(ctx: WebContext, issued: IssuedToken, *, regenerated: bool) -> HTMLResponse:
    """The only page that ever contains the secret: the POST's own response, never cached,
    never redirected to (so the secret is in no URL, no cookie and no log)."""
    token = issued.token
    return ctx.render(
        "token_created.html",
        {
            "secret": issued.secret,
            "name": token.name,
            "url": token_url(token),
            "list_url": CLASSIC_LIST if token.kind == TokenKind.CLASSIC.value else FINE_GRAINED_LIST,
            "regenerated": regenerated,
            "nav": "classic" if token.kind == TokenKind.CLASSIC.value else "fine_grained",
        },
    )


def delete_form(ctx: WebContext, raw_id: str, kind: TokenKind, nav: str) -> Response:
    """The confirmation page for deleting a token (either kind)."""
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        view = row(owned_token(ctx, session, user, raw_id, kind), ctx.now)
    return ctx.render("delete.html", {"token": view, "nav": nav})


def delete(ctx: WebContext, raw_id: str, kind: TokenKind, list_url: str) -> Response:
    """Delete a token (either kind) after sudo: it stops working at once, with its deploy keys."""
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        token = owned_token(ctx, session, user, raw_id, kind)
        ctx.require_sudo(user)
        name = token.name
        revoke_token(session, token=token, reason=RevokedReason.USER, now=ctx.now, actor=user, ip=ctx.ip)
    ctx.flash(f"Deleted personal access token “{name}”.")
    return ctx.redirect(list_url)
