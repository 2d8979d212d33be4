"""Requirements: what an operation needs, in GitHub's own notations (spec §4.2, §4.3).

The fine-grained side is written in ``X-Accepted-GitHub-Permissions`` syntax and echoed back in that
header, so parsing and formatting must round-trip exactly; the classic side names OAuth scopes and
feeds ``X-Accepted-OAuth-Scopes``, which ``gh`` reads to tell users which scope to add.
"""

from __future__ import annotations

import pytest

from tokenforge.authz import requirements as reqs
from tokenforge.authz.requirements import (
    Access,
    Requirement,
    Target,
    format_permissions,
    parse_permissions,
)
from tokenforge.credentials.permissions import CATALOG as PERMISSIONS
from tokenforge.credentials.permissions import Group, Level

R, W, A = Level.READ, Level.WRITE, Level.ADMIN


# -- parse_permissions / format_permissions ---------------------------------------------------------


def test_parse_header_syntax_alternatives_and_items() -> None:
    parsed = parse_permissions("pull_requests=write,contents=read; issues=write")
    assert parsed == (
        (("pull_requests", W), ("contents", R)),
        (("issues", W),),
    )


@pytest.mark.parametrize(
    "header",
    [
        # Values GitHub is documented or observed to send (spec §4.2).
        "contents=read",
        "metadata=read",
        "pull_requests=write,contents=read",
        "pull_requests=read,contents=read; issues=read,contents=read",
        "issues=write; pull_requests=write",
        "organization_projects=admin",
        "pull_requests=write,contents=read; issues=write",
    ],
)
def test_format_round_trips_github_header_values_exactly(header: str) -> None:
    assert format_permissions(parse_permissions(header)) == header


def test_item_order_within_an_alternative_is_kept() -> None:
    # Order is GitHub's, not alphabetical: the header is compared verbatim by people and tests.
    assert format_permissions(parse_permissions("contents=read,pull_requests=write")) == (
        "contents=read,pull_requests=write"
    )


def test_parse_tolerates_spacing_and_empty_parts_and_formats_canonically() -> None:
    parsed = parse_permissions(" pull_requests=write , contents=read ;issues=write; ;,")
    assert parsed == ((("pull_requests", W), ("contents", R)), (("issues", W),))
    assert format_permissions(parsed) == "pull_requests=write,contents=read; issues=write"


@pytest.mark.parametrize("empty", ["", " ", ";", " ; , "])
def test_empty_spec_means_no_permission_needed(empty: str) -> None:
    assert parse_permissions(empty) == ()
    assert format_permissions(()) == ""


@pytest.mark.parametrize(
    "spec",
    [
        "content=read",  # typo of contents
        "repo=read",  # a classic scope, not a permission
        "contents=read; pull_request=write",  # the bad key in a later alternative
        "Contents=read",  # keys are case-sensitive, as in GitHub's tables
        "=read",
    ],
)
def test_unknown_permission_key_is_rejected(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        parse_permissions(spec)


@pytest.mark.parametrize("spec", ["contents=owner", "contents=", "contents", "contents=none", "issues=rw"])
def test_unknown_level_is_rejected(spec: str) -> None:
    with pytest.raises(ValueError, match="level"):
        parse_permissions(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "workflows=admin",  # workflows is write-only
        "metadata=write",  # metadata is read-only
        "contents=admin",  # contents has read and write
        "profile=admin",  # profile is write-only
        "organization_plan=write",  # read-only organization permission
        "pull_requests=write,metadata=write",
    ],
)
def test_level_above_what_the_permission_has_is_rejected(spec: str) -> None:
    with pytest.raises(ValueError, match="has no level"):
        parse_permissions(spec)


@pytest.mark.parametrize(
    "spec",
    [
        # Below the permission's maximum but still not one of its levels (spec §3.3: workflows,
        # profile and gists are write-only). A requirement like this would advertise, in
        # X-Accepted-GitHub-Permissions, a level that no token can be granted.
        "workflows=read",
        "profile=read",
        "gists=read",
    ],
)
def test_level_the_permission_does_not_have_is_rejected_even_below_its_maximum(spec: str) -> None:
    with pytest.raises(ValueError, match="level"):
        parse_permissions(spec)


@pytest.mark.parametrize("spec", ["organization_projects=admin", "organization_custom_properties=admin"])
def test_admin_level_is_accepted_where_the_permission_has_it(spec: str) -> None:
    assert parse_permissions(spec)[0][0][1] is A


# -- Requirement construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "public_scopes", "bad"),
    [
        (("repos",), None, "repos"),
        (("repo", "admin:organization"), None, "admin:organization"),
        (("repo",), ("public_repos",), "public_repos"),
        (("Repo",), None, "Repo"),
        (("contents",), None, "contents"),  # a fine-grained permission, not a scope
    ],
)
def test_requirement_with_unknown_scope_raises(
    scopes: tuple[str, ...], public_scopes: tuple[str, ...] | None, bad: str
) -> None:
    with pytest.raises(ValueError, match=f"test:op: unknown scope '{bad}'"):
        Requirement("test:op", Target.REPOSITORY, Access.WRITE, scopes=scopes, public_scopes=public_scopes)


def test_requirement_with_invalid_permissions_raises() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        Requirement("test:op", Target.REPOSITORY, Access.READ, scopes=("repo",), permissions="contnets=read")
    with pytest.raises(ValueError, match="has no level"):
        Requirement("test:op", Target.REPOSITORY, Access.WRITE, permissions="metadata=write")


def test_requirement_accepted_permissions_is_the_canonical_header() -> None:
    req = Requirement("test:op", Target.REPOSITORY, Access.WRITE, permissions="issues=write ;pull_requests=write")
    assert req.accepted_permissions == "issues=write; pull_requests=write"


# -- satisfied_by_permissions ------------------------------------------------------------------------

EITHER = Requirement("either", Target.REPOSITORY, Access.WRITE, permissions="issues=write; pull_requests=write")
BOTH = Requirement("both", Target.REPOSITORY, Access.WRITE, permissions="pull_requests=write,contents=read")
CONTENTS_READ = Requirement("c:r", Target.REPOSITORY, Access.READ, permissions="contents=read")
CONTENTS_WRITE = Requirement("c:w", Target.REPOSITORY, Access.WRITE, permissions="contents=write")
PROJECTS_WRITE = Requirement("p:w", Target.ORGANIZATION, Access.WRITE, permissions="organization_projects=write")
PROJECTS_ADMIN = Requirement("p:a", Target.ORGANIZATION, Access.WRITE, permissions="organization_projects=admin")
NOTHING = Requirement("nothing", Target.ACCOUNT, Access.READ)


@pytest.mark.parametrize(
    ("requirement", "held", "expected"),
    [
        # Alternatives: any one suffices.
        pytest.param(EITHER, {"issues": W}, True, id="or-first-alternative"),
        pytest.param(EITHER, {"pull_requests": W}, True, id="or-second-alternative"),
        pytest.param(EITHER, {"issues": W, "pull_requests": W}, True, id="or-both-alternatives"),
        pytest.param(EITHER, {"issues": R, "pull_requests": R}, False, id="or-neither-at-level"),
        pytest.param(EITHER, {"contents": W, "metadata": R}, False, id="or-unrelated-permissions"),
        pytest.param(EITHER, {}, False, id="or-no-permissions"),
        # Items of one alternative: all are needed.
        pytest.param(BOTH, {"pull_requests": W, "contents": R}, True, id="and-all-items"),
        pytest.param(BOTH, {"pull_requests": W, "contents": W}, True, id="and-all-items-one-higher"),
        pytest.param(BOTH, {"pull_requests": W}, False, id="and-missing-one-item"),
        pytest.param(BOTH, {"contents": R}, False, id="and-missing-other-item"),
        pytest.param(BOTH, {"pull_requests": R, "contents": W}, False, id="and-one-item-too-low"),
        # Levels nest: admin > write > read.
        pytest.param(CONTENTS_READ, {"contents": R}, True, id="read-satisfies-read"),
        pytest.param(CONTENTS_READ, {"contents": W}, True, id="write-satisfies-read"),
        pytest.param(CONTENTS_WRITE, {"contents": W}, True, id="write-satisfies-write"),
        pytest.param(CONTENTS_WRITE, {"contents": R}, False, id="read-does-not-satisfy-write"),
        pytest.param(CONTENTS_READ, {"metadata": R}, False, id="mandatory-metadata-is-not-contents"),
        pytest.param(PROJECTS_WRITE, {"organization_projects": A}, True, id="admin-satisfies-write"),
        pytest.param(PROJECTS_ADMIN, {"organization_projects": A}, True, id="admin-satisfies-admin"),
        pytest.param(PROJECTS_ADMIN, {"organization_projects": W}, False, id="write-does-not-satisfy-admin"),
        # No permission needed: anything, even nothing, suffices.
        pytest.param(NOTHING, {}, True, id="nothing-needed-empty-held"),
        pytest.param(NOTHING, {"metadata": R}, True, id="nothing-needed-some-held"),
    ],
)
def test_satisfied_by_permissions(requirement: Requirement, held: dict[str, Level], expected: bool) -> None:
    assert requirement.satisfied_by_permissions(held) is expected


# -- the named requirements ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "public", "private"),
    [
        # Private repositories need `repo`; writes to public ones accept `public_repo` (spec §3.3 table).
        pytest.param(reqs.CONTENTS_READ, ("repo",), ("repo",), id="contents-read"),
        pytest.param(reqs.REPO_METADATA, ("repo",), ("repo",), id="metadata-read"),
        pytest.param(reqs.CONTENTS_WRITE, ("public_repo",), ("repo",), id="contents-write"),
        pytest.param(reqs.ISSUES_WRITE, ("public_repo",), ("repo",), id="issues-write"),
        pytest.param(reqs.ISSUE_COMMENTS_WRITE, ("public_repo",), ("repo",), id="issue-comments-write"),
        pytest.param(reqs.PULLS_WRITE, ("public_repo",), ("repo",), id="pulls-write"),
        # `workflow` and `delete_repo` are needed whatever the visibility.
        pytest.param(reqs.WORKFLOWS_WRITE, ("workflow",), ("workflow",), id="workflows-write"),
        pytest.param(reqs.REPO_DELETE, ("delete_repo",), ("delete_repo",), id="repo-delete"),
        pytest.param(reqs.DEPLOY_KEYS_READ, ("public_repo",), ("repo",), id="deploy-keys-read"),
        pytest.param(reqs.DEPLOY_KEYS_WRITE, ("public_repo",), ("repo",), id="deploy-keys-write"),
        pytest.param(reqs.REPO_ADMIN, ("public_repo",), ("repo",), id="repo-admin"),
        pytest.param(reqs.ORG_ADMIN, ("admin:org",), ("admin:org",), id="org-admin"),
        pytest.param(reqs.ORG_MEMBERS_READ, ("read:org",), ("read:org",), id="org-members-read"),
        pytest.param(reqs.PROFILE_WRITE, ("user",), ("user",), id="profile-write"),
        # GET /user: no scope needed (spec §3.3 table).
        pytest.param(reqs.AUTHENTICATED, (), (), id="authenticated"),
        pytest.param(reqs.PUBLIC, (), (), id="public"),
    ],
)
def test_classic_scopes_by_visibility(
    requirement: Requirement, public: tuple[str, ...], private: tuple[str, ...]
) -> None:
    assert requirement.classic_scopes(public=True) == public
    assert requirement.classic_scopes(public=False) == private


@pytest.mark.parametrize(
    ("requirement", "header"),
    [
        (reqs.REPO_METADATA, "metadata=read"),
        (reqs.CONTENTS_READ, "contents=read"),
        (reqs.CONTENTS_WRITE, "contents=write"),
        (reqs.WORKFLOWS_WRITE, "workflows=write"),
        (reqs.ISSUES_WRITE, "issues=write"),
        (reqs.ISSUE_COMMENTS_WRITE, "issues=write; pull_requests=write"),
        (reqs.ACTIONS_WRITE, "actions=write"),
        (reqs.DEPLOY_KEYS_READ, "administration=read"),
        (reqs.DEPLOY_KEYS_WRITE, "administration=write"),
        (reqs.REPO_DELETE, "administration=write"),
        (reqs.ORG_ADMIN, "organization_administration=write"),
        (reqs.ORG_MEMBERS_READ, "members=read"),
        (reqs.PROFILE_WRITE, "profile=write"),
        (reqs.AUTHENTICATED, ""),
    ],
    ids=lambda value: value.name if isinstance(value, Requirement) else None,
)
def test_named_requirement_fine_grained_header(requirement: Requirement, header: str) -> None:
    # spec §3.3 "Permissions for the endpoints this project cares about".
    assert requirement.accepted_permissions == header


NAMED = [value for value in vars(reqs).values() if isinstance(value, Requirement)]


def test_named_requirements_have_unique_names() -> None:
    # Audit rows and "why was this denied" explanations key on the name.
    names = [req.name for req in NAMED]
    assert len(NAMED) >= 20
    assert len(names) == len(set(names))


# Repository permissions can be held whatever the resource owner (spec §3.3), and GitHub asks for
# one (administration=write) to create a repository for a user or an organization; organization
# and account permissions only on tokens aimed at that kind of target.
_GROUPS_FOR_TARGET = {
    Target.REPOSITORY: {Group.REPOSITORY},
    Target.ORGANIZATION: {Group.ORGANIZATION, Group.REPOSITORY},
    Target.ACCOUNT: {Group.ACCOUNT, Group.REPOSITORY},
}


@pytest.mark.parametrize("requirement", [r for r in NAMED if r.alternatives], ids=lambda r: r.name)
def test_named_requirement_permissions_can_be_held_by_a_token_that_reaches_the_target(requirement: Requirement) -> None:
    # A repository operation asking for an account permission (or the reverse) could never be
    # satisfied by a token whose resource owner matches the target (spec §3.3 groups).
    for alternative in requirement.alternatives:
        for key, level in alternative:
            assert PERMISSIONS[key].group in _GROUPS_FOR_TARGET[requirement.target], (requirement.name, key)
            assert level in PERMISSIONS[key].levels, (requirement.name, key, level)
