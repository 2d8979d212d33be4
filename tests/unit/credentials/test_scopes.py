"""Classic scopes: catalog, implication closure, normalization (spec §2)."""

from __future__ import annotations

import pytest

from tokenforge.credentials.scopes import CATALOG, GROUPS, UnknownScope, expand, header_value, normalize, parse

# Spec §2.1, in UI order: each top-level scope and the children shown (and implied) under it.
SPEC_TABLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("repo", ("repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events")),
    ("workflow", ()),
    ("write:packages", ("read:packages",)),
    ("delete:packages", ()),
    ("admin:org", ("write:org", "read:org", "manage_runners:org")),
    ("admin:public_key", ("write:public_key", "read:public_key")),
    ("admin:repo_hook", ("write:repo_hook", "read:repo_hook")),
    ("admin:org_hook", ()),
    ("gist", ()),
    ("notifications", ()),
    ("user", ("read:user", "user:email", "user:follow")),
    ("delete_repo", ()),
    ("write:discussion", ("read:discussion",)),
    (
        "admin:enterprise",
        ("manage_runners:enterprise", "manage_billing:enterprise", "read:enterprise", "scim:enterprise"),
    ),
    ("audit_log", ("read:audit_log",)),
    ("codespace", ("codespace:secrets",)),
    ("copilot", ("manage_billing:copilot",)),
    ("write:network_configurations", ("read:network_configurations",)),
    ("project", ("read:project",)),
    ("admin:gpg_key", ("write:gpg_key", "read:gpg_key")),
    ("admin:ssh_signing_key", ("write:ssh_signing_key", "read:ssh_signing_key")),
    ("site_admin", ()),
)
SPEC_PARENTS = tuple(parent for parent, _ in SPEC_TABLE)
SPEC_SCOPES = frozenset(SPEC_PARENTS) | {child for _, children in SPEC_TABLE for child in children}


# --- catalog -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", sorted(SPEC_SCOPES))
def test_every_spec_scope_is_in_the_catalog(scope: str) -> None:
    assert scope in CATALOG
    assert CATALOG[scope].name == scope
    assert CATALOG[scope].description  # the web form shows it next to the checkbox


def test_catalog_has_no_scope_outside_the_spec() -> None:
    assert set(CATALOG) == SPEC_SCOPES


def test_groups_are_the_spec_top_level_scopes_in_ui_order() -> None:
    assert tuple(group.parent.name for group in GROUPS) == SPEC_PARENTS


@pytest.mark.parametrize(("parent", "children"), SPEC_TABLE, ids=[p for p, _ in SPEC_TABLE])
def test_each_group_lists_its_children(parent: str, children: tuple[str, ...]) -> None:
    group = next(g for g in GROUPS if g.parent.name == parent)
    assert tuple(child.name for child in group.children) == children


def test_every_scope_appears_in_exactly_one_group() -> None:
    names = [scope.name for group in GROUPS for scope in (group.parent, *group.children)]
    assert len(names) == len(set(names))


# --- expand ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        pytest.param(
            ["repo"],
            {"repo", "repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events"},
            id="repo",
        ),
        pytest.param(["admin:org"], {"admin:org", "write:org", "read:org", "manage_runners:org"}, id="admin:org"),
        pytest.param(["write:org"], {"write:org", "read:org"}, id="write:org"),
        pytest.param(
            ["admin:public_key"], {"admin:public_key", "write:public_key", "read:public_key"}, id="admin:public_key"
        ),
        pytest.param(["write:public_key"], {"write:public_key", "read:public_key"}, id="write:public_key"),
        pytest.param(
            ["admin:repo_hook"], {"admin:repo_hook", "write:repo_hook", "read:repo_hook"}, id="admin:repo_hook"
        ),
        pytest.param(["write:repo_hook"], {"write:repo_hook", "read:repo_hook"}, id="write:repo_hook"),
        pytest.param(["user"], {"user", "read:user", "user:email", "user:follow"}, id="user"),
        pytest.param(
            ["admin:enterprise"],
            {
                "admin:enterprise",
                "manage_runners:enterprise",
                "manage_billing:enterprise",
                "read:enterprise",
                "scim:enterprise",
            },
            id="admin:enterprise",
        ),
        pytest.param(["codespace"], {"codespace", "codespace:secrets"}, id="codespace"),
        pytest.param(["copilot"], {"copilot", "manage_billing:copilot"}, id="copilot"),
        pytest.param(["project"], {"project", "read:project"}, id="project"),
        pytest.param(["audit_log"], {"audit_log", "read:audit_log"}, id="audit_log"),
        pytest.param(["write:packages"], {"write:packages", "read:packages"}, id="write:packages"),
        pytest.param(["write:discussion"], {"write:discussion", "read:discussion"}, id="write:discussion"),
        pytest.param(
            ["write:network_configurations"],
            {"write:network_configurations", "read:network_configurations"},
            id="write:network_configurations",
        ),
        pytest.param(["admin:gpg_key"], {"admin:gpg_key", "write:gpg_key", "read:gpg_key"}, id="admin:gpg_key"),
        pytest.param(["write:gpg_key"], {"write:gpg_key", "read:gpg_key"}, id="write:gpg_key"),
        pytest.param(
            ["admin:ssh_signing_key"],
            {"admin:ssh_signing_key", "write:ssh_signing_key", "read:ssh_signing_key"},
            id="admin:ssh_signing_key",
        ),
        pytest.param(
            ["write:ssh_signing_key"], {"write:ssh_signing_key", "read:ssh_signing_key"}, id="write:ssh_signing_key"
        ),
        pytest.param(["public_repo"], {"public_repo"}, id="public_repo-implies-nothing-up"),
        pytest.param(["read:org"], {"read:org"}, id="read:org-implies-nothing-up"),
        pytest.param(["manage_runners:org"], {"manage_runners:org"}, id="manage_runners:org-alone"),
        pytest.param(["delete:packages"], {"delete:packages"}, id="delete:packages-not-read:packages"),
        pytest.param(["admin:org_hook"], {"admin:org_hook"}, id="admin:org_hook-alone"),
        pytest.param(["site_admin"], {"site_admin"}, id="site_admin-alone"),
        pytest.param(["workflow"], {"workflow"}, id="workflow-not-repo"),
        pytest.param(["gist", "read:org"], {"gist", "read:org"}, id="union"),
        pytest.param(["user", "user:email"], {"user", "read:user", "user:email", "user:follow"}, id="overlap"),
        pytest.param([], set(), id="nothing"),
    ],
)
def test_expand(scopes: list[str], expected: set[str]) -> None:
    assert expand(scopes) == expected


@pytest.mark.parametrize("scope", sorted(SPEC_SCOPES))
def test_expand_contains_the_scope_itself(scope: str) -> None:
    assert scope in expand([scope])


def _generic_rule_pairs() -> list[tuple[str, str]]:
    # gh's generic rule (spec §2.1): admin:X ⇒ write:X and read:X; write:X ⇒ read:X.
    lower = {"admin": ("write", "read"), "write": ("read",)}
    pairs = []
    for scope in sorted(SPEC_SCOPES):
        kind, _, resource = scope.partition(":")
        pairs += [
            (scope, f"{level}:{resource}") for level in lower.get(kind, ()) if f"{level}:{resource}" in SPEC_SCOPES
        ]
    return pairs


GENERIC_RULE_PAIRS = _generic_rule_pairs()


def test_generic_rule_pairs_cover_the_admin_and_write_families() -> None:
    # Guards the parametrization below against silently becoming empty.
    assert len(GENERIC_RULE_PAIRS) == 19


@pytest.mark.parametrize(("scope", "implied"), GENERIC_RULE_PAIRS, ids=[f"{a}=>{b}" for a, b in GENERIC_RULE_PAIRS])
def test_admin_and_write_scopes_imply_their_lower_levels(scope: str, implied: str) -> None:
    assert implied in expand([scope])


@pytest.mark.parametrize(("parent", "children"), SPEC_TABLE, ids=[p for p, _ in SPEC_TABLE])
def test_parent_implies_every_child_shown_under_it(parent: str, children: tuple[str, ...]) -> None:
    assert set(children) <= expand([parent])


def test_expand_accepts_any_iterable() -> None:
    assert expand(iter(["write:org"])) == {"write:org", "read:org"}
    assert expand(("write:org",)) == {"write:org", "read:org"}


@pytest.mark.parametrize("scopes", [["nope"], ["repo", "nope"], ["Repo"], ["admin"], [""]], ids=repr)
def test_expand_rejects_unknown_scopes(scopes: list[str]) -> None:
    with pytest.raises(UnknownScope):
        expand(scopes)


# --- normalize ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "stored"),
    [
        pytest.param(["user", "gist", "user:email"], ("gist", "user"), id="spec-example"),
        pytest.param(["repo", "repo"], ("repo",), id="duplicate"),
        pytest.param(["gist", "gist", "gist"], ("gist",), id="triplicate"),
        pytest.param(["repo", "public_repo", "workflow"], ("repo", "workflow"), id="implied-child-dropped"),
        pytest.param(["public_repo", "repo"], ("repo",), id="child-listed-first"),
        pytest.param(["admin:org", "read:org"], ("admin:org",), id="transitively-implied-dropped"),
        pytest.param(["admin:org", "write:org", "read:org", "manage_runners:org"], ("admin:org",), id="whole-group"),
        pytest.param(["write:org", "read:org"], ("write:org",), id="write-keeps-over-read"),
        pytest.param(["read:org", "manage_runners:org"], ("manage_runners:org", "read:org"), id="siblings-kept"),
        pytest.param(["workflow", "gist", "repo"], ("gist", "repo", "workflow"), id="sorted"),
        pytest.param(["read:packages", "delete:packages"], ("delete:packages", "read:packages"), id="no-false-imply"),
        pytest.param([], (), id="empty"),
    ],
)
def test_normalize(requested: list[str], stored: tuple[str, ...]) -> None:
    assert normalize(requested) == stored


def test_normalize_of_every_scope_keeps_only_top_level_scopes() -> None:
    assert normalize(sorted(SPEC_SCOPES)) == tuple(sorted(SPEC_PARENTS))


@pytest.mark.parametrize(
    "requested",
    [
        ["user", "gist", "user:email"],
        ["admin:org", "read:org", "repo", "public_repo"],
        sorted(SPEC_SCOPES),
        ["read:org", "write:org", "codespace:secrets"],
    ],
    ids=["spec-example", "mixed", "everything", "children"],
)
def test_normalize_never_changes_what_is_granted(requested: list[str]) -> None:
    assert expand(normalize(requested)) == expand(requested)


def test_normalize_accepts_a_generator() -> None:
    assert normalize(s for s in ["user", "gist", "user:email"]) == ("gist", "user")


@pytest.mark.parametrize(
    ("requested", "unknown"),
    [
        pytest.param(["bogus"], "bogus", id="alone"),
        pytest.param(["repo", "bogus"], "bogus", id="with-known"),
        pytest.param(["REPO"], "REPO", id="wrong-case"),
        pytest.param(["repo "], "repo ", id="trailing-space"),
        pytest.param(["admin:repo"], "admin:repo", id="plausible-but-absent"),
    ],
)
def test_normalize_rejects_unknown_scopes(requested: list[str], unknown: str) -> None:
    with pytest.raises(UnknownScope) as excinfo:
        normalize(requested)
    assert excinfo.value.scope == unknown
    assert repr(unknown) in str(excinfo.value)


def test_unknown_scope_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bogus"):
        normalize(["bogus"])


# --- parse and header_value --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("repo, workflow", ("repo", "workflow"), id="comma-space"),
        pytest.param("repo workflow", ("repo", "workflow"), id="space"),
        pytest.param("repo,workflow", ("repo", "workflow"), id="comma"),
        pytest.param(" repo ,, workflow ", ("repo", "workflow"), id="sloppy"),
        pytest.param("repo\tworkflow\n", ("repo", "workflow"), id="tab-newline"),
        pytest.param("admin:org", ("admin:org",), id="one-with-colon"),
        pytest.param("", (), id="empty"),
        pytest.param(" , ", (), id="only-separators"),
    ],
)
def test_parse(text: str, expected: tuple[str, ...]) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        pytest.param("repo, bogus", "bogus", id="second"),
        pytest.param("Repo", "Repo", id="wrong-case"),
        pytest.param("repo;workflow", "repo;workflow", id="semicolon"),
    ],
)
def test_parse_rejects_unknown_scopes(text: str, unknown: str) -> None:
    with pytest.raises(UnknownScope) as excinfo:
        parse(text)
    assert excinfo.value.scope == unknown


def test_parse_then_normalize_round_trips_the_header() -> None:
    assert header_value(normalize(parse("user,gist,user:email"))) == "gist, user"


@pytest.mark.parametrize(
    ("scopes", "header"),
    [
        pytest.param(("repo", "user"), "repo, user", id="two"),
        pytest.param(("repo",), "repo", id="one"),
        pytest.param((), "", id="none"),
        pytest.param(("gist", "repo", "workflow"), "gist, repo, workflow", id="three"),
    ],
)
def test_header_value(scopes: tuple[str, ...], header: str) -> None:
    assert header_value(scopes) == header
