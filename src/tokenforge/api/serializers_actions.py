"""GitHub's JSON for workflows, workflow runs and deploy keys (spec §9.3).

Every ``url`` is the object's own REST URL under /api/v3: PyGithub builds follow-up calls on it
(``f"{workflow.url}/runs"``, ``f"{workflow.url}/dispatches"``, ``DELETE key.url``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tokenforge.accounts.models import User
from tokenforge.actions.models import Workflow, WorkflowRun
from tokenforge.actions.services import CommitSummary
from tokenforge.api.serializers import iso, node_id, repository, simple_user
from tokenforge.config import Settings
from tokenforge.keys.models import DeployKey
from tokenforge.repos.models import Repository


def _repo_api(repo: Repository, settings: Settings) -> str:
    return settings.api_url(f"/repos/{repo.full_name}")


def workflow(row: Workflow, repo: Repository, settings: Settings, *, state: str | None = None) -> dict[str, Any]:
    file_name = row.path.rsplit("/", 1)[-1]
    return {
        "id": row.id,
        "node_id": node_id("Workflow", row.id),
        "name": row.name,
        "path": row.path,
        "state": state or row.state,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "url": f"{_repo_api(repo, settings)}/actions/workflows/{row.id}",
        "html_url": settings.web_url(f"/{repo.full_name}/blob/{quote(repo.default_branch)}/{quote(row.path)}"),
        "badge_url": settings.web_url(f"/{repo.full_name}/actions/workflows/{quote(file_name)}/badge.svg"),
    }


def _head_commit(commit: CommitSummary | None) -> dict[str, Any] | None:
    if commit is None:
        return None
    return {
        "id": commit.sha,
        "tree_id": commit.tree,
        "message": commit.message,
        "timestamp": iso(commit.timestamp),
        "author": {"name": commit.author[0], "email": commit.author[1]},
        "committer": {"name": commit.committer[0], "email": commit.committer[1]},
    }


def run_url(run: WorkflowRun, repo: Repository, settings: Settings) -> str:
    return f"{_repo_api(repo, settings)}/actions/runs/{run.id}"


def run_html_url(run: WorkflowRun, repo: Repository, settings: Settings) -> str:
    return settings.web_url(f"/{repo.full_name}/actions/runs/{run.id}")


def workflow_run(
    run: WorkflowRun,
    repo: Repository,
    settings: Settings,
    *,
    workflow: Workflow,
    actor: User | None,
    head_commit: CommitSummary | None,
    repo_json: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A run. ``inputs`` is a Tokenforge addition (GitHub's run object omits them); the rest is
    GitHub's shape, with the fields of things Tokenforge does not have (check suites, jobs,
    logs, artifacts) pointing where GitHub's would."""
    url = run_url(run, repo, settings)
    # A deleted account's runs keep their login (actor_login) but have no user to show.
    user = simple_user(actor, settings) if actor is not None else None
    repo_body = repo_json if repo_json is not None else repository(repo, settings)
    return {
        "id": run.id,
        "name": workflow.name,
        "node_id": node_id("WorkflowRun", run.id),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": workflow.path,
        "display_title": workflow.name,
        "run_number": run.run_number,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "check_suite_id": None,
        "check_suite_node_id": None,
        "url": url,
        "html_url": run_html_url(run, repo, settings),
        "pull_requests": [],
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "actor": user,
        "triggering_actor": user,
        "run_attempt": 1,
        "referenced_workflows": [],
        "run_started_at": iso(run.created_at),
        "jobs_url": f"{url}/jobs",
        "logs_url": f"{url}/logs",
        "check_suite_url": None,
        "artifacts_url": f"{url}/artifacts",
        "cancel_url": f"{url}/cancel",
        "rerun_url": f"{url}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{_repo_api(repo, settings)}/actions/workflows/{run.workflow_id}",
        "head_commit": _head_commit(head_commit),
        "repository": repo_body,
        "head_repository": repo_body,
        "inputs": run.inputs,
    }


def dispatch_details(run: WorkflowRun, repo: Repository, settings: Settings) -> dict[str, Any]:
    """The 200 body of a dispatch made with ``return_run_details: true``."""
    return {
        "workflow_run_id": run.id,
        "run_url": run_url(run, repo, settings),
        "html_url": run_html_url(run, repo, settings),
    }


def deploy_key(key: DeployKey, repo: Repository, settings: Settings) -> dict[str, Any]:
    return {
        "id": key.id,
        "key": key.key,
        "url": f"{_repo_api(repo, settings)}/keys/{key.id}",
        "title": key.title,
        # Keys are checked structurally when added; nothing asks a person to confirm one.
        "verified": True,
        "created_at": iso(key.created_at),
        "read_only": key.read_only,
        "added_by": key.added_by,
        "last_used": iso(key.last_used),
        "enabled": True,
    }
