"""What an operation needs, as data.

Each route (REST, git, web) names one ``Requirement`` where it is defined. A requirement
states, for each kind of credential, what suffices:

* classic tokens: alternative OAuth scopes — any one, by implication (``repo`` satisfies
  ``public_repo``). Repository requirements may accept a narrower scope on public
  repositories (``public_repo`` for writes) than on private ones (``repo``);
* fine-grained tokens: alternative permission sets, written exactly as GitHub's
  ``X-Accepted-GitHub-Permissions`` header (``"pull_requests=write,contents=read; issues=write"``:
  alternatives separated by ``;``, each needing all of its comma-separated items);
* the person behind any credential: a minimum repository or organization role.

The same tables generate ``docs/api.md`` and the ``X-Accepted-*`` headers, so they cannot
drift from what is enforced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from tokenforge.authz.roles import OrgRole, RepoRole
from tokenforge.credentials import permissions as perms
from tokenforge.credentials import scopes as scope_catalog
from tokenforge.credentials.permissions import Level


class Target(StrEnum):
    """What kind of thing the operation acts on."""

    INSTANCE = "instance"  # nothing owned by anyone: /meta, /rate_limit
    ACCOUNT = "account"  # the principal's own account: /user, /user/emails
    ORGANIZATION = "organization"
    REPOSITORY = "repository"


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


Alternative = tuple[tuple[str, Level], ...]


def parse_permissions(spec: str) -> tuple[Alternative, ...]:
    """``"pull_requests=write,contents=read; issues=write"`` → alternatives, validated."""
    alternatives: list[Alternative] = []
    for part in spec.split(";"):
        items: list[tuple[str, Level]] = []
        for item in part.split(","):
            if not item.strip():
                continue
            key, _, level_text = item.strip().partition("=")
            permission = perms.CATALOG.get(key)
            if permission is None:
                raise ValueError(f"unknown permission in requirement: {key!r}")
            level = Level.parse(level_text)
            # Exactly the levels the catalog allows: a requirement of "workflows=read" would
            # advertise a level no token can ever be granted.
            if level not in permission.levels:
                raise ValueError(f"{key} has no level {level.label}")
            items.append((key, level))
        if items:
            alternatives.append(tuple(items))
    return tuple(alternatives)


def format_permissions(alternatives: tuple[Alternative, ...]) -> str:
    return "; ".join(",".join(f"{key}={level.label}" for key, level in alt) for alt in alternatives)


@dataclass(frozen=True, slots=True)
class Requirement:
    name: str
    target: Target
    access: Access
    # Classic scopes, any one of which suffices. Empty: no scope needed.
    scopes: tuple[str, ...] = ()
    # For repository requirements: the scopes accepted when the repository is public.
    # None means the same as ``scopes``.
    public_scopes: tuple[str, ...] | None = None
    # Fine-grained alternatives in header syntax; empty: no permission needed.
    permissions: str = ""
    repo_role: RepoRole | None = None
    org_role: OrgRole | None = None
    # A read of a public resource is open to everyone, whatever the credential (spec §3.2:
    # "tokens always include read-only access to all public repositories"). False for reads
    # of things that are not public even on a public repository, such as its deploy keys.
    public_read: bool = True
    # When the person's role is too low: 404 instead of 403. GitHub hides admin-only endpoints
    # from non-admins even when the token has the scope (spec §4.3), so their existence is
    # not confirmed.
    hide_denial: bool = False
    # Requires a signed-in principal even where nothing else is needed (GET /user).
    authenticated: bool = False
    alternatives: tuple[Alternative, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for scope in (*self.scopes, *(self.public_scopes or ())):
            if scope not in scope_catalog.CATALOG:
                raise ValueError(f"{self.name}: unknown scope {scope!r}")
        object.__setattr__(self, "alternatives", parse_permissions(self.permissions))

    def classic_scopes(self, *, public: bool) -> tuple[str, ...]:
        if public and self.public_scopes is not None:
            return self.public_scopes
        return self.scopes

    def satisfied_by_permissions(self, held: Mapping[str, Level]) -> bool:
        if not self.alternatives:
            return True
        if not held:
            return False
        return any(all(held.get(key, 0) >= level for key, level in alt) for alt in self.alternatives)

    @property
    def accepted_permissions(self) -> str:
        """``X-Accepted-GitHub-Permissions``."""
        return format_permissions(self.alternatives)


def _repo(name: str, access: Access, permissions: str, role: RepoRole, **kw: object) -> Requirement:
    # Repository defaults mirror GitHub: private repositories need ``repo``; writes to public
    # ones accept ``public_repo`` (which ``repo`` implies).
    kw.setdefault("scopes", ("repo",))
    if access is Access.WRITE:
        kw.setdefault("public_scopes", ("public_repo",))
    return Requirement(
        name=name,
        target=Target.REPOSITORY,
        access=access,
        permissions=permissions,
        repo_role=role,
        **kw,  # type: ignore[arg-type]
    )


READ, WRITE = Access.READ, Access.WRITE

# -- Instance and account ---------------------------------------------------------------------

PUBLIC = Requirement("public", Target.INSTANCE, READ)
AUTHENTICATED = Requirement("authenticated", Target.ACCOUNT, READ, authenticated=True, public_read=False)
PROFILE_WRITE = Requirement("profile:write", Target.ACCOUNT, WRITE, scopes=("user",), permissions="profile=write")
# Creating a repository for yourself: ``public_repo`` suffices for a public one (``repo``
# implies it); a private one needs ``repo`` — the route checks REPO_CREATE_PRIVATE in addition.
REPO_CREATE = Requirement(
    "repository:create", Target.ACCOUNT, WRITE, scopes=("public_repo",), permissions="administration=write"
)
REPO_CREATE_PRIVATE = Requirement(
    "repository:create-private", Target.ACCOUNT, WRITE, scopes=("repo",), permissions="administration=write"
)

# -- Organizations ----------------------------------------------------------------------------

ORG_READ = Requirement("org:read", Target.ORGANIZATION, READ)
ORG_MEMBERS_READ = Requirement(
    "org-members:read",
    Target.ORGANIZATION,
    READ,
    scopes=("read:org",),
    permissions="members=read",
    org_role=OrgRole.MEMBER,
    public_read=False,
)
ORG_REPO_CREATE = Requirement(
    "org-repository:create",
    Target.ORGANIZATION,
    WRITE,
    scopes=("public_repo",),
    permissions="administration=write",
    org_role=OrgRole.MEMBER,
)
ORG_REPO_CREATE_PRIVATE = Requirement(
    "org-repository:create-private",
    Target.ORGANIZATION,
    WRITE,
    scopes=("repo",),
    permissions="administration=write",
    org_role=OrgRole.MEMBER,
)
ORG_ADMIN = Requirement(
    "org-administration:write",
    Target.ORGANIZATION,
    WRITE,
    scopes=("admin:org",),
    permissions="organization_administration=write",
    org_role=OrgRole.OWNER,
)

# -- Repositories -----------------------------------------------------------------------------

REPO_METADATA = _repo("metadata:read", READ, "metadata=read", RepoRole.READ)
CONTENTS_READ = _repo("contents:read", READ, "contents=read", RepoRole.READ)
CONTENTS_WRITE = _repo("contents:write", WRITE, "contents=write", RepoRole.WRITE)
# Pushing a change under .github/workflows/ needs this *in addition to* CONTENTS_WRITE
# (spec §7.5). ``workflow`` is required on public and private repositories alike.
WORKFLOWS_WRITE = _repo(
    "workflows:write", WRITE, "workflows=write", RepoRole.WRITE, scopes=("workflow",), public_scopes=("workflow",)
)
ISSUES_READ = _repo("issues:read", READ, "issues=read", RepoRole.READ)
# Anyone who can read a repository may open issues and comment (GitHub's model), so the role
# needed is READ even though the access is a write.
ISSUES_WRITE = _repo("issues:write", WRITE, "issues=write", RepoRole.READ)
ISSUES_TRIAGE = _repo("issues:triage", WRITE, "issues=write", RepoRole.TRIAGE)
ISSUE_COMMENTS_WRITE = _repo("issue-comments:write", WRITE, "issues=write; pull_requests=write", RepoRole.READ)
PULLS_READ = _repo("pull-requests:read", READ, "pull_requests=read", RepoRole.READ)
PULLS_WRITE = _repo("pull-requests:write", WRITE, "pull_requests=write", RepoRole.READ)
ACTIONS_READ = _repo("actions:read", READ, "actions=read", RepoRole.READ)
ACTIONS_WRITE = _repo("actions:write", WRITE, "actions=write", RepoRole.WRITE)
DEPLOY_KEYS_READ = _repo(
    "deploy-keys:read",
    READ,
    "administration=read",
    RepoRole.ADMIN,
    public_scopes=("public_repo",),
    public_read=False,
    hide_denial=True,
)
DEPLOY_KEYS_WRITE = _repo("deploy-keys:write", WRITE, "administration=write", RepoRole.ADMIN, hide_denial=True)
REPO_ADMIN = _repo("administration:write", WRITE, "administration=write", RepoRole.ADMIN)
REPO_DELETE = _repo(
    "repository:delete",
    WRITE,
    "administration=write",
    RepoRole.ADMIN,
    scopes=("delete_repo",),
    public_scopes=("delete_repo",),
)

# -- Issues and pull requests: the finer cases routes choose between ----------------------------
# A pull request's conversation comments are issue comments, so GitHub accepts either permission
# on them; on a plain issue only ``issues`` counts (a token with ``pull_requests`` alone cannot
# touch plain issues — GitHub's observed behaviour for Apps and tokens alike).
ISSUE_COMMENTS_READ = _repo("issue-comments:read", READ, "issues=read; pull_requests=read", RepoRole.READ)
# Editing or deleting what someone else wrote (their comment, or their issue's title and body):
# GitHub gives that to write and above ("Edit and delete anyone's comments on commits, pull
# requests, and issues"); triage may close, reopen and label, not rewrite other people's words.
ISSUES_MODERATE = _repo("issues:moderate", WRITE, "issues=write", RepoRole.WRITE)
ISSUE_COMMENTS_MODERATE = _repo("issue-comments:moderate", WRITE, "issues=write; pull_requests=write", RepoRole.WRITE)

# -- Organization token review (spec §5.4) -------------------------------------------------------
# GitHub lets only GitHub Apps call these. Tokenforge has no Apps, so an organization owner's
# token may: classic with ``admin:org``, or fine-grained with the organization permission (which
# only owners can grant, and which requires the organization as resource owner).
ORG_TOKEN_REQUESTS_READ = Requirement(
    "org-token-requests:read",
    Target.ORGANIZATION,
    READ,
    scopes=("admin:org",),
    permissions="organization_personal_access_token_requests=read",
    org_role=OrgRole.OWNER,
    public_read=False,
)
ORG_TOKEN_REQUESTS_WRITE = Requirement(
    "org-token-requests:write",
    Target.ORGANIZATION,
    WRITE,
    scopes=("admin:org",),
    permissions="organization_personal_access_token_requests=write",
    org_role=OrgRole.OWNER,
)
ORG_TOKENS_READ = Requirement(
    "org-tokens:read",
    Target.ORGANIZATION,
    READ,
    scopes=("admin:org",),
    permissions="organization_personal_access_tokens=read",
    org_role=OrgRole.OWNER,
    public_read=False,
)
ORG_TOKENS_WRITE = Requirement(
    "org-tokens:write",
    Target.ORGANIZATION,
    WRITE,
    scopes=("admin:org",),
    permissions="organization_personal_access_tokens=write",
    org_role=OrgRole.OWNER,
)

# -- Tokenforge extensions ------------------------------------------------------------------------
# A user's security log (their tokens' events). Classic: ``read:user`` (implied by ``user``);
# fine-grained: the account permission "Events".
SECURITY_LOG_READ = Requirement(
    "security-log:read",
    Target.ACCOUNT,
    READ,
    scopes=("read:user",),
    permissions="user_events=read",
    public_read=False,
)
