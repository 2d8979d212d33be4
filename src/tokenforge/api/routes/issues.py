"""Issues and their conversation comments (pull requests' conversations included).

Who may do what is GitHub's, decided by ``decide`` with the requirement each case calls for:

* open an issue, comment: anyone who can read the repository (ISSUES_WRITE /
  ISSUE_COMMENTS_WRITE); labels given by someone who cannot triage are silently dropped, as
  GitHub documents ("Only users with push access can set labels for new issues");
* edit an issue: its author may change its title and body and close or reopen it; closing or
  reopening someone else's issue needs triage (ISSUES_TRIAGE); rewriting someone else's title or
  body needs write (ISSUES_MODERATE); label changes without triage are silently dropped;
* edit or delete a comment: its author, or write and above (ISSUE_COMMENTS_MODERATE).

Comments on a pull request accept ``issues`` or ``pull_requests`` permissions; on a plain
issue only ``issues`` (see ``_comment_requirement``).

``assignee``/``assignees``/``milestone``/``type`` are accepted and ignored: Tokenforge has no
assignees or milestones, so issues always show none (list filters treat them accordingly).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from tokenforge.api import serializers_issues as out
from tokenforge.api.context import (
    authorize,
    authorized_repo,
    can,
    current_user,
    link_header,
    page_params,
    paginate_query,
    repo_resource,
    requires,
    services,
    unit_of_work,
)
from tokenforge.api.errors import ApiError
from tokenforge.api.responses import GitHubJSON
from tokenforge.authz import requirements as req
from tokenforge.authz.requirements import Requirement
from tokenforge.errors import Invalid
from tokenforge.issues import services as issues
from tokenforge.issues.models import Issue, IssueComment
from tokenforge.repos.models import Repository

router = APIRouter()

REPO = "/repos/{owner}/{repo}"
Text = Annotated[str, Field(max_length=issues.BODY_MAX)]
LabelName = Annotated[str, Field(min_length=1, max_length=issues.LABEL_MAX)]
Filter = Annotated[str | None, Query(max_length=1000)]


class LabelObject(BaseModel):
    """GitHub also accepts labels as objects; only the name matters."""

    name: LabelName


LabelList = Annotated[list[LabelName | LabelObject], Field(max_length=issues.LABELS_PER_ISSUE_MAX)]


def _label_names(labels: list[str | LabelObject]) -> list[str]:
    return [item if isinstance(item, str) else item.name for item in labels]


class IssueCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # GitHub documents "string or integer" for the title (strictly: not true/false).
    title: Annotated[str, Field(min_length=1, max_length=issues.TITLE_MAX)] | StrictInt
    body: Text | None = None
    labels: LabelList | None = None
    assignee: Annotated[str, Field(max_length=100)] | None = None
    assignees: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=10)] | None = None
    milestone: int | Annotated[str, Field(max_length=100)] | None = None
    type: Annotated[str, Field(max_length=100)] | None = None


class IssueUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: Annotated[str, Field(min_length=1, max_length=issues.TITLE_MAX)] | StrictInt | None = None
    body: Text | None = None
    state: Literal["open", "closed"] | None = None
    state_reason: Literal["completed", "not_planned", "duplicate", "reopened"] | None = None
    labels: LabelList | None = None
    assignee: Annotated[str, Field(max_length=100)] | None = None
    assignees: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=10)] | None = None
    milestone: int | Annotated[str, Field(max_length=100)] | None = None
    type: Annotated[str, Field(max_length=100)] | None = None


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    body: Annotated[str, Field(min_length=1, max_length=issues.BODY_MAX)]


# -- helpers --------------------------------------------------------------------------------------


def parse_id(raw: str) -> int:
    """A number or id from the path; anything else names nothing (404, as GitHub answers)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not 0 < int(raw) <= issues.MAX_ID:
        raise ApiError(404, "Not Found")
    return int(raw)


def utc(moment: datetime | None) -> datetime | None:
    """``since`` without an offset means UTC (GitHub's timestamps are all UTC)."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past datetime.max in UTC
        raise ApiError(
            422, "Invalid request", errors=[{"resource": "Issue", "field": "since", "code": "invalid"}]
        ) from None


def repository(request: Request, session: Session, owner: str, name: str) -> Repository:
    """``authorized_repo`` for this module's routes, answering 404 for names no repository can
    have: a NUL (from ``%00`` in the path) would reach PostgreSQL and fail there."""
    if "\0" in owner or "\0" in name:
        raise ApiError(404, "Not Found")
    return authorized_repo(request, session, owner, name)


def check_filter(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return issues.check_text(value, name)
    except Invalid:
        raise ApiError(
            422, "Invalid request", errors=[{"resource": "Issue", "field": name, "code": "invalid"}]
        ) from None


def paginate(request: Request, session: Session, query: Select[Any]) -> tuple[list[Any], dict[str, str]]:
    """``paginate_query``, except that a page past any possible row is empty instead of an
    offset too large for the database driver (which would be a 500). Rows are numbered in 32
    bits, so no offset beyond that can find anything."""
    page, per_page = page_params(request)
    if (page - 1) * per_page <= issues.MAX_ID:
        return paginate_query(request, session, query)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    link = link_header(request, page, per_page, total)
    return [], ({"Link": link} if link else {})


def load_issue(session: Session, repo: Repository, raw_number: str) -> Issue:
    found = issues.find_issue(session, repo, parse_id(raw_number))
    if found is None:
        raise ApiError(404, "Not Found")
    return found


def _comment_requirement(issue: Issue, *, read: bool = False, moderate: bool = False) -> Requirement:
    """Which requirement a comment operation needs: ``pull_requests`` counts only on a pull
    request's conversation; someone else's comment needs write (moderation)."""
    on_pull = issue.pull_request is not None
    if read:
        return req.ISSUE_COMMENTS_READ if on_pull else req.ISSUES_READ
    if moderate:
        return req.ISSUE_COMMENTS_MODERATE if on_pull else req.ISSUES_MODERATE
    return req.ISSUE_COMMENTS_WRITE if on_pull else req.ISSUES_WRITE


def render_issues(request: Request, session: Session, repo: Repository, rows: list[Issue]) -> list[dict[str, Any]]:
    settings = services(request).settings
    ids = [row.id for row in rows]
    counts = issues.comment_counts(session, ids)
    people = issues.people(session, repo, [u for row in rows for u in (row.author_id, row.closed_by_id)])
    return [out.issue(row, repo=repo, settings=settings, people=people, comments=counts.get(row.id, 0)) for row in rows]


def render_comments(
    request: Request, session: Session, repo: Repository, issue: Issue, rows: list[IssueComment]
) -> list[dict[str, Any]]:
    settings = services(request).settings
    people = issues.people(session, repo, [row.author_id for row in rows])
    return [out.issue_comment(row, issue=issue, repo=repo, settings=settings, people=people) for row in rows]


# -- issues ---------------------------------------------------------------------------------------


@router.get(f"{REPO}/issues")
@requires(req.ISSUES_READ, resource="Issue")
def list_issues(
    request: Request,
    *,
    owner: str,
    repo: str,
    state: Literal["open", "closed", "all"] = "open",
    labels: Filter = None,
    sort: Literal["created", "updated", "comments"] = "created",
    direction: Literal["asc", "desc"] = "desc",
    since: datetime | None = None,
    creator: Filter = None,
    assignee: Filter = None,
    milestone: Filter = None,
) -> Response:
    """Issues and pull requests (the latter with a ``pull_request`` key), newest first.

    Nothing has an assignee or a milestone here: ``assignee=none``/``milestone=none`` match
    everything, any other value (a login, ``*``, a number) matches nothing.
    """
    names = tuple(n for n in (check_filter(labels, "labels") or "").split(",") if n.strip())
    filters = issues.IssueFilters(
        state=state,
        labels=names,
        sort=sort,
        direction=direction,
        since=utc(since),
        creator=check_filter(creator, "creator"),
        nothing_matches=any(value not in (None, "none") for value in (assignee, milestone)),
    )
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        rows, headers = paginate(request, session, issues.issues_query(found, filters))
        return GitHubJSON(render_issues(request, session, found, rows), headers=headers)


@router.post(f"{REPO}/issues", status_code=201)
@requires(req.ISSUES_WRITE, resource="Issue")
def create_issue(request: Request, *, owner: str, repo: str, data: IssueCreate) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        labels: list[str] = []
        if data.labels and can(request, session, found, req.ISSUES_TRIAGE):
            labels = _label_names(data.labels)
        issue = issues.create_issue(
            session,
            repo=found,
            author=current_user(request, session),
            title=str(data.title),
            body=data.body,
            labels=labels,
            now=svc.clock.now(),
        )
        return GitHubJSON(render_issues(request, session, found, [issue])[0], status_code=201)


@router.get(f"{REPO}/issues/comments/{{comment_id}}")
@requires(req.ISSUE_COMMENTS_READ, resource="IssueComment")
def get_comment(request: Request, *, owner: str, repo: str, comment_id: str) -> Response:
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        comment = issues.find_comment(session, found, parse_id(comment_id))
        if comment is None:
            raise ApiError(404, "Not Found")
        authorize(request, repo_resource(request, session, found), _comment_requirement(comment.issue, read=True))
        return GitHubJSON(render_comments(request, session, found, comment.issue, [comment])[0])


def _editable_comment(request: Request, session: Session, owner: str, repo: str, comment_id: str) -> IssueComment:
    """The comment, once the caller is allowed to change it (own, or moderation)."""
    found = repository(request, session, owner, repo)
    comment = issues.find_comment(session, found, parse_id(comment_id))
    if comment is None:
        raise ApiError(404, "Not Found")
    resource = repo_resource(request, session, found)
    authorize(request, resource, _comment_requirement(comment.issue))
    if comment.author_id != current_user(request, session).id:
        authorize(request, resource, _comment_requirement(comment.issue, moderate=True))
    return comment


@router.patch(f"{REPO}/issues/comments/{{comment_id}}")
@requires(req.ISSUE_COMMENTS_WRITE, resource="IssueComment")
def update_comment(request: Request, *, owner: str, repo: str, comment_id: str, body: CommentBody) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        comment = _editable_comment(request, session, owner, repo, comment_id)
        issues.update_comment(session, comment=comment, body=body.body, now=svc.clock.now())
        found = issues.issue_repo(session, comment.issue)
        return GitHubJSON(render_comments(request, session, found, comment.issue, [comment])[0])


@router.delete(f"{REPO}/issues/comments/{{comment_id}}", status_code=204)
@requires(req.ISSUE_COMMENTS_WRITE, resource="IssueComment")
def delete_comment(request: Request, *, owner: str, repo: str, comment_id: str) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        comment = _editable_comment(request, session, owner, repo, comment_id)
        issues.delete_comment(session, comment=comment, actor=current_user(request, session), now=svc.clock.now())
    return Response(status_code=204)


@router.get(f"{REPO}/issues/{{number}}")
@requires(req.ISSUES_READ, resource="Issue")
def get_issue(request: Request, *, owner: str, repo: str, number: str) -> Response:
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        issue = load_issue(session, found, number)
        return GitHubJSON(render_issues(request, session, found, [issue])[0])


@router.patch(f"{REPO}/issues/{{number}}")
@requires(req.ISSUES_WRITE, resource="Issue")
def update_issue(request: Request, *, owner: str, repo: str, number: str, data: IssueUpdate) -> Response:
    """Edit an issue (see the module docstring for who may change what).

    ``body: null`` clears the body; ``labels`` replaces the set (``[]`` clears it).
    """
    svc = services(request)
    given = data.model_fields_set
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        issue = load_issue(session, found, number)
        user = current_user(request, session)
        own = issue.author_id == user.id
        resource = repo_resource(request, session, found)
        if not own and (data.title is not None or "body" in given):
            authorize(request, resource, req.ISSUES_MODERATE)
        if not own and (data.state is not None or data.state_reason is not None):
            authorize(request, resource, req.ISSUES_TRIAGE)
        labels = None
        if data.labels is not None and can(request, session, found, req.ISSUES_TRIAGE):
            labels = _label_names(data.labels)
        issues.update_issue(
            session,
            issue=issue,
            actor=user,
            now=svc.clock.now(),
            title=None if data.title is None else str(data.title),
            body=data.body if "body" in given else issues.KEEP,
            state=data.state,
            state_reason=data.state_reason if "state_reason" in given else issues.KEEP,
            labels=labels,
        )
        return GitHubJSON(render_issues(request, session, found, [issue])[0])


# -- comments on one issue ------------------------------------------------------------------------


@router.get(f"{REPO}/issues/{{number}}/comments")
@requires(req.ISSUE_COMMENTS_READ, resource="IssueComment")
def list_comments(request: Request, *, owner: str, repo: str, number: str, since: datetime | None = None) -> Response:
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        issue = load_issue(session, found, number)
        authorize(request, repo_resource(request, session, found), _comment_requirement(issue, read=True))
        rows, headers = paginate(request, session, issues.comments_query(issue, since=utc(since)))
        return GitHubJSON(render_comments(request, session, found, issue, rows), headers=headers)


@router.post(f"{REPO}/issues/{{number}}/comments", status_code=201)
@requires(req.ISSUE_COMMENTS_WRITE, resource="IssueComment")
def create_comment(request: Request, *, owner: str, repo: str, number: str, body: CommentBody) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        issue = load_issue(session, found, number)
        authorize(request, repo_resource(request, session, found), _comment_requirement(issue))
        comment = issues.create_comment(
            session, issue=issue, author=current_user(request, session), body=body.body, now=svc.clock.now()
        )
        return GitHubJSON(render_comments(request, session, found, issue, [comment])[0], status_code=201)
