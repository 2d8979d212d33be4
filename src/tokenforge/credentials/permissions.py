"""Fine-grained permissions: the catalog (spec §3.3) and the levels.

A fine-grained token holds a map ``permission → level``. Levels nest (``admin`` ⊃ ``write`` ⊃
``read``), and each permission allows only some levels (``workflows`` is write-only,
``metadata`` read-only). Three groups, and which ones a token may hold depends on its
resource owner:

* repository permissions — any resource owner;
* organization permissions — only when the resource owner is an organization;
* account permissions — only when the resource owner is the token's own user.

``metadata: read`` is mandatory: it is added to every fine-grained token, because every token
can at least see the repositories it may reach (spec §3.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Level(IntEnum):
    """Ordered so that ``held >= required`` is the whole check."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        # ASCII only: Unicode case mapping would turn "wrıte" (dotless ı) into WRITE.
        level = _LEVELS.get(text.strip().lower()) if isinstance(text, str) and text.isascii() else None
        if level is None:
            raise ValueError(f"unknown permission level: {text!r} (read, write or admin)")
        return level


_LEVELS = {level.name.lower(): level for level in Level}


class Group(StrEnum):
    REPOSITORY = "repository"
    ORGANIZATION = "organization"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class Permission:
    key: str
    display: str
    group: Group
    levels: tuple[Level, ...]

    @property
    def max_level(self) -> Level:
        return max(self.levels)


R, W, A = Level.READ, Level.WRITE, Level.ADMIN
RW = (R, W)

_ACCOUNT: tuple[tuple[str, str, tuple[Level, ...]], ...] = (
    ("blocking", "Block another user", RW),
    ("codespaces_user_secrets", "Codespaces user secrets", RW),
    ("copilot_messages", "Copilot Chat", (R,)),
    ("copilot_editor_context", "Copilot Editor Context", (R,)),
    ("copilot_requests", "Copilot requests", (W,)),
    ("emails", "Email addresses", RW),
    ("user_events", "Events", (R,)),
    ("followers", "Followers", RW),
    ("gpg_keys", "GPG keys", RW),
    ("gists", "Gists", (W,)),
    ("keys", "Git SSH keys", RW),
    ("interaction_limits", "Interaction limits", RW),
    ("knowledge_bases", "Knowledge bases", RW),
    ("user_models", "Models", (R,)),
    ("plan", "Plan", (R,)),
    ("private_repository_invitations", "Private repository invitations", (R,)),
    ("profile", "Profile", (W,)),
    ("git_signing_ssh_public_keys", "SSH signing keys", RW),
    ("starring", "Starring", RW),
    ("watching", "Watching", RW),
)

_REPOSITORY: tuple[tuple[str, str, tuple[Level, ...]], ...] = (
    ("actions", "Actions", RW),
    ("administration", "Administration", RW),
    ("artifact_metadata", "Artifact Metadata", RW),
    ("attestations", "Attestations", RW),
    ("security_events", "Code scanning alerts", RW),
    ("codespaces", "Codespaces", RW),
    ("codespaces_lifecycle_admin", "Codespaces lifecycle admin", RW),
    ("codespaces_metadata", "Codespaces metadata", (R,)),
    ("codespaces_secrets", "Codespaces secrets", (W,)),
    ("statuses", "Commit statuses", RW),
    ("contents", "Contents", RW),
    ("repository_custom_properties", "Custom properties", RW),
    ("vulnerability_alerts", "Dependabot alerts", RW),
    ("dependabot_secrets", "Dependabot secrets", RW),
    ("deployments", "Deployments", RW),
    ("discussions", "Discussions", RW),
    ("environments", "Environments", RW),
    ("issues", "Issues", RW),
    ("merge_queues", "Merge queues", RW),
    ("metadata", "Metadata", (R,)),
    ("pages", "Pages", RW),
    ("pull_requests", "Pull requests", RW),
    ("repository_advisories", "Repository security advisories", RW),
    ("secret_scanning_alerts", "Secret scanning alerts", RW),
    ("secrets", "Secrets", RW),
    ("actions_variables", "Variables", RW),
    ("repository_hooks", "Webhooks", RW),
    ("workflows", "Workflows", (W,)),
)

_ORGANIZATION: tuple[tuple[str, str, tuple[Level, ...]], ...] = (
    ("organization_api_insights", "API Insights", (R,)),
    ("organization_administration", "Administration", RW),
    ("organization_user_blocking", "Blocking users", RW),
    ("organization_campaigns", "Campaigns", RW),
    ("organization_custom_org_roles", "Custom organization roles", RW),
    ("organization_custom_properties", "Custom repository properties", (R, W, A)),
    ("organization_custom_roles", "Custom repository roles", RW),
    ("organization_events", "Events", (R,)),
    ("organization_copilot_seat_management", "GitHub Copilot Business", RW),
    ("issue_types", "Issue Types", RW),
    ("organization_knowledge_bases", "Knowledge bases", RW),
    ("members", "Members", RW),
    ("organization_models", "Models", (R,)),
    ("organization_network_configurations", "Network configurations", RW),
    ("organization_announcement_banners", "Organization announcement banners", RW),
    ("organization_codespaces", "Organization codespaces", RW),
    ("organization_codespaces_secrets", "Organization codespaces secrets", RW),
    ("organization_codespaces_settings", "Organization codespaces settings", RW),
    ("organization_dependabot_secrets", "Organization dependabot secrets", RW),
    ("organization_code_scanning_dismissal_requests", "Code scanning dismissal requests", RW),
    ("organization_private_registries", "Private registries", RW),
    ("organization_plan", "Plan", (R,)),
    ("organization_projects", "Projects", (R, W, A)),
    ("organization_secrets", "Secrets", RW),
    ("organization_self_hosted_runners", "Self-hosted runners", RW),
    ("team_discussions", "Team discussions", RW),
    ("organization_actions_variables", "Variables", RW),
    ("organization_hooks", "Webhooks", RW),
    # On GitHub these two are App-only. Tokenforge has no Apps, so an organization owner's
    # fine-grained token may hold them to call the org token-review endpoints (spec §5.4);
    # docs/api.md records the deviation.
    ("organization_personal_access_token_requests", "Personal access token requests", RW),
    ("organization_personal_access_tokens", "Personal access tokens", RW),
)

CATALOG: Mapping[str, Permission] = {
    key: Permission(key, display, group, levels)
    for group, rows in (
        (Group.REPOSITORY, _REPOSITORY),
        (Group.ORGANIZATION, _ORGANIZATION),
        (Group.ACCOUNT, _ACCOUNT),
    )
    for key, display, levels in rows
}

MANDATORY: Mapping[str, Level] = {"metadata": Level.READ}


class InvalidPermission(ValueError):
    """A permission key, level or group that a token may not hold."""


def normalize(requested: Mapping[str, Level | str], *, owner_is_organization: bool) -> dict[str, Level]:
    """Validate a requested permission map for a token of the given resource owner kind.

    Returns the map the token stores: levels parsed, ``metadata: read`` added, sorted by key.
    Raises ``InvalidPermission`` with a message a person can act on.
    """
    granted: dict[str, Level] = dict(MANDATORY)
    for key, raw_level in requested.items():
        permission = CATALOG.get(key)
        if permission is None:
            raise InvalidPermission(f"unknown permission: {key!r}")
        try:
            # Level.parse refuses anything but a string, so a number in a JSON body is a
            # validation error, not a crash.
            level = raw_level if isinstance(raw_level, Level) else Level.parse(raw_level)
        except ValueError as exc:
            raise InvalidPermission(f"{key}: {exc}") from None
        if level not in permission.levels:
            allowed = ", ".join(lvl.label for lvl in permission.levels)
            raise InvalidPermission(f"{key} can be {allowed}, not {level.label}")
        if permission.group is Group.ORGANIZATION and not owner_is_organization:
            raise InvalidPermission(f"{key} is an organization permission; the resource owner must be an organization")
        if permission.group is Group.ACCOUNT and owner_is_organization:
            raise InvalidPermission(f"{key} is an account permission; the resource owner must be your own account")
        granted[key] = max(level, granted.get(key, level))
    return dict(sorted(granted.items()))


def grouped(permissions: Mapping[str, Level]) -> dict[Group, dict[str, Level]]:
    """Split a token's permissions into GitHub's API shape (repository / organization / account)."""
    out: dict[Group, dict[str, Level]] = {}
    for key, level in permissions.items():
        out.setdefault(CATALOG[key].group, {})[key] = level
    return out
