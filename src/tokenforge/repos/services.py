"""Repositories: creation (row + bare repository, atomically), lookup, collaborators, and the
view of a repository that the authorization decision needs."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account, Organization, User
from tokenforge.accounts.services import get_account
from tokenforge.audit.services import record
from tokenforge.auth.generation import access_changed
from tokenforge.authz.requirements import Target
from tokenforge.authz.roles import RepoRole, repository_role
from tokenforge.authz.subjects import Resource
from tokenforge.config import Settings
from tokenforge.db import on_rollback
from tokenforge.errors import Conflict, Invalid, NotFound
from tokenforge.orgs.services import org_role, policy_of
from tokenforge.repos import storage
from tokenforge.repos.models import REPO_NAME_MAX, Collaborator, Repository

_NAME_RE = re.compile(rf"[A-Za-z0-9._-]{{1,{REPO_NAME_MAX}}}")
DESCRIPTION_MAX = 350


def validate_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name) or name in {".", ".."} or name.lower().endswith(".git"):
        raise Invalid(
            "Repository names may contain letters, digits, '.', '-' and '_', at most "
            f"{REPO_NAME_MAX} characters, and may not end in '.git'",
            field="name",
        )
    return name


def repo_path(settings: Settings, repo: Repository) -> Path:
    return settings.repositories_dir / f"{repo.id}.git"


def find_repository(session: Session, owner_login: str, name: str) -> Repository | None:
    if "\x00" in owner_login or "\x00" in name:  # PostgreSQL refuses NUL in text; no name has one
        return None
    return session.scalar(
        select(Repository)
        .join(Account, Account.id == Repository.owner_id)
        .where(Account.login_key == owner_login.lower(), Repository.name_key == name.lower())
    )


def get_repository(session: Session, full_name: str) -> Repository:
    owner, sep, name = full_name.partition("/")
    repo = find_repository(session, owner, name) if sep else None
    if repo is None:
        raise NotFound(f"No repository named '{full_name}'")
    return repo


def create_repository(
    session: Session,
    settings: Settings,
    *,
    owner: Account,
    name: str,
    now: datetime,
    private: bool = False,
    description: str = "",
    default_branch: str = "main",
    actor: Account | None = None,
) -> Repository:
    validate_name(name)
    if len(description) > DESCRIPTION_MAX:
        raise Invalid(f"Description is too long (maximum is {DESCRIPTION_MAX} characters)", field="description")
    if find_repository(session, owner.login, name) is not None:
        raise Conflict(f"Repository '{owner.login}/{name}' already exists", field="name")
    repo = Repository(
        owner=owner,
        owner_id=owner.id,
        name=name,
        name_key=name.lower(),
        description=description,
        private=private,
        default_branch=default_branch,
        created_at=now,
        updated_at=now,
    )
    session.add(repo)
    session.flush()  # assigns the id that names the directory
    path = repo_path(settings, repo)
    if path.exists():
        # Left behind by a crash between "git init" and commit; the id is ours now.
        shutil.rmtree(path)
    on_rollback(session, lambda: shutil.rmtree(path, ignore_errors=True))
    storage.init_bare(settings.git_binary, path, default_branch)
    record(
        session, "repo.created", now=now, actor=actor, user=owner, repository=repo.full_name, visibility=repo.visibility
    )
    return repo


def add_collaborator(
    session: Session, *, repo: Repository, user: User, role: RepoRole, now: datetime, actor: Account | None = None
) -> Collaborator:
    if repo.owner_id == user.id:
        raise Invalid(f"{user.login} owns {repo.full_name} already", field="login")
    existing = session.get(Collaborator, (repo.id, user.id))
    if existing is None:
        existing = Collaborator(repo_id=repo.id, user_id=user.id, role=role.label, created_at=now)
        session.add(existing)
        access_changed(session)  # cached access facts embed roles: additions too
    elif existing.role != role.label:
        existing.role = role.label
        access_changed(session)
    record(
        session,
        "repo.collaborator_set",
        now=now,
        actor=actor,
        user=repo.owner,
        repository=repo.full_name,
        collaborator=user.login,
        role=role.label,
    )
    session.flush()
    return existing


def remove_collaborator(
    session: Session, *, repo: Repository, user: User, now: datetime, actor: Account | None = None
) -> None:
    existing = session.get(Collaborator, (repo.id, user.id))
    if existing is None:
        raise NotFound(f"{user.login} is not a collaborator on {repo.full_name}")
    session.delete(existing)
    access_changed(session)
    session.flush()
    record(
        session,
        "repo.collaborator_removed",
        now=now,
        actor=actor,
        user=repo.owner,
        repository=repo.full_name,
        collaborator=user.login,
    )


def user_role(session: Session, repo: Repository, user_id: int) -> RepoRole | None:
    """The user's role on the repository from current data (None: no role)."""
    owner = repo.owner
    membership = org_role(session, owner.id, user_id) if isinstance(owner, Organization) else None
    base = None
    if isinstance(owner, Organization) and owner.default_repository_role != "none":
        base = RepoRole.parse(owner.default_repository_role)
    collab = session.scalar(
        select(Collaborator.role).where(Collaborator.repo_id == repo.id, Collaborator.user_id == user_id)
    )
    return repository_role(
        is_owner=owner.id == user_id,
        org_role=membership,
        org_base_role=base,
        collaborator_role=RepoRole.parse(collab) if collab else None,
    )


def repository_resource(session: Session, repo: Repository, user_id: int | None) -> Resource:
    """The repository as the given user (None: anonymous) stands towards it now."""
    owner = repo.owner
    is_org = isinstance(owner, Organization)
    return Resource(
        target=Target.REPOSITORY,
        owner_id=owner.id,
        owner_login=owner.login,
        public=not repo.private,
        repo_id=repo.id,
        name=repo.full_name,
        org_policy=policy_of(owner) if isinstance(owner, Organization) else None,
        repo_role=user_role(session, repo, user_id) if user_id is not None else None,
        org_role=org_role(session, owner.id, user_id) if is_org and user_id is not None else None,
    )


def resolve_owner(session: Session, login: str) -> Account:
    return get_account(session, login)


def update_repository(
    session: Session,
    *,
    repo: Repository,
    now: datetime,
    actor: Account | None = None,
    name: str | None = None,
    description: str | None = None,
    private: bool | None = None,
    default_branch: str | None = None,
) -> Repository:
    """Change a repository's settings. Making it private reduces access: caches are invalidated."""
    changes: dict[str, Any] = {}
    if name is not None and name != repo.name:
        validate_name(name)
        other = find_repository(session, repo.owner.login, name)
        if other is not None and other.id != repo.id:
            raise Conflict(f"Repository '{repo.owner.login}/{name}' already exists", field="name")
        changes["name"] = (repo.name, name)
        repo.name, repo.name_key = name, name.lower()
        access_changed(session)  # cached access facts are keyed by name
    if description is not None and description != repo.description:
        if len(description) > DESCRIPTION_MAX:
            raise Invalid(f"Description is too long (maximum is {DESCRIPTION_MAX} characters)", field="description")
        repo.description = description
        changes["description"] = True
    if private is not None and private != repo.private:
        changes["visibility"] = ("private" if repo.private else "public", "private" if private else "public")
        repo.private = private
        access_changed(session)
    if default_branch is not None and default_branch != repo.default_branch:
        if not re.fullmatch(r"[A-Za-z0-9._/-]{1,255}", default_branch) or ".." in default_branch:
            raise Invalid("Invalid branch name", field="default_branch")
        changes["default_branch"] = (repo.default_branch, default_branch)
        repo.default_branch = default_branch
    if changes:
        repo.updated_at = now
        session.flush()
        record(
            session,
            "repo.updated",
            now=now,
            actor=actor,
            user=repo.owner,
            repository=repo.full_name,
            changes={k: v if v is True else list(v) for k, v in changes.items()},
        )
    return repo


def delete_repository(
    session: Session, settings: Settings, *, repo: Repository, now: datetime, actor: Account | None = None
) -> None:
    """Delete the row now and the bare repository once the transaction has committed.

    The directory is moved aside first (cheap, atomic) and put back if the transaction rolls
    back, so a failed delete never loses the git data.
    """
    path = repo_path(settings, repo)
    trash = path.with_name(f"{path.name}.deleted")
    full_name = repo.full_name
    owner = repo.owner
    session.delete(repo)
    session.flush()
    record(session, "repo.deleted", now=now, actor=actor, user=owner, repository=full_name)
    access_changed(session)
    if path.exists():
        if trash.exists():
            shutil.rmtree(trash)
        path.rename(trash)
        on_rollback(session, lambda: _restore(trash, path))
        session.info.setdefault("after_commit", []).append(lambda: shutil.rmtree(trash, ignore_errors=True))


def _restore(trash: Path, path: Path) -> None:
    trash.rename(path)


def count_public_repositories(session: Session, owner_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Repository)
            .where(Repository.owner_id == owner_id, Repository.private.is_(False))
        )
        or 0
    )


def record_push(
    session: Session, settings: Settings, repo: Repository, *, now: datetime, created_refs: Sequence[str] = ()
) -> None:
    """A push landed (called by the git surface after receive-pack updated at least one ref).

    Sets ``pushed_at``. On the first push to an empty repository it also settles the default
    branch, as GitHub does: the repository's HEAD names a branch that does not exist yet
    (``main`` at creation); if the push did not create that one, the default becomes ``main``
    when pushed, otherwise the first branch pushed, and HEAD follows so clones check it out.
    "Empty" means every branch that exists now was created by this push.
    """
    repo.pushed_at = now
    created = [ref.removeprefix("refs/heads/") for ref in created_refs if ref.startswith("refs/heads/")]
    if not created:
        return
    path = repo_path(settings, repo)
    listing = storage.run_git(settings.git_binary, path, "for-each-ref", "--format=%(refname)", "refs/heads/")
    branches = {line.removeprefix("refs/heads/") for line in listing.splitlines() if line}
    if repo.default_branch in branches or not branches or not branches <= set(created):
        return
    chosen = "main" if "main" in branches else next(name for name in created if name in branches)
    previous = storage.run_git(settings.git_binary, path, "symbolic-ref", "HEAD")
    _set_head(settings, path, f"refs/heads/{chosen}")
    on_rollback(session, lambda: _set_head(settings, path, previous))
    repo.default_branch = chosen
    session.flush()


def _set_head(settings: Settings, path: Path, ref: str) -> None:
    storage.run_git(settings.git_binary, path, "symbolic-ref", "HEAD", ref)
