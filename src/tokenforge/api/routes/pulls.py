"""Pull requests between two branches of a repository, and their review comments.

Opening a pull request or commenting on its diff needs ``pull_requests: write`` (classic:
``public_repo``/``repo``) and, like on GitHub, only read access to the repository. Forks do not
exist here: ``head`` is a branch of the same repository (``owner:branch`` is accepted when the
owner is the repository's).

Simplifications, each visible to a client only as a field with GitHub's "unknown" value:
review comments have no review (``pull_request_review_id`` null) and no stored ``position``
(null; ``line``/``side`` carry the location); ``mergeable`` is computed with
``git merge-tree`` on single pull requests only, as GitHub leaves it out of lists. Converting an
issue into a pull request (``issue`` instead of ``title``) is not supported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from tokenforge.api import serializers
from tokenforge.api import serializers_issues as out
from tokenforge.api.context import (
    current_user,
    requires,
    services,
    unit_of_work,
)
from tokenforge.api.errors import ApiError, validation_failed
from tokenforge.api.responses import GitHubJSON
from tokenforge.api.routes.issues import (
    REPO,
    CommentBody,
    Filter,
    check_filter,
    paginate,
    parse_id,
    repository,
    utc,
)
from tokenforge.authz import requirements as req
from tokenforge.issues import services as issues
from tokenforge.issues.models import Issue, ReviewComment
from tokenforge.repos.models import Repository

router = APIRouter()

LineNumber = Annotated[int, Field(ge=1, le=issues.MAX_ID)]


class PullCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: Annotated[str, Field(min_length=1, max_length=issues.TITLE_MAX)] | None = None
    head: Annotated[str, Field(min_length=1, max_length=2 * issues.BRANCH_MAX)]
    base: Annotated[str, Field(min_length=1, max_length=issues.BRANCH_MAX)]
    head_repo: Annotated[str, Field(max_length=300)] | None = None
    body: Annotated[str, Field(max_length=issues.BODY_MAX)] | None = None
    draft: bool = False
    maintainer_can_modify: bool | None = None
    issue: int | None = None


class ReviewCommentCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    body: Annotated[str, Field(min_length=1, max_length=issues.BODY_MAX)]
    commit_id: Annotated[str, Field(max_length=64)] | None = None
    path: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    position: LineNumber | None = None
    line: LineNumber | None = None
    side: Literal["LEFT", "RIGHT"] | None = None
    start_line: LineNumber | None = None
    # PyGithub's own check also lets "side" through; it means "the same side as ``side``".
    start_side: Literal["LEFT", "RIGHT", "side"] | None = None
    in_reply_to: LineNumber | None = None
    subject_type: Literal["line", "file"] | None = None


# -- helpers --------------------------------------------------------------------------------------


def load_pull(session: Session, repo: Repository, raw_number: str) -> Issue:
    found = issues.find_pull_request(session, repo, parse_id(raw_number))
    if found is None:
        raise ApiError(404, "Not Found")
    return found


def render_pulls(
    request: Request, session: Session, repo: Repository, rows: list[Issue], *, single: bool = False
) -> list[dict[str, Any]]:
    settings = services(request).settings
    ids = [row.id for row in rows]
    people = issues.people(session, repo, [row.author_id for row in rows])
    comments = issues.comment_counts(session, ids) if single else {}
    reviews = issues.review_comment_counts(session, ids) if single else {}
    tips = issues.branch_tips(settings, repo) if rows else {}
    repo_json = serializers.repository(repo, settings)
    rendered = []
    for row in rows:
        head_sha, base_sha = issues.current_shas(row, tips)
        stats = issues.pull_stats(settings, repo, base_sha, head_sha) if single else None
        rendered.append(
            out.pull_request(
                row,
                repo=repo,
                repo_json=repo_json,
                settings=settings,
                people=people,
                head_sha=head_sha,
                base_sha=base_sha,
                comments=comments.get(row.id, 0),
                review_comments=reviews.get(row.id, 0),
                stats=stats,
            )
        )
    return rendered


def render_review_comments(
    request: Request, session: Session, repo: Repository, pull: Issue, rows: list[ReviewComment]
) -> list[dict[str, Any]]:
    settings = services(request).settings
    people = issues.people(session, repo, [row.author_id for row in rows])
    return [out.review_comment(row, number=pull.number, repo=repo, settings=settings, people=people) for row in rows]


# -- pull requests --------------------------------------------------------------------------------


@router.get(f"{REPO}/pulls")
@requires(req.PULLS_READ, resource="PullRequest")
def list_pulls(
    request: Request,
    *,
    owner: str,
    repo: str,
    state: Literal["open", "closed", "all"] = "open",
    head: Filter = None,
    base: Filter = None,
    sort: Literal["created", "updated", "popularity", "long-running"] = "created",
    direction: Literal["asc", "desc"] | None = None,
) -> Response:
    filters = issues.PullFilters(
        state=state,
        head=check_filter(head, "head"),
        base=check_filter(base, "base"),
        sort=sort,
        direction=direction,
    )
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        rows, headers = paginate(request, session, issues.pulls_query(found, filters))
        return GitHubJSON(render_pulls(request, session, found, rows), headers=headers)


@router.post(f"{REPO}/pulls", status_code=201)
@requires(req.PULLS_WRITE, resource="PullRequest")
def create_pull(request: Request, *, owner: str, repo: str, data: PullCreate) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        if data.title is None:
            if data.issue is not None:
                raise validation_failed("PullRequest", "issue", "custom", "Converting an issue is not supported")
            raise validation_failed("PullRequest", "title", "missing_field")
        if data.head_repo is not None and data.head_repo.lower() != found.full_name.lower():
            raise validation_failed("PullRequest", "head_repo", "invalid")
        pull = issues.create_pull_request(
            session,
            svc.settings,
            repo=found,
            author=current_user(request, session),
            title=data.title,
            head=data.head,
            base=data.base,
            body=data.body,
            draft=data.draft,
            now=svc.clock.now(),
        )
        return GitHubJSON(render_pulls(request, session, found, [pull], single=True)[0], status_code=201)


@router.get(f"{REPO}/pulls/comments/{{comment_id}}")
@requires(req.PULLS_READ, resource="PullRequestReviewComment")
def get_review_comment(request: Request, *, owner: str, repo: str, comment_id: str) -> Response:
    """One review comment: the ``url`` of every review comment, which PyGithub follows."""
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        comment = issues.find_review_comment(session, found, parse_id(comment_id))
        if comment is None:
            raise ApiError(404, "Not Found")
        pull = comment.pull_request.issue
        return GitHubJSON(render_review_comments(request, session, found, pull, [comment])[0])


@router.get(f"{REPO}/pulls/{{number}}")
@requires(req.PULLS_READ, resource="PullRequest")
def get_pull(request: Request, *, owner: str, repo: str, number: str) -> Response:
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        pull = load_pull(session, found, number)
        return GitHubJSON(render_pulls(request, session, found, [pull], single=True)[0])


# -- review comments ------------------------------------------------------------------------------


@router.get(f"{REPO}/pulls/{{number}}/comments")
@requires(req.PULLS_READ, resource="PullRequestReviewComment")
def list_review_comments(
    request: Request,
    *,
    owner: str,
    repo: str,
    number: str,
    sort: Literal["created", "updated"] = "created",
    direction: Literal["asc", "desc"] = "asc",
    since: datetime | None = None,
) -> Response:
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        pull = load_pull(session, found, number)
        query = issues.review_comments_query(pull, sort=sort, direction=direction, since=utc(since))
        rows, headers = paginate(request, session, query)
        return GitHubJSON(render_review_comments(request, session, found, pull, rows), headers=headers)


@router.post(f"{REPO}/pulls/{{number}}/comments", status_code=201)
@requires(req.PULLS_WRITE, resource="PullRequestReviewComment")
def create_review_comment(
    request: Request, *, owner: str, repo: str, number: str, data: ReviewCommentCreate
) -> Response:
    """A comment on the diff, or with ``in_reply_to`` a reply (GitHub then ignores everything
    but ``body``)."""
    svc = services(request)
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        pull = load_pull(session, found, number)
        author = current_user(request, session)
        if data.in_reply_to is not None:
            parent = issues.find_review_comment(session, found, data.in_reply_to, pull=pull)
            if parent is None:
                raise validation_failed("PullRequestReviewComment", "in_reply_to", "invalid")
            comment = issues.reply_to_review_comment(
                session, pull=pull, parent=parent, author=author, body=data.body, now=svc.clock.now()
            )
        else:
            if data.commit_id is None:
                raise validation_failed("PullRequestReviewComment", "commit_id", "missing_field")
            if data.path is None:
                raise validation_failed("PullRequestReviewComment", "path", "missing_field")
            comment = issues.create_review_comment(
                session,
                svc.settings,
                pull=pull,
                author=author,
                body=data.body,
                commit_id=data.commit_id,
                path=data.path,
                line=data.line,
                side=data.side,
                start_line=data.start_line,
                start_side=data.side if data.start_side == "side" else data.start_side,
                subject_type=data.subject_type or "line",
                position=data.position,
                now=svc.clock.now(),
            )
        return GitHubJSON(render_review_comments(request, session, found, pull, [comment])[0], status_code=201)


@router.post(f"{REPO}/pulls/{{number}}/comments/{{comment_id}}/replies", status_code=201)
@requires(req.PULLS_WRITE, resource="PullRequestReviewComment")
def reply_to_review_comment(
    request: Request, *, owner: str, repo: str, number: str, comment_id: str, data: CommentBody
) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = repository(request, session, owner, repo)
        pull = load_pull(session, found, number)
        parent = issues.find_review_comment(session, found, parse_id(comment_id), pull=pull)
        if parent is None:
            raise ApiError(404, "Not Found")
        comment = issues.reply_to_review_comment(
            session,
            pull=pull,
            parent=parent,
            author=current_user(request, session),
            body=data.body,
            now=svc.clock.now(),
        )
        return GitHubJSON(render_review_comments(request, session, found, pull, [comment])[0], status_code=201)
