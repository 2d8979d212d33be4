"""Deploy keys: list, get, add, delete. Admin-only: everyone else gets 404 (spec §4.3)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, StrictBool
from sqlalchemy.orm import Session
from starlette.responses import Response

from tokenforge.api import serializers_actions
from tokenforge.api.context import (
    authorized_repo,
    current_user,
    paginate_query,
    principal,
    requires,
    services,
    unit_of_work,
)
from tokenforge.api.errors import ApiError
from tokenforge.api.responses import GitHubJSON
from tokenforge.authz import requirements as req
from tokenforge.keys import services as keys
from tokenforge.keys.models import DeployKey
from tokenforge.repos.models import Repository
from tokenforge.tokens.models import Token

router = APIRouter()


def _key(session: Session, repo: Repository, key_id: str) -> DeployKey:
    # Ids are 32-bit in the schema; anything else is simply not a key here (GitHub: 404).
    if not re.fullmatch(r"[0-9]{1,10}", key_id) or not 0 < int(key_id) < 2**31:
        raise ApiError(404, "Not Found")
    return keys.get_deploy_key(session, repo, int(key_id))


@router.get("/repos/{owner}/{repo}/keys")
@requires(req.DEPLOY_KEYS_READ, resource="PublicKey")
def list_keys(request: Request, owner: str, repo: str) -> Response:
    settings = services(request).settings
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        chunk, headers = paginate_query(request, session, keys.keys_query(found))
        return GitHubJSON([serializers_actions.deploy_key(k, found, settings) for k in chunk], headers=headers)


@router.get("/repos/{owner}/{repo}/keys/{key_id}")
@requires(req.DEPLOY_KEYS_READ, resource="PublicKey")
def get_key(request: Request, owner: str, repo: str, key_id: str) -> Response:
    settings = services(request).settings
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        return GitHubJSON(serializers_actions.deploy_key(_key(session, found, key_id), found, settings))


class KeyCreate(BaseModel):
    title: str = Field(max_length=keys.TITLE_MAX)
    key: str = Field(min_length=1, max_length=keys.KEY_TEXT_MAX)
    read_only: StrictBool = True


@router.post("/repos/{owner}/{repo}/keys", status_code=201)
@requires(req.DEPLOY_KEYS_WRITE, resource="PublicKey")
def create_key(request: Request, owner: str, repo: str, body: KeyCreate) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        token_id = getattr(principal(request), "token_id", None)
        row = keys.add_deploy_key(
            session,
            repo=found,
            title=body.title,
            key=body.key,
            read_only=body.read_only,
            actor=current_user(request, session),
            # Recorded so that deleting this token deletes the key (spec §6.3).
            token=session.get(Token, token_id) if token_id is not None else None,
            now=svc.clock.now(),
            ip=request.client.host if request.client else None,
        )
        return GitHubJSON(serializers_actions.deploy_key(row, found, svc.settings), status_code=201)


@router.delete("/repos/{owner}/{repo}/keys/{key_id}", status_code=204)
@requires(req.DEPLOY_KEYS_WRITE, resource="PublicKey")
def delete_key(request: Request, owner: str, repo: str, key_id: str) -> Response:
    svc = services(request)
    with unit_of_work(request) as session:
        found = authorized_repo(request, session, owner, repo)
        token_id = getattr(principal(request), "token_id", None)
        keys.remove_deploy_key(
            session,
            repo=found,
            key=_key(session, found, key_id),
            actor=current_user(request, session),
            token=session.get(Token, token_id) if token_id is not None else None,
            now=svc.clock.now(),
            ip=request.client.host if request.client else None,
        )
    return Response(status_code=204)
