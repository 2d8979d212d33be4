"""What routes share: the declared requirement, authorization through ``decide``, pagination.

A route declares its requirement where it is defined::

    @router.post("/repos/{owner}/{repo}/issues", status_code=201)
    @requires(ISSUES_WRITE, resource="Issue")
    def create_issue(...):
        with unit_of_work(request) as session:
            repo = authorized_repo(request, session, owner, repo_name)

``authorized_repo`` (and ``authorize``) read the requirement from the route itself, so the
declaration and the check cannot drift apart, and a test walks every route to make sure each
one has a requirement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Path, Request
from sqlalchemy import Select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import User
from tokenforge.api.errors import ApiError
from tokenforge.api.middleware import ACCEPTED
from tokenforge.auth.middleware import authentication
from tokenforge.authz.policy import Decision, decide
from tokenforge.authz.requirements import Requirement
from tokenforge.authz.subjects import Anonymous, Principal, Resource
from tokenforge.db import count_rows
from tokenforge.repos.models import Repository
from tokenforge.repos.services import repository_resource

if TYPE_CHECKING:
    from tokenforge.app import Services

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

REQUIREMENT_ATTR = "requirement"


def requires(requirement: Requirement, *, resource: str = "Resource") -> Callable[[F], F]:
    """Declare what a route needs; ``resource`` names it in 422 ``errors[].resource``."""

    def mark(endpoint: F) -> F:
        endpoint.requirement = requirement  # type: ignore[attr-defined]
        endpoint.resource_name = resource  # type: ignore[attr-defined]
        return endpoint

    return mark


def requirement_of(request: Request) -> Requirement:
    requirement = getattr(request.scope.get("endpoint"), REQUIREMENT_ATTR, None)
    if requirement is None:  # the route test makes this unreachable; fail closed regardless
        raise ApiError(500, "Server Error")
    return requirement  # type: ignore[no-any-return]


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def principal(request: Request) -> Principal:
    return authentication(request.scope).principal


def user_id(request: Request) -> int | None:
    p = principal(request)
    return None if isinstance(p, Anonymous) else p.user_id


def current_user(request: Request, session: Session) -> User:
    """The token's user (the caller has authorized an authenticated requirement)."""
    uid = user_id(request)
    user = session.get(User, uid) if uid is not None else None
    if user is None:
        raise ApiError(401, "Requires authentication")
    return user


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    with services(request).db.unit_of_work() as session:
        yield session


def authorize(request: Request, resource: Resource, requirement: Requirement | None = None) -> Decision:
    """Decide, record the X-Accepted-* headers, and raise GitHub's error when denied."""
    return enforce(request, decide(principal(request), resource, requirement or requirement_of(request)))


def enforce(request: Request, decision: Decision) -> Decision:
    """Record the X-Accepted-* headers of a decision, and raise GitHub's error if it is a denial."""
    request.scope[ACCEPTED] = (decision.accepted_oauth_scopes, decision.accepted_github_permissions)
    if not decision.allowed:
        raise ApiError(decision.status, decision.message)
    return decision


RESOURCE = "tokenforge.resource"


def repo_resource(request: Request, session: Session, repo: Repository) -> Resource:
    cached: Resource | None = request.scope.get(RESOURCE)
    if cached is not None and cached.repo_id == repo.id:
        return cached  # what authorized_repo decided on: no second load
    return repository_resource(session, repo, user_id(request))


def authorized_resource(request: Request, owner: str, name: str, requirement: Requirement | None = None) -> Resource:
    """The decision without a database session: for routes that then read without the ORM."""
    needed = requirement or requirement_of(request)
    return _enforced(request, needed, services(request).repo_access.decide(principal(request), owner, name, needed))


async def authorized_resource_on_loop(request: Request, owner: str, name: str) -> Resource:
    """``authorized_resource`` for ``async`` routes: a cache miss's read is awaited."""
    needed = requirement_of(request)
    found = await services(request).repo_access.decide_on_loop(principal(request), owner, name, needed)
    return _enforced(request, needed, found)


def _enforced(request: Request, needed: Requirement, found: tuple[Resource, Decision] | None) -> Resource:
    if found is None:
        # Same answer as "exists but invisible": never confirm which private names exist.
        request.scope[ACCEPTED] = (", ".join(needed.classic_scopes(public=False)), needed.accepted_permissions)
        raise ApiError(404, "Not Found")
    resource, decision = found
    enforce(request, decision)
    request.scope[RESOURCE] = resource
    return resource


def authorized_repo(
    request: Request, session: Session, owner: str, name: str, requirement: Requirement | None = None
) -> Repository:
    """Decide from the cached access facts (one raw query on a miss, none on a hit); only an
    allowed request loads the repository row, by primary key, for the route to use."""
    resource = authorized_resource(request, owner, name, requirement)
    repo = session.get(Repository, resource.repo_id)
    if repo is None:  # deleted between the two reads
        raise ApiError(404, "Not Found")
    return repo


def can(request: Request, session: Session, repo: Repository, requirement: Requirement) -> bool:
    """For filtering lists: allowed or not, without raising and without touching headers."""
    return decide(principal(request), repo_resource(request, session, repo), requirement).allowed


# -- pagination ------------------------------------------------------------------------------

# Every id in a path: databases store 64-bit integers, and a larger number sent by a client must
# be "no such thing", not an overflow in the driver.
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
DEFAULT_PER_PAGE = 30


def page_params(request: Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(
                422, "Invalid request", errors=[{"resource": "Search", "field": name, "code": "invalid"}]
            ) from None

    per_page = min(max(number("per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    # Capped so OFFSET stays far inside a 64-bit integer; beyond it every page is empty anyway.
    page = min(max(number("page", 1), 1), MAX_PAGE)
    return page, per_page


def link_header(request: Request, page: int, per_page: int, total: int | None, *, more: bool = False) -> str | None:
    """RFC 8288 ``Link`` with GitHub's rels; absolute URLs from TOKENFORGE_BASE_URL.

    ``total`` None: the count is not known (a capped count ran over), so there is no ``last``;
    ``more`` then says whether a next page exists.
    """
    last = None if total is None else max(1, -(-total // per_page))
    base = services(request).settings.base_url + request.url.path
    params = {k: v for k, v in request.query_params.items() if k not in {"page", "per_page"}}

    def url(n: int) -> str:
        return f"{base}?{urlencode({**params, 'per_page': per_page, 'page': n})}"

    links = []
    if last is None:
        if more:
            links.append(f'<{url(page + 1)}>; rel="next"')
    elif page < last:
        links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        links += [f'<{url(1)}>; rel="first"', f'<{url(page - 1 if last is None else min(page - 1, last))}>; rel="prev"']
    return ", ".join(links) or None


def paginate_list(request: Request, items: Sequence[T]) -> tuple[list[T], dict[str, str]]:
    page, per_page = page_params(request)
    chunk = list(items[(page - 1) * per_page : page * per_page])
    link = link_header(request, page, per_page, len(items))
    return chunk, ({"Link": link} if link else {})


def paginate_query(
    request: Request, session: Session, query: Select[Any], *, count_cap: int | None = None
) -> tuple[list[Any], dict[str, str]]:
    """A page of ``query`` and its ``Link`` header. ``count_cap``: count at most that many rows;
    past it the header has no ``last`` (the total is unknown), only ``next`` while there is one."""
    page, per_page = page_params(request)
    rows = list(session.scalars(query.limit(per_page + 1).offset((page - 1) * per_page)))
    chunk, more = rows[:per_page], len(rows) > per_page
    counted = count_rows(session, query, cap=count_cap)
    total = None if count_cap is not None and counted > count_cap else counted
    link = link_header(request, page, per_page, total, more=more)
    return chunk, ({"Link": link} if link else {})
