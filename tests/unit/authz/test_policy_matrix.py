"""The authorization matrix: credential kind × grant × role × visibility × owner and policy.

Every expected outcome is written out as literal data, one row per case, so that a change in
``decide`` that alters who may do what shows up as a named row, and never as a quiet change in
shared logic. The expectations come from the PAT spec (``github-pat.md`` §2.3, §3.2, §3.5, §4.3,
§4.4, §5.1, §5.2), not from reading the implementation:

* public reads are always allowed, whatever restricts the token (§3.2, §4.3, §5.1);
* what the user cannot see is 404, never 403 (§4.4);
* a token cap on something the token can see is 403; on something private, 404 (§5.2);
* a token never gives more than its user has (§2.3).

The cast: ``alice`` (id 1) is the user behind every credential; ``bob`` (id 2) is another user;
``acme`` (id 100) and ``globex`` (id 101) are organizations. Repository roles on a row are what
``roles.repository_role`` yields for the relationship named in the row id (owner, org owner,
member with the organization's base role, outside collaborator, …).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest

from tokenforge.authz import requirements as reqs
from tokenforge.authz.policy import Decision, Outcome, Reason, decide
from tokenforge.authz.requirements import Requirement, Target
from tokenforge.authz.roles import OrgRole, RepoRole
from tokenforge.authz.subjects import (
    INSTANCE,
    Anonymous,
    Approval,
    ClassicToken,
    FineGrainedToken,
    OrgPolicy,
    Principal,
    RepositorySelection,
    Resource,
    UserSession,
)
from tokenforge.credentials import scopes as scope_catalog
from tokenforge.credentials.permissions import Level

# -- the cast -----------------------------------------------------------------------------------------

ACCOUNT_IDS = {"alice": 1, "bob": 2, "acme": 100, "globex": 101}
ORGS = {"acme", "globex"}
REPO_IDS = {"alice/site": 10, "alice/notes": 11, "acme/app": 20, "acme/other": 21, "bob/lib": 30, "globex/tool": 40}
ROLES = {
    "read": RepoRole.READ,
    "triage": RepoRole.TRIAGE,
    "write": RepoRole.WRITE,
    "maintain": RepoRole.MAINTAIN,
    "admin": RepoRole.ADMIN,
}
ORG_ROLES = {"member": OrgRole.MEMBER, "owner": OrgRole.OWNER}
LEVELS = {"read": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN}

CREATED = datetime(2026, 11, 1, tzinfo=UTC)
CLASSIC_ID, FINE_ID = 7, 8
CLASSIC_SETTINGS_URL = f"https://tokenforge.test/settings/tokens/{CLASSIC_ID}"
FINE_SETTINGS_URL = f"https://tokenforge.test/settings/personal-access-tokens/{FINE_ID}"

# Organization policies (spec §5.1). GitHub's defaults: both kinds allowed, approval required,
# fine-grained tokens capped at 366 days, classic tokens uncapped.
DEFAULT = OrgPolicy()
NO_CLASSIC = OrgPolicy(classic_allowed=False)
NO_FINE = OrgPolicy(fine_grained_allowed=False)
NO_APPROVAL = OrgPolicy(approval_required=False)
MAX_90 = OrgPolicy(max_lifetime_fine_grained=timedelta(days=90), max_lifetime_classic=timedelta(days=90))
UNCAPPED = OrgPolicy(max_lifetime_fine_grained=None)
NO_CLASSIC_MAX_90 = OrgPolicy(classic_allowed=False, max_lifetime_classic=timedelta(days=90))
NO_FINE_PENDING_OK = OrgPolicy(fine_grained_allowed=False, approval_required=False)

ANON = Anonymous()
WEB = UserSession(user_id=1, login="alice")


def _lifetime(days: int | None) -> tuple[timedelta | None, datetime | None]:
    if days is None:
        return None, None
    return timedelta(days=days), CREATED + timedelta(days=days)


def classic(*scopes: str, days: int | None = 30) -> ClassicToken:
    """alice's classic token with ``scopes``, expiring ``days`` after creation (None: never)."""
    lifetime, expires_at = _lifetime(days)
    return ClassicToken(
        user_id=1,
        login="alice",
        token_id=CLASSIC_ID,
        lifetime=lifetime,
        expires_at=expires_at,
        settings_url=CLASSIC_SETTINGS_URL,
        scopes=scope_catalog.normalize(scopes),
        granted=scope_catalog.expand(scopes),
    )


def fine(
    owner: str = "alice",
    perms: str = "",
    *,
    repos: str | tuple[str, ...] = "all",
    approval: str = "approved",
    days: int | None = 30,
) -> FineGrainedToken:
    """alice's fine-grained token.

    ``owner``: the resource owner's login. ``perms``: ``"contents=write issues=read"``
    (``metadata=read`` is always added, as on GitHub). ``repos``: ``"none"`` (public repositories,
    read-only), ``"all"``, or the selected repositories' full names.
    """
    permissions = {"metadata": Level.READ}
    for item in perms.split():
        key, _, level = item.partition("=")
        permissions[key] = LEVELS[level]
    if isinstance(repos, tuple):
        selection, repo_ids = RepositorySelection.SUBSET, frozenset(REPO_IDS[name] for name in repos)
    else:
        selection, repo_ids = RepositorySelection(repos), frozenset()
    lifetime, expires_at = _lifetime(days)
    return FineGrainedToken(
        user_id=1,
        login="alice",
        token_id=FINE_ID,
        lifetime=lifetime,
        expires_at=expires_at,
        settings_url=FINE_SETTINGS_URL,
        resource_owner_id=ACCOUNT_IDS[owner],
        resource_owner_login=owner,
        repository_selection=selection,
        repository_ids=repo_ids,
        permissions=permissions,
        approval=Approval(approval),
    )


def repo(
    name: str, *, public: bool, role: str | None = None, org: str | None = None, policy: OrgPolicy = DEFAULT
) -> Resource:
    """The repository ``name`` as alice stands towards it: her ``role`` and, for an organization's
    repository, her ``org`` membership; ``policy`` applies when the owner is an organization."""
    owner = name.split("/", maxsplit=1)[0]
    return Resource(
        target=Target.REPOSITORY,
        owner_id=ACCOUNT_IDS[owner],
        owner_login=owner,
        public=public,
        repo_id=REPO_IDS[name],
        name=name,
        org_policy=policy if owner in ORGS else None,
        repo_role=ROLES[role] if role else None,
        org_role=ORG_ROLES[org] if org else None,
    )


def org(name: str = "acme", *, role: str | None = None, public: bool = True, policy: OrgPolicy = DEFAULT) -> Resource:
    return Resource(
        target=Target.ORGANIZATION,
        owner_id=ACCOUNT_IDS[name],
        owner_login=name,
        public=public,
        name=name,
        org_policy=policy,
        org_role=ORG_ROLES[role] if role else None,
    )


def account(login: str = "alice") -> Resource:
    """A user account as the target of /user-style operations."""
    return Resource(target=Target.ACCOUNT, owner_id=ACCOUNT_IDS[login], owner_login=login, public=False, name=login)


# Short names keep each row on one line.
ALLOW, NOT_FOUND, FORBIDDEN, UNAUTH = Outcome.ALLOW, Outcome.NOT_FOUND, Outcome.FORBIDDEN, Outcome.UNAUTHENTICATED
R = Reason
CONTENTS_READ, CONTENTS_WRITE, METADATA = reqs.CONTENTS_READ, reqs.CONTENTS_WRITE, reqs.REPO_METADATA
ISSUES_WRITE, ISSUES_TRIAGE, COMMENTS = reqs.ISSUES_WRITE, reqs.ISSUES_TRIAGE, reqs.ISSUE_COMMENTS_WRITE
WORKFLOWS, DELETE, REPO_ADMIN = reqs.WORKFLOWS_WRITE, reqs.REPO_DELETE, reqs.REPO_ADMIN
KEYS_READ, KEYS_WRITE = reqs.DEPLOY_KEYS_READ, reqs.DEPLOY_KEYS_WRITE
ORG_READ, ORG_MEMBERS, ORG_ADMIN = reqs.ORG_READ, reqs.ORG_MEMBERS_READ, reqs.ORG_ADMIN
PROFILE, GET_USER = reqs.PROFILE_WRITE, reqs.AUTHENTICATED


# One positional argument per column keeps every row a single readable line.
def row(  # noqa: PLR0917
    principal: Principal, resource: Resource, requirement: Requirement, outcome: Outcome, reason: Reason, name: str
) -> object:
    """One matrix row; ``name`` is the row's id and says what the case is."""
    return pytest.param(principal, resource, requirement, outcome, reason, id=name)


# fmt: off
ANONYMOUS_ROWS = [
    row(ANON, repo("acme/app", public=True), CONTENTS_READ, ALLOW, R.PUBLIC_READ, "anon-public-repo-read"),
    row(ANON, repo("alice/site", public=True), METADATA, ALLOW, R.PUBLIC_READ, "anon-public-user-repo-metadata"),
    row(ANON, INSTANCE, reqs.PUBLIC, ALLOW, R.PUBLIC_READ, "anon-instance-meta"),
    row(ANON, org("acme"), ORG_READ, ALLOW, R.PUBLIC_READ, "anon-public-org-read"),
    row(ANON, repo("acme/app", public=True), ISSUES_WRITE, UNAUTH, R.AUTHENTICATION_REQUIRED, "anon-public-issue"),
    row(ANON, repo("bob/lib", public=True), CONTENTS_WRITE, UNAUTH, R.AUTHENTICATION_REQUIRED, "anon-public-push"),
    row(ANON, repo("bob/lib", public=True), KEYS_READ, UNAUTH, R.AUTHENTICATION_REQUIRED, "anon-public-deploy-keys"),
    row(ANON, org("acme"), ORG_MEMBERS, UNAUTH, R.AUTHENTICATION_REQUIRED, "anon-org-members-read"),
    row(ANON, account("alice"), GET_USER, UNAUTH, R.AUTHENTICATION_REQUIRED, "anon-get-user"),
    row(ANON, account("alice"), PROFILE, UNAUTH, R.AUTHENTICATION_REQUIRED, "anon-profile-write"),
    # A private thing is not confirmed to exist, even to say "sign in".
    row(ANON, repo("acme/app", public=False), CONTENTS_READ, NOT_FOUND, R.AUTHENTICATION_REQUIRED, "anon-private-read"),
    row(ANON, repo("bob/lib", public=False), CONTENTS_WRITE, NOT_FOUND, R.AUTHENTICATION_REQUIRED, "anon-private-push"),
    row(ANON, org("acme", public=False), ORG_READ, NOT_FOUND, R.AUTHENTICATION_REQUIRED, "anon-private-org-read"),
]

WEB_ROWS = [
    row(WEB, repo("alice/site", public=False, role="admin"), CONTENTS_WRITE, ALLOW, R.GRANTED, "web-owner-push"),
    row(WEB, repo("alice/site", public=False, role="admin"), DELETE, ALLOW, R.GRANTED, "web-owner-delete"),
    row(WEB, repo("bob/lib", public=False), CONTENTS_READ, NOT_FOUND, R.NO_ACCESS, "web-stranger-private-read"),
    row(WEB, repo("bob/lib", public=False), CONTENTS_WRITE, NOT_FOUND, R.NO_ACCESS, "web-stranger-private-push"),
    row(WEB, repo("bob/lib", public=True), CONTENTS_READ, ALLOW, R.PUBLIC_READ, "web-stranger-public-read"),
    row(WEB, repo("bob/lib", public=True), ISSUES_WRITE, ALLOW, R.GRANTED, "web-stranger-public-open-issue"),
    row(WEB, repo("bob/lib", public=True), CONTENTS_WRITE, FORBIDDEN, R.INSUFFICIENT_ROLE, "web-stranger-public-push"),
    row(WEB, repo("bob/lib", public=False, role="read"), CONTENTS_WRITE, FORBIDDEN, R.INSUFFICIENT_ROLE,
        "web-collab-read-push"),
    row(WEB, repo("bob/lib", public=False, role="read"), ISSUES_TRIAGE, FORBIDDEN, R.INSUFFICIENT_ROLE,
        "web-collab-read-triage"),
    row(WEB, repo("bob/lib", public=False, role="triage"), ISSUES_TRIAGE, ALLOW, R.GRANTED, "web-collab-triage-triage"),
    row(WEB, repo("bob/lib", public=False, role="maintain"), REPO_ADMIN, FORBIDDEN, R.INSUFFICIENT_ROLE,
        "web-collab-maintain-admin"),
    row(WEB, repo("bob/lib", public=False, role="write"), KEYS_READ, NOT_FOUND, R.INSUFFICIENT_ROLE,
        "web-collab-write-deploy-keys"),
    row(WEB, repo("bob/lib", public=False, role="admin"), KEYS_WRITE, ALLOW, R.GRANTED, "web-collab-admin-deploy-keys"),
    row(WEB, repo("acme/app", public=False, role="read", org="member"), CONTENTS_WRITE, FORBIDDEN, R.INSUFFICIENT_ROLE,
        "web-member-base-read-push"),
    # Token policies cap tokens, not the person signed in with a password.
    row(WEB, repo("acme/app", public=False, role="write", org="member", policy=NO_CLASSIC), CONTENTS_WRITE, ALLOW,
        R.GRANTED, "web-classic-restricted-org-unaffected"),
    row(WEB, repo("acme/app", public=False, role="write", org="member", policy=MAX_90), CONTENTS_WRITE, ALLOW,
        R.GRANTED, "web-lifetime-policy-unaffected"),
    row(WEB, org("acme", role="owner"), ORG_ADMIN, ALLOW, R.GRANTED, "web-org-owner-admin"),
    row(WEB, org("acme", role="member"), ORG_ADMIN, FORBIDDEN, R.INSUFFICIENT_ROLE, "web-org-member-admin"),
    row(WEB, org("acme"), ORG_MEMBERS, FORBIDDEN, R.INSUFFICIENT_ROLE, "web-non-member-org-members"),
    row(WEB, org("acme", public=False), ORG_READ, NOT_FOUND, R.NO_ACCESS, "web-non-member-private-org"),
    row(WEB, account("alice"), GET_USER, ALLOW, R.GRANTED, "web-get-user"),
    row(WEB, account("bob"), PROFILE, NOT_FOUND, R.NOT_YOUR_ACCOUNT, "web-other-account-profile"),
]

CLASSIC_ROWS = [
    # Scopes on the user's own repositories: private needs `repo`; public writes accept `public_repo`.
    row(classic(), repo("alice/site", public=True, role="admin"), CONTENTS_READ, ALLOW, R.PUBLIC_READ,
        "classic-none-public-read"),
    row(classic(), repo("alice/site", public=False, role="admin"), CONTENTS_READ, NOT_FOUND, R.MISSING_SCOPE,
        "classic-none-private-read"),
    row(classic("public_repo"), repo("alice/site", public=False, role="admin"), CONTENTS_READ, NOT_FOUND,
        R.MISSING_SCOPE, "classic-public_repo-private-read"),
    row(classic("repo"), repo("alice/site", public=False, role="admin"), CONTENTS_READ, ALLOW, R.GRANTED,
        "classic-repo-private-read"),
    row(classic(), repo("alice/site", public=True, role="admin"), CONTENTS_WRITE, NOT_FOUND, R.MISSING_SCOPE,
        "classic-none-public-push"),
    row(classic("gist", "user"), repo("alice/site", public=True, role="admin"), ISSUES_WRITE, NOT_FOUND,
        R.MISSING_SCOPE, "classic-unrelated-scopes-public-issue"),
    row(classic("public_repo"), repo("alice/site", public=True, role="admin"), CONTENTS_WRITE, ALLOW, R.GRANTED,
        "classic-public_repo-public-push"),
    row(classic("repo"), repo("alice/site", public=True, role="admin"), CONTENTS_WRITE, ALLOW, R.GRANTED,
        "classic-repo-implies-public_repo"),
    row(classic("public_repo"), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE, NOT_FOUND,
        R.MISSING_SCOPE, "classic-public_repo-private-push"),
    row(classic("repo"), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE, ALLOW, R.GRANTED,
        "classic-repo-private-push"),
    row(classic("repo", "workflow"), repo("alice/site", public=False, role="admin"), WORKFLOWS, ALLOW, R.GRANTED,
        "classic-repo-workflow-workflows"),
    row(classic("repo"), repo("alice/site", public=False, role="admin"), WORKFLOWS, NOT_FOUND, R.MISSING_SCOPE,
        "classic-repo-without-workflow"),
    row(classic("repo"), repo("alice/site", public=False, role="admin"), DELETE, NOT_FOUND, R.MISSING_SCOPE,
        "classic-repo-without-delete_repo"),
    row(classic("delete_repo"), repo("alice/site", public=True, role="admin"), DELETE, ALLOW, R.GRANTED,
        "classic-delete_repo-owner"),
    # Effective access = scope ∩ the user's rights (§2.3).
    row(classic("repo", "delete_repo"), repo("bob/lib", public=False, role="write"), DELETE, FORBIDDEN,
        R.INSUFFICIENT_ROLE, "classic-delete_repo-collab-write"),
    row(classic("repo"), repo("bob/lib", public=False), CONTENTS_READ, NOT_FOUND, R.NO_ACCESS,
        "classic-repo-stranger-private"),
    row(classic("repo"), repo("bob/lib", public=True), CONTENTS_WRITE, FORBIDDEN, R.INSUFFICIENT_ROLE,
        "classic-repo-stranger-public-push"),
    row(classic("public_repo"), repo("bob/lib", public=True), ISSUES_WRITE, ALLOW, R.GRANTED,
        "classic-public_repo-stranger-open-issue"),
    row(classic("repo"), repo("bob/lib", public=False, role="write"), CONTENTS_WRITE, ALLOW, R.GRANTED,
        "classic-repo-user-collab-write-push"),
    row(classic("repo"), repo("bob/lib", public=False, role="read"), CONTENTS_WRITE, FORBIDDEN, R.INSUFFICIENT_ROLE,
        "classic-repo-user-collab-read-push"),
    # Only classic tokens serve outside collaborators of an organization (§3.5).
    row(classic("repo"), repo("acme/app", public=False, role="write"), CONTENTS_WRITE, ALLOW, R.GRANTED,
        "classic-repo-outside-collab-push"),
    row(classic("repo"), repo("acme/app", public=False, role="read", org="member"), CONTENTS_READ, ALLOW, R.GRANTED,
        "classic-repo-member-base-read"),
    row(classic("repo"), repo("acme/app", public=False, org="member"), CONTENTS_READ, NOT_FOUND, R.NO_ACCESS,
        "classic-repo-member-base-none"),
    # Admin-only endpoints are hidden from non-admins, even with the scope (§4.3).
    row(classic("repo"), repo("bob/lib", public=False, role="write"), KEYS_READ, NOT_FOUND, R.INSUFFICIENT_ROLE,
        "classic-deploy-keys-collab-write"),
    row(classic("repo"), repo("bob/lib", public=False, role="maintain"), KEYS_WRITE, NOT_FOUND, R.INSUFFICIENT_ROLE,
        "classic-deploy-keys-write-collab-maintain"),
    row(classic("public_repo"), repo("bob/lib", public=True), KEYS_READ, NOT_FOUND, R.INSUFFICIENT_ROLE,
        "classic-deploy-keys-public-stranger"),
    row(classic("repo"), repo("alice/site", public=False, role="admin"), KEYS_READ, ALLOW, R.GRANTED,
        "classic-deploy-keys-owner"),
    row(classic("public_repo"), repo("alice/site", public=True, role="admin"), KEYS_READ, ALLOW, R.GRANTED,
        "classic-deploy-keys-public-owner"),
    row(classic(), repo("alice/site", public=True, role="admin"), KEYS_READ, NOT_FOUND, R.MISSING_SCOPE,
        "classic-deploy-keys-public-no-scope"),
    row(classic("repo"), repo("acme/app", public=False, role="admin", org="owner"), REPO_ADMIN, ALLOW, R.GRANTED,
        "classic-repo-org-owner-admin"),
    # Organization restricts classic tokens (§5.1): public resources stay readable.
    row(classic("repo"), repo("acme/app", public=True, role="read", org="member", policy=NO_CLASSIC), CONTENTS_READ,
        ALLOW, R.PUBLIC_READ, "classic-restricted-public-read"),
    row(classic("repo"), repo("acme/app", public=False, role="write", org="member", policy=NO_CLASSIC), CONTENTS_READ,
        FORBIDDEN, R.ORG_FORBIDS_CLASSIC, "classic-restricted-private-read"),
    row(classic("repo"), repo("acme/app", public=True, role="write", org="member", policy=NO_CLASSIC), CONTENTS_WRITE,
        FORBIDDEN, R.ORG_FORBIDS_CLASSIC, "classic-restricted-public-push"),
    row(classic("repo"), repo("acme/app", public=False, policy=NO_CLASSIC), CONTENTS_READ, NOT_FOUND, R.NO_ACCESS,
        "classic-restricted-invisible-stays-404"),
    row(classic("admin:org"), org("acme", role="owner", policy=NO_CLASSIC), ORG_ADMIN, FORBIDDEN,
        R.ORG_FORBIDS_CLASSIC, "classic-restricted-org-admin"),
    row(classic("repo"), repo("acme/app", public=False, role="write", org="member", policy=NO_CLASSIC_MAX_90),
        CONTENTS_READ, FORBIDDEN, R.ORG_FORBIDS_CLASSIC, "classic-restricted-before-lifetime"),
    # Lifetime policy (§5.1): blocks, checked at use.
    row(classic("repo", days=120), repo("acme/app", public=False, role="write", org="member", policy=MAX_90),
        CONTENTS_READ, FORBIDDEN, R.LIFETIME_EXCEEDS_POLICY, "classic-lifetime-over"),
    row(classic("repo", days=None), repo("acme/app", public=False, role="write", org="member", policy=MAX_90),
        CONTENTS_READ, FORBIDDEN, R.LIFETIME_EXCEEDS_POLICY, "classic-no-expiry-over"),
    row(classic("repo", days=90), repo("acme/app", public=False, role="write", org="member", policy=MAX_90),
        CONTENTS_WRITE, ALLOW, R.GRANTED, "classic-lifetime-at-limit"),
    row(classic("repo", days=None), repo("acme/app", public=True, role="write", org="member", policy=MAX_90),
        CONTENTS_READ, ALLOW, R.PUBLIC_READ, "classic-lifetime-public-read"),
    row(classic("repo", days=None), repo("acme/app", public=False, role="write", org="member"), CONTENTS_WRITE,
        ALLOW, R.GRANTED, "classic-no-expiry-default-policy"),
    row(classic("repo", days=None), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE, ALLOW, R.GRANTED,
        "classic-no-expiry-own-repo"),
    # Organizations.
    row(classic(), org("acme"), ORG_READ, ALLOW, R.PUBLIC_READ, "classic-none-org-read"),
    row(classic(), org("acme", role="member", public=False), ORG_READ, ALLOW, R.GRANTED,
        "classic-none-private-org-member"),
    row(classic("admin:org"), org("acme", role="owner"), ORG_ADMIN, ALLOW, R.GRANTED, "classic-admin:org-owner"),
    row(classic("write:org"), org("acme", role="owner"), ORG_ADMIN, NOT_FOUND, R.MISSING_SCOPE,
        "classic-write:org-owner"),
    row(classic("admin:org"), org("acme", role="member"), ORG_ADMIN, FORBIDDEN, R.INSUFFICIENT_ROLE,
        "classic-admin:org-member"),
    row(classic("read:org"), org("acme", role="member"), ORG_MEMBERS, ALLOW, R.GRANTED, "classic-read:org-members"),
    row(classic("admin:org"), org("acme", role="member"), ORG_MEMBERS, ALLOW, R.GRANTED,
        "classic-admin:org-implies-read:org"),
    row(classic("repo"), org("acme", role="member"), ORG_MEMBERS, NOT_FOUND, R.MISSING_SCOPE,
        "classic-repo-org-members"),
    row(classic("read:org"), org("acme"), ORG_MEMBERS, FORBIDDEN, R.INSUFFICIENT_ROLE, "classic-read:org-non-member"),
    # The user's own account.
    row(classic(), account("alice"), GET_USER, ALLOW, R.GRANTED, "classic-none-get-user"),
    row(classic("user"), account("alice"), PROFILE, ALLOW, R.GRANTED, "classic-user-profile"),
    row(classic("read:user"), account("alice"), PROFILE, NOT_FOUND, R.MISSING_SCOPE, "classic-read:user-profile"),
    row(classic("user"), account("bob"), PROFILE, NOT_FOUND, R.NOT_YOUR_ACCOUNT, "classic-user-other-account"),
    row(classic(), INSTANCE, reqs.PUBLIC, ALLOW, R.PUBLIC_READ, "classic-instance"),
]

FINE_USER_ROWS = [
    # Resource owner alice, her own repositories.
    row(fine("alice", "contents=write"), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE, ALLOW,
        R.GRANTED, "fine-own-all-write-push"),
    row(fine("alice", "contents=read"), repo("alice/site", public=False, role="admin"), CONTENTS_READ, ALLOW,
        R.GRANTED, "fine-own-all-read-read"),
    row(fine("alice", "contents=write"), repo("alice/site", public=False, role="admin"), CONTENTS_READ, ALLOW,
        R.GRANTED, "fine-own-write-implies-read"),
    row(fine("alice", ""), repo("alice/site", public=False, role="admin"), METADATA, ALLOW, R.GRANTED,
        "fine-own-mandatory-metadata"),
    row(fine("alice", ""), repo("alice/site", public=False, role="admin"), CONTENTS_READ, FORBIDDEN,
        R.MISSING_PERMISSION, "fine-own-no-permission-private-read"),
    row(fine("alice", "contents=read"), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE, FORBIDDEN,
        R.MISSING_PERMISSION, "fine-own-read-private-push"),
    row(fine("alice", "contents=read"), repo("alice/site", public=True, role="admin"), CONTENTS_WRITE, FORBIDDEN,
        R.MISSING_PERMISSION, "fine-own-read-public-push"),
    row(fine("alice", "issues=read"), repo("alice/site", public=True, role="admin"), CONTENTS_READ, ALLOW,
        R.PUBLIC_READ, "fine-own-public-read-needs-nothing"),
    row(fine("alice", "contents=write"), repo("alice/site", public=False, role="admin"), WORKFLOWS, FORBIDDEN,
        R.MISSING_PERMISSION, "fine-own-contents-without-workflows"),
    row(fine("alice", "contents=write workflows=write"), repo("alice/site", public=False, role="admin"), WORKFLOWS,
        ALLOW, R.GRANTED, "fine-own-workflows"),
    row(fine("alice", "pull_requests=write"), repo("alice/site", public=False, role="admin"), COMMENTS, ALLOW,
        R.GRANTED, "fine-own-comment-via-pull-requests"),
    row(fine("alice", "administration=read"), repo("alice/site", public=False, role="admin"), KEYS_READ, ALLOW,
        R.GRANTED, "fine-own-deploy-keys-read"),
    row(fine("alice", "contents=write"), repo("alice/site", public=False, role="admin"), KEYS_READ, FORBIDDEN,
        R.MISSING_PERMISSION, "fine-own-deploy-keys-no-administration"),
    row(fine("alice", "administration=write"), repo("alice/site", public=False, role="admin"), DELETE, ALLOW,
        R.GRANTED, "fine-own-delete"),
    row(fine("alice", "contents=write", days=None), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE,
        ALLOW, R.GRANTED, "fine-own-no-expiry-works-on-own-repos"),
    # Repository selection (§3.2).
    row(fine("alice", "contents=write", repos="none"), repo("alice/site", public=True, role="admin"), CONTENTS_READ,
        ALLOW, R.PUBLIC_READ, "fine-own-selection-none-public-read"),
    row(fine("alice", "contents=write", repos="none"), repo("alice/site", public=False, role="admin"), CONTENTS_READ,
        NOT_FOUND, R.PUBLIC_REPOSITORIES_ONLY, "fine-own-selection-none-private-read"),
    row(fine("alice", "contents=write", repos="none"), repo("alice/site", public=True, role="admin"), CONTENTS_WRITE,
        FORBIDDEN, R.PUBLIC_REPOSITORIES_ONLY, "fine-own-selection-none-public-push"),
    row(fine("alice", "contents=write", repos=("alice/site",)), repo("alice/site", public=False, role="admin"),
        CONTENTS_WRITE, ALLOW, R.GRANTED, "fine-own-subset-including-push"),
    row(fine("alice", "contents=write", repos=("alice/site",)), repo("alice/notes", public=False, role="admin"),
        CONTENTS_READ, NOT_FOUND, R.REPOSITORY_NOT_SELECTED, "fine-own-subset-excluding-private-read"),
    row(fine("alice", "issues=write", repos=("alice/site",)), repo("alice/notes", public=True, role="admin"),
        ISSUES_WRITE, FORBIDDEN, R.REPOSITORY_NOT_SELECTED, "fine-own-subset-excluding-public-issue"),
    row(fine("alice", "contents=write", repos=("alice/site",)), repo("alice/notes", public=True, role="admin"),
        CONTENTS_READ, ALLOW, R.PUBLIC_READ, "fine-own-subset-excluding-public-read"),
    # Another owner's repositories: read public ones, nothing else (§3.2, §3.5).
    row(fine("alice", "contents=write issues=write"), repo("bob/lib", public=True), CONTENTS_READ, ALLOW,
        R.PUBLIC_READ, "fine-wrong-owner-public-read"),
    row(fine("alice", "contents=write issues=write"), repo("bob/lib", public=True), ISSUES_WRITE, FORBIDDEN,
        R.WRONG_RESOURCE_OWNER, "fine-wrong-owner-public-issue"),
    row(fine("alice", "contents=write"), repo("bob/lib", public=True, role="write"), CONTENTS_WRITE, FORBIDDEN,
        R.WRONG_RESOURCE_OWNER, "fine-wrong-owner-public-collab-push"),
    row(fine("alice", "contents=write"), repo("bob/lib", public=False, role="write"), CONTENTS_READ, NOT_FOUND,
        R.WRONG_RESOURCE_OWNER, "fine-wrong-owner-private-collab"),
    row(fine("alice", "contents=write"), repo("bob/lib", public=False), CONTENTS_READ, NOT_FOUND, R.NO_ACCESS,
        "fine-wrong-owner-private-stranger"),
    row(fine("acme", "contents=write"), repo("alice/site", public=False, role="admin"), CONTENTS_READ, NOT_FOUND,
        R.WRONG_RESOURCE_OWNER, "fine-org-token-on-own-user-repo"),
    row(fine("alice", "contents=write"), repo("acme/app", public=False, role="write", org="member"), CONTENTS_READ,
        NOT_FOUND, R.WRONG_RESOURCE_OWNER, "fine-user-token-on-org-repo"),
    row(fine("acme", "contents=write"), repo("globex/tool", public=True, role="write", org="member"), CONTENTS_WRITE,
        FORBIDDEN, R.WRONG_RESOURCE_OWNER, "fine-other-org-public-push"),
    # The user's own account.
    row(fine("alice", ""), account("alice"), GET_USER, ALLOW, R.GRANTED, "fine-own-get-user"),
    row(fine("alice", "profile=write"), account("alice"), PROFILE, ALLOW, R.GRANTED, "fine-own-profile"),
    row(fine("alice", "emails=read"), account("alice"), PROFILE, FORBIDDEN, R.MISSING_PERMISSION,
        "fine-own-profile-no-permission"),
    row(fine("alice", "profile=write"), account("bob"), PROFILE, NOT_FOUND, R.NOT_YOUR_ACCOUNT,
        "fine-other-account-profile"),
    # GET /user needs no permission for fine-grained tokens (spec §3.3 table): it identifies the token's
    # user whoever the resource owner is (`gh`, PyGithub and secret scanners call it on every token, §1.5).
    row(fine("acme", "contents=read"), account("alice"), GET_USER, ALLOW, R.GRANTED, "fine-org-token-get-user"),
    # Account permissions exist only on tokens owned by the user; the account itself is the user's own and
    # always visible, so the refusal is GitHub's fine-grained 403, not a 404.
    row(fine("acme", "members=read"), account("alice"), PROFILE, FORBIDDEN, R.WRONG_RESOURCE_OWNER,
        "fine-org-token-profile"),
]

M = {"role": "write", "org": "member"}  # alice as an acme member with the base role `write`

FINE_ORG_ROWS = [
    row(fine("acme", "contents=write"), repo("acme/app", public=False, **M), CONTENTS_WRITE, ALLOW, R.GRANTED,
        "fine-org-approved-member-push"),
    row(fine("acme", "contents=write"), repo("acme/app", public=False, role="read", org="member"), CONTENTS_WRITE,
        FORBIDDEN, R.INSUFFICIENT_ROLE, "fine-org-member-base-read-push"),
    row(fine("acme", "issues=write"), repo("acme/app", public=True, org="member"), ISSUES_WRITE, ALLOW, R.GRANTED,
        "fine-org-member-base-none-public-issue"),
    row(fine("acme", "contents=write"), repo("acme/app", public=True, org="member"), CONTENTS_WRITE, FORBIDDEN,
        R.INSUFFICIENT_ROLE, "fine-org-member-base-none-public-push"),
    row(fine("acme", "contents=write"), repo("acme/app", public=False, org="member"), CONTENTS_READ, NOT_FOUND,
        R.NO_ACCESS, "fine-org-member-base-none-private"),
    row(fine("acme", "administration=write"), repo("acme/app", public=False, role="admin", org="owner"), DELETE,
        ALLOW, R.GRANTED, "fine-org-owner-delete"),
    row(fine("acme", "administration=read"), repo("acme/app", public=False, **M), KEYS_READ, NOT_FOUND,
        R.INSUFFICIENT_ROLE, "fine-org-deploy-keys-member"),
    row(fine("acme", "administration=read"), repo("acme/app", public=False, role="admin", org="owner"), KEYS_READ,
        ALLOW, R.GRANTED, "fine-org-deploy-keys-owner"),
    row(fine("acme", "contents=read"), repo("acme/app", public=False, **M), CONTENTS_WRITE, FORBIDDEN,
        R.MISSING_PERMISSION, "fine-org-read-push"),
    # Outside collaborators: classic only (§3.5). Membership is checked on every request.
    row(fine("acme", "contents=write"), repo("acme/app", public=False, role="write"), CONTENTS_READ, NOT_FOUND,
        R.NOT_A_MEMBER, "fine-org-outside-collab-private"),
    row(fine("acme", "contents=write"), repo("acme/app", public=True, role="write"), CONTENTS_WRITE, FORBIDDEN,
        R.NOT_A_MEMBER, "fine-org-outside-collab-public-push"),
    row(fine("acme", "issues=write"), repo("acme/app", public=True), ISSUES_WRITE, FORBIDDEN, R.NOT_A_MEMBER,
        "fine-org-former-member-public-issue"),
    row(fine("acme", "contents=write"), repo("acme/app", public=True, role="write"), CONTENTS_READ, ALLOW,
        R.PUBLIC_READ, "fine-org-outside-collab-public-read"),
    row(fine("acme", "contents=write"), repo("acme/app", public=False), CONTENTS_READ, NOT_FOUND, R.NO_ACCESS,
        "fine-org-former-member-private"),
    # Approval (§3.4): pending, denied and revoked tokens read public resources only.
    row(fine("acme", "contents=write", approval="pending"), repo("acme/app", public=False, **M), CONTENTS_READ,
        NOT_FOUND, R.APPROVAL_PENDING, "fine-org-pending-private-read"),
    row(fine("acme", "contents=write", approval="pending"), repo("acme/app", public=True, **M), CONTENTS_WRITE,
        FORBIDDEN, R.APPROVAL_PENDING, "fine-org-pending-public-push"),
    row(fine("acme", "contents=write", approval="pending"), repo("acme/app", public=True, **M), CONTENTS_READ,
        ALLOW, R.PUBLIC_READ, "fine-org-pending-public-read"),
    row(fine("acme", "contents=write", approval="pending"), repo("acme/app", public=False, **M, policy=NO_APPROVAL),
        CONTENTS_WRITE, ALLOW, R.GRANTED, "fine-org-pending-approval-not-required"),
    row(fine("acme", "contents=write", approval="denied"), repo("acme/app", public=False, **M), CONTENTS_READ,
        NOT_FOUND, R.APPROVAL_DENIED, "fine-org-denied-private-read"),
    row(fine("acme", "contents=write", approval="denied"), repo("acme/app", public=True, **M), CONTENTS_WRITE,
        FORBIDDEN, R.APPROVAL_DENIED, "fine-org-denied-public-push"),
    row(fine("acme", "contents=write", approval="denied"), repo("acme/app", public=False, **M, policy=NO_APPROVAL),
        CONTENTS_READ, NOT_FOUND, R.APPROVAL_DENIED, "fine-org-denied-stays-denied-without-approval"),
    row(fine("acme", "contents=write", approval="revoked"), repo("acme/app", public=False, **M), CONTENTS_READ,
        NOT_FOUND, R.GRANT_REVOKED, "fine-org-revoked-private-read"),
    row(fine("acme", "contents=write", approval="revoked"), repo("acme/app", public=True, **M), CONTENTS_WRITE,
        FORBIDDEN, R.GRANT_REVOKED, "fine-org-revoked-public-push"),
    row(fine("acme", "contents=write", approval="revoked"), repo("acme/app", public=True, **M), CONTENTS_READ,
        ALLOW, R.PUBLIC_READ, "fine-org-revoked-public-read"),
    # Organization restricts fine-grained tokens (§5.1).
    row(fine("acme", "contents=write"), repo("acme/app", public=False, **M, policy=NO_FINE), CONTENTS_READ, FORBIDDEN,
        R.ORG_FORBIDS_FINE_GRAINED, "fine-org-restricted-private-read"),
    row(fine("acme", "contents=write"), repo("acme/app", public=True, **M, policy=NO_FINE), CONTENTS_WRITE, FORBIDDEN,
        R.ORG_FORBIDS_FINE_GRAINED, "fine-org-restricted-public-push"),
    row(fine("acme", "contents=write"), repo("acme/app", public=True, **M, policy=NO_FINE), CONTENTS_READ, ALLOW,
        R.PUBLIC_READ, "fine-org-restricted-public-read"),
    row(fine("acme", "contents=write", approval="pending"), repo("acme/app", public=False, **M,
        policy=NO_FINE_PENDING_OK), CONTENTS_READ, FORBIDDEN, R.ORG_FORBIDS_FINE_GRAINED,
        "fine-org-restricted-beats-approval"),
    row(fine("acme", "contents=write"), repo("acme/app", public=False, **M, policy=NO_CLASSIC), CONTENTS_WRITE, ALLOW,
        R.GRANTED, "fine-org-works-where-classic-restricted"),
    row(classic("repo"), repo("acme/app", public=False, **M, policy=NO_FINE), CONTENTS_WRITE, ALLOW, R.GRANTED,
        "classic-works-where-fine-restricted"),
    # Lifetime policy (§0.3, §5.1): default 366 days; no expiry is over any limit.
    row(fine("acme", "contents=write", days=None), repo("acme/app", public=False, **M), CONTENTS_READ, FORBIDDEN,
        R.LIFETIME_EXCEEDS_POLICY, "fine-org-no-expiry-default-policy"),
    row(fine("acme", "contents=write", days=366), repo("acme/app", public=False, **M), CONTENTS_WRITE, ALLOW,
        R.GRANTED, "fine-org-lifetime-at-default-limit"),
    row(fine("acme", "contents=write", days=367), repo("acme/app", public=False, **M), CONTENTS_READ, FORBIDDEN,
        R.LIFETIME_EXCEEDS_POLICY, "fine-org-lifetime-over-default"),
    row(fine("acme", "contents=write", days=91), repo("acme/app", public=True, **M, policy=MAX_90), CONTENTS_WRITE,
        FORBIDDEN, R.LIFETIME_EXCEEDS_POLICY, "fine-org-lifetime-over-90-public-push"),
    row(fine("acme", "contents=write", days=None), repo("acme/app", public=True, **M), CONTENTS_READ, ALLOW,
        R.PUBLIC_READ, "fine-org-no-expiry-public-read"),
    row(fine("acme", "contents=write", days=None), repo("acme/app", public=False, **M, policy=UNCAPPED),
        CONTENTS_WRITE, ALLOW, R.GRANTED, "fine-org-no-expiry-uncapped-policy"),
    row(fine("acme", "contents=write", days=None, approval="pending"), repo("acme/app", public=False, **M),
        CONTENTS_READ, FORBIDDEN, R.LIFETIME_EXCEEDS_POLICY, "fine-org-lifetime-before-approval"),
    # Repository selection within the organization.
    row(fine("acme", "contents=write", repos=("acme/app",)), repo("acme/app", public=False, **M), CONTENTS_WRITE,
        ALLOW, R.GRANTED, "fine-org-subset-including"),
    row(fine("acme", "contents=write", repos=("acme/app",)), repo("acme/other", public=False, **M), CONTENTS_READ,
        NOT_FOUND, R.REPOSITORY_NOT_SELECTED, "fine-org-subset-excluding"),
    row(fine("acme", "contents=write", repos="none"), repo("acme/app", public=False, **M), CONTENTS_READ, NOT_FOUND,
        R.PUBLIC_REPOSITORIES_ONLY, "fine-org-selection-none-private"),
    # The organization itself.
    row(fine("acme", "organization_administration=write"), org("acme", role="owner"), ORG_ADMIN, ALLOW, R.GRANTED,
        "fine-org-admin-owner"),
    row(fine("acme", "organization_administration=write"), org("acme", role="member"), ORG_ADMIN, FORBIDDEN,
        R.INSUFFICIENT_ROLE, "fine-org-admin-member"),
    row(fine("acme", "organization_administration=read"), org("acme", role="owner"), ORG_ADMIN, FORBIDDEN,
        R.MISSING_PERMISSION, "fine-org-admin-read-level"),
    row(fine("alice", "contents=write"), org("acme", role="owner"), ORG_ADMIN, FORBIDDEN, R.WRONG_RESOURCE_OWNER,
        "fine-user-token-org-admin"),
    row(fine("acme", "organization_administration=write", approval="pending"), org("acme", role="member"), ORG_ADMIN,
        FORBIDDEN, R.APPROVAL_PENDING, "fine-org-admin-pending"),
    row(fine("acme", "organization_administration=write"), org("acme"), ORG_ADMIN, FORBIDDEN, R.NOT_A_MEMBER,
        "fine-org-admin-non-member"),
    row(fine("acme", "members=read"), org("acme", role="member"), ORG_MEMBERS, ALLOW, R.GRANTED,
        "fine-org-members-read"),
    row(fine("acme", "contents=read"), org("acme", role="member"), ORG_MEMBERS, FORBIDDEN, R.MISSING_PERMISSION,
        "fine-org-members-no-permission"),
    row(fine("acme", "", approval="denied"), org("acme"), ORG_READ, ALLOW, R.PUBLIC_READ, "fine-org-denied-org-read"),
]
# fmt: on

MATRIX = ANONYMOUS_ROWS + WEB_ROWS + CLASSIC_ROWS + FINE_USER_ROWS + FINE_ORG_ROWS


@pytest.mark.parametrize(("principal", "resource", "requirement", "outcome", "reason"), MATRIX)
def test_decision_matrix(
    principal: Principal, resource: Resource, requirement: Requirement, outcome: Outcome, reason: Reason
) -> None:
    decision = decide(principal, resource, requirement)
    assert (decision.outcome, decision.reason) == (outcome, reason), decision.explanation
    assert decision.allowed is (outcome is ALLOW)
    assert decision.requirement is requirement
    # Denials explain themselves (to a person: the audit log, the UI).
    assert decision.explanation


def test_matrix_covers_every_reason_and_outcome() -> None:
    reasons = {param.values[4] for param in MATRIX}
    outcomes = {param.values[3] for param in MATRIX}
    assert reasons == set(Reason)
    assert outcomes == set(Outcome)


def test_matrix_row_ids_are_unique() -> None:
    ids = [param.id for param in MATRIX]
    assert len(ids) == len(set(ids))


# -- sweeps: rules that hold for every credential ----------------------------------------------------

# Every credential a request can carry, including the most restricted ones.
ALL_PRINCIPALS = [
    pytest.param(ANON, id="anonymous"),
    pytest.param(WEB, id="web"),
    pytest.param(classic(), id="classic-no-scope"),
    pytest.param(classic("repo", "workflow", "delete_repo", "admin:org"), id="classic-broad"),
    pytest.param(classic("repo", days=None), id="classic-no-expiry"),
    pytest.param(fine("acme", "contents=write administration=write"), id="fine-org"),
    pytest.param(fine("acme", "contents=write", approval="pending"), id="fine-org-pending"),
    pytest.param(fine("acme", "contents=write", approval="denied"), id="fine-org-denied"),
    pytest.param(fine("acme", "contents=write", approval="revoked"), id="fine-org-revoked"),
    pytest.param(fine("acme", "contents=write", days=None), id="fine-org-no-expiry"),
    pytest.param(fine("alice", "contents=write", repos="none"), id="fine-public-only"),
    pytest.param(fine("alice", ""), id="fine-wrong-owner-no-permissions"),
    pytest.param(fine("globex", "contents=write", repos=("globex/tool",)), id="fine-other-org-subset"),
]

# Restrictive policies that must not hide public data (§5.1).
RESTRICTIVE_POLICIES = [
    pytest.param(DEFAULT, id="default-policy"),
    pytest.param(NO_CLASSIC, id="classic-restricted"),
    pytest.param(NO_FINE, id="fine-restricted"),
    pytest.param(MAX_90, id="max-90-days"),
]

PUBLIC_READS = [METADATA, CONTENTS_READ, reqs.ISSUES_READ, reqs.PULLS_READ, reqs.ACTIONS_READ]
REPO_REQUIREMENTS = [
    value for value in vars(reqs).values() if isinstance(value, Requirement) and value.target is Target.REPOSITORY
]


@pytest.mark.parametrize("policy", RESTRICTIVE_POLICIES)
@pytest.mark.parametrize("principal", ALL_PRINCIPALS)
@pytest.mark.parametrize("requirement", PUBLIC_READS, ids=lambda r: r.name)
def test_public_reads_are_open_to_every_credential(
    principal: Principal, requirement: Requirement, policy: OrgPolicy
) -> None:
    # "Tokens always include read-only access to all public repositories" (§3.2), whatever restricts them.
    decision = decide(principal, repo("acme/app", public=True, policy=policy), requirement)
    assert (decision.outcome, decision.reason) == (ALLOW, R.PUBLIC_READ)


@pytest.mark.parametrize("principal", ALL_PRINCIPALS)
@pytest.mark.parametrize("requirement", REPO_REQUIREMENTS, ids=lambda r: r.name)
@pytest.mark.parametrize("name", ["acme/app", "bob/lib"])
def test_invisible_private_repository_is_always_404_never_403(
    principal: Principal, requirement: Requirement, name: str
) -> None:
    # A 403 would confirm that the private repository exists (§4.4).
    decision = decide(principal, repo(name, public=False, policy=NO_CLASSIC), requirement)
    assert decision.outcome is NOT_FOUND
    assert decision.status == 404
    assert decision.message == "Not Found"


@pytest.mark.parametrize("principal", ALL_PRINCIPALS)
@pytest.mark.parametrize("requirement", [reqs.PROFILE_WRITE, reqs.AUTHENTICATED], ids=lambda r: r.name)
def test_someone_elses_account_is_never_reachable(principal: Principal, requirement: Requirement) -> None:
    decision = decide(principal, account("bob"), requirement)
    assert not decision.allowed
    assert decision.outcome in {NOT_FOUND, UNAUTH}


# -- exact messages and headers ----------------------------------------------------------------------

CLASSIC_RESTRICTED_MESSAGE = (
    "`acme` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, "
    "or a personal access token with fine-grained permissions."
)
FINE_LIFETIME_366_MESSAGE = (
    "The 'acme' organization forbids access via a fine-grained personal access tokens if the token's lifetime "
    "is greater than 366 days. Please adjust your token's lifetime at the following URL: "
    "https://tokenforge.test/settings/personal-access-tokens/8"
)
FINE_LIFETIME_90_MESSAGE = (
    "The 'acme' organization forbids access via a fine-grained personal access tokens if the token's lifetime "
    "is greater than 90 days. Please adjust your token's lifetime at the following URL: "
    "https://tokenforge.test/settings/personal-access-tokens/8"
)
# GitHub's classic wording is not known (spec §4.4, open question Q9); Tokenforge mirrors the
# fine-grained sentence, naming the limit and where to fix it.
CLASSIC_LIFETIME_90_MESSAGE = (
    "The 'acme' organization forbids access via a personal access token (classic) if the token's lifetime "
    "is greater than 90 days. Please adjust your token's lifetime at the following URL: "
    "https://tokenforge.test/settings/tokens/7"
)
FG_FORBIDDEN = "Resource not accessible by personal access token"


class Expected(NamedTuple):
    status: int
    message: str  # the API body's "message" and git's `remote:` text
    oauth_scopes: str  # X-Accepted-OAuth-Scopes
    github_permissions: str  # X-Accepted-GitHub-Permissions


def expect(status: int, message: str, oauth_scopes: str, github_permissions: str) -> Expected:
    return Expected(status, message, oauth_scopes, github_permissions)


NO_PUSH = "Must have push access to repository."
NO_ADMIN = "Must have admin rights to Repository."

# fmt: off
MESSAGES = [
    pytest.param(ANON, repo("acme/app", public=True), ISSUES_WRITE,
                 expect(401, "Requires authentication", "public_repo", "issues=write"), id="anonymous-write"),
    pytest.param(ANON, account("alice"), GET_USER,
                 expect(401, "Requires authentication", "", ""), id="anonymous-get-user"),
    pytest.param(ANON, repo("acme/app", public=False), CONTENTS_READ,
                 expect(404, "Not Found", "repo", "contents=read"), id="anonymous-private"),
    pytest.param(classic(), repo("alice/site", public=False, role="admin"), CONTENTS_READ,
                 expect(404, "Not Found", "repo", "contents=read"), id="classic-missing-repo"),
    pytest.param(classic(), repo("alice/site", public=True, role="admin"), CONTENTS_WRITE,
                 expect(404, "Not Found", "public_repo", "contents=write"), id="classic-missing-public_repo"),
    pytest.param(classic("repo"), repo("alice/site", public=True, role="admin"), WORKFLOWS,
                 expect(404, "Not Found", "workflow", "workflows=write"), id="classic-missing-workflow"),
    pytest.param(classic("write:org"), org("acme", role="owner"), ORG_ADMIN,
                 expect(404, "Not Found", "admin:org", "organization_administration=write"),
                 id="classic-missing-admin:org"),
    pytest.param(classic("repo"), repo("acme/app", public=False, **M, policy=NO_CLASSIC), CONTENTS_READ,
                 expect(403, CLASSIC_RESTRICTED_MESSAGE, "repo", "contents=read"), id="classic-restricted"),
    pytest.param(classic("repo", days=None), repo("acme/app", public=False, **M, policy=MAX_90), CONTENTS_READ,
                 expect(403, CLASSIC_LIFETIME_90_MESSAGE, "repo", "contents=read"), id="classic-lifetime"),
    pytest.param(classic("repo"), repo("bob/lib", public=True), CONTENTS_WRITE,
                 expect(403, NO_PUSH, "public_repo", "contents=write"), id="classic-no-push-role"),
    pytest.param(classic("repo", "delete_repo"), repo("bob/lib", public=False, role="write"), DELETE,
                 expect(403, NO_ADMIN, "delete_repo", "administration=write"), id="classic-no-admin-role"),
    pytest.param(classic("repo"), repo("bob/lib", public=False, role="write"), KEYS_READ,
                 expect(404, "Not Found", "repo", "administration=read"), id="classic-deploy-keys-hidden"),
    pytest.param(classic("admin:org"), org("acme", role="member"), ORG_ADMIN,
                 expect(403, "You must be an organization owner.", "admin:org", "organization_administration=write"),
                 id="classic-org-member-admin"),
    pytest.param(classic("read:org"), org("acme"), ORG_MEMBERS,
                 expect(403, "You must be a member of this organization.", "read:org", "members=read"),
                 id="classic-org-non-member"),
    pytest.param(fine("alice", "contents=read"), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE,
                 expect(403, FG_FORBIDDEN, "repo", "contents=write"), id="fine-missing-permission"),
    pytest.param(fine("alice", "issues=read"), repo("alice/site", public=True, role="admin"), COMMENTS,
                 expect(403, FG_FORBIDDEN, "public_repo", "issues=write; pull_requests=write"),
                 id="fine-missing-alternatives"),
    pytest.param(fine("alice", "issues=write"), repo("bob/lib", public=True), ISSUES_WRITE,
                 expect(403, FG_FORBIDDEN, "public_repo", "issues=write"), id="fine-wrong-owner-public-write"),
    pytest.param(fine("alice", "contents=write"), repo("bob/lib", public=False, role="write"), CONTENTS_READ,
                 expect(404, "Not Found", "repo", "contents=read"), id="fine-wrong-owner-private"),
    pytest.param(fine("acme", "contents=write", approval="pending"), repo("acme/app", public=True, **M),
                 CONTENTS_WRITE, expect(403, FG_FORBIDDEN, "public_repo", "contents=write"),
                 id="fine-pending-public-write"),
    pytest.param(fine("acme", "contents=write"), repo("acme/app", public=False, **M, policy=NO_FINE), CONTENTS_READ,
                 expect(403, "`acme` forbids access via a fine-grained personal access token.", "repo",
                        "contents=read"), id="fine-restricted"),
    pytest.param(fine("acme", "contents=write", days=None), repo("acme/app", public=False, **M), CONTENTS_READ,
                 expect(403, FINE_LIFETIME_366_MESSAGE, "repo", "contents=read"), id="fine-lifetime-default-366"),
    pytest.param(fine("acme", "contents=write", days=120), repo("acme/app", public=True, **M, policy=MAX_90),
                 CONTENTS_WRITE, expect(403, FINE_LIFETIME_90_MESSAGE, "public_repo", "contents=write"),
                 id="fine-lifetime-policy-90"),
    pytest.param(fine("acme", "contents=write"), repo("acme/app", public=False, **M), CONTENTS_WRITE,
                 expect(200, "", "repo", "contents=write"), id="fine-allowed"),
    pytest.param(classic("repo"), repo("acme/app", public=True, **M), METADATA,
                 expect(200, "", "repo", "metadata=read"), id="classic-public-read-still-advertises"),
]
# fmt: on


@pytest.mark.parametrize(("principal", "resource", "requirement", "expected"), MESSAGES)
def test_exact_message_status_and_accepted_headers(
    principal: Principal, resource: Resource, requirement: Requirement, expected: Expected
) -> None:
    decision: Decision = decide(principal, resource, requirement)
    assert decision.status == expected.status
    assert decision.outcome.status == expected.status
    assert decision.message == expected.message
    assert decision.accepted_oauth_scopes == expected.oauth_scopes
    assert decision.accepted_github_permissions == expected.github_permissions


def test_missing_scope_explanation_names_the_scope_and_the_resource() -> None:
    decision = decide(classic("public_repo"), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE)
    assert "`repo`" in decision.explanation
    assert "alice/site" in decision.explanation


def test_missing_permission_explanation_names_the_permission() -> None:
    decision = decide(fine("alice", "contents=read"), repo("alice/site", public=False, role="admin"), CONTENTS_WRITE)
    assert "contents=write" in decision.explanation


def test_lifetime_explanation_states_the_limit_and_the_tokens_lifetime() -> None:
    no_expiry = decide(fine("acme", "contents=read", days=None), repo("acme/app", public=False, **M), CONTENTS_READ)
    assert "366 days" in no_expiry.explanation
    assert "no expiration" in no_expiry.explanation
    too_long = decide(fine("acme", "contents=read", days=400), repo("acme/app", public=False, **M), CONTENTS_READ)
    assert "400 days" in too_long.explanation
