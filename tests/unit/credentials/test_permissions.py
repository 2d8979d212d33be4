"""Fine-grained permissions: the catalog (spec §3.3), levels, normalization and grouping."""

from __future__ import annotations

import pytest

from tokenforge.credentials.permissions import (
    CATALOG,
    MANDATORY,
    Group,
    InvalidPermission,
    Level,
    grouped,
    normalize,
)

# Spec §3.3, verbatim: (key, display name, allowed levels).
SPEC_ACCOUNT: tuple[tuple[str, str, str], ...] = (
    ("blocking", "Block another user", "read, write"),
    ("codespaces_user_secrets", "Codespaces user secrets", "read, write"),
    ("copilot_messages", "Copilot Chat", "read"),
    ("copilot_editor_context", "Copilot Editor Context", "read"),
    ("copilot_requests", "Copilot requests", "write"),
    ("emails", "Email addresses", "read, write"),
    ("user_events", "Events", "read"),
    ("followers", "Followers", "read, write"),
    ("gpg_keys", "GPG keys", "read, write"),
    ("gists", "Gists", "write"),
    ("keys", "Git SSH keys", "read, write"),
    ("interaction_limits", "Interaction limits", "read, write"),
    ("knowledge_bases", "Knowledge bases", "read, write"),
    ("user_models", "Models", "read"),
    ("plan", "Plan", "read"),
    ("private_repository_invitations", "Private repository invitations", "read"),
    ("profile", "Profile", "write"),
    ("git_signing_ssh_public_keys", "SSH signing keys", "read, write"),
    ("starring", "Starring", "read, write"),
    ("watching", "Watching", "read, write"),
)

SPEC_REPOSITORY: tuple[tuple[str, str, str], ...] = (
    ("actions", "Actions", "read, write"),
    ("administration", "Administration", "read, write"),
    ("artifact_metadata", "Artifact Metadata", "read, write"),
    ("attestations", "Attestations", "read, write"),
    ("security_events", "Code scanning alerts", "read, write"),
    ("codespaces", "Codespaces", "read, write"),
    ("codespaces_lifecycle_admin", "Codespaces lifecycle admin", "read, write"),
    ("codespaces_metadata", "Codespaces metadata", "read"),
    ("codespaces_secrets", "Codespaces secrets", "write"),
    ("statuses", "Commit statuses", "read, write"),
    ("contents", "Contents", "read, write"),
    ("repository_custom_properties", "Custom properties", "read, write"),
    ("vulnerability_alerts", "Dependabot alerts", "read, write"),
    ("dependabot_secrets", "Dependabot secrets", "read, write"),
    ("deployments", "Deployments", "read, write"),
    ("discussions", "Discussions", "read, write"),
    ("environments", "Environments", "read, write"),
    ("issues", "Issues", "read, write"),
    ("merge_queues", "Merge queues", "read, write"),
    ("metadata", "Metadata", "read"),
    ("pages", "Pages", "read, write"),
    ("pull_requests", "Pull requests", "read, write"),
    ("repository_advisories", "Repository security advisories", "read, write"),
    ("secret_scanning_alerts", "Secret scanning alerts", "read, write"),
    ("secrets", "Secrets", "read, write"),
    ("actions_variables", "Variables", "read, write"),
    ("repository_hooks", "Webhooks", "read, write"),
    ("workflows", "Workflows", "write"),
)

SPEC_ORGANIZATION: tuple[tuple[str, str, str], ...] = (
    ("organization_api_insights", "API Insights", "read"),
    ("organization_administration", "Administration", "read, write"),
    ("organization_user_blocking", "Blocking users", "read, write"),
    ("organization_campaigns", "Campaigns", "read, write"),
    ("organization_custom_org_roles", "Custom organization roles", "read, write"),
    ("organization_custom_properties", "Custom repository properties", "read, write, admin"),
    ("organization_custom_roles", "Custom repository roles", "read, write"),
    ("organization_events", "Events", "read"),
    ("organization_copilot_seat_management", "GitHub Copilot Business", "read, write"),
    ("issue_types", "Issue Types", "read, write"),
    ("organization_knowledge_bases", "Knowledge bases", "read, write"),
    ("members", "Members", "read, write"),
    ("organization_models", "Models", "read"),
    ("organization_network_configurations", "Network configurations", "read, write"),
    ("organization_announcement_banners", "Organization announcement banners", "read, write"),
    ("organization_codespaces", "Organization codespaces", "read, write"),
    ("organization_codespaces_secrets", "Organization codespaces secrets", "read, write"),
    ("organization_codespaces_settings", "Organization codespaces settings", "read, write"),
    ("organization_dependabot_secrets", "Organization dependabot secrets", "read, write"),
    ("organization_code_scanning_dismissal_requests", "Code scanning dismissal requests", "read, write"),
    ("organization_private_registries", "Private registries", "read, write"),
    ("organization_plan", "Plan", "read"),
    ("organization_projects", "Projects", "read, write, admin"),
    ("organization_secrets", "Secrets", "read, write"),
    ("organization_self_hosted_runners", "Self-hosted runners", "read, write"),
    ("team_discussions", "Team discussions", "read, write"),
    ("organization_actions_variables", "Variables", "read, write"),
    ("organization_hooks", "Webhooks", "read, write"),
    # App-only on GitHub (spec §3.3, §5.4); Tokenforge lets an org owner's fine-grained token hold
    # them to call the org token-review endpoints (documented deviation).
    ("organization_personal_access_token_requests", "Personal access token requests", "read, write"),
    ("organization_personal_access_tokens", "Personal access tokens", "read, write"),
)

LEVELS = {"read": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN}


def _levels(text: str) -> frozenset[Level]:
    return frozenset(LEVELS[word] for word in text.split(", "))


SPEC: dict[str, tuple[str, Group, frozenset[Level]]] = {
    key: (display, group, _levels(levels))
    for group, rows in (
        (Group.REPOSITORY, SPEC_REPOSITORY),
        (Group.ORGANIZATION, SPEC_ORGANIZATION),
        (Group.ACCOUNT, SPEC_ACCOUNT),
    )
    for key, display, levels in rows
}

# The owner kind under which a permission of each group may be requested.
OWNER_IS_ORG = {Group.ORGANIZATION: True, Group.ACCOUNT: False}

ALLOWED = [
    pytest.param(key, level, owner_is_org, id=f"{key}={level.label}-{'org' if owner_is_org else 'user'}")
    for key, (_, group, levels) in SPEC.items()
    for level in sorted(levels)
    for owner_is_org in ((True, False) if group is Group.REPOSITORY else (OWNER_IS_ORG[group],))
]

DISALLOWED = [
    pytest.param(key, level, id=f"{key}={level.label}")
    for key, (_, _, levels) in SPEC.items()
    for level in Level
    if level not in levels
]


def _owner_for(key: str) -> bool:
    group = SPEC[key][1]
    return OWNER_IS_ORG.get(group, True)


# --- catalog -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(SPEC))
def test_catalog_entry_matches_the_spec(key: str) -> None:
    display, group, levels = SPEC[key]
    permission = CATALOG[key]
    assert permission.key == key
    assert permission.group is group
    assert set(permission.levels) == levels
    assert permission.display == display


def test_catalog_has_no_key_outside_the_spec() -> None:
    assert set(CATALOG) == set(SPEC)


@pytest.mark.parametrize(
    ("group", "count"),
    [(Group.REPOSITORY, 28), (Group.ORGANIZATION, 30), (Group.ACCOUNT, 20)],
    ids=str,
)
def test_catalog_group_sizes(group: Group, count: int) -> None:
    assert sum(1 for p in CATALOG.values() if p.group is group) == count


@pytest.mark.parametrize(
    ("key", "max_level"),
    [
        ("metadata", Level.READ),
        ("workflows", Level.WRITE),
        ("contents", Level.WRITE),
        ("organization_projects", Level.ADMIN),
        ("organization_custom_properties", Level.ADMIN),
    ],
)
def test_max_level(key: str, max_level: Level) -> None:
    assert CATALOG[key].max_level is max_level


def test_metadata_read_is_the_only_mandatory_permission() -> None:
    assert dict(MANDATORY) == {"metadata": Level.READ}


# --- levels ------------------------------------------------------------------------------------


def test_levels_nest_so_that_comparison_is_the_check() -> None:
    assert Level.READ < Level.WRITE < Level.ADMIN
    assert Level.ADMIN >= Level.WRITE
    assert not Level.READ >= Level.WRITE


@pytest.mark.parametrize(("level", "label"), [(Level.READ, "read"), (Level.WRITE, "write"), (Level.ADMIN, "admin")])
def test_level_label_is_the_api_spelling(level: Level, label: str) -> None:
    assert level.label == label


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("read", Level.READ),
        ("READ", Level.READ),
        ("Read", Level.READ),
        ("write", Level.WRITE),
        ("wRiTe", Level.WRITE),
        (" write ", Level.WRITE),
        ("admin\n", Level.ADMIN),
        ("Admin", Level.ADMIN),
    ],
    ids=repr,
)
def test_level_parse_is_case_insensitive(text: str, level: Level) -> None:
    assert Level.parse(text) is level


@pytest.mark.parametrize("text", ["", "none", "rw", "read,write", "owner", "1", "reader", "re ad"], ids=repr)
def test_level_parse_rejects_other_words(text: str) -> None:
    with pytest.raises(ValueError, match="read, write or admin"):
        Level.parse(text)


# --- normalize ---------------------------------------------------------------------------------


@pytest.mark.parametrize("owner_is_org", [True, False], ids=["org-owner", "user-owner"])
def test_normalize_adds_metadata_read(owner_is_org: bool) -> None:
    assert normalize({}, owner_is_organization=owner_is_org) == {"metadata": Level.READ}
    assert normalize({"contents": "write"}, owner_is_organization=owner_is_org) == {
        "contents": Level.WRITE,
        "metadata": Level.READ,
    }


def test_normalize_accepts_explicit_metadata_read() -> None:
    assert normalize({"metadata": "read"}, owner_is_organization=False) == {"metadata": Level.READ}


@pytest.mark.parametrize(("key", "level", "owner_is_org"), ALLOWED)
def test_normalize_accepts_every_allowed_level(key: str, level: Level, owner_is_org: bool) -> None:
    result = normalize({key: level.label}, owner_is_organization=owner_is_org)
    assert result == {key: level, "metadata": Level.READ}


@pytest.mark.parametrize(("key", "level"), DISALLOWED)
def test_normalize_rejects_a_level_the_permission_does_not_allow(key: str, level: Level) -> None:
    with pytest.raises(InvalidPermission, match=key):
        normalize({key: level.label}, owner_is_organization=_owner_for(key))


@pytest.mark.parametrize(
    ("key", "level"),
    [
        pytest.param(key, level, id=f"{key}={level}")
        for key, level in [
            ("metadata", "write"),
            ("workflows", "read"),
            ("contents", "admin"),
            ("gists", "read"),
            ("plan", "write"),
        ]
    ],
)
def test_normalize_rejects_named_examples(key: str, level: str) -> None:
    with pytest.raises(InvalidPermission):
        normalize({key: level}, owner_is_organization=_owner_for(key))
    with pytest.raises(InvalidPermission):
        normalize({key: LEVELS[level]}, owner_is_organization=_owner_for(key))


@pytest.mark.parametrize("key", ["organization_projects", "organization_custom_properties"])
@pytest.mark.parametrize("level", ["admin", "ADMIN", Level.ADMIN], ids=repr)
def test_normalize_allows_admin_on_org_projects_and_custom_properties(key: str, level: Level | str) -> None:
    assert normalize({key: level}, owner_is_organization=True) == {key: Level.ADMIN, "metadata": Level.READ}


@pytest.mark.parametrize("text", ["READ", "Read", "rEaD", " read ", "read\n"], ids=repr)
def test_normalize_parses_level_strings_case_insensitively(text: str) -> None:
    assert normalize({"issues": text}, owner_is_organization=False) == {"issues": Level.READ, "metadata": Level.READ}


def test_normalize_accepts_level_values() -> None:
    assert normalize({"issues": Level.WRITE}, owner_is_organization=True) == {
        "issues": Level.WRITE,
        "metadata": Level.READ,
    }


@pytest.mark.parametrize(
    "key",
    ["bogus", "Contents", "contents ", "", "repo", "organization_personal_access_token", "security-events"],
    ids=repr,
)
def test_normalize_rejects_unknown_keys(key: str) -> None:
    with pytest.raises(InvalidPermission, match="unknown permission"):
        normalize({key: "read"}, owner_is_organization=True)


@pytest.mark.parametrize("text", ["", "none", "rw", "read,write", "owner", "full"], ids=repr)
def test_normalize_rejects_unknown_level_words(text: str) -> None:
    with pytest.raises(InvalidPermission, match="contents"):
        normalize({"contents": text}, owner_is_organization=False)


@pytest.mark.parametrize("key", [key for key, (_, group, _) in SPEC.items() if group is Group.ORGANIZATION])
def test_normalize_rejects_organization_permissions_for_a_user_owner(key: str) -> None:
    level = min(SPEC[key][2])
    with pytest.raises(InvalidPermission, match="organization"):
        normalize({key: level}, owner_is_organization=False)


@pytest.mark.parametrize("key", [key for key, (_, group, _) in SPEC.items() if group is Group.ACCOUNT])
def test_normalize_rejects_account_permissions_for_an_org_owner(key: str) -> None:
    level = min(SPEC[key][2])
    with pytest.raises(InvalidPermission, match="account"):
        normalize({key: level}, owner_is_organization=True)


def test_one_bad_entry_rejects_the_whole_request() -> None:
    with pytest.raises(InvalidPermission):
        normalize({"contents": "write", "members": "read"}, owner_is_organization=False)


def test_normalize_sorts_by_key_and_does_not_touch_its_input() -> None:
    requested: dict[str, Level | str] = {"workflows": "write", "actions": "read", "contents": "write"}
    snapshot = dict(requested)
    result = normalize(requested, owner_is_organization=False)
    assert list(result) == ["actions", "contents", "metadata", "workflows"]
    assert all(isinstance(level, Level) for level in result.values())
    assert requested == snapshot


def test_invalid_permission_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bogus"):
        normalize({"bogus": "read"}, owner_is_organization=False)


# --- grouped -----------------------------------------------------------------------------------


def test_grouped_splits_an_org_token_into_repository_and_organization() -> None:
    permissions = normalize(
        {"contents": "write", "members": "read", "organization_projects": "admin"}, owner_is_organization=True
    )
    assert grouped(permissions) == {
        Group.REPOSITORY: {"contents": Level.WRITE, "metadata": Level.READ},
        Group.ORGANIZATION: {"members": Level.READ, "organization_projects": Level.ADMIN},
    }


def test_grouped_splits_a_user_token_into_repository_and_account() -> None:
    permissions = normalize({"issues": "read", "gists": "write", "emails": "read"}, owner_is_organization=False)
    assert grouped(permissions) == {
        Group.REPOSITORY: {"issues": Level.READ, "metadata": Level.READ},
        Group.ACCOUNT: {"emails": Level.READ, "gists": Level.WRITE},
    }


def test_grouped_leaves_out_empty_groups() -> None:
    assert grouped(normalize({}, owner_is_organization=False)) == {Group.REPOSITORY: {"metadata": Level.READ}}
    assert grouped({}) == {}


def test_group_names_are_the_api_keys() -> None:
    assert [str(g) for g in Group] == ["repository", "organization", "account"]
