"""Issues, pull requests and their comments: one function per state change, plus the reads the
API needs in bulk.

Services never commit and know nothing of HTTP. Authorization is decided before they are called
(the routes pick the requirement, ``authz.policy.decide`` decides), so nothing here checks who
may do what; what is here is what must hold whoever asks: valid input, numbers that never
collide, branches and diff positions that exist.

Numbers are allocated with one ``UPDATE repositories SET issue_counter = issue_counter + 1 …
RETURNING``: the row lock (PostgreSQL) or the database write lock (SQLite) serializes concurrent
allocations, and a rolled-back transaction gives its number back, so numbers are unique without
a retry loop. ``SELECT max(number) + 1`` would hand the same number to two concurrent requests.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from tokenforge.accounts.models import Account, Membership, Organization, User
from tokenforge.audit.services import record
from tokenforge.config import Settings
from tokenforge.errors import Invalid
from tokenforge.issues.models import Issue, IssueComment, Label, PullRequest, ReviewComment, issue_labels
from tokenforge.repos import storage
from tokenforge.repos.models import Collaborator, Repository
from tokenforge.repos.services import repo_path

# Database integers are 32-bit on PostgreSQL: anything larger cannot name a row, and binding it
# would raise in the driver (a 500), so lookups answer "not found" first.
MAX_ID = 2**31 - 1
TITLE_MAX = 256
BODY_MAX = 65536  # GitHub's limit for issue bodies and comments
LABEL_MAX = 50
LABELS_PER_ISSUE_MAX = 100
BRANCH_MAX = 255
STATE_REASONS = {"open": {"reopened"}, "closed": {"completed", "not_planned", "duplicate"}}


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # "leave as is", distinct from None ("clear") for nullable fields


# -- numbers and lookups ------------------------------------------------------------------------


def allocate_number(session: Session, repo: Repository) -> int:
    """The next issue/pull request number of ``repo`` (shared by both)."""
    number = session.execute(
        update(Repository)
        .where(Repository.id == repo.id)
        # updated_at is named so that its ``onupdate`` does not fire: opening an issue is not
        # a change to the repository's settings.
        .values(issue_counter=Repository.issue_counter + 1, updated_at=Repository.updated_at)
        .returning(Repository.issue_counter)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    session.expire(repo, ["issue_counter"])
    return int(number)


def _valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def find_issue(session: Session, repo: Repository, number: int) -> Issue | None:
    """The issue (or pull request) ``number`` of ``repo``."""
    if not _valid_id(number):
        return None
    return session.scalar(select(Issue).where(Issue.repo_id == repo.id, Issue.number == number))


def find_pull_request(session: Session, repo: Repository, number: int) -> Issue | None:
    """The issue half of pull request ``number``; None for a plain issue or no such number."""
    issue = find_issue(session, repo, number)
    return issue if issue is not None and issue.pull_request is not None else None


def find_comment(session: Session, repo: Repository, comment_id: int) -> IssueComment | None:
    if not _valid_id(comment_id):
        return None
    return session.scalar(select(IssueComment).where(IssueComment.id == comment_id, IssueComment.repo_id == repo.id))


def find_review_comment(
    session: Session, repo: Repository, comment_id: int, *, pull: Issue | None = None
) -> ReviewComment | None:
    if not _valid_id(comment_id):
        return None
    query = select(ReviewComment).where(ReviewComment.id == comment_id, ReviewComment.repo_id == repo.id)
    if pull is not None:
        query = query.where(ReviewComment.pull_issue_id == pull.id)
    return session.scalar(query)


# -- list queries ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssueFilters:
    """``GET /repos/{o}/{r}/issues`` parameters (GitHub's names and defaults)."""

    state: Literal["open", "closed", "all"] = "open"
    labels: tuple[str, ...] = ()  # every one of them (case-insensitive)
    sort: Literal["created", "updated", "comments"] = "created"
    direction: Literal["asc", "desc"] = "desc"
    since: datetime | None = None  # updated at or after
    creator: str | None = None
    # Nothing is ever assigned or given a milestone here, so these only decide between "all"
    # and "none" (see the route's docstring).
    nothing_matches: bool = False


def _comment_count() -> Select[int, int]:
    return select(IssueComment.issue_id, func.count().label("n")).group_by(IssueComment.issue_id)


def issues_query(repo: Repository, filters: IssueFilters, *, pulls_only: bool = False) -> Select[Issue]:
    # Labels and the pull request half are rendered for every row: load them per page, not per row.
    query = (
        select(Issue)
        .where(Issue.repo_id == repo.id)
        .options(selectinload(Issue.labels), selectinload(Issue.pull_request))
    )
    if pulls_only:
        query = query.join(PullRequest, PullRequest.issue_id == Issue.id)
    if filters.nothing_matches:
        query = query.where(Issue.id.is_(None))
    if filters.state != "all":
        query = query.where(Issue.state == filters.state)
    keys = {name.strip().lower() for name in filters.labels if name.strip()}
    if len(keys) > LABELS_PER_ISSUE_MAX:
        query = query.where(Issue.id.is_(None))  # no issue can carry them all
    elif keys:
        # One subquery for all of them (issues having every label), however many are asked for.
        having_all = (
            select(issue_labels.c.issue_id)
            .join(Label, Label.id == issue_labels.c.label_id)
            .where(Label.repo_id == repo.id, Label.name_key.in_(keys))
            .group_by(issue_labels.c.issue_id)
            .having(func.count() == len(keys))
        )
        query = query.where(Issue.id.in_(having_all))
    if filters.since is not None:
        query = query.where(Issue.updated_at >= filters.since)
    if filters.creator is not None:
        query = query.where(func.lower(Issue.author_login) == filters.creator.lower())
    if filters.sort == "comments":
        counts = _comment_count().subquery()
        query = query.outerjoin(counts, counts.c.issue_id == Issue.id)
        key: ColumnElement[Any] | InstrumentedAttribute[datetime] = func.coalesce(counts.c.n, 0)
    else:
        key = Issue.updated_at if filters.sort == "updated" else Issue.created_at
    # The id breaks ties so that pages never overlap or skip when timestamps are equal.
    if filters.direction == "asc":
        return query.order_by(key.asc(), Issue.id.asc())
    return query.order_by(key.desc(), Issue.id.desc())


@dataclass(frozen=True, slots=True)
class PullFilters:
    """``GET /repos/{o}/{r}/pulls`` parameters."""

    state: Literal["open", "closed", "all"] = "open"
    head: str | None = None  # "owner:branch" (or just the branch)
    base: str | None = None
    sort: Literal["created", "updated", "popularity", "long-running"] = "created"
    direction: Literal["asc", "desc"] | None = None


def pulls_query(repo: Repository, filters: PullFilters) -> Select[Issue]:
    query = issues_query(repo, IssueFilters(state=filters.state), pulls_only=True).order_by(None)
    if filters.head is not None:
        owner, sep, branch = filters.head.rpartition(":")
        if sep and owner.lower() != repo.owner.login.lower():
            query = query.where(Issue.id.is_(None))  # heads from other repositories: none here
        query = query.where(PullRequest.head_ref == branch)
    if filters.base is not None:
        query = query.where(PullRequest.base_ref == filters.base)
    # GitHub: descending for "created" (the default), ascending otherwise unless asked.
    direction = filters.direction or ("desc" if filters.sort == "created" else "asc")
    if filters.sort == "popularity":
        counts = _comment_count().subquery()
        query = query.outerjoin(counts, counts.c.issue_id == Issue.id)
        key: ColumnElement[Any] | InstrumentedAttribute[datetime] = func.coalesce(counts.c.n, 0)
    elif filters.sort == "updated":
        key = Issue.updated_at
    else:
        # "long-running" orders by age like "created": without activity data, age is the signal.
        key = Issue.created_at
    if direction == "asc":
        return query.order_by(key.asc(), Issue.id.asc())
    return query.order_by(key.desc(), Issue.id.desc())


def comments_query(
    issue: Issue, *, since: datetime | None = None, direction: Literal["asc", "desc"] = "asc"
) -> Select[IssueComment]:
    query = select(IssueComment).where(IssueComment.issue_id == issue.id)
    if since is not None:
        query = query.where(IssueComment.updated_at >= since)
    order = IssueComment.id.asc() if direction == "asc" else IssueComment.id.desc()
    return query.order_by(order)


def review_comments_query(
    pull: Issue,
    *,
    sort: Literal["created", "updated"] = "created",
    direction: Literal["asc", "desc"] = "asc",
    since: datetime | None = None,
) -> Select[ReviewComment]:
    query = select(ReviewComment).where(ReviewComment.pull_issue_id == pull.id)
    if since is not None:
        query = query.where(ReviewComment.updated_at >= since)
    key = ReviewComment.updated_at if sort == "updated" else ReviewComment.created_at
    if direction == "asc":
        return query.order_by(key.asc(), ReviewComment.id.asc())
    return query.order_by(key.desc(), ReviewComment.id.desc())


def comment_counts(session: Session, issue_ids: Collection[int]) -> dict[int, int]:
    """Conversation comments per issue, in one query (the ``comments`` field of a page)."""
    if not issue_ids:
        return {}
    rows = session.execute(_comment_count().where(IssueComment.issue_id.in_(issue_ids)))
    return {issue_id: int(n) for issue_id, n in rows}


def review_comment_counts(session: Session, issue_ids: Collection[int]) -> dict[int, int]:
    if not issue_ids:
        return {}
    rows = session.execute(
        select(ReviewComment.pull_issue_id, func.count())
        .where(ReviewComment.pull_issue_id.in_(issue_ids))
        .group_by(ReviewComment.pull_issue_id)
    )
    return {issue_id: int(n) for issue_id, n in rows}


def count_open_issues(session: Session, repo: Repository) -> int:
    """GitHub's ``open_issues_count``: open issues *and* open pull requests."""
    return session.scalar(select(func.count()).where(Issue.repo_id == repo.id, Issue.state == "open")) or 0


# -- people ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class People:
    """The accounts a page of issues or comments mentions, and their ``author_association``."""

    accounts: Mapping[int, Account] = field(default_factory=dict)
    associations: Mapping[int, str] = field(default_factory=dict)

    def association(self, user_id: int | None) -> str:
        return "NONE" if user_id is None else self.associations.get(user_id, "NONE")


def people(session: Session, repo: Repository, user_ids: Iterable[int | None]) -> People:
    """Load the accounts and their relation to ``repo`` in three queries, whatever the page size."""
    ids = {uid for uid in user_ids if uid is not None}
    if not ids:
        return People()
    accounts = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(ids)))}
    associations: dict[int, str] = {}
    collaborators = set(
        session.scalars(
            select(Collaborator.user_id).where(Collaborator.repo_id == repo.id, Collaborator.user_id.in_(ids))
        )
    )
    members: set[int] = set()
    if isinstance(repo.owner, Organization):
        members = set(
            session.scalars(
                select(Membership.user_id).where(Membership.org_id == repo.owner_id, Membership.user_id.in_(ids))
            )
        )
    for uid in ids:
        if uid == repo.owner_id:
            associations[uid] = "OWNER"
        elif uid in members:
            associations[uid] = "MEMBER"
        elif uid in collaborators:
            associations[uid] = "COLLABORATOR"
        else:
            associations[uid] = "NONE"
    return People(accounts, associations)


# -- labels ---------------------------------------------------------------------------------------


def _label_names(names: Sequence[str]) -> list[str]:
    """Validated, stripped, de-duplicated without regard to case (GitHub's label semantics)."""
    if len(names) > LABELS_PER_ISSUE_MAX:
        raise Invalid(f"An issue can have at most {LABELS_PER_ISSUE_MAX} labels", field="labels")
    seen: dict[str, str] = {}
    for raw in names:
        name = check_text(raw, "labels").strip()
        if not name:
            raise Invalid("Label names can't be blank", field="labels")
        if len(name) > LABEL_MAX:
            raise Invalid(f"Label names are at most {LABEL_MAX} characters", field="labels")
        if any(ord(c) < 32 for c in name):
            raise Invalid("Label names may not contain control characters", field="labels")
        seen.setdefault(name.lower(), name)
    return list(seen.values())


def resolve_labels(session: Session, repo: Repository, names: Sequence[str]) -> list[Label]:
    """The repository's labels with these names, creating the missing ones (as GitHub does when
    someone who may label names a label that does not exist yet).

    Creation is ``INSERT … ON CONFLICT DO NOTHING`` followed by a read: two requests inventing
    the same label at once both end up with the one row instead of one failing on the unique
    constraint. Savepoints would do the same but are unreliable on SQLite's driver.
    """
    wanted = _label_names(names)
    if not wanted:
        return []
    keys = [name.lower() for name in wanted]
    existing = {
        label.name_key
        for label in session.scalars(select(Label).where(Label.repo_id == repo.id, Label.name_key.in_(keys)))
    }
    missing = [
        {"repo_id": repo.id, "name": n, "name_key": n.lower(), "color": "ededed", "description": ""}
        for n in wanted
        if n.lower() not in existing
    ]
    if missing:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(Label).values(missing).on_conflict_do_nothing(index_elements=["repo_id", "name_key"]))
    by_key = {
        label.name_key: label
        for label in session.scalars(select(Label).where(Label.repo_id == repo.id, Label.name_key.in_(keys)))
    }
    return [by_key[key] for key in keys]


# -- issues ---------------------------------------------------------------------------------------


def check_text(value: str, field_name: str) -> str:
    """Refuse what no database column can hold: NUL (PostgreSQL rejects it) and lone surrogates
    (valid in JSON escapes, not encodable as UTF-8). Both would otherwise fail in the driver."""
    if "\0" in value:
        raise Invalid(f"{field_name} may not contain NUL characters", field=field_name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"{field_name} is not valid Unicode", field=field_name) from None
    return value


def _title(title: str) -> str:
    title = check_text(title, "title").strip()
    if not title:
        raise Invalid("title can't be blank", field="title")
    if len(title) > TITLE_MAX:
        raise Invalid(f"title is too long (maximum is {TITLE_MAX} characters)", field="title")
    return title


def _body(body: str | None, what: str = "body") -> str | None:
    if body is not None:
        check_text(body, what)
    if body is not None and len(body) > BODY_MAX:
        raise Invalid(f"{what} is too long (maximum is {BODY_MAX} characters)", field=what)
    return body


def create_issue(
    session: Session,
    *,
    repo: Repository,
    author: User,
    title: str,
    now: datetime,
    body: str | None = None,
    labels: Sequence[str] = (),
) -> Issue:
    """Open an issue. ``labels`` are applied (and created if missing); callers pass them only for
    people who may label."""
    title = _title(title)
    body = _body(body)
    label_rows = resolve_labels(session, repo, labels)
    issue = Issue(
        repo_id=repo.id,
        number=allocate_number(session, repo),
        title=title,
        body=body,
        state="open",
        author_id=author.id,
        author_login=author.login,
        created_at=now,
        updated_at=now,
    )
    issue.labels = label_rows
    session.add(issue)
    session.flush()
    return issue


def update_issue(
    session: Session,
    *,
    issue: Issue,
    actor: User,
    now: datetime,
    title: str | None = None,
    body: str | _Keep | None = KEEP,
    state: Literal["open", "closed"] | None = None,
    state_reason: str | _Keep | None = KEEP,
    labels: Sequence[str] | None = None,
) -> Issue:
    """Change an issue (or the issue half of a pull request). None/KEEP leave a field alone.

    Closing records who and when and defaults the reason to ``completed``; reopening clears
    them and sets ``reopened``, as GitHub reports it.
    """
    changed = False
    if title is not None:
        title = _title(title)
        changed |= title != issue.title
        issue.title = title
    if not isinstance(body, _Keep):
        _body(body)
        changed |= body != issue.body
        issue.body = body
    new_state = state or issue.state
    if (
        not isinstance(state_reason, _Keep)
        and state_reason is not None
        and state_reason not in STATE_REASONS[new_state]
    ):
        raise Invalid(f"state_reason '{state_reason}' does not apply to a {new_state} issue", field="state_reason")
    if state is not None and state != issue.state:
        changed = True
        issue.state = state
        if state == "closed":
            issue.closed_at, issue.closed_by_id = now, actor.id
            issue.state_reason = (
                "completed" if isinstance(state_reason, _Keep) or state_reason is None else state_reason
            )
        else:
            issue.closed_at, issue.closed_by_id = None, None
            issue.state_reason = "reopened"
    elif not isinstance(state_reason, _Keep) and state_reason is not None and state_reason != issue.state_reason:
        # Re-classifying a closed issue ("completed" → "not_planned") without reopening it.
        changed = True
        issue.state_reason = state_reason
    if labels is not None:
        rows = resolve_labels(session, issue_repo(session, issue), labels)
        if {label.id for label in rows} != {label.id for label in issue.labels}:
            changed = True
            issue.labels = rows
    if changed:
        issue.updated_at = now
    session.flush()
    return issue


def issue_repo(session: Session, issue: Issue) -> Repository:
    repo = session.get(Repository, issue.repo_id)
    assert repo is not None  # the foreign key guarantees it
    return repo


def create_comment(session: Session, *, issue: Issue, author: User, body: str, now: datetime) -> IssueComment:
    """Comment on an issue or a pull request's conversation; the issue counts as updated."""
    if not body.strip():
        raise Invalid("body can't be blank", field="body")
    _body(body)
    comment = IssueComment(
        issue_id=issue.id,
        repo_id=issue.repo_id,
        author_id=author.id,
        author_login=author.login,
        body=body,
        created_at=now,
        updated_at=now,
    )
    session.add(comment)
    issue.updated_at = now
    session.flush()
    return comment


def update_comment(session: Session, *, comment: IssueComment, body: str, now: datetime) -> IssueComment:
    if not body.strip():
        raise Invalid("body can't be blank", field="body")
    _body(body)
    if body != comment.body:
        comment.body = body
        comment.updated_at = now
    session.flush()
    return comment


def delete_comment(session: Session, *, comment: IssueComment, actor: User, now: datetime) -> None:
    """Delete a comment. Removing someone else's words is moderation, so it is audited (GitHub's
    audit log has ``issue_comment.destroy``); deleting your own is not worth an event."""
    if comment.author_id != actor.id:
        repo = session.get(Repository, comment.repo_id)
        record(
            session,
            "issue_comment.destroy",
            now=now,
            actor=actor,
            user=repo.owner if repo else None,
            repository=repo.full_name if repo else None,
            comment_id=comment.id,
            author=comment.author_login,
        )
    session.delete(comment)
    session.flush()


# -- git --------------------------------------------------------------------------------------------


def _git(settings: Settings, repo: Repository, *args: str, ok: Collection[int] = (0,)) -> tuple[int, str]:
    """Run git on the repository; (exit status, stdout decoded leniently).

    Not ``storage.run_git``: that one decodes strictly (a diff of a Latin-1 file would raise)
    and hides the exit status, which ``merge-tree`` uses to report conflicts. The environment is
    storage's, so the operator's git configuration is ignored the same way.
    """
    path = repo_path(settings, repo)
    try:
        done = subprocess.run(
            [settings.git_binary, f"--git-dir={path}", *args],
            capture_output=True,
            env=storage._env(),
            check=False,
        )
    except FileNotFoundError:
        raise storage.GitError(f"git executable not found: {settings.git_binary}") from None
    if done.returncode not in ok:
        raise storage.GitError(f"git {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.returncode, done.stdout.decode(errors="replace")


def branch_tips(settings: Settings, repo: Repository) -> dict[str, str]:
    """Every branch and the commit it points at, in one git call."""
    _, out = _git(settings, repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
    tips: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        tips[ref.removeprefix("refs/heads/")] = sha
    return tips


_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _ancestor(settings: Settings, repo: Repository, ancestor: str, descendant: str) -> bool:
    status, _ = _git(settings, repo, "merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1))
    return status == 0


@dataclass(frozen=True, slots=True)
class PullStats:
    """What GitHub shows only on a single pull request (they cost git work)."""

    commits: int
    additions: int
    deletions: int
    changed_files: int
    mergeable: bool | None


def pull_stats(settings: Settings, repo: Repository, base_sha: str, head_sha: str) -> PullStats:
    try:
        _, count = _git(settings, repo, "rev-list", "--count", f"{base_sha}..{head_sha}")
        _, numstat = _git(settings, repo, "diff", "--numstat", "--no-renames", f"{base_sha}...{head_sha}")
    except storage.GitError:
        return PullStats(0, 0, 0, 0, None)
    additions = deletions = files = 0
    for line in numstat.splitlines():
        added, deleted, _ = [*line.split("\t", 2), "", ""][:3]
        files += 1
        additions += int(added) if added.isdigit() else 0  # "-" for binary files
        deletions += int(deleted) if deleted.isdigit() else 0
    try:
        # Exit status 1 means "conflicts"; the merge result itself is written nowhere that
        # matters (an unreferenced tree object).
        status, _ = _git(settings, repo, "merge-tree", "--write-tree", "--no-messages", base_sha, head_sha, ok=(0, 1))
        mergeable: bool | None = status == 0
    except storage.GitError:
        mergeable = None  # a git without merge-tree --write-tree: "not yet computed", as GitHub says
    return PullStats(int(count.strip() or 0), additions, deletions, files, mergeable)


# -- pull requests ----------------------------------------------------------------------------------

_BRANCH_RE = re.compile(r"[^\x00-\x20\x7f~^:?*\[\\]+")


def _branch(name: str, field_name: str) -> str:
    """A plausible branch name, checked before it reaches git (never an option, never a range)."""
    if (
        not 0 < len(name) <= BRANCH_MAX
        or not _BRANCH_RE.fullmatch(name)
        or name.startswith(("-", "/", "."))
        or name.endswith(("/", ".", ".lock"))
        or ".." in name
        or "//" in name
        or "@{" in name
    ):
        raise Invalid(f"{field_name} is not a valid branch name", field=field_name)
    return name


def create_pull_request(
    session: Session,
    settings: Settings,
    *,
    repo: Repository,
    author: User,
    title: str,
    head: str,
    base: str,
    now: datetime,
    body: str | None = None,
    draft: bool = False,
) -> Issue:
    """Open a pull request from ``head`` into ``base``, two branches of ``repo``.

    ``head`` may be written ``owner:branch`` (GitHub's form for forks); the owner must be this
    repository's, since forks do not exist here. Refused like GitHub: an unknown branch, no
    commits between the two, or an open pull request for the same pair already.
    """
    title = _title(title)
    body = _body(body)
    owner, sep, head_branch = head.rpartition(":")
    if sep and owner.lower() != repo.owner.login.lower():
        raise Invalid("head must be a branch of this repository (forks are not supported)", field="head")
    head_branch = _branch(head_branch, "head")
    base = _branch(base, "base")
    tips = branch_tips(settings, repo)
    if base not in tips:
        raise Invalid(f"base branch '{base}' does not exist", field="base")
    if head_branch not in tips:
        raise Invalid(f"head branch '{head_branch}' does not exist", field="head")
    head_sha, base_sha = tips[head_branch], tips[base]
    if head_sha == base_sha or _ancestor(settings, repo, head_sha, base_sha):
        raise Invalid(f"No commits between {base} and {head_branch}")
    duplicate = session.scalar(
        select(Issue.number)
        .join(PullRequest, PullRequest.issue_id == Issue.id)
        .where(
            Issue.repo_id == repo.id,
            Issue.state == "open",
            PullRequest.head_ref == head_branch,
            PullRequest.base_ref == base,
        )
    )
    if duplicate is not None:
        raise Invalid(f"A pull request already exists for {repo.owner.login}:{head_branch}.")
    issue = Issue(
        repo_id=repo.id,
        number=allocate_number(session, repo),
        title=title,
        body=body,
        state="open",
        author_id=author.id,
        author_login=author.login,
        created_at=now,
        updated_at=now,
    )
    issue.pull_request = PullRequest(
        head_ref=head_branch, base_ref=base, head_sha=head_sha, base_sha=base_sha, draft=draft
    )
    session.add(issue)
    session.flush()
    return issue


def current_shas(issue: Issue, tips: Mapping[str, str]) -> tuple[str, str]:
    """(head, base) commits of a pull request: the branches' tips while it is open (a push moves
    them, as on GitHub), the recorded ones once it is closed or a branch is gone."""
    pr = issue.pull_request
    assert pr is not None
    if issue.state != "open":
        return pr.head_sha, pr.base_sha
    return tips.get(pr.head_ref, pr.head_sha), tips.get(pr.base_ref, pr.base_sha)


# -- diffs and review comments ---------------------------------------------------------------------

_HUNK_RE = re.compile(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a file's patch. ``position`` is GitHub's (deprecated) diff position: the
    first ``@@`` header is 0, every following line — later headers included — counts one."""

    position: int
    hunk_start: int  # position of the @@ header this line belongs to
    old: int | None  # line number on the LEFT side (None: added line or header)
    new: int | None  # line number on the RIGHT side (None: deleted line or header)


@dataclass(frozen=True, slots=True)
class FilePatch:
    lines: tuple[str, ...]  # from the first @@ header to the end
    entries: tuple[DiffLine, ...]

    def find(self, line: int, side: Literal["LEFT", "RIGHT"]) -> DiffLine | None:
        for entry in self.entries:
            if (entry.new if side == "RIGHT" else entry.old) == line:
                return entry
        return None

    def at_position(self, position: int) -> DiffLine | None:
        if 0 < position < len(self.entries) and (self.entries[position].old or self.entries[position].new):
            return self.entries[position]
        return None

    def hunk(self, entry: DiffLine) -> str:
        """GitHub's ``diff_hunk``: from the line's @@ header down to the line itself."""
        return "\n".join(self.lines[entry.hunk_start : entry.position + 1])


def parse_patch(text: str) -> FilePatch:
    """The hunks of a one-file ``git diff`` (everything before the first @@ is header)."""
    lines: list[str] = []
    entries: list[DiffLine] = []
    started = False
    old = new = hunk_start = 0
    # git ends the patch with a newline; what follows it is not a line.
    for raw in text.removesuffix("\n").split("\n"):
        match = _HUNK_RE.match(raw)
        if match:
            started = True
            old, new = int(match.group(1)), int(match.group(2))
            hunk_start = len(lines)
            entries.append(DiffLine(len(lines), hunk_start, None, None))
            lines.append(raw)
            continue
        if not started:
            continue
        if raw.startswith("+"):
            entries.append(DiffLine(len(lines), hunk_start, None, new))
            new += 1
        elif raw.startswith("-"):
            entries.append(DiffLine(len(lines), hunk_start, old, None))
            old += 1
        elif raw.startswith(" ") or raw == "":  # a context line ("" if trailing blanks were trimmed)
            entries.append(DiffLine(len(lines), hunk_start, old, new))
            old += 1
            new += 1
        else:  # "\ No newline at end of file": in the patch, on no side
            entries.append(DiffLine(len(lines), hunk_start, None, None))
        lines.append(raw)
    return FilePatch(tuple(lines), tuple(entries))


def file_patch(settings: Settings, repo: Repository, base_sha: str, commit: str, path: str) -> FilePatch | None:
    """The patch of ``path`` in the pull request's diff as of ``commit`` (``base...commit``, the
    three-dot diff GitHub shows); None when the file is not part of the diff.

    Renames are not followed: a renamed file appears as deleted under its old name and added
    under its new one, so every line of it can still be commented on.
    """
    _, names = _git(settings, repo, "diff", "--no-renames", "--name-only", "-z", f"{base_sha}...{commit}")
    if path not in names.split("\0"):
        return None
    _, text = _git(
        settings,
        repo,
        "diff",
        "--no-renames",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--unified=3",
        f"{base_sha}...{commit}",
        "--",
        f":(literal){path}",
    )
    return parse_patch(text)


Side = Literal["LEFT", "RIGHT"]


def create_review_comment(
    session: Session,
    settings: Settings,
    *,
    pull: Issue,
    author: User,
    body: str,
    commit_id: str,
    path: str,
    now: datetime,
    line: int | None = None,
    side: Side | None = None,
    start_line: int | None = None,
    start_side: Side | None = None,
    subject_type: Literal["line", "file"] = "line",
    position: int | None = None,
) -> ReviewComment:
    """Comment on a line (or a range of lines, or a whole file) of a pull request's diff.

    Validated as GitHub does: the commit must belong to the pull request, the path must be in
    its diff, and the line (on the given side) must be part of a hunk. Errors carry GitHub's
    ``pull_request_review_thread.*`` field names. ``position`` (deprecated) is accepted in place
    of ``line`` and converted.
    """
    pr = pull.pull_request
    assert pr is not None
    if not body.strip():
        raise Invalid("body can't be blank", field="body")
    _body(body)
    check_text(path, "path")
    repo = issue_repo(session, pull)
    commit_id = commit_id.strip().lower()
    if not _SHA_RE.fullmatch(commit_id):
        raise Invalid("commit_id is not a valid commit SHA", field="commit_id")
    tips = branch_tips(settings, repo)
    head_sha, base_sha = current_shas(pull, tips)
    # Part of the pull request: reachable from its head, not already in its base.
    try:
        in_pull = _ancestor(settings, repo, commit_id, head_sha) and not _ancestor(settings, repo, commit_id, base_sha)
    except storage.GitError:  # an unknown object
        in_pull = False
    if not in_pull:
        raise Invalid("commit_id is not part of the pull request", field="commit_id")
    patch = file_patch(settings, repo, base_sha, commit_id, path)
    if patch is None:
        raise Invalid("pull_request_review_thread.path could not be resolved", field="pull_request_review_thread.path")
    side = side or "RIGHT"
    if subject_type == "file":
        if line is not None or start_line is not None:
            raise Invalid("a file comment has no line", field="pull_request_review_thread.line")
        # GitHub's file-level comments carry a diff hunk too; the file's first hunk header is
        # the least surprising choice when there is no line to stop at.
        hunk = patch.lines[0] if patch.lines else ""
        return _add_review_comment(
            session, pull=pull, author=author, body=body, commit_id=commit_id, path=path, side=side,
            subject_type="file", diff_hunk=hunk, now=now,
        )  # fmt: skip
    if line is None and position is not None:
        located = patch.at_position(position)
        if located is None:
            raise Invalid("pull_request_review_thread.position is invalid", field="pull_request_review_thread.position")
        side = "RIGHT" if located.new is not None else "LEFT"
        line = located.new if located.new is not None else located.old
    if line is None:
        raise Invalid("line is required for a line comment", field="pull_request_review_thread.line")
    entry = patch.find(line, side)
    if entry is None:
        raise Invalid(
            "pull_request_review_thread.line must be part of the diff", field="pull_request_review_thread.line"
        )
    if start_line is not None:
        start_side = start_side or side
        start = patch.find(start_line, start_side)
        if start is None:
            raise Invalid(
                "pull_request_review_thread.start_line must be part of the diff",
                field="pull_request_review_thread.start_line",
            )
        if start.position >= entry.position:
            raise Invalid(
                "pull_request_review_thread.start_line must precede the end line.",
                field="pull_request_review_thread.start_line",
            )
        if start.hunk_start != entry.hunk_start:
            raise Invalid(
                "pull_request_review_thread.start_line must be part of the same hunk as the line.",
                field="pull_request_review_thread.start_line",
            )
    else:
        start_side = None
    return _add_review_comment(
        session, pull=pull, author=author, body=body, commit_id=commit_id, path=path, side=side, line=line,
        start_line=start_line, start_side=start_side, subject_type="line", diff_hunk=patch.hunk(entry), now=now,
    )  # fmt: skip


def _add_review_comment(
    session: Session,
    *,
    pull: Issue,
    author: User,
    body: str,
    commit_id: str,
    path: str,
    side: str,
    subject_type: str,
    diff_hunk: str,
    now: datetime,
    line: int | None = None,
    start_line: int | None = None,
    start_side: str | None = None,
    in_reply_to_id: int | None = None,
) -> ReviewComment:
    comment = ReviewComment(
        pull_issue_id=pull.id,
        repo_id=pull.repo_id,
        author_id=author.id,
        author_login=author.login,
        body=body,
        commit_id=commit_id,
        path=path,
        line=line,
        side=side,
        start_line=start_line,
        start_side=start_side,
        subject_type=subject_type,
        diff_hunk=diff_hunk,
        in_reply_to_id=in_reply_to_id,
        created_at=now,
        updated_at=now,
    )
    session.add(comment)
    pull.updated_at = now
    session.flush()
    return comment


def reply_to_review_comment(
    session: Session, *, pull: Issue, parent: ReviewComment, author: User, body: str, now: datetime
) -> ReviewComment:
    """Reply in ``parent``'s thread: same commit, path and lines. A reply to a reply joins the
    thread of the top-level comment (GitHub keeps threads one level deep)."""
    if not body.strip():
        raise Invalid("body can't be blank", field="body")
    _body(body)
    root = parent
    if parent.in_reply_to_id is not None:
        found = session.get(ReviewComment, parent.in_reply_to_id)
        root = found if found is not None else parent
    return _add_review_comment(
        session, pull=pull, author=author, body=body, commit_id=root.commit_id, path=root.path, side=root.side,
        line=root.line, start_line=root.start_line, start_side=root.start_side, subject_type=root.subject_type,
        diff_hunk=root.diff_hunk, in_reply_to_id=root.id, now=now,
    )  # fmt: skip
