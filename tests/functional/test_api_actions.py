"""Actions through the REST API with an unmodified client (PyGithub) and raw HTTP: workflows,
dispatches and the runs they record, for both token kinds, and GitHub's refusals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from github import Auth, Github, GithubException, UnknownObjectException
from sqlalchemy import select

import factories as f
from live import LiveServer
from tokenforge.audit.models import AuditEvent
from tokenforge.authz.roles import RepoRole
from tokenforge.repos import storage
from tokenforge.repos.services import repo_path

pytestmark = pytest.mark.slow

CI = b"""name: CI
on:
  push:
  workflow_dispatch:
    inputs:
      environment:
        required: true
jobs:
  build:
    runs-on: ubuntu-latest
    steps: [{run: echo hi}]
"""
LINT = b"on: [push, pull_request]\njobs: {}\n"


@dataclass
class World:
    tokens: dict[str, str]
    token_ids: dict[str, int]
    main_sha: str
    tag_sha: str


def _seed(server: LiveServer) -> World:
    settings = server.settings
    now = datetime.now(UTC)
    with server.services.db.unit_of_work() as session:
        alice = f.user(session, "alice", now)
        bob = f.user(session, "bob", now)
        app = f.repo(session, settings, alice, "app", now, private=True, collaborators={bob: RepoRole.WRITE})
        f.repo(session, settings, alice, "empty", now, private=True)
        public = f.repo(session, settings, alice, "site", now)

        def commit(repo: object, files: dict[str, bytes], message: str) -> str:
            return storage.commit_files(
                settings.git_binary,
                repo_path(settings, repo),  # type: ignore[arg-type]
                branch="main",
                files={"README.md": b"# app\n", **files},
                message=message,
                author=("Alice", "alice@example.com"),
                when=now,
            )

        tag_sha = commit(app, {".github/workflows/ci.yml": CI}, "Add CI")
        storage.run_git(settings.git_binary, repo_path(settings, app), "update-ref", "refs/tags/v1.0", tag_sha)
        main_sha = commit(app, {".github/workflows/ci.yml": CI, ".github/workflows/lint.yaml": LINT}, "Add lint")
        commit(public, {".github/workflows/ci.yml": CI}, "Add CI")
        issued = {
            "classic": f.classic(session, settings, alice, now, "repo", note="classic"),
            "fine_grained": f.fine_grained(
                session, settings, alice, now, repositories=[app, public], name="actions",
                permissions={"actions": "write"},
            ),
            "classic-no-repo": f.classic(session, settings, alice, now, "user", note="no repo"),
            "fine-grained-read": f.fine_grained(
                session, settings, alice, now, repositories=[app], name="read only", permissions={"actions": "read"},
            ),
            "bob": f.classic(session, settings, bob, now, "repo", note="bob"),
        }  # fmt: skip
        return World(
            tokens={k: v.secret for k, v in issued.items()},
            token_ids={k: v.token.id for k, v in issued.items()},
            main_sha=main_sha,
            tag_sha=tag_sha,
        )


@pytest.fixture
def world(live_server: LiveServer) -> World:
    return _seed(live_server)


def client(server: LiveServer, secret: str) -> Github:
    # No client-side throttling (0.25 s per request, 1 s per write by default): it protects
    # github.com, and here it would only make the suite slow.
    return Github(
        auth=Auth.Token(secret),
        base_url=f"{server.url}/api/v3",
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


@pytest.mark.parametrize("kind", ["classic", "fine_grained"])
def test_dispatch_and_runs_with_pygithub(live_server: LiveServer, world: World, kind: str) -> None:
    gh = client(live_server, world.tokens[kind])
    repo = gh.get_repo("alice/app")

    workflows = list(repo.get_workflows())
    assert [(w.name, w.path, w.state) for w in workflows] == [
        ("CI", ".github/workflows/ci.yml", "active"),
        (".github/workflows/lint.yaml", ".github/workflows/lint.yaml", "active"),
    ]
    workflow = repo.get_workflow("ci.yml")
    assert (workflow.id, workflow.name) == (workflows[0].id, "CI")
    assert repo.get_workflow(workflows[0].id).path == ".github/workflows/ci.yml"

    assert workflow.create_dispatch("main", {"environment": "production"}) is True
    assert workflow.create_dispatch("v1.0", {"environment": "staging"}, throw=True) is True

    runs = list(workflow.get_runs())
    assert [(r.run_number, r.head_branch, r.head_sha) for r in runs] == [
        (2, "v1.0", world.tag_sha),
        (1, "main", world.main_sha),
    ]
    newest = runs[0]
    assert (newest.event, newest.status, newest.conclusion, newest.name) == ("workflow_dispatch", "queued", None, "CI")
    assert newest.actor.login == "alice"
    assert newest.triggering_actor.login == "alice"
    assert newest.workflow_id == workflow.id
    assert newest.path == ".github/workflows/ci.yml"
    assert newest.repository.full_name == "alice/app"
    assert newest.head_commit.message == "Add CI"
    assert newest.raw_data["inputs"] == {"environment": "staging"}
    assert runs[1].raw_data["inputs"] == {"environment": "production"}

    all_runs = repo.get_workflow_runs()
    assert all_runs.totalCount == 2
    assert repo.get_workflow_run(runs[1].id).raw_data["inputs"] == {"environment": "production"}
    assert [r.id for r in repo.get_workflow_runs(actor="alice", branch="main")] == [runs[1].id]

    details = workflow.create_dispatch("main", {"environment": "qa"}, return_run_details=True)
    assert repo.get_workflow_run(details.id).run_number == 3


def test_refusals(live_server: LiveServer, world: World) -> None:
    repo = client(live_server, world.tokens["classic"]).get_repo("alice/app")
    lint = repo.get_workflow("lint.yaml")
    with pytest.raises(GithubException) as no_trigger:
        lint.create_dispatch("main", throw=True)
    assert no_trigger.value.status == 422
    assert no_trigger.value.data["message"] == "Workflow does not have 'workflow_dispatch' trigger"
    assert lint.create_dispatch("main") is False  # PyGithub's non-throwing form

    with pytest.raises(GithubException) as no_ref:
        repo.get_workflow("ci.yml").create_dispatch("nope", throw=True)
    assert (no_ref.value.status, no_ref.value.data["message"]) == (422, "No ref found for: nope")
    with pytest.raises(UnknownObjectException):
        _ = repo.get_workflow("missing.yml").name

    # Fine-grained without actions: write: visible (actions: read), not permitted.
    reader = client(live_server, world.tokens["fine-grained-read"]).get_repo("alice/app")
    assert reader.get_workflow("ci.yml").name == "CI"
    with pytest.raises(GithubException) as forbidden:
        reader.get_workflow("ci.yml").create_dispatch("main", {"environment": "x"}, throw=True)
    assert forbidden.value.status == 403
    assert forbidden.value.data["message"] == "Resource not accessible by personal access token"

    # Classic without repo: the private repository does not exist for it.
    no_repo = client(live_server, world.tokens["classic-no-repo"])
    with pytest.raises(UnknownObjectException):
        no_repo.get_repo("alice/app")
    url = f"{live_server.url}/api/v3/repos/alice/app/actions/workflows"
    answer = httpx.get(url, headers={"Authorization": f"token {world.tokens['classic-no-repo']}"})
    assert answer.status_code == 404
    assert answer.json()["message"] == "Not Found"
    assert httpx.get(url).status_code == 404  # anonymous

    # A write collaborator may dispatch (actions: write needs push access, not admin).
    bob = client(live_server, world.tokens["bob"]).get_repo("alice/app")
    assert bob.get_workflow("ci.yml").create_dispatch("main", {"environment": "x"}) is True
    assert bob.get_workflow("ci.yml").get_runs()[0].actor.login == "bob"


def test_raw_http(live_server: LiveServer, world: World) -> None:
    api = f"{live_server.url}/api/v3/repos/alice/app/actions"
    headers = {"Authorization": f"Bearer {world.tokens['fine_grained']}"}
    listed = httpx.get(f"{api}/workflows", headers=headers).json()
    assert listed["total_count"] == 2
    ci = listed["workflows"][0]
    assert set(ci) >= {"id", "node_id", "name", "path", "state", "created_at", "updated_at", "url", "html_url"}
    assert ci["url"] == f"{api}/workflows/{ci['id']}"
    assert "badge_url" in ci

    paged = httpx.get(f"{api}/workflows", params={"per_page": 1, "page": 2}, headers=headers)
    assert [w["path"] for w in paged.json()["workflows"]] == [".github/workflows/lint.yaml"]
    assert 'rel="first"' in paged.headers["link"]

    dispatch = f"{api}/workflows/{ci['id']}/dispatches"
    done = httpx.post(dispatch, json={"ref": "main", "inputs": {"environment": "prod", "flag": True}}, headers=headers)
    assert (done.status_code, done.content) == (204, b"")
    assert done.headers["x-accepted-github-permissions"] == "actions=write"

    details = httpx.post(dispatch, json={"ref": "refs/heads/main", "return_run_details": True}, headers=headers)
    assert details.status_code == 200
    body = details.json()
    assert set(body) == {"workflow_run_id", "run_url", "html_url"}
    assert body["run_url"] == f"{api}/runs/{body['workflow_run_id']}"

    run = httpx.get(body["run_url"], headers=headers).json()
    expected = {
        "id", "name", "node_id", "head_branch", "head_sha", "path", "display_title", "run_number", "event",
        "status", "conclusion", "workflow_id", "url", "html_url", "created_at", "updated_at", "actor",
        "triggering_actor", "run_attempt", "repository", "head_repository", "head_commit", "workflow_url",
        "jobs_url", "logs_url", "pull_requests",
    }  # fmt: skip
    assert expected <= set(run)
    assert (run["run_number"], run["run_attempt"], run["head_sha"]) == (2, 1, world.main_sha)

    for bad in (
        {},
        {"ref": ""},
        {"ref": 5},
        {"ref": "main", "inputs": "x"},
        {"ref": "main", "inputs": {f"i{n}": "v" for n in range(26)}},
        {"ref": "main", "inputs": {"nested": {"a": 1}}},
        {"ref": "main", "inputs": {"huge": 10**30}},
        {"ref": "main", "return_run_details": "yes"},
    ):
        refused = httpx.post(dispatch, json=bad, headers=headers)
        assert refused.status_code == 422, bad
        assert refused.json()["message"] == "Validation Failed"
    not_json = httpx.post(dispatch, content=b'{"ref": NaN', headers=headers)
    assert not_json.status_code == 400
    nan = httpx.post(dispatch, content=b'{"ref": "main", "inputs": {"x": NaN}}', headers=headers)
    assert nan.status_code == 422

    runs = httpx.get(f"{api}/runs", params={"per_page": 1}, headers=headers)
    assert runs.json()["total_count"] == 2
    assert len(runs.json()["workflow_runs"]) == 1
    assert 'rel="next"' in runs.headers["link"]
    for path in ("runs/0", "runs/abc", "runs/99999999999999999999", "workflows/nope.yml", "workflows/0/runs"):
        assert httpx.get(f"{api}/{path}", headers=headers).status_code == 404, path
    filtered = httpx.get(f"{api}/runs", params={"actor": "a\x00", "status": "success"}, headers=headers)
    assert filtered.json() == {"total_count": 0, "workflow_runs": []}

    with live_server.services.db.unit_of_work() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "workflow.dispatched")).all()
        assert [e.token_id for e in events] == [world.token_ids["fine_grained"]] * 2
        assert events[0].data["inputs"] == ["environment", "flag"]


def test_public_and_empty_repositories(live_server: LiveServer, world: World) -> None:
    site = f"{live_server.url}/api/v3/repos/alice/site/actions"
    # Reading a public repository's workflows needs nothing; dispatching needs a user.
    assert httpx.get(f"{site}/workflows").json()["total_count"] == 1
    refused = httpx.post(f"{site}/workflows/ci.yml/dispatches", json={"ref": "main"})
    assert refused.status_code == 401
    # ...and a token that may write there.
    no_repo = {"Authorization": f"token {world.tokens['classic-no-repo']}"}
    assert httpx.post(f"{site}/workflows/ci.yml/dispatches", json={"ref": "main"}, headers=no_repo).status_code == 404
    gh = client(live_server, world.tokens["fine_grained"])
    assert gh.get_repo("alice/site").get_workflow("ci.yml").create_dispatch("main", {"environment": "x"}) is True

    empty = client(live_server, world.tokens["classic"]).get_repo("alice/empty")
    assert empty.get_workflows().totalCount == 0
    assert empty.get_workflow_runs().totalCount == 0
