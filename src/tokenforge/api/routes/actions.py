"""GitHub Actions, as far as tokens reach: workflows, dispatches and the runs they record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, StrictBool, StringConstraints
from sqlalchemy.orm import Session
from starlette.responses import Response

from tokenforge.actions import services as actions
from tokenforge.actions.models import WorkflowRun
from tokenforge.api import serializers, serializers_actions
from tokenforge.api.context import (
    authorized_repo,
    current_user,
    paginate_list,
    paginate_query,
    principal,
    requires,
    services,
    unit_of_work,
)
from tokenforge.api.errors import ApiError
from tokenforge.api.responses import GitHubJSON
from tokenforge.authz import requirements as req
from tokenforge.config import Settings
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import Token

router = APIRouter()


def _token(request: Request, session: Session) -> Token | None:
    token_id = getattr(principal(request), "token_id", None)
    return session.get(Token, token_id) if token_id is not None else None


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/repos/{owner}/{repo}/actions/workflows")
@requires(req.ACTIONS_READ, resource="Workflow")
def list_workflows(request: Request, owner: str, repo: str) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        rows = actions.sync_workflows(session, svc.settings, found, now=svc.clock.now())
        chunk, headers = paginate_list(request, rows)
        body = {
            "total_count": len(rows),
            "workflows": [serializers_actions.workflow(w, found, svc.settings) for w in chunk],
        }
        return GitHubJSON(body, headers=headers)


@router.get("/repos/{owner}/{repo}/actions/workflows/{workflow_id}")
@requires(req.ACTIONS_READ, resource="Workflow")
def get_workflow(request: Request, owner: str, repo: str, workflow_id: str) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        known = actions.find_workflow(session, svc.settings, found, workflow_id, now=svc.clock.now())
        return GitHubJSON(serializers_actions.workflow(known.row, found, svc.settings, state=known.state))


# Input names are identifiers in the workflow file; values are what a form can send. Numbers are
# bounded so every stored value can be rendered again as JSON (no huge integers, no NaN).
InputName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
InputValue = (
    Annotated[str, StringConstraints(max_length=actions.MAX_INPUTS_CHARS)]
    | StrictBool
    | Annotated[int, Field(ge=-(2**53), le=2**53)]
    | Annotated[float, Field(allow_inf_nan=False, ge=-(2**53), le=2**53)]
)


class DispatchRequest(BaseModel):
    ref: str = Field(min_length=1, max_length=255)
    inputs: dict[InputName, InputValue] | None = Field(default=None, max_length=actions.MAX_INPUTS)
    return_run_details: StrictBool = False


@router.post("/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", status_code=204)
@requires(req.ACTIONS_WRITE, resource="Workflow")
def create_dispatch(request: Request, owner: str, repo: str, workflow_id: str, body: DispatchRequest) -> Response:
    svc = services(request)
    now = svc.clock.now()
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        known = actions.find_workflow(session, svc.settings, found, workflow_id, now=now)
        try:
            run = actions.dispatch_workflow(
                session,
                svc.settings,
                repo=found,
                workflow=known.row,
                ref=body.ref,
                inputs=body.inputs or {},
                actor=current_user(request, session),
                token=_token(request, session),
                now=now,
                ip=_ip(request),
            )
        except actions.DispatchRefused as exc:
            # GitHub answers these with the bare message, no errors[] (clients print it as is).
            raise ApiError(422, exc.message) from None
        if body.return_run_details:
            return GitHubJSON(serializers_actions.dispatch_details(run, found, svc.settings))
    return Response(status_code=204)


def _filters(request: Request) -> actions.RunFilters:
    params = request.query_params
    return actions.RunFilters(
        actor=params.get("actor"),
        branch=params.get("branch"),
        event=params.get("event"),
        status=params.get("status"),
        head_sha=params.get("head_sha"),
    )


def _runs_json(
    session: Session, settings: Settings, repo: Repository, runs: Sequence[WorkflowRun]
) -> list[dict[str, Any]]:
    workflows = actions.workflows_of(session, runs)
    actors = actions.actors_of(session, runs)
    commits = actions.commit_summaries(settings, repo, [run.head_sha for run in runs])
    repo_json = serializers.repository(repo, settings)
    return [
        serializers_actions.workflow_run(
            run,
            repo,
            settings,
            workflow=workflows[run.workflow_id],
            actor=actors.get(run.actor_id) if run.actor_id is not None else None,
            head_commit=commits.get(run.head_sha),
            repo_json=repo_json,
        )
        for run in runs
    ]


def _list_runs(request: Request, session: Session, repo: Repository, workflow_id: int | None) -> Response:
    settings = services(request).settings
    query = actions.runs_query(repo, workflow_id=workflow_id, filters=_filters(request))
    total = actions.count_runs(session, query)
    chunk, headers = paginate_query(request, session, query)
    body = {"total_count": total, "workflow_runs": _runs_json(session, settings, repo, chunk)}
    return GitHubJSON(body, headers=headers)


@router.get("/repos/{owner}/{repo}/actions/runs")
@requires(req.ACTIONS_READ, resource="WorkflowRun")
def list_runs(request: Request, owner: str, repo: str) -> Response:
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        return _list_runs(request, session, found, None)


@router.get("/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs")
@requires(req.ACTIONS_READ, resource="WorkflowRun")
def list_workflow_runs(request: Request, owner: str, repo: str, workflow_id: str) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        known = actions.find_workflow(session, svc.settings, found, workflow_id, now=svc.clock.now())
        return _list_runs(request, session, found, known.row.id)


@router.get("/repos/{owner}/{repo}/actions/runs/{run_id}")
@requires(req.ACTIONS_READ, resource="WorkflowRun")
def get_run(request: Request, owner: str, repo: str, run_id: str) -> Response:
    settings = services(request).settings
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        run = actions.get_run(session, found, run_id)
        return GitHubJSON(_runs_json(session, settings, found, [run])[0])
