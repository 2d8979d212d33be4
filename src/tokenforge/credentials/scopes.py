"""Classic OAuth scopes: the catalog, implication closure and normalization (spec §2).

A scope implies its children, transitively (``admin:org`` ⇒ ``write:org`` ⇒ ``read:org``).
Two operations matter:

* ``expand`` — everything a set of scopes grants, used by the authorization decision. A route
  that accepts ``public_repo`` is satisfied by a token holding ``repo``.
* ``normalize`` — what a token *stores* and echoes in ``X-OAuth-Scopes``: the requested
  scopes minus any already implied by another requested one, sorted (GitHub stores
  ``user,gist,user:email`` as ``gist, user``).

The catalog is in GitHub's UI order, grouped under the top-level scope, because the web form
renders it as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    description: str
    # Scopes this one directly implies. Listed here rather than derived from "admin:X ⇒ write:X"
    # string rules, because several implications don't follow that pattern (spec §2.1).
    implies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScopeGroup:
    """A top-level scope and the children shown indented under it in the UI."""

    parent: Scope
    children: tuple[Scope, ...] = ()


def _s(name: str, description: str, *implies: str) -> Scope:
    return Scope(name, description, implies)


GROUPS: tuple[ScopeGroup, ...] = (
    ScopeGroup(
        _s(
            "repo",
            "Full control of private repositories",
            "repo:status",
            "repo_deployment",
            "public_repo",
            "repo:invite",
            "security_events",
        ),
        (
            _s("repo:status", "Access commit status"),
            _s("repo_deployment", "Access deployment status"),
            _s("public_repo", "Access public repositories"),
            _s("repo:invite", "Access repository invitations"),
            _s("security_events", "Read and write security events"),
        ),
    ),
    ScopeGroup(_s("workflow", "Update GitHub Action workflows")),
    ScopeGroup(
        _s("write:packages", "Upload packages to GitHub Package Registry", "read:packages"),
        (_s("read:packages", "Download packages from GitHub Package Registry"),),
    ),
    ScopeGroup(_s("delete:packages", "Delete packages from GitHub Package Registry")),
    ScopeGroup(
        _s(
            "admin:org",
            "Full control of orgs and teams, read and write org projects",
            "write:org",
            "read:org",
            "manage_runners:org",
        ),
        (
            _s("write:org", "Read and write org and team membership, read and write org projects", "read:org"),
            _s("read:org", "Read org and team membership, read org projects"),
            _s("manage_runners:org", "Manage org runners and runner groups"),
        ),
    ),
    ScopeGroup(
        _s("admin:public_key", "Full control of user public keys", "write:public_key", "read:public_key"),
        (
            _s("write:public_key", "Write user public keys", "read:public_key"),
            _s("read:public_key", "Read user public keys"),
        ),
    ),
    ScopeGroup(
        _s("admin:repo_hook", "Full control of repository hooks", "write:repo_hook", "read:repo_hook"),
        (
            _s("write:repo_hook", "Write repository hooks", "read:repo_hook"),
            _s("read:repo_hook", "Read repository hooks"),
        ),
    ),
    ScopeGroup(_s("admin:org_hook", "Full control of organization hooks")),
    ScopeGroup(_s("gist", "Create gists")),
    ScopeGroup(_s("notifications", "Access notifications")),
    ScopeGroup(
        _s("user", "Update ALL user data", "read:user", "user:email", "user:follow"),
        (
            _s("read:user", "Read ALL user profile data"),
            _s("user:email", "Access user email addresses (read-only)"),
            _s("user:follow", "Follow and unfollow users"),
        ),
    ),
    ScopeGroup(_s("delete_repo", "Delete repositories")),
    ScopeGroup(
        _s("write:discussion", "Read and write team discussions", "read:discussion"),
        (_s("read:discussion", "Read team discussions"),),
    ),
    ScopeGroup(
        _s(
            "admin:enterprise",
            "Full control of enterprises",
            "manage_runners:enterprise",
            "manage_billing:enterprise",
            "read:enterprise",
            "scim:enterprise",
        ),
        (
            _s("manage_runners:enterprise", "Manage enterprise runners and runner groups"),
            _s("manage_billing:enterprise", "Read and write enterprise billing data"),
            _s("read:enterprise", "Read enterprise profile data"),
            _s("scim:enterprise", "Provisioning of users and groups via SCIM"),
        ),
    ),
    ScopeGroup(
        _s("audit_log", "Full control of audit log", "read:audit_log"),
        (_s("read:audit_log", "Read access of audit log"),),
    ),
    ScopeGroup(
        _s("codespace", "Full control of codespaces", "codespace:secrets"),
        (_s("codespace:secrets", "Ability to create, read, update, and delete codespace secrets"),),
    ),
    ScopeGroup(
        _s("copilot", "Full control of GitHub Copilot settings and seat assignments", "manage_billing:copilot"),
        (_s("manage_billing:copilot", "View and edit Copilot Business seat assignments"),),
    ),
    ScopeGroup(
        _s(
            "write:network_configurations",
            "Write org hosted compute network configurations",
            "read:network_configurations",
        ),
        (_s("read:network_configurations", "Read org hosted compute network configurations"),),
    ),
    ScopeGroup(
        _s("project", "Full control of projects", "read:project"),
        (_s("read:project", "Read access of projects"),),
    ),
    ScopeGroup(
        _s("admin:gpg_key", "Full control of public user GPG keys", "write:gpg_key", "read:gpg_key"),
        (
            _s("write:gpg_key", "Write public user GPG keys", "read:gpg_key"),
            _s("read:gpg_key", "Read public user GPG keys"),
        ),
    ),
    ScopeGroup(
        _s(
            "admin:ssh_signing_key",
            "Full control of public user SSH signing keys",
            "write:ssh_signing_key",
            "read:ssh_signing_key",
        ),
        (
            _s("write:ssh_signing_key", "Write public user SSH signing keys", "read:ssh_signing_key"),
            _s("read:ssh_signing_key", "Read public user SSH signing keys"),
        ),
    ),
    # GitHub Enterprise Server only; Tokenforge is self-hosted, so it is in the catalog.
    ScopeGroup(_s("site_admin", "Full control of the instance's site administration API")),
)

CATALOG: Mapping[str, Scope] = {scope.name: scope for group in GROUPS for scope in (group.parent, *group.children)}


def _closure(name: str) -> frozenset[str]:
    seen = {name}
    pending = list(CATALOG[name].implies)
    while pending:
        child = pending.pop()
        if child not in seen:
            seen.add(child)
            pending.extend(CATALOG[child].implies)
    return frozenset(seen)


# Precomputed once: the decision tests membership in an expanded frozenset (one C-level
# set operation per request) instead of walking the tree.
_CLOSURE: Mapping[str, frozenset[str]] = {name: _closure(name) for name in CATALOG}


class UnknownScope(ValueError):
    def __init__(self, scope: str) -> None:
        super().__init__(f"unknown scope: {scope!r}")
        self.scope = scope


def parse(text: str) -> tuple[str, ...]:
    """Split a comma- or space-separated scope list (``"repo, workflow"``); validates names."""
    names = tuple(part for part in text.replace(",", " ").split() if part)
    for name in names:
        if name not in CATALOG:
            raise UnknownScope(name)
    return names


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope granted by ``scopes`` (each plus everything it implies)."""
    granted: set[str] = set()
    for name in scopes:
        closure = _CLOSURE.get(name)
        if closure is None:
            raise UnknownScope(name)
        granted |= closure
    return frozenset(granted)


def normalize(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes a token stores: unknown names rejected, implied ones dropped, sorted."""
    requested = set(scopes)
    for name in requested:
        if name not in CATALOG:
            raise UnknownScope(name)
    kept = {name for name in requested if not any(name in _CLOSURE[other] for other in requested if other != name)}
    return tuple(sorted(kept))


def header_value(scopes: Iterable[str]) -> str:
    """The ``X-OAuth-Scopes`` / ``X-Accepted-OAuth-Scopes`` form: ``"repo, user"``."""
    return ", ".join(scopes)
