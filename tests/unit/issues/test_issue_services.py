"""Issue and pull request services: numbering (shared, and safe under concurrency), labels,
validation, state changes, pull requests between branches, and review comments on the diff."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import factories
from tokenforge.accounts.models import User
from tokenforge.audit.models import AuditEvent
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.errors import Invalid
from tokenforge.issues import services as svc
from tokenforge.issues.models import Issue, Label
from tokenforge.repos import storage
from tokenforge.repos.models import Repository
from tokenforge.repos.services import repo_path

AUTHOR = ("alice", "alice@example.com")
LONG = "".join(f"line {n}\n" for n in range(1, 41))
# Two separate hunks: line 5 changed, line 30 changed (far apart with three lines of context).
LONG_CHANGED = LONG.replace("line 5\n", "line five\n").replace("line 30\n", "line thirty\n")


def _setup(session: Session, settings: Settings, now: datetime) -> tuple[User, Repository]:
    alice = factories.user(session, "alice", now)
    return alice, factories.repo(session, settings, alice, "app", now)


def _branches(settings: Settings, repo: Repository, now: datetime) -> dict[str, str]:
    path, git = repo_path(settings, repo), settings.git_binary

    def commit(branch: str, files: dict[str, str]) -> str:
        encoded = {k: v.encode() for k, v in files.items()}
        return storage.commit_files(git, path, branch=branch, files=encoded, message="c", author=AUTHOR, when=now)

    base = commit("main", {"long.txt": LONG, "gone.txt": "bye\n"})
    storage.run_git(git, path, "update-ref", "refs/heads/feature", base)
    first = commit("feature", {"long.txt": LONG_CHANGED, "gone.txt": "bye\n"})
    second = commit("feature", {"long.txt": LONG_CHANGED, "new.txt": "hello\n"})
    return {"main": base, "first": first, "feature": second}


def _pull(session: Session, settings: Settings, now: datetime) -> tuple[User, Issue, dict[str, str]]:
    alice, repo = _setup(session, settings, now)
    shas = _branches(settings, repo, now)
    pull = svc.create_pull_request(
        session, settings, repo=repo, author=alice, title="Change", head="feature", base="main", now=now
    )
    return alice, pull, shas


# -- numbers ----------------------------------------------------------------------------------------


def test_issues_and_pull_requests_share_one_sequence_per_repository(
    session: Session, settings: Settings, now: datetime
) -> None:
    alice, repo = _setup(session, settings, now)
    other = factories.repo(session, settings, alice, "other", now)
    _branches(settings, repo, now)
    first = svc.create_issue(session, repo=repo, author=alice, title="one", now=now)
    pull = svc.create_pull_request(
        session, settings, repo=repo, author=alice, title="two", head="feature", base="main", now=now
    )
    third = svc.create_issue(session, repo=repo, author=alice, title="three", now=now)
    assert (first.number, pull.number, third.number) == (1, 2, 3)
    assert svc.create_issue(session, repo=other, author=alice, title="elsewhere", now=now).number == 1
    assert svc.find_pull_request(session, repo, 2) is pull
    assert svc.find_pull_request(session, repo, 1) is None
    assert svc.find_issue(session, repo, 2**40) is None


def test_concurrent_allocations_never_collide(db: Database, settings: Settings, now: datetime) -> None:
    """Two transactions open issues (with the same new label) at once; each holds its transaction
    open after allocating. Both succeed, with different numbers and one label row."""
    with db.unit_of_work() as s:
        alice, repo = _setup(s, settings, now)
        ids = (alice.id, repo.id)
    barrier = threading.Barrier(2)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def open_issue() -> None:
        try:
            with db.unit_of_work() as s:
                author, target = s.get(User, ids[0]), s.get(Repository, ids[1])
                assert author is not None
                assert target is not None
                barrier.wait(timeout=10)
                issue = svc.create_issue(s, repo=target, author=author, title="race", labels=["Bug"], now=now)
                time.sleep(0.2)  # keep the transaction (and its lock) open while the other one runs
                numbers.append(issue.number)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_issue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(numbers) == [1, 2]
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Label)) == 1
        assert s.scalar(select(Repository.issue_counter).where(Repository.id == ids[1])) == 2


def test_a_rolled_back_allocation_leaves_no_gap(db: Database, settings: Settings, now: datetime) -> None:
    with db.unit_of_work() as s:
        alice, repo = _setup(s, settings, now)
        ids = (alice.id, repo.id)
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        svc.create_issue(s, repo=s.get(Repository, ids[1]), author=s.get(User, ids[0]), title="lost", now=now)  # type: ignore[arg-type]
        raise RuntimeError("the request fails later")
    with db.unit_of_work() as s:
        issue = svc.create_issue(s, repo=s.get(Repository, ids[1]), author=s.get(User, ids[0]), title="kept", now=now)  # type: ignore[arg-type]
        assert issue.number == 1


# -- labels and validation ------------------------------------------------------------------------


def test_labels_are_matched_without_case_and_created_once(session: Session, settings: Settings, now: datetime) -> None:
    alice, repo = _setup(session, settings, now)
    first = svc.create_issue(session, repo=repo, author=alice, title="a", labels=["Bug", " docs ", "bug"], now=now)
    assert [label.name for label in first.labels] == ["Bug", "docs"]
    second = svc.create_issue(session, repo=repo, author=alice, title="b", labels=["BUG"], now=now)
    assert second.labels[0].id == first.labels[0].id
    assert second.labels[0].name == "Bug"  # the existing spelling wins
    assert session.scalar(select(func.count()).select_from(Label)) == 2
    svc.update_issue(session, issue=first, actor=alice, now=now, labels=[])
    assert first.labels == []


@pytest.mark.parametrize(
    "labels", [[""], ["  "], ["x" * 51], ["a\tb"], ["nul\x00"], [f"l{n}" for n in range(101)], ["\ud800"]]
)
def test_invalid_labels(session: Session, settings: Settings, now: datetime, labels: list[str]) -> None:
    alice, repo = _setup(session, settings, now)
    with pytest.raises(Invalid) as caught:
        svc.create_issue(session, repo=repo, author=alice, title="t", labels=labels, now=now)
    assert caught.value.field == "labels"


@pytest.mark.parametrize(
    ("title", "body", "field"),
    [
        ("", None, "title"),
        ("   ", None, "title"),
        ("x" * 257, None, "title"),
        ("a\x00b", None, "title"),
        ("\udcff", None, "title"),
        ("ok", "x" * 65537, "body"),
        ("ok", "a\x00", "body"),
    ],
)
def test_invalid_issues(
    session: Session, settings: Settings, now: datetime, *, title: str, body: str | None, field: str
) -> None:
    alice, repo = _setup(session, settings, now)
    with pytest.raises(Invalid) as caught:
        svc.create_issue(session, repo=repo, author=alice, title=title, body=body, now=now)
    assert caught.value.field == field
    assert repo.issue_counter == 0  # validation comes before a number is taken


# -- state changes --------------------------------------------------------------------------------


def test_close_and_reopen(session: Session, settings: Settings, now: datetime) -> None:
    alice, repo = _setup(session, settings, now)
    bob = factories.user(session, "bob", now)
    issue = svc.create_issue(session, repo=repo, author=alice, title="t", body="b", now=now)
    later = now + timedelta(hours=1)
    svc.update_issue(session, issue=issue, actor=bob, now=later, state="closed")
    assert (issue.state, issue.state_reason, issue.closed_at, issue.closed_by_id) == (
        "closed",
        "completed",
        later,
        bob.id,
    )
    svc.update_issue(session, issue=issue, actor=bob, now=later, state_reason="not_planned")
    assert issue.state_reason == "not_planned"
    with pytest.raises(Invalid):
        svc.update_issue(session, issue=issue, actor=bob, now=later, state_reason="reopened")
    svc.update_issue(session, issue=issue, actor=alice, now=later, state="open")
    assert (issue.state, issue.state_reason, issue.closed_at, issue.closed_by_id) == ("open", "reopened", None, None)
    with pytest.raises(Invalid):
        svc.update_issue(session, issue=issue, actor=alice, now=later, state="closed", state_reason="reopened")
    svc.update_issue(session, issue=issue, actor=alice, now=later, body=None)
    assert issue.body is None
    unchanged = now + timedelta(days=1)
    svc.update_issue(session, issue=issue, actor=alice, now=unchanged, title="t")
    assert issue.updated_at == later  # nothing changed, nothing updated


def test_comments_touch_the_issue_and_moderation_is_audited(
    session: Session, settings: Settings, now: datetime
) -> None:
    alice, repo = _setup(session, settings, now)
    bob = factories.user(session, "bob", now)
    issue = svc.create_issue(session, repo=repo, author=alice, title="t", now=now)
    later = now + timedelta(minutes=5)
    own = svc.create_comment(session, issue=issue, author=alice, body="mine", now=later)
    theirs = svc.create_comment(session, issue=issue, author=bob, body="theirs", now=later)
    assert issue.updated_at == later
    assert svc.comment_counts(session, [issue.id]) == {issue.id: 2}
    with pytest.raises(Invalid):
        svc.create_comment(session, issue=issue, author=bob, body="  ", now=later)
    svc.update_comment(session, comment=theirs, body="edited", now=later + timedelta(minutes=1))
    assert theirs.updated_at == later + timedelta(minutes=1)
    svc.delete_comment(session, comment=own, actor=alice, now=later)
    svc.delete_comment(session, comment=theirs, actor=alice, now=later)
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "issue_comment.destroy")).all()
    assert [(e.actor_login, e.data["author"]) for e in events] == [("alice", "bob")]


def test_list_filters(session: Session, settings: Settings, now: datetime) -> None:
    alice, repo = _setup(session, settings, now)
    bob = factories.user(session, "bob", now)
    a = svc.create_issue(session, repo=repo, author=alice, title="a", labels=["bug", "ui"], now=now)
    b = svc.create_issue(session, repo=repo, author=bob, title="b", labels=["bug"], now=now)
    c = svc.create_issue(session, repo=repo, author=bob, title="c", now=now + timedelta(days=2))
    svc.create_comment(session, issue=b, author=alice, body="x", now=now)
    svc.update_issue(session, issue=a, actor=alice, now=now, state="closed")

    def numbers(**filters: object) -> list[int]:
        query = svc.issues_query(repo, svc.IssueFilters(**filters))  # type: ignore[arg-type]
        return [issue.number for issue in session.scalars(query)]

    assert numbers() == [c.number, b.number]
    assert numbers(state="all") == [3, 2, 1]
    assert numbers(state="all", labels=("BUG", "ui")) == [1]
    assert numbers(state="all", creator="BOB", direction="asc") == [2, 3]
    assert numbers(state="all", since=now + timedelta(days=1)) == [3]
    assert numbers(state="all", sort="comments")[0] == 2
    assert numbers(state="all", nothing_matches=True) == []


# -- pull requests ----------------------------------------------------------------------------------


def test_pull_request_records_both_branches(session: Session, settings: Settings, now: datetime) -> None:
    _, pull, shas = _pull(session, settings, now)
    pr = pull.pull_request
    assert pr is not None
    assert (pr.head_ref, pr.head_sha, pr.base_ref, pr.base_sha) == ("feature", shas["feature"], "main", shas["main"])
    stats = svc.pull_stats(settings, svc.issue_repo(session, pull), pr.base_sha, pr.head_sha)
    assert stats == svc.PullStats(commits=2, additions=3, deletions=3, changed_files=3, mergeable=True)


@pytest.mark.parametrize(
    ("head", "base", "field", "message"),
    [
        ("nope", "main", "head", None),
        ("feature", "nope", "base", None),
        ("bob:feature", "main", "head", None),
        ("main", "main", None, "No commits between main and main"),
        ("main", "feature", None, "No commits between feature and main"),
        ("--upload-pack=x", "main", "head", None),
        ("feature", "main~1", "base", None),
        ("refs/../x", "main", "head", None),
    ],
)
def test_pull_request_refusals(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    head: str,
    base: str,
    field: str | None,
    message: str | None,
) -> None:
    alice, repo = _setup(session, settings, now)
    _branches(settings, repo, now)
    with pytest.raises(Invalid) as caught:
        svc.create_pull_request(session, settings, repo=repo, author=alice, title="t", head=head, base=base, now=now)
    assert caught.value.field == field
    if message:
        assert caught.value.message == message


def test_one_open_pull_request_per_pair(session: Session, settings: Settings, now: datetime) -> None:
    alice, pull, _ = _pull(session, settings, now)
    repo = svc.issue_repo(session, pull)
    with pytest.raises(Invalid, match="already exists for alice:feature"):
        svc.create_pull_request(
            session, settings, repo=repo, author=alice, title="t", head="feature", base="main", now=now
        )
    svc.update_issue(session, issue=pull, actor=alice, now=now, state="closed")
    again = svc.create_pull_request(
        session, settings, repo=repo, author=alice, title="t", head="alice:feature", base="main", now=now
    )
    assert again.number == 2


# -- diffs and review comments --------------------------------------------------------------------

PATCH = """diff --git a/f b/f
index 1..2 100644
--- a/f
+++ b/f
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
@@ -10,2 +10,3 @@ def g():
 ten
+added
 eleven
\\ No newline at end of file
"""


def test_parse_patch_positions_and_hunks() -> None:
    patch = svc.parse_patch(PATCH)
    assert patch.lines[0] == "@@ -1,3 +1,3 @@"
    assert [(e.position, e.old, e.new) for e in patch.entries[:5]] == [
        (0, None, None),
        (1, 1, 1),
        (2, 2, None),
        (3, None, 2),
        (4, 3, 3),
    ]
    added = patch.find(11, "RIGHT")
    assert added is not None
    assert added.position == 7  # the second @@ header counts as a position, as on GitHub
    assert patch.hunk(added) == "@@ -10,2 +10,3 @@ def g():\n ten\n+added"
    removed = patch.find(2, "LEFT")
    assert removed is not None
    assert patch.hunk(removed) == "@@ -1,3 +1,3 @@\n one\n-two"
    assert patch.find(2, "RIGHT") == patch.entries[3]
    assert patch.find(5, "RIGHT") is None
    assert patch.at_position(0) is None
    assert patch.at_position(5) is None  # a header line
    assert patch.at_position(99) is None
    assert svc.parse_patch("Binary files a/x and b/x differ\n").entries == ()


def test_review_comments_on_lines_ranges_and_files(session: Session, settings: Settings, now: datetime) -> None:
    alice, pull, shas = _pull(session, settings, now)

    def comment(**kw: object) -> object:
        args: dict[str, object] = {"body": "b", "commit_id": shas["feature"], "path": "long.txt", "now": now, **kw}
        return svc.create_review_comment(session, settings, pull=pull, author=alice, **args)  # type: ignore[arg-type]

    on_five = comment(line=5)
    assert on_five.diff_hunk.splitlines()[-1] == "+line five"  # type: ignore[attr-defined]
    on_old = comment(line=5, side="LEFT")
    assert on_old.diff_hunk.splitlines()[-1] == "-line 5"  # type: ignore[attr-defined]
    by_position = comment(position=1)  # first line below the first @@: line 2 (context)
    assert (by_position.line, by_position.side) == (2, "RIGHT")  # type: ignore[attr-defined]
    ranged = comment(start_line=3, line=6)
    assert (ranged.start_line, ranged.start_side, ranged.line) == (3, "RIGHT", 6)  # type: ignore[attr-defined]
    whole = comment(path="gone.txt", subject_type="file")  # a deleted file is part of the diff
    assert (whole.subject_type, whole.line) == ("file", None)  # type: ignore[attr-defined]
    older = comment(commit_id=shas["first"], line=30)  # an earlier commit of the pull request
    assert older.commit_id == shas["first"]  # type: ignore[attr-defined]

    for kw, field in [
        ({"start_line": 5, "line": 31}, "pull_request_review_thread.start_line"),  # two hunks
        ({"start_line": 6, "line": 6}, "pull_request_review_thread.start_line"),
        ({"line": 20}, "pull_request_review_thread.line"),
        ({}, "pull_request_review_thread.line"),
        ({"position": 99}, "pull_request_review_thread.position"),
        ({"path": "new.txt", "commit_id": shas["first"], "line": 1}, "pull_request_review_thread.path"),
        ({"commit_id": shas["main"], "line": 5}, "commit_id"),
        ({"commit_id": "f" * 40, "line": 5}, "commit_id"),
        ({"commit_id": "HEAD", "line": 5}, "commit_id"),
    ]:
        with pytest.raises(Invalid) as caught:
            comment(**kw)
        assert caught.value.field == field, kw


def test_replies_join_the_thread_of_the_first_comment(session: Session, settings: Settings, now: datetime) -> None:
    alice, pull, shas = _pull(session, settings, now)
    bob = factories.user(session, "bob", now)
    first = svc.create_review_comment(
        session,
        settings,
        pull=pull,
        author=alice,
        body="b",
        commit_id=shas["feature"],
        path="long.txt",
        line=30,
        now=now,
    )
    reply = svc.reply_to_review_comment(session, pull=pull, parent=first, author=bob, body="r", now=now)
    nested = svc.reply_to_review_comment(session, pull=pull, parent=reply, author=alice, body="n", now=now)
    assert (reply.in_reply_to_id, nested.in_reply_to_id) == (first.id, first.id)
    assert (nested.path, nested.line, nested.diff_hunk) == ("long.txt", 30, first.diff_hunk)
    with pytest.raises(Invalid):
        svc.reply_to_review_comment(session, pull=pull, parent=first, author=bob, body=" ", now=now)
    assert svc.review_comment_counts(session, [pull.id]) == {pull.id: 3}
    people = svc.people(session, svc.issue_repo(session, pull), [alice.id, bob.id, None])
    assert (people.association(alice.id), people.association(bob.id), people.association(None)) == (
        "OWNER",
        "NONE",
        "NONE",
    )


def test_latin1_and_binary_files_in_the_diff(session: Session, settings: Settings, now: datetime) -> None:
    """git's output is not always UTF-8: a Latin-1 line is still commentable, a binary file only
    as a whole."""
    alice, repo = _setup(session, settings, now)
    path, git = repo_path(settings, repo), settings.git_binary
    base = storage.commit_files(git, path, branch="main", files={"a.txt": b"x\n"}, message="c", author=AUTHOR, when=now)
    storage.run_git(git, path, "update-ref", "refs/heads/feature", base)
    files = {"a.txt": b"x\n", "latin.txt": b"caf\xe9\n", "blob.bin": b"\x00\x01\x02"}
    head = storage.commit_files(git, path, branch="feature", files=files, message="c", author=AUTHOR, when=now)
    pull = svc.create_pull_request(
        session, settings, repo=repo, author=alice, title="t", head="feature", base="main", now=now
    )
    on_latin = svc.create_review_comment(
        session, settings, pull=pull, author=alice, body="b", commit_id=head, path="latin.txt", line=1, now=now
    )
    assert on_latin.diff_hunk.startswith("@@ -0,0 +1 @@\n+caf")
    whole = svc.create_review_comment(
        session, settings, pull=pull, author=alice, body="b", commit_id=head, path="blob.bin",
        subject_type="file", now=now,
    )  # fmt: skip
    assert whole.diff_hunk == ""
    with pytest.raises(Invalid) as caught:
        svc.create_review_comment(
            session, settings, pull=pull, author=alice, body="b", commit_id=head, path="blob.bin", line=1, now=now
        )
    assert caught.value.field == "pull_request_review_thread.line"


def test_asking_for_more_labels_than_an_issue_can_carry_matches_nothing(
    session: Session, settings: Settings, now: datetime
) -> None:
    alice, repo = _setup(session, settings, now)
    svc.create_issue(session, repo=repo, author=alice, title="a", labels=["l0"], now=now)
    many = tuple(f"l{n}" for n in range(101))
    assert list(session.scalars(svc.issues_query(repo, svc.IssueFilters(labels=many)))) == []
    assert len(list(session.scalars(svc.issues_query(repo, svc.IssueFilters(labels=("l0", " L0 ")))))) == 1
