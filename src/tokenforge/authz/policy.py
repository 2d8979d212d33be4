"""``decide(principal, resource, requirement)``: the one place access is decided.

Effective access = what the credential grants ∩ what its user may do *now* (spec §2.3, §4.3).
The checks run in a fixed order (spec §5.2), and the order is part of the security design:

1. A read of a public resource is open to everyone, whatever the credential (unless the
   requirement says the data is not public even there, e.g. deploy keys). This comes first so
   that no token restriction — pending approval, a restricted organization, a wrong resource
   owner — ever hides public data, exactly as on GitHub.
2. Anonymous principals get nothing else: 401 where a person could sign in and retry, 404 for
   private things so their existence is not confirmed.
3. The user must be able to see the resource at all; if not, 404 — never 403, because a 403
   would confirm that a private repository exists.
4. Token caps: organization policy (classic restricted, fine-grained restricted, lifetime),
   then for fine-grained tokens the resource owner, membership, approval and repository
   selection. A cap that makes a private resource invisible to the token answers 404; one
   that forbids a write to something the token can see answers 403.
5. The token's scopes or permissions for this operation.
6. The user's role for this operation (403, or 404 for admin-only endpoints).

Two asymmetries that look like bugs and are not:

* A classic token lacking a scope gets 404 even on a visible resource: GitHub answers "Not
  Found" there (the troubleshooting docs tell users to check scopes on a 404), and clients
  such as gh key their "refresh your scopes" hint on ``X-Accepted-OAuth-Scopes``, not on 403.
  Git over HTTP renders a refused push as 403 itself.
* A fine-grained token lacking a permission on something it can see gets 403 "Resource not
  accessible by personal access token" — GitHub's documented fine-grained behaviour.

Expiry and revocation are not decided here: an expired or revoked token is not a principal at
all (authentication answers 401 "Bad credentials" before any decision).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tokenforge.authz.requirements import Access, Requirement, Target
from tokenforge.authz.roles import OrgRole, RepoRole
from tokenforge.authz.subjects import (
    Anonymous,
    Approval,
    ClassicToken,
    FineGrainedToken,
    Principal,
    RepositorySelection,
    Resource,
    UserSession,
)
from tokenforge.credentials import scopes as scope_catalog


class Outcome(StrEnum):
    ALLOW = "allow"
    UNAUTHENTICATED = "unauthenticated"  # 401
    NOT_FOUND = "not_found"  # 404
    FORBIDDEN = "forbidden"  # 403

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS = {Outcome.ALLOW: 200, Outcome.UNAUTHENTICATED: 401, Outcome.NOT_FOUND: 404, Outcome.FORBIDDEN: 403}


class Reason(StrEnum):
    """Why, as a stable code: tests, audit and "why was this denied" key on it."""

    PUBLIC_READ = "public_read"
    GRANTED = "granted"
    AUTHENTICATION_REQUIRED = "authentication_required"
    NO_ACCESS = "no_access"  # the user cannot see the resource
    NOT_YOUR_ACCOUNT = "not_your_account"
    ORG_FORBIDS_CLASSIC = "org_forbids_classic"
    ORG_FORBIDS_FINE_GRAINED = "org_forbids_fine_grained"
    LIFETIME_EXCEEDS_POLICY = "lifetime_exceeds_policy"
    WRONG_RESOURCE_OWNER = "wrong_resource_owner"
    NOT_A_MEMBER = "not_a_member"
    APPROVAL_PENDING = "approval_pending"
    APPROVAL_DENIED = "approval_denied"
    GRANT_REVOKED = "grant_revoked"
    PUBLIC_REPOSITORIES_ONLY = "public_repositories_only"
    REPOSITORY_NOT_SELECTED = "repository_not_selected"
    MISSING_SCOPE = "missing_scope"
    MISSING_PERMISSION = "missing_permission"
    INSUFFICIENT_ROLE = "insufficient_role"


NOT_FOUND_MESSAGE = "Not Found"
REQUIRES_AUTHENTICATION = "Requires authentication"
FINE_GRAINED_FORBIDDEN = "Resource not accessible by personal access token"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: Reason
    explanation: str  # for a person: names the credential, the resource and what is missing
    message: str  # GitHub's text for the API body and git's ``remote:`` line
    requirement: Requirement
    public: bool  # the resource was public (selects the classic scopes to advertise)

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @property
    def status(self) -> int:
        return self.outcome.status

    @property
    def accepted_oauth_scopes(self) -> str:
        """``X-Accepted-OAuth-Scopes`` for this operation on this resource."""
        return scope_catalog.header_value(self.requirement.classic_scopes(public=self.public))

    @property
    def accepted_github_permissions(self) -> str:
        """``X-Accepted-GitHub-Permissions``."""
        return self.requirement.accepted_permissions


def decide(principal: Principal, resource: Resource, requirement: Requirement) -> Decision:
    return _Decider(principal, resource, requirement).run()


class _Decider:
    """One decision. A class only to share the three inputs between the small steps."""

    __slots__ = ("p", "r", "req")

    def __init__(self, principal: Principal, resource: Resource, requirement: Requirement) -> None:
        self.p = principal
        self.r = resource
        self.req = requirement

    # -- outcomes ---------------------------------------------------------------------------

    def _make(self, outcome: Outcome, reason: Reason, explanation: str, message: str) -> Decision:
        return Decision(outcome, reason, explanation, message, self.req, self.r.public)

    def allow(self, reason: Reason, explanation: str) -> Decision:
        return self._make(Outcome.ALLOW, reason, explanation, "")

    def not_found(self, reason: Reason, explanation: str) -> Decision:
        return self._make(Outcome.NOT_FOUND, reason, explanation, NOT_FOUND_MESSAGE)

    def forbidden(self, reason: Reason, explanation: str, message: str = FINE_GRAINED_FORBIDDEN) -> Decision:
        return self._make(Outcome.FORBIDDEN, reason, explanation, message)

    def hidden(self, reason: Reason, explanation: str) -> Decision:
        """A token cap: invisible if private (404), forbidden if the token can see it (403)."""
        if self.r.public:
            return self.forbidden(reason, explanation)
        return self.not_found(reason, explanation)

    # -- the steps ----------------------------------------------------------------------------

    def run(self) -> Decision:
        p, r, req = self.p, self.r, self.req
        if r.target is Target.INSTANCE:
            return self.allow(Reason.PUBLIC_READ, "open to everyone")
        open_read = req.access is Access.READ and req.public_read and r.public and not req.authenticated
        if open_read:
            return self.allow(Reason.PUBLIC_READ, f"{r.name} is public and this is a read")
        if isinstance(p, Anonymous):
            if r.public or r.target is Target.ACCOUNT:
                return self._make(
                    Outcome.UNAUTHENTICATED,
                    Reason.AUTHENTICATION_REQUIRED,
                    f"{req.name} on {r.name} needs a signed-in user",
                    REQUIRES_AUTHENTICATION,
                )
            return self.not_found(Reason.AUTHENTICATION_REQUIRED, f"{r.name} is not public")
        visibility = self._user_visibility(p.user_id)
        if visibility is not None:
            return visibility
        if isinstance(p, ClassicToken):
            denial = self._classic(p)
        elif isinstance(p, FineGrainedToken):
            denial = self._fine_grained(p)
        else:
            assert isinstance(p, UserSession)
            denial = None
        if denial is not None:
            return denial
        return self._role(p.login)

    def _user_visibility(self, user_id: int) -> Decision | None:
        r = self.r
        if r.target is Target.ACCOUNT:
            if r.owner_id != user_id:
                return self.not_found(Reason.NOT_YOUR_ACCOUNT, f"{r.name} is not the user's own account")
            return None
        if r.target is Target.REPOSITORY and not r.public and r.repo_role is None:
            return self.not_found(Reason.NO_ACCESS, f"the user has no access to the private repository {r.name}")
        if r.target is Target.ORGANIZATION and not r.public and r.org_role is None:
            return self.not_found(Reason.NO_ACCESS, f"the user is not a member of {r.name}")
        return None

    def _org_lifetime(self, token: ClassicToken | FineGrainedToken) -> Decision | None:
        policy = self.r.org_policy
        if policy is None:
            return None
        if isinstance(token, ClassicToken):
            limit, kind = policy.max_lifetime_classic, "a personal access token (classic)"
        else:
            limit, kind = policy.max_lifetime_fine_grained, "a fine-grained personal access tokens"
        if limit is None or (token.lifetime is not None and token.lifetime <= limit):
            return None
        days = limit.days
        org = self.r.owner_login
        # GitHub's wording, including its grammar slip ("a … tokens"); clients match on it.
        message = (
            f"The '{org}' organization forbids access via {kind} if the token's lifetime is "
            f"greater than {days} days. Please adjust your token's lifetime at the following URL: "
            f"{token.settings_url}"
        )
        lifetime = "no expiration" if token.lifetime is None else f"a lifetime of {token.lifetime.days} days"
        return self.forbidden(
            Reason.LIFETIME_EXCEEDS_POLICY,
            f"{org} allows tokens with a lifetime of at most {days} days; this token has {lifetime}",
            message,
        )

    def _classic(self, token: ClassicToken) -> Decision | None:
        r, req = self.r, self.req
        policy = r.org_policy
        if policy is not None and not policy.classic_allowed:
            org = r.owner_login
            return self.forbidden(
                Reason.ORG_FORBIDS_CLASSIC,
                f"{org} does not allow personal access tokens (classic)",
                f"`{org}` forbids access via a personal access token (classic). Please use a GitHub App, "
                "OAuth App, or a personal access token with fine-grained permissions.",
            )
        lifetime = self._org_lifetime(token)
        if lifetime is not None:
            return lifetime
        accepted = req.classic_scopes(public=r.public)
        if accepted and token.granted.isdisjoint(accepted):
            wanted = " or ".join(f"`{s}`" for s in accepted)
            return self.not_found(
                Reason.MISSING_SCOPE,
                f"the token (classic) needs the {wanted} scope for {req.name} on {r.name}",
            )
        return None

    def _fine_grained(self, token: FineGrainedToken) -> Decision | None:
        r, req = self.r, self.req
        if r.target is Target.ACCOUNT:
            return self._fine_grained_account(token)
        if r.owner_id != token.resource_owner_id:
            return self.hidden(
                Reason.WRONG_RESOURCE_OWNER,
                f"the fine-grained token's resource owner is {token.resource_owner_login}, "
                f"and {r.name} belongs to {r.owner_login}",
            )
        policy = r.org_policy
        if policy is not None:
            if not policy.fine_grained_allowed:
                org = r.owner_login
                return self.forbidden(
                    Reason.ORG_FORBIDS_FINE_GRAINED,
                    f"{org} does not allow fine-grained personal access tokens",
                    f"`{org}` forbids access via a fine-grained personal access token.",
                )
            if r.org_role is None:
                # Fine-grained tokens never serve outside collaborators (spec §3.5): a token
                # aimed at an organization works only while its user is a member.
                return self.hidden(Reason.NOT_A_MEMBER, f"the user is no longer a member of {r.owner_login}")
            lifetime = self._org_lifetime(token)
            if lifetime is not None:
                return lifetime
            denial = self._approval(token, policy.approval_required)
            if denial is not None:
                return denial
        if r.target is Target.REPOSITORY:
            if token.repository_selection is RepositorySelection.NONE:
                return self.hidden(
                    Reason.PUBLIC_REPOSITORIES_ONLY,
                    "the token has access to public repositories only (read-only)",
                )
            if token.repository_selection is RepositorySelection.SUBSET and r.repo_id not in token.repository_ids:
                return self.hidden(Reason.REPOSITORY_NOT_SELECTED, f"{r.name} is not one of the token's repositories")
        if not req.satisfied_by_permissions(token.permissions):
            return self.forbidden(
                Reason.MISSING_PERMISSION,
                f"the fine-grained token needs {req.accepted_permissions} for {req.name} on {r.name}",
            )
        return None

    def _fine_grained_account(self, token: FineGrainedToken) -> Decision | None:
        """The token's own user's account (``/user``…), which the user can always see.

        What needs no permission (``GET /user``) works whatever the resource owner: clients and
        secret scanners call it with every token. Account permissions exist only on tokens whose
        resource owner is the user, so anything that needs one is 403 for an organization's token.
        """
        r, req = self.r, self.req
        if not req.alternatives:
            return None
        if token.resource_owner_id != r.owner_id:
            return self.forbidden(
                Reason.WRONG_RESOURCE_OWNER,
                f"the fine-grained token's resource owner is {token.resource_owner_login}, so it holds no "
                f"permissions on {r.name}'s account",
            )
        if not req.satisfied_by_permissions(token.permissions):
            return self.forbidden(
                Reason.MISSING_PERMISSION,
                f"the fine-grained token needs {req.accepted_permissions} for {req.name} on {r.name}",
            )
        return None

    def _approval(self, token: FineGrainedToken, required: bool) -> Decision | None:
        org = self.r.owner_login
        if token.approval is Approval.APPROVED:
            return None
        if token.approval is Approval.PENDING:
            if not required:
                # The organization stopped requiring approval after the request was made.
                return None
            return self.hidden(
                Reason.APPROVAL_PENDING,
                f"the token is waiting for approval by {org}'s owners; until then it reads public resources only",
            )
        # Denied and revoked grants stay cut off even if the organization later stops requiring
        # approval: an owner's explicit "no" must not be undone by a policy toggle.
        return self.hidden(
            Reason.APPROVAL_DENIED if token.approval is Approval.DENIED else Reason.GRANT_REVOKED,
            f"{org}'s owners {token.approval.value} this token's access; it reads public resources only",
        )

    def _role(self, login: str) -> Decision:
        r, req = self.r, self.req
        if r.target is Target.REPOSITORY and req.repo_role is not None:
            held = r.repo_role
            if held is None and r.public:
                held = RepoRole.READ  # anyone may read a public repository
            if held is None or held < req.repo_role:
                return self._insufficient(
                    f"{login} has {'no role' if held is None else f'the {held.label} role'} on {r.name}; "
                    f"{req.name} needs {req.repo_role.label}",
                    "Must have admin rights to Repository."
                    if req.repo_role is RepoRole.ADMIN
                    else "Must have push access to repository.",
                )
        if r.target is Target.ORGANIZATION and req.org_role is not None:
            held_org = r.org_role
            if held_org is None or held_org < req.org_role:
                return self._insufficient(
                    f"{login} is {'not a member' if held_org is None else f'a {held_org.label}'} of {r.name}; "
                    f"{req.name} needs {req.org_role.label}",
                    "You must be an organization owner."
                    if req.org_role is OrgRole.OWNER
                    else "You must be a member of this organization.",
                )
        return self.allow(Reason.GRANTED, f"{req.name} on {r.name} is granted")

    def _insufficient(self, explanation: str, message: str) -> Decision:
        if self.req.hide_denial:
            return self.not_found(Reason.INSUFFICIENT_ROLE, explanation)
        return self.forbidden(Reason.INSUFFICIENT_ROLE, explanation, message)
