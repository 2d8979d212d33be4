"""Repository and organization roles: who may do what before any token is considered (spec §2.3).

``repository_role`` is what every repository decision starts from, so its table is written out in
full: a wrong answer here silently widens (or narrows) every token of every affected user.
"""

from __future__ import annotations

import pytest

from tokenforge.authz.roles import OrgRole, RepoRole, repository_role

READ, TRIAGE, WRITE, MAINTAIN, ADMIN = RepoRole.READ, RepoRole.TRIAGE, RepoRole.WRITE, RepoRole.MAINTAIN, RepoRole.ADMIN
OWNER, MEMBER = OrgRole.OWNER, OrgRole.MEMBER


# is_owner, org_role, org_base_role, collaborator_role -> expected role (None: no access at all)
REPOSITORY_ROLES = [
    # The repository belongs to the user's own account.
    pytest.param(True, None, None, None, ADMIN, id="own-repository-is-admin"),
    pytest.param(True, None, None, READ, ADMIN, id="own-repository-ignores-a-lower-collaborator-role"),
    # Organization owners administer every repository of the organization.
    pytest.param(False, OWNER, None, None, ADMIN, id="org-owner-is-admin-with-base-role-none"),
    pytest.param(False, OWNER, READ, None, ADMIN, id="org-owner-is-admin-above-base-role"),
    pytest.param(False, OWNER, READ, TRIAGE, ADMIN, id="org-owner-is-admin-above-collaborator-role"),
    # Members get the organization's base permission.
    pytest.param(False, MEMBER, READ, None, READ, id="member-gets-base-read"),
    pytest.param(False, MEMBER, WRITE, None, WRITE, id="member-gets-base-write"),
    pytest.param(False, MEMBER, ADMIN, None, ADMIN, id="member-gets-base-admin"),
    pytest.param(False, MEMBER, None, None, None, id="member-with-base-none-has-no-access"),
    # Several relationships: the highest wins, in both directions.
    pytest.param(False, MEMBER, None, TRIAGE, TRIAGE, id="member-with-base-none-keeps-collaborator-role"),
    pytest.param(False, MEMBER, READ, MAINTAIN, MAINTAIN, id="collaborator-role-above-base-wins"),
    pytest.param(False, MEMBER, WRITE, TRIAGE, WRITE, id="base-role-above-collaborator-role-wins"),
    pytest.param(False, MEMBER, WRITE, WRITE, WRITE, id="equal-base-and-collaborator-roles"),
    # Outside collaborators: the base permission is for members only.
    pytest.param(False, None, READ, None, None, id="non-member-does-not-get-base-role"),
    pytest.param(False, None, ADMIN, None, None, id="non-member-does-not-get-base-admin"),
    pytest.param(False, None, READ, WRITE, WRITE, id="outside-collaborator-gets-collaborator-role-only"),
    pytest.param(False, None, None, MAINTAIN, MAINTAIN, id="outside-collaborator-maintain"),
    # Another user's repository.
    pytest.param(False, None, None, READ, READ, id="user-repo-collaborator-read"),
    pytest.param(False, None, None, ADMIN, ADMIN, id="user-repo-collaborator-admin"),
    pytest.param(False, None, None, None, None, id="stranger-has-no-role"),
]


@pytest.mark.parametrize(("is_owner", "org_role", "org_base_role", "collaborator_role", "expected"), REPOSITORY_ROLES)
def test_repository_role(
    is_owner: bool,
    org_role: OrgRole | None,
    org_base_role: RepoRole | None,
    collaborator_role: RepoRole | None,
    expected: RepoRole | None,
) -> None:
    held = repository_role(
        is_owner=is_owner, org_role=org_role, org_base_role=org_base_role, collaborator_role=collaborator_role
    )
    assert held is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("read", READ),
        ("triage", TRIAGE),
        ("write", WRITE),
        ("maintain", MAINTAIN),
        ("admin", ADMIN),
        ("Admin", ADMIN),
        (" WRITE ", WRITE),
    ],
)
def test_repo_role_parse(text: str, expected: RepoRole) -> None:
    assert RepoRole.parse(text) is expected


# "none" is a valid *base permission* in organization settings, but not a role: callers must map it
# to None themselves rather than have it parse into something that grants access.
@pytest.mark.parametrize("text", ["", "none", "owner", "member", "push", "pull", "1", "reader", "adm in"])
def test_repo_role_parse_rejects_unknown_text(text: str) -> None:
    with pytest.raises(ValueError, match="unknown repository role") as excinfo:
        RepoRole.parse(text)
    # The message lists the valid choices so a person can fix their input.
    assert "read, triage, write, maintain, admin" in str(excinfo.value)


@pytest.mark.parametrize(("text", "expected"), [("owner", OWNER), ("member", MEMBER), (" Owner ", OWNER)])
def test_org_role_parse(text: str, expected: OrgRole) -> None:
    assert OrgRole.parse(text) is expected


@pytest.mark.parametrize("text", ["", "admin", "billing_manager", "outside_collaborator", "read", "2"])
def test_org_role_parse_rejects_unknown_text(text: str) -> None:
    with pytest.raises(ValueError, match="unknown organization role"):
        OrgRole.parse(text)


def test_repo_roles_are_ordered_so_a_higher_role_includes_every_lower_one() -> None:
    assert sorted(RepoRole, key=int) == [READ, TRIAGE, WRITE, MAINTAIN, ADMIN]
    assert READ < TRIAGE < WRITE < MAINTAIN < ADMIN
    assert max(READ, ADMIN, WRITE) is ADMIN


def test_org_roles_are_ordered() -> None:
    assert MEMBER < OWNER
    assert max(MEMBER, OWNER) is OWNER


def test_role_labels_are_githubs_lowercase_names() -> None:
    # Labels are stored in the database and shown in the UI and in denial explanations.
    assert [role.label for role in RepoRole] == ["read", "triage", "write", "maintain", "admin"]
    assert [role.label for role in OrgRole] == ["member", "owner"]


@pytest.mark.parametrize("role", list(RepoRole))
def test_repo_role_label_round_trips_through_parse(role: RepoRole) -> None:
    assert RepoRole.parse(role.label) is role


@pytest.mark.parametrize("role", list(OrgRole))
def test_org_role_label_round_trips_through_parse(role: OrgRole) -> None:
    assert OrgRole.parse(role.label) is role
