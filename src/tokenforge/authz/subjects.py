"""Who asks (``Principal``) and what they ask about (``Resource``), as plain frozen values.

The service layer builds both from *current* data on every request (or from a cache that is
invalidated whenever data that could reduce access changes), so that a person who loses access
takes their tokens' access with them. Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tokenforge.authz.requirements import Target
from tokenforge.authz.roles import OrgRole, RepoRole
from tokenforge.credentials.permissions import Level


class Approval(StrEnum):
    """Where a fine-grained token stands with its organization resource owner (spec §3.4)."""

    APPROVED = "approved"  # also: every token whose resource owner is a user
    PENDING = "pending"
    DENIED = "denied"
    REVOKED = "revoked"  # an owner revoked the organization's grant


class RepositorySelection(StrEnum):
    """A fine-grained token's repository access (GitHub's ``repository_selection``)."""

    NONE = "none"  # public repositories, read-only
    ALL = "all"  # every repository of the resource owner, including future ones
    SUBSET = "subset"  # the listed repositories only


@dataclass(frozen=True, slots=True)
class Anonymous:
    """No credentials at all."""

    label: str = "anonymous"


@dataclass(frozen=True, slots=True)
class UserSession:
    """A person signed into the web UI with their password: their own rights, no token caps."""

    user_id: int
    login: str


@dataclass(frozen=True, slots=True)
class _Token:
    user_id: int
    login: str
    token_id: int
    # expires_at - created_at (or regenerated_at); None when the token never expires. Compared
    # against an organization's maximum-lifetime policy, which blocks but never revokes.
    lifetime: timedelta | None
    expires_at: datetime | None
    # Where the user adjusts this token; quoted in GitHub's lifetime-policy message.
    settings_url: str


@dataclass(frozen=True, slots=True)
class ClassicToken(_Token):
    scopes: tuple[str, ...] = ()  # normalized, as stored and echoed in X-OAuth-Scopes
    granted: frozenset[str] = frozenset()  # scopes plus everything they imply


@dataclass(frozen=True, slots=True)
class FineGrainedToken(_Token):
    resource_owner_id: int = 0
    resource_owner_login: str = ""
    repository_selection: RepositorySelection = RepositorySelection.NONE
    repository_ids: frozenset[int] = frozenset()
    permissions: Mapping[str, Level] = field(default_factory=dict)
    approval: Approval = Approval.APPROVED


Principal = Anonymous | UserSession | ClassicToken | FineGrainedToken
TokenPrincipal = ClassicToken | FineGrainedToken


@dataclass(frozen=True, slots=True)
class OrgPolicy:
    """An organization's personal-access-token policy (spec §5.1), with GitHub's defaults."""

    classic_allowed: bool = True
    fine_grained_allowed: bool = True
    approval_required: bool = True
    max_lifetime_fine_grained: timedelta | None = timedelta(days=366)
    max_lifetime_classic: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    """A thing as seen by one principal's user, from current data."""

    target: Target
    owner_id: int  # the owning account: the repository's owner, the organization, the user
    owner_login: str
    public: bool
    repo_id: int | None = None
    name: str = ""  # for explanations: "acme/site", "acme", "alice"
    # Set when the owner is an organization: its token policy.
    org_policy: OrgPolicy | None = None
    # The principal's user's standing, computed now (``roles.repository_role`` for repositories).
    # None: no role (a public repository is still readable; decide() knows that).
    repo_role: RepoRole | None = None
    org_role: OrgRole | None = None

    @property
    def owner_is_org(self) -> bool:
        return self.org_policy is not None


INSTANCE = Resource(Target.INSTANCE, owner_id=0, owner_login="", public=True, name="this instance")
