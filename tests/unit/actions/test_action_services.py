"""Workflows from .github/workflows/, stable ids, refs, dispatch and run numbering."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import factories
from tokenforge.accounts.models import User
from tokenforge.actions import services
from tokenforge.actions.models import Workflow, WorkflowRun
from tokenforge.audit.models import AuditEvent
from tokenforge.config import Settings
from tokenforge.errors import Invalid, NotFound
from tokenforge.repos import storage
from tokenforge.repos.models import Repository
from tokenforge.repos.services import repo_path

CI = b"""name: CI  # the name shown in the UI
on:
  push:
    branches: [main]
  workflow_dispatch:
    inputs:
      environment:
        required: true
jobs:
  build:
    name: not the workflow's name
    runs-on: ubuntu-latest
"""
LINT = b"on: [push, pull_request]\njobs: {}\n"


def commit(
    settings: Settings,
    repo: Repository,
    files: Mapping[str, bytes],
    now: datetime,
    *,
    branch: str = "main",
    message: str = "change",
) -> str:
    return storage.commit_files(
        settings.git_binary,
        repo_path(settings, repo),
        branch=branch,
        files={"README.md": b"# app\n", **files},
        message=message,
        author=("Alice", "alice@example.com"),
        when=now,
    )


def git(settings: Settings, repo: Repository, *args: str) -> str:
    env = {"GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.com"}
    return storage.run_git(settings.git_binary, repo_path(settings, repo), *args, env=env)


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "events"),
    [
        ("name: CI\non: workflow_dispatch\n", "CI", {"workflow_dispatch"}),
        ("name: 'It''s CI' # note\non: [push, workflow_dispatch]\n", "It's CI", {"push", "workflow_dispatch"}),
        ('name: "Caf\\u00e9"\non: {push: {branches: [main]}, workflow_dispatch: {}}\n', "Café", None),
        (CI.decode(), "CI", {"push", "workflow_dispatch"}),
        ("on:\n- push\n- workflow_dispatch\nname: Build\n", "Build", {"push", "workflow_dispatch"}),
        ('"on":\n  "workflow_dispatch": {}\n', None, {"workflow_dispatch"}),
        ("'on': workflow_dispatch\n", None, {"workflow_dispatch"}),
        ("on: [push,\n  workflow_dispatch]\nname: >\n  Long\n  name\n", "Long name", {"push", "workflow_dispatch"}),
        ("name: C#sharp # comment\non: push\n", "C#sharp", {"push"}),
        ("\ufeffname: X\non: workflow_dispatch\n", "X", {"workflow_dispatch"}),
        # workflow_dispatch somewhere below the trigger level does not count
        ("on:\n  push:\n    paths:\n      - workflow_dispatch\n", None, {"push"}),
        ("on: push\njobs:\n  a:\n    name: not-it\n", None, {"push"}),
        ("on: push # workflow_dispatch\n", None, {"push"}),
        ("\x00\x01:::\n- - -\n{[}]\n", None, set()),
        ("", None, set()),
    ],
)
def test_parse_workflow(text: str, name: str | None, events: set[str] | None) -> None:
    parsed_name, parsed_events = services.parse_workflow(text)
    assert parsed_name == name
    assert parsed_events == (events if events is not None else {"push", "workflow_dispatch"})


# -- discovery and stable ids ----------------------------------------------------------------


def test_an_empty_repository_has_no_workflows(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "empty", now)
    assert services.sync_workflows(session, settings, repo, now=now) == []


def test_discovery_and_stable_ids(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now)
    commit(
        settings,
        repo,
        {
            ".github/workflows/ci.yml": CI,
            ".github/workflows/lint.yaml": LINT,
            ".github/workflows/notes.txt": b"not a workflow",
            ".github/workflows/nested/deep.yml": CI,  # GitHub reads the directory itself only
            "other/.github/workflows/x.yml": CI,
        },
        now,
    )
    first = services.sync_workflows(session, settings, repo, now=now)
    assert [(w.path, w.name, w.state) for w in first] == [
        (".github/workflows/ci.yml", "CI", "active"),
        (".github/workflows/lint.yaml", ".github/workflows/lint.yaml", "active"),  # no name: the path
    ]
    ci_id, lint_id = (w.id for w in first)
    session.commit()

    # Later: lint removed, deploy added, CI renamed. Ids follow paths, never positions.
    later = now + timedelta(hours=1)
    commit(
        settings,
        repo,
        {".github/workflows/ci.yml": CI.replace(b"name: CI", b"name: Build"), ".github/workflows/deploy.yml": LINT},
        later,
    )
    second = services.sync_workflows(session, settings, repo, now=later)
    assert [(w.path, w.name) for w in second] == [
        (".github/workflows/ci.yml", "Build"),
        (".github/workflows/deploy.yml", ".github/workflows/deploy.yml"),
    ]
    assert second[0].id == ci_id
    assert second[0].updated_at == later
    assert second[0].created_at == now
    assert second[1].id not in (ci_id, lint_id)

    # The removed workflow keeps its id and is still found by it, as "deleted".
    known = services.find_workflow(session, settings, repo, str(lint_id), now=later)
    assert (known.row.id, known.present, known.state) == (lint_id, False, "deleted")
    with pytest.raises(NotFound):
        services.find_workflow(session, settings, repo, "lint.yaml", now=later)

    # And it comes back under the same id.
    commit(settings, repo, {".github/workflows/ci.yml": CI, ".github/workflows/lint.yaml": LINT}, later)
    assert [w.id for w in services.sync_workflows(session, settings, repo, now=later)] == [ci_id, lint_id]
    assert session.scalar(select(Workflow.id).where(Workflow.repo_id == repo.id).order_by(Workflow.id.desc())) == (
        second[1].id
    )


def test_unreadable_and_unusual_files(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now)
    commit(
        settings,
        repo,
        {
            ".github/workflows/binary.yml": b"name: \xff\xfe\non: workflow_dispatch\n",  # not UTF-8
            ".github/workflows/déploiement.yml": b"name: D\xc3\xa9ploiement\non: push\n",
            '.github/workflows/we"ird\\name.yml': b"name: Weird\n",
            ".github/workflows/big.yml": b"name: Big\n" + b"#" * (services.MAX_WORKFLOW_BYTES + 1),
        },
        now,
    )
    found = {w.path: w.name for w in services.sync_workflows(session, settings, repo, now=now)}
    assert found == {
        ".github/workflows/big.yml": ".github/workflows/big.yml",
        ".github/workflows/binary.yml": ".github/workflows/binary.yml",
        ".github/workflows/déploiement.yml": "Déploiement",
        '.github/workflows/we"ird\\name.yml': "Weird",
    }
    assert services.find_workflow(session, settings, repo, "déploiement.yml", now=now).present


def test_find_workflow(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now)
    other = factories.repo(session, settings, alice, "other", now)
    commit(settings, repo, {".github/workflows/ci.yml": CI}, now)
    commit(settings, other, {".github/workflows/ci.yml": CI}, now)
    (ci,) = services.sync_workflows(session, settings, repo, now=now)
    (other_ci,) = services.sync_workflows(session, settings, other, now=now)
    assert services.find_workflow(session, settings, repo, "ci.yml", now=now).row is ci
    assert services.find_workflow(session, settings, repo, str(ci.id), now=now).row is ci
    for missing in (str(other_ci.id), "nope.yml", ".github/workflows/ci.yml", "0", "99999999999", "1e3", "²"):
        with pytest.raises(NotFound):
            services.find_workflow(session, settings, repo, missing, now=now)


# -- refs ------------------------------------------------------------------------------------


def test_resolve_ref(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now)
    first = commit(settings, repo, {}, now)
    second = commit(settings, repo, {"a": b"a"}, now)
    feature = commit(settings, repo, {"b": b"b"}, now, branch="feature/x")
    git(settings, repo, "tag", "-a", "v1.0", "-m", "release", first)  # annotated
    git(settings, repo, "update-ref", "refs/tags/light", second)  # lightweight
    tree = git(settings, repo, "rev-parse", f"{second}^{{tree}}")
    git(settings, repo, "update-ref", "refs/tags/tree-tag", tree)
    git(settings, repo, "update-ref", "refs/tags/main", first)  # same name as the branch

    def resolve(ref: str) -> tuple[str, str, str] | None:
        found = services.resolve_ref(settings, repo, ref)
        return None if found is None else (found.ref, found.name, found.sha)

    assert resolve("main") == ("refs/heads/main", "main", second)  # the branch wins
    assert resolve("refs/tags/main") == ("refs/tags/main", "main", first)
    assert resolve("refs/heads/main") == ("refs/heads/main", "main", second)
    assert resolve("feature/x") == ("refs/heads/feature/x", "feature/x", feature)
    assert resolve("v1.0") == ("refs/tags/v1.0", "v1.0", first)  # peeled to the commit
    assert resolve("light") == ("refs/tags/light", "light", second)
    for refused in (
        "tree-tag",  # not a commit
        "nope",
        second,  # a SHA is not a ref
        "main~1",
        "main^",
        "main^{tree}",
        "main@{1}",
        "HEAD",
        "-main",
        "--all",
        "feature/../main",
        "refs/remotes/x",
        "main:README.md",
        "mai*",
        "main\x00",
        "",
        "x" * 300,
    ):
        assert resolve(refused) is None, refused


# -- dispatch --------------------------------------------------------------------------------


def _dispatch(
    session: Session,
    settings: Settings,
    repo: Repository,
    workflow: Workflow,
    actor: User,
    *,
    now: datetime,
    ref: str = "main",
    inputs: Mapping[str, services.InputValue] | None = None,
) -> WorkflowRun:
    return services.dispatch_workflow(
        session,
        settings,
        repo=repo,
        workflow=workflow,
        ref=ref,
        inputs=inputs or {},
        actor=actor,
        token=None,
        now=now,
    )


def test_dispatch_records_numbered_runs(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    acme = factories.org(session, "acme", alice, now)
    repo = factories.repo(session, settings, acme, "app", now, private=True)
    head = commit(settings, repo, {".github/workflows/ci.yml": CI, ".github/workflows/other.yml": CI}, now)
    git(settings, repo, "update-ref", "refs/tags/v2", head)
    ci, other = services.sync_workflows(session, settings, repo, now=now)
    token = factories.classic(session, settings, alice, now, "repo").token

    run = services.dispatch_workflow(
        session,
        settings,
        repo=repo,
        workflow=ci,
        ref="main",
        inputs={"environment": "prod", "dry_run": True, "count": 3},
        actor=alice,
        token=token,
        now=now,
        ip="10.1.1.1",
    )
    session.commit()
    assert (run.run_number, run.event, run.status, run.conclusion) == (1, "workflow_dispatch", "queued", None)
    assert (run.head_branch, run.head_sha, run.repo_id, run.workflow_id) == ("main", head, repo.id, ci.id)
    assert run.inputs == {"environment": "prod", "dry_run": True, "count": 3}
    assert (run.actor_id, run.actor_login, run.token_id) == (alice.id, "alice", token.id)

    second = _dispatch(session, settings, repo, ci, alice, now=now, ref="v2")
    first_other = _dispatch(session, settings, repo, other, alice, now=now)
    assert (second.run_number, second.head_branch) == (2, "v2")
    assert first_other.run_number == 1  # numbered per workflow

    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "workflow.dispatched")).first()
    assert event is not None
    assert (event.token_id, event.actor_login, event.org_id, event.ip) == (token.id, "alice", acme.id, "10.1.1.1")
    assert event.data["run_id"] == run.id
    assert event.data["ref"] == "refs/heads/main"
    assert event.data["inputs"] == ["count", "dry_run", "environment"]  # names, not values


def test_dispatch_refusals(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now)
    commit(settings, repo, {".github/workflows/ci.yml": LINT}, now, branch="old")
    commit(settings, repo, {".github/workflows/ci.yml": CI, ".github/workflows/lint.yml": LINT}, now)
    ci, lint = services.sync_workflows(session, settings, repo, now=now)

    def refused(workflow: Workflow, ref: str = "main", **inputs: services.InputValue) -> str:
        with pytest.raises(services.DispatchRefused) as caught:
            _dispatch(session, settings, repo, workflow, alice, now=now, ref=ref, inputs=inputs)
        return caught.value.message

    assert refused(lint) == "Workflow does not have 'workflow_dispatch' trigger"
    # The file is read at the ref: on "old" the CI workflow has no workflow_dispatch trigger.
    assert refused(ci, "old") == "Workflow does not have 'workflow_dispatch' trigger"
    assert refused(ci, "nope") == "No ref found for: nope"
    assert refused(ci, "main~1") == "No ref found for: main~1"
    ci.state = "disabled_manually"
    assert refused(ci) == "Cannot trigger a 'workflow_dispatch' on a disabled workflow"
    ci.state = "active"

    with pytest.raises(Invalid) as too_many:
        _dispatch(session, settings, repo, ci, alice, now=now, inputs={f"i{n}": "x" for n in range(26)})
    assert too_many.value.field == "inputs"
    with pytest.raises(Invalid):
        _dispatch(session, settings, repo, ci, alice, now=now, inputs={"big": "x" * 70_000})
    assert session.scalar(select(WorkflowRun.id)) is None


def test_runs_query_filters(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    bob = factories.user(session, "bob", now)
    repo = factories.repo(session, settings, alice, "app", now)
    head = commit(settings, repo, {".github/workflows/ci.yml": CI, ".github/workflows/two.yml": CI}, now)
    commit(settings, repo, {".github/workflows/ci.yml": CI}, now, branch="dev")
    ci, two = services.sync_workflows(session, settings, repo, now=now)
    runs = [
        _dispatch(session, settings, repo, ci, alice, now=now),
        _dispatch(session, settings, repo, ci, bob, now=now, ref="dev"),
        _dispatch(session, settings, repo, two, alice, now=now),
    ]
    runs[0].status, runs[0].conclusion = "completed", "success"

    def ids(workflow_id: int | None = None, **filters: str) -> list[int]:
        query = services.runs_query(repo, workflow_id=workflow_id, filters=services.RunFilters(**filters))
        return list(session.scalars(select(WorkflowRun.id).from_statement(query)))

    newest_first = [r.id for r in reversed(runs)]
    assert ids() == newest_first
    assert ids(ci.id) == [runs[1].id, runs[0].id]
    assert ids(actor="BOB") == [runs[1].id]
    assert ids(branch="dev") == [runs[1].id]
    assert ids(status="queued") == [runs[2].id, runs[1].id]
    assert ids(status="success") == [runs[0].id]
    assert ids(event="push") == []
    assert ids(head_sha=head) == [runs[2].id, runs[0].id]
    assert ids(actor="alice\x00") == []
    query = services.runs_query(repo)
    assert services.count_runs(session, query) == 3
    assert services.get_run(session, repo, str(runs[0].id)) is runs[0]
    for missing in ("0", "abc", "99999999999", str(runs[0].id + 100)):
        with pytest.raises(NotFound):
            services.get_run(session, repo, missing)


def test_commit_summaries(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    repo = factories.repo(session, settings, alice, "app", now)
    first = commit(settings, repo, {}, now, message="First\n\nwith a body")
    second = commit(settings, repo, {"x": b"x"}, now + timedelta(minutes=5), message="Second")
    found = services.commit_summaries(settings, repo, [second, first, second])
    assert set(found) == {first, second}
    assert found[first].message == "First\n\nwith a body"
    assert found[second].author == ("Alice", "alice@example.com")
    assert found[second].timestamp == now + timedelta(minutes=5)
    assert services.commit_summaries(settings, repo, ["0" * 40]) == {}
    assert services.commit_summaries(settings, repo, ["not-a-sha"]) == {}
