"""GitHub's JSON shapes (spec §9.3). Every absolute URL is built from TOKENFORGE_BASE_URL and
carries /api/v3: PyGithub follows ``url`` fields and refuses any other host, port or prefix."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tokenforge.accounts.models import Organization
from tokenforge.authz.roles import RepoRole
from tokenforge.config import Settings


def iso(moment: datetime | None) -> str | None:
    # GitHub's "2011-01-26T19:01:12Z" (moments are UTC here); isoformat is ~2× strftime's speed.
    return None if moment is None else moment.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


class AccountLike(Protocol):
    """What the serializers read from an account: an ORM ``Account`` or a raw ``AccountView``."""

    @property
    def id(self) -> int: ...
    @property
    def login(self) -> str: ...
    @property
    def kind(self) -> str: ...


class RepositoryLike(Protocol):
    """An ORM ``Repository`` or a raw ``RepositoryView``."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def private(self) -> bool: ...
    @property
    def description(self) -> str: ...
    @property
    def default_branch(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def pushed_at(self) -> datetime | None: ...
    @property
    def owner(self) -> AccountLike: ...


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    login: str
    kind: str
    site_admin: bool = False


@dataclass(frozen=True, slots=True)
class RepositoryView:
    """A repository read without the ORM (api/routes/repos.py's hot path)."""

    id: int
    name: str
    private: bool
    description: str
    default_branch: str
    created_at: datetime
    updated_at: datetime
    pushed_at: datetime | None
    owner: AccountView


def simple_user(account: AccountLike, settings: Settings) -> dict[str, Any]:
    api = settings.api_url(f"/users/{account.login}")
    is_org = account.kind == "organization"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id("Organization" if is_org else "User", account.id),
        "avatar_url": settings.web_url(f"/{account.login}.png"),
        "gravatar_id": "",
        "url": api,
        "html_url": settings.web_url(f"/{account.login}"),
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "Organization" if is_org else "User",
        "user_view_type": "public",
        "site_admin": bool(getattr(account, "site_admin", False)),
    }


class UserLike(AccountLike, Protocol):
    """An ORM ``Account`` or a raw ``UserView``."""

    @property
    def name(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def full_user(
    user: UserLike,
    settings: Settings,
    *,
    public_repos: int,
    email: str | None = None,
    private: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A user as GitHub shows it; ``email`` and ``private`` only to the user themself."""
    out = simple_user(user, settings)
    if private is None:
        email = None
    out.update(
        {
            "name": user.name or None,
            "company": None,
            "blog": "",
            "location": None,
            "email": email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "notification_email": email,
            "public_repos": public_repos,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": iso(user.created_at),
            "updated_at": iso(user.updated_at),
        }
    )
    if private is not None:
        out.update(private)
    return out


def organization(org: Organization, settings: Settings, *, full: bool = False, public_repos: int = 0) -> dict[str, Any]:
    api = settings.api_url(f"/orgs/{org.login}")
    out: dict[str, Any] = {
        "login": org.login,
        "id": org.id,
        "node_id": node_id("Organization", org.id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": settings.web_url(f"/{org.login}.png"),
        "description": None,
    }
    if full:
        out.update(
            {
                "name": org.name or None,
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "twitter_username": None,
                "is_verified": False,
                "has_organization_projects": False,
                "has_repository_projects": False,
                "public_repos": public_repos,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "html_url": settings.web_url(f"/{org.login}"),
                "created_at": iso(org.created_at),
                "updated_at": iso(org.updated_at),
                "type": "Organization",
            }
        )
    return out


_REPO_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def permissions_of(role: RepoRole | None, public: bool) -> dict[str, bool]:
    held = role if role is not None else (RepoRole.READ if public else None)
    level = 0 if held is None else int(held)
    return {
        "admin": level >= RepoRole.ADMIN,
        "maintain": level >= RepoRole.MAINTAIN,
        "push": level >= RepoRole.WRITE,
        "triage": level >= RepoRole.TRIAGE,
        "pull": level >= RepoRole.READ,
    }


def repository(
    repo: RepositoryLike,
    settings: Settings,
    *,
    role: RepoRole | None = None,
    authenticated: bool = False,
    open_issues: int = 0,
) -> dict[str, Any]:
    owner = repo.owner
    full_name = f"{owner.login}/{repo.name}"
    api = settings.api_url(f"/repos/{full_name}")
    out: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": full_name,
        "private": repo.private,
        "owner": simple_user(owner, settings),
        "html_url": settings.web_url(f"/{full_name}"),
        "description": repo.description or None,
        "fork": False,
        "url": api,
    }
    out.update({key: api + suffix for key, suffix in _REPO_TEMPLATES.items()})
    out.update(
        {
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.updated_at),
            "pushed_at": iso(repo.pushed_at),
            "git_url": settings.web_url(f"/{full_name}.git").replace("http", "git", 1),
            "ssh_url": f"git@{settings.base_url.split('://', 1)[1].split('/')[0].split(':')[0]}:{full_name}.git",
            "clone_url": settings.web_url(f"/{full_name}.git"),
            "svn_url": settings.web_url(f"/{full_name}"),
            "mirror_url": None,
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": False,
            "has_downloads": True,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": repo.default_branch,
        }
    )
    if authenticated:
        out["permissions"] = permissions_of(role, not repo.private)
    if owner.kind == "organization":
        out["organization"] = simple_user(owner, settings)
    return out
