"""GitHub's JSON for issues, issue comments, pull requests and review comments (spec §9.3).

Field names are PyGithub's (``Issue``, ``IssueComment``, ``PullRequest``,
``PullRequestComment``). Every ``url`` is ``<base>/api/v3/repos/{owner}/{repo}/…`` exactly:
PyGithub builds follow-up calls on it (``issue.create_comment`` POSTs to ``{issue.url}/comments``,
``pull.create_review_comment`` to ``{pull.url}/comments``) and completes lazy objects by GETting
it. Fields for features Tokenforge does not have (assignees, milestones, reactions, reviews) are
present with GitHub's "nothing" values rather than missing, so clients never trigger a lazy GET
for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tokenforge.api.serializers import iso, node_id, simple_user
from tokenforge.config import Settings
from tokenforge.issues.models import Issue, IssueComment, Label, ReviewComment
from tokenforge.issues.services import People, PullStats
from tokenforge.repos.models import Repository

# GitHub shows deleted accounts as this placeholder user.
GHOST_ID = 10137


def user(user_id: int | None, people: People, settings: Settings) -> dict[str, Any]:
    account = people.accounts.get(user_id) if user_id is not None else None
    if account is None:
        return {
            "login": "ghost",
            "id": GHOST_ID,
            "node_id": node_id("User", GHOST_ID),
            "avatar_url": settings.web_url("/ghost.png"),
            "gravatar_id": "",
            "url": settings.api_url("/users/ghost"),
            "html_url": settings.web_url("/ghost"),
            "type": "User",
            "site_admin": False,
        }
    return simple_user(account, settings)


def _repo_api(repo: Repository, settings: Settings) -> str:
    return settings.api_url(f"/repos/{repo.owner.login}/{repo.name}")


def _repo_web(repo: Repository, settings: Settings) -> str:
    return settings.web_url(f"/{repo.owner.login}/{repo.name}")


def reactions(url: str) -> dict[str, Any]:
    return {
        "url": f"{url}/reactions",
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "hooray": 0,
        "confused": 0,
        "heart": 0,
        "rocket": 0,
        "eyes": 0,
    }


def label(row: Label, repo: Repository, settings: Settings) -> dict[str, Any]:
    return {
        "id": row.id,
        "node_id": node_id("Label", row.id),
        "url": f"{_repo_api(repo, settings)}/labels/{quote(row.name, safe='')}",
        "name": row.name,
        "color": row.color,
        "default": False,
        "description": row.description or None,
    }


def issue(row: Issue, *, repo: Repository, settings: Settings, people: People, comments: int) -> dict[str, Any]:
    repo_api = _repo_api(repo, settings)
    url = f"{repo_api}/issues/{row.number}"
    pr = row.pull_request
    html = f"{_repo_web(repo, settings)}/{'pull' if pr is not None else 'issues'}/{row.number}"
    out: dict[str, Any] = {
        "id": row.id,
        "node_id": node_id("Issue", row.id),
        "url": url,
        "repository_url": repo_api,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": html,
        "number": row.number,
        "state": row.state,
        "state_reason": row.state_reason,
        "title": row.title,
        "body": row.body,
        "user": user(row.author_id, people, settings),
        "labels": [label(item, repo, settings) for item in row.labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": row.locked,
        "active_lock_reason": None,
        "comments": comments,
        "closed_at": iso(row.closed_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "closed_by": user(row.closed_by_id, people, settings) if row.closed_by_id is not None else None,
        "author_association": people.association(row.author_id),
        "reactions": reactions(url),
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
        "type": None,
    }
    if pr is not None:
        out["draft"] = pr.draft
        out["pull_request"] = {
            "url": f"{repo_api}/pulls/{row.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": iso(pr.merged_at),
        }
    return out


def issue_comment(
    row: IssueComment, *, issue: Issue, repo: Repository, settings: Settings, people: People
) -> dict[str, Any]:
    repo_api = _repo_api(repo, settings)
    url = f"{repo_api}/issues/comments/{row.id}"
    page = "pull" if issue.pull_request is not None else "issues"
    return {
        "id": row.id,
        "node_id": node_id("IssueComment", row.id),
        "url": url,
        "html_url": f"{_repo_web(repo, settings)}/{page}/{issue.number}#issuecomment-{row.id}",
        "issue_url": f"{repo_api}/issues/{issue.number}",
        "body": row.body,
        "user": user(row.author_id, people, settings),
        "author_association": people.association(row.author_id),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "reactions": reactions(url),
        "performed_via_github_app": None,
    }


def _branch(
    ref: str, sha: str, *, repo: Repository, repo_json: Mapping[str, Any], settings: Settings
) -> dict[str, Any]:
    return {
        "label": f"{repo.owner.login}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": simple_user(repo.owner, settings),
        "repo": repo_json,
    }


def pull_request(
    row: Issue,
    *,
    repo: Repository,
    repo_json: Mapping[str, Any],
    settings: Settings,
    people: People,
    head_sha: str,
    base_sha: str,
    comments: int,
    review_comments: int,
    stats: PullStats | None = None,
) -> dict[str, Any]:
    """A pull request. ``stats`` (commits, diff size, mergeability) only for a single pull
    request, as GitHub leaves them out of lists."""
    pr = row.pull_request
    assert pr is not None
    repo_api = _repo_api(repo, settings)
    url = f"{repo_api}/pulls/{row.number}"
    issue_url = f"{repo_api}/issues/{row.number}"
    html = f"{_repo_web(repo, settings)}/pull/{row.number}"
    statuses = f"{repo_api}/statuses/{head_sha}"
    out: dict[str, Any] = {
        "url": url,
        "id": row.id,
        "node_id": node_id("PullRequest", row.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_url,
        "number": row.number,
        "state": row.state,
        "locked": row.locked,
        "title": row.title,
        "user": user(row.author_id, people, settings),
        "body": row.body,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "closed_at": iso(row.closed_at),
        "merged_at": iso(pr.merged_at),
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [label(item, repo, settings) for item in row.labels],
        "milestone": None,
        "draft": pr.draft,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{repo_api}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": statuses,
        "head": _branch(pr.head_ref, head_sha, repo=repo, repo_json=repo_json, settings=settings),
        "base": _branch(pr.base_ref, base_sha, repo=repo, repo_json=repo_json, settings=settings),
        "_links": {
            "self": {"href": url},
            "html": {"href": html},
            "issue": {"href": issue_url},
            "comments": {"href": f"{issue_url}/comments"},
            "review_comments": {"href": f"{url}/comments"},
            "review_comment": {"href": f"{repo_api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{url}/commits"},
            "statuses": {"href": statuses},
        },
        "author_association": people.association(row.author_id),
        "auto_merge": None,
        "active_lock_reason": None,
    }
    if stats is not None:
        states = {None: "unknown", True: "clean", False: "dirty"}
        state = "unknown" if pr.merged else states[stats.mergeable]
        out.update(
            {
                "merged": pr.merged,
                "mergeable": stats.mergeable,
                "rebaseable": stats.mergeable,
                "mergeable_state": "draft" if pr.draft and stats.mergeable else state,
                "merged_by": None,
                "comments": comments,
                "review_comments": review_comments,
                "maintainer_can_modify": False,
                "commits": stats.commits,
                "additions": stats.additions,
                "deletions": stats.deletions,
                "changed_files": stats.changed_files,
            }
        )
    return out


def review_comment(
    row: ReviewComment, *, number: int, repo: Repository, settings: Settings, people: People
) -> dict[str, Any]:
    """A pull request review comment. ``position`` is null (no column holds it; GitHub's field is
    deprecated in favour of ``line``/``side``) and so is ``pull_request_review_id`` (no reviews)."""
    repo_api = _repo_api(repo, settings)
    url = f"{repo_api}/pulls/comments/{row.id}"
    pull_url = f"{repo_api}/pulls/{number}"
    html = f"{_repo_web(repo, settings)}/pull/{number}#discussion_r{row.id}"
    out: dict[str, Any] = {
        "url": url,
        "pull_request_review_id": None,
        "id": row.id,
        "node_id": node_id("PullRequestReviewComment", row.id),
        "diff_hunk": row.diff_hunk,
        "path": row.path,
        "position": None,
        "original_position": None,
        "commit_id": row.commit_id,
        "original_commit_id": row.commit_id,
        "user": user(row.author_id, people, settings),
        "body": row.body,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "html_url": html,
        "pull_request_url": pull_url,
        "author_association": people.association(row.author_id),
        "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pull_url}},
        "reactions": reactions(url),
        "start_line": row.start_line,
        "original_start_line": row.start_line,
        "start_side": row.start_side,
        "line": row.line,
        "original_line": row.line,
        "side": row.side,
        "subject_type": row.subject_type,
    }
    if row.in_reply_to_id is not None:
        out["in_reply_to_id"] = row.in_reply_to_id
    return out
