"""Who may do what, before any token is considered.

Repository roles are GitHub's five, ordered so that a higher role includes every lower one.
A user's role on a repository is the highest of what each relationship gives them (owner,
organization role, the organization's base permission, an explicit collaborator role);
anyone may read a public repository.
"""

from __future__ import annotations

from enum import IntEnum


class RepoRole(IntEnum):
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> RepoRole:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(r.label for r in cls)
            raise ValueError(f"unknown repository role: {text!r} ({choices})") from None


class OrgRole(IntEnum):
    MEMBER = 1
    OWNER = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> OrgRole:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown organization role: {text!r} (owner, member)") from None


def repository_role(
    *,
    is_owner: bool,
    org_role: OrgRole | None,
    org_base_role: RepoRole | None,
    collaborator_role: RepoRole | None,
) -> RepoRole | None:
    """The user's role on a repository from their relationships to it; None = no access.

    Visibility is not an input: reading a *public* repository needs no role at all, and the
    decision adds that rule itself, so that "the user may read it because it is public" is never
    mistaken for "the user is a collaborator" (which would let a fine-grained token or a
    write requirement ride on it).

    ``is_owner``: the repository belongs to the user's own account.
    ``org_role`` / ``org_base_role``: for an organization's repository, the user's membership
    and the role the organization gives every member (GitHub's "base permission").
    """
    if is_owner or org_role is OrgRole.OWNER:
        return RepoRole.ADMIN
    candidates = [collaborator_role]
    if org_role is OrgRole.MEMBER:
        candidates.append(org_base_role)
    held = [role for role in candidates if role is not None]
    return max(held) if held else None
