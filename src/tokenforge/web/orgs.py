"""Organization settings → Personal access tokens (spec §5), for the organization's owners:
the token policy, the pending requests with approve / deny, and the active tokens with revoke.

Every page asks ``authz.policy.decide`` whether the signed-in user may do this to this
organization, naming the requirement the matching REST endpoint names. Anything but "allowed"
gets the page an unknown organization gets (404): a member or a stranger learns neither that
the page exists nor who may open it.

The paths are GitHub's. ``…/personal-access-token-requests`` is also printed by the demo and
linked from the owners' daily digest mail (jobs/maintenance.py), so it must not move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Organization, User
from tokenforge.authz.policy import decide
from tokenforge.authz.requirements import (
    ORG_ADMIN,
    ORG_TOKEN_REQUESTS_READ,
    ORG_TOKEN_REQUESTS_WRITE,
    ORG_TOKENS_READ,
    ORG_TOKENS_WRITE,
    Requirement,
)
from tokenforge.db import count_rows
from tokenforge.errors import NotFound, TokenforgeError, Unavailable
from tokenforge.orgs import review as org_review
from tokenforge.orgs.review import (
    Filters,
    active_grants,
    requests_query,
    review,
    revoke_grants,
    set_policy,
)
from tokenforge.orgs.services import get_org, org_resource, org_role
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import FineGrainedGrant, Token
from tokenforge.web.core import MAX_FORM_BYTES, WebContext, WebRoute, context, local_path
from tokenforge.web.org_forms import (
    Choice,
    GrantFilters,
    PolicyForm,
    errors_of,
    organization_permissions,
    review_choice,
    revoke_choice,
)
from tokenforge.web.org_rows import GrantRow, RequestRow, grant_rows, request_rows
from tokenforge.web.paging import keyset_page, page_number, page_of, pager

router = APIRouter(route_class=WebRoute, max_body_size=MAX_FORM_BYTES)

SETTINGS = "/organizations/{org}/settings"
POLICY = SETTINGS + "/personal-access-tokens"
ACTIVE = POLICY + "/active"
REQUESTS = SETTINGS + "/personal-access-token-requests"
PER_PAGE = 50
REPOSITORY_SUGGESTIONS = 100


@dataclass(frozen=True, slots=True)
class OrgHeader:
    """What every page of an organization's token settings shows above its content."""

    login: str
    pending: int

    @property
    def policy_url(self) -> str:
        return POLICY.format(org=self.login)

    @property
    def active_url(self) -> str:
        return ACTIVE.format(org=self.login)

    @property
    def requests_url(self) -> str:
        return REQUESTS.format(org=self.login)


def authorized_org(ctx: WebContext, session: Session, user: User, login: str, requirement: Requirement) -> Organization:
    """The organization, if the signed-in user may do ``requirement`` to it; NotFound otherwise."""
    org = get_org(session, login)
    resource = org_resource(org, org_role(session, org.id, user.id))
    if not decide(ctx.principal(user), resource, requirement).allowed:
        # decide() says 403 to a member (the role is too low); the page says 404 to everyone,
        # the same as for an organization that does not exist.
        raise NotFound(f"No organization named '{login}'")
    return org


def _header(session: Session, org: Organization) -> OrgHeader:
    # Counts exactly what the pending list shows, by index alone (tests/unit/orgs/test_org_review.py).
    return OrgHeader(org.login, org_review.pending_count(session, org))


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _retryable(exc: TokenforgeError, authorized: bool) -> bool:
    """Whether a service error belongs next to a field of an owner's form. Before the
    organization is authorized any error is the 404 page; a database outage is the 503 page."""
    return authorized and not isinstance(exc, Unavailable)


def _bulk(  # noqa: PLR0917 (the two bulk forms differ in exactly these)
    ctx: WebContext,
    org: str,
    write: Requirement,
    read: Requirement,
    field: str,
    error: str | None,
    act: Callable[[Session, User, Organization], list[tuple[str, str]]],
    again: Callable[[Session, Organization, dict[str, str]], Response],
) -> tuple[str, list[tuple[str, str]]] | Response:
    """An owner's bulk action on the review pages (approve/deny requests, revoke grants).

    ``act`` runs in one unit of work once the user may do ``write`` to the organization, unless
    the form itself was wrong (``error``). An error the owner can correct — the form's, or one the
    service raised after authorization — renders the page again (``again``, in a new unit of
    work, as someone who may ``read`` it) with the error next to ``field``; any other error
    propagates (404 before authorization, 503 for a database outage). Returns the organization's
    login and what ``act`` returned, or that page.
    """
    errors = {field: error} if error else {}
    done: list[tuple[str, str]] = []
    login = org
    authorized = False
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            organization = authorized_org(ctx, session, user, org, write)
            authorized = True
            if not errors:
                done = act(session, user, organization)
            login = organization.login
    except TokenforgeError as exc:
        if not _retryable(exc, authorized):
            raise
        errors = errors_of(exc, field)
    if errors:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            return again(session, authorized_org(ctx, session, user, org, read), errors)
    return login, done


@router.get(SETTINGS)
def org_settings(request: Request, org: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        organization = authorized_org(ctx, session, user, org, ORG_ADMIN)
        url = POLICY.format(org=organization.login)
    return ctx.redirect(url)


# -- the policy ---------------------------------------------------------------------------------


def _policy_page(
    ctx: WebContext, header: OrgHeader, form: PolicyForm, errors: dict[str, str], *, status: int = 200
) -> Response:
    return ctx.render(
        "org_policy.html", {"org": header, "form": form, "errors": errors, "nav": "org_policy"}, status=status
    )


@router.get(POLICY)
def policy_page(request: Request, org: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        organization = authorized_org(ctx, session, user, org, ORG_ADMIN)
        header = _header(session, organization)
        form = PolicyForm.of(organization)
    return _policy_page(ctx, header, form, {})


@router.post(POLICY)
def policy_save(request: Request, org: str) -> Response:
    ctx = context(request)
    form = PolicyForm.from_fields(ctx.form)
    arguments, errors = form.arguments()
    header: OrgHeader | None = None
    changes: dict[str, tuple[object, object]] = {}
    try:
        with ctx.unit_of_work() as session:
            user = ctx.require_user(session)
            organization = authorized_org(ctx, session, user, org, ORG_ADMIN)
            header = _header(session, organization)
            if not errors:
                changes = set_policy(session, org=organization, now=ctx.now, actor=user, ip=ctx.ip, **arguments)
    except TokenforgeError as exc:
        if header is None or not _retryable(exc, authorized=True):
            raise
        errors = errors_of(exc)
    assert header is not None
    if errors:
        return _policy_page(ctx, header, form, errors, status=422)
    # set_policy moved the access generation: every process applies it from the next request.
    ctx.flash("Personal access token policy saved." if changes else "Nothing changed.")
    return ctx.redirect(header.policy_url)


# -- pending requests -----------------------------------------------------------------------------


def _requests_page(
    ctx: WebContext,
    session: Session,
    org: Organization,
    *,
    errors: dict[str, str] | None = None,
    reason: str = "",
    selected: frozenset[int] = frozenset(),
    status: int = 200,
) -> Response:
    number = page_number(ctx.query("page"))
    shown, more = page_of(session, requests_query(org, Filters()), number, PER_PAGE)
    rows: list[RequestRow] = request_rows(session, org, shown, ctx.now)
    values = {
        "org": _header(session, org),
        "rows": rows,
        "pager": pager(ctx.request, number, has_next=more),
        "errors": errors or {},
        "reason": reason,
        "selected": selected,
        "nav": "org_requests",
    }
    return ctx.render("org_requests.html", values, status=status)


@router.get(REQUESTS)
def requests_page(request: Request, org: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        organization = authorized_org(ctx, session, user, org, ORG_TOKEN_REQUESTS_READ)
        return _requests_page(ctx, session, organization)


def _outcome(choice: Choice, reviewed: list[tuple[str, str]]) -> str:
    verb = "Approved" if choice.action == "approve" else "Denied"
    if len(reviewed) == 1:
        name, requester = reviewed[0]
        what = f"the request for “{name}” by {requester}"
    else:
        what = _plural(len(reviewed), "request")
    return f"{verb} {what}. The requester{'' if len(reviewed) == 1 else 's'} will be notified by email."


@router.post(REQUESTS)
def review_requests(request: Request, org: str) -> Response:
    ctx = context(request)
    choice = review_choice(ctx.form)
    reason = ctx.text("reason").strip()

    def act(session: Session, user: User, organization: Organization) -> list[tuple[str, str]]:
        done = review(
            session,
            org=organization,
            request_ids=choice.ids,
            approve=choice.action == "approve",
            reason=reason,
            now=ctx.now,
            actor=user,
            # Mailed after the commit, never for a review that rolled back.
            mailer=ctx.state.mailer,
            settings_url=ctx.services.settings.base_url,
            ip=ctx.ip,
        )
        return [(r.request.token.name, r.request.token.user.login) for r in done]

    def again(session: Session, organization: Organization, errors: dict[str, str]) -> Response:
        return _requests_page(
            ctx, session, organization, errors=errors, reason=reason, selected=frozenset(choice.ids), status=422
        )

    outcome = _bulk(ctx, org, ORG_TOKEN_REQUESTS_WRITE, ORG_TOKEN_REQUESTS_READ, "requests", choice.error, act, again)
    if isinstance(outcome, Response):
        return outcome
    login, reviewed = outcome
    ctx.flash(_outcome(choice, reviewed))
    return ctx.redirect(REQUESTS.format(org=login))


# -- active tokens -------------------------------------------------------------------------------------


def _active_page(
    ctx: WebContext,
    session: Session,
    org: Organization,
    *,
    errors: dict[str, str] | None = None,
    selected: frozenset[int] = frozenset(),
    status: int = 200,
) -> Response:
    entered = GrantFilters.parse(dict(ctx.request.query_params.items()))
    query = active_grants(session, org, entered.filters)  # every filter in SQL: a page costs a page, not the list
    # Keyset links: an organization's grants run to hundreds of thousands (paging.py).
    key = FineGrainedGrant.token_id
    grants, page_pager = keyset_page(ctx.request, session, query, key, PER_PAGE, joined=(Token.id,))
    shown: list[GrantRow] = grant_rows(session, org, grants, ctx.now)
    # Suggestions for the repository filter, not a list of every repository: an organization with
    # 100,000 of them made this page take half a second (docs/benchmarks.md, scale).
    repositories = list(
        session.scalars(
            select(Repository.name)
            .where(Repository.owner_id == org.id)
            .order_by(Repository.name_key)
            .limit(REPOSITORY_SUGGESTIONS)
        )
    )
    values = {
        "org": _header(session, org),
        "rows": shown,
        "total": count_rows(session, query, cap=org_review.COUNT_CAP),
        "count_cap": org_review.COUNT_CAP,
        "pager": page_pager,
        "filters": entered,
        "repositories": repositories,
        "permissions": organization_permissions(),
        "errors": {**entered.errors, **(errors or {})},
        "selected": selected,
        "action": local_path(ctx.request),
        "nav": "org_active",
    }
    return ctx.render("org_active.html", values, status=status)


@router.get(ACTIVE)
def active_page(request: Request, org: str) -> Response:
    ctx = context(request)
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        organization = authorized_org(ctx, session, user, org, ORG_TOKENS_READ)
        return _active_page(ctx, session, organization)


@router.post(ACTIVE)
def revoke_tokens(request: Request, org: str) -> Response:
    ctx = context(request)
    choice = revoke_choice(ctx.form)

    def act(session: Session, user: User, organization: Organization) -> list[tuple[str, str]]:
        # The grant stops working from the next request on (the access generation moves);
        # the token itself lives on and still reads public resources.
        done = revoke_grants(session, org=organization, token_ids=choice.ids, now=ctx.now, actor=user, ip=ctx.ip)
        return [(t.name, t.user.login) for t in done]

    def again(session: Session, organization: Organization, errors: dict[str, str]) -> Response:
        return _active_page(ctx, session, organization, errors=errors, selected=frozenset(choice.ids), status=422)

    outcome = _bulk(ctx, org, ORG_TOKENS_WRITE, ORG_TOKENS_READ, "tokens", choice.error, act, again)
    if isinstance(outcome, Response):
        return outcome
    login, revoked = outcome
    if len(revoked) == 1:
        ctx.flash(f"Revoked the access of “{revoked[0][0]}” ({revoked[0][1]}) to {login}.")
    else:
        ctx.flash(f"Revoked the access of {_plural(len(revoked), 'token')} to {login}.")
    # Back to the same filtered list (the form posts to the page's own path and query).
    return ctx.redirect(local_path(request))
