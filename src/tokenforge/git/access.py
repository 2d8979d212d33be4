"""``decide``'s answers, translated into what git is told. Pure: no I/O, no rule of its own.

Every yes or no comes from ``authz.policy.decide``; this module only chooses the HTTP status and
the ``remote:`` text git shows, following spec §7.2–§7.4:

* **401 + challenge** wherever credentials could help and none were sent: a private or missing
  repository, and every push. git then asks its credential helper (or the user) and retries.
  Anonymous requests for a private repository get this, not 404, exactly like a missing one,
  so a person without credentials cannot tell the two apart either.
* **404 ``Repository not found.``** when the credential cannot read the repository (or it does
  not exist). A read refused because a fine-grained token lacks ``contents: read`` is also a
  404 here, though decide() says 403: git has no better sentence for "you can see that it exists
  but not its contents", and users of GitHub get "Repository not found" in that situation.
* **403** for a push that the credential can read but not write — ``Permission to O/R.git denied
  to USER.`` when the *person* lacks push rights or a classic token lacks the scope,
  ``Write access to repository not granted.`` when a fine-grained token's own grant falls short —
  and for an organization's policy, whose message decide() already words (GitHub's text).

The read decision is taken first even for a push: decide() answers a classic token without
``public_repo`` with 404 on a public repository, which for git must be a 403 (the user can see
the repository; GitHub says "Permission … denied"). Reading first tells the two cases apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenforge.authz.policy import Decision, Outcome, Reason, decide
from tokenforge.authz.requirements import CONTENTS_READ, CONTENTS_WRITE, WORKFLOWS_WRITE
from tokenforge.authz.subjects import Anonymous, FineGrainedToken, Principal, Resource
from tokenforge.git import messages

# Denials whose message is the organization's policy, worded by decide() in GitHub's words.
_POLICY = frozenset({Reason.ORG_FORBIDS_CLASSIC, Reason.ORG_FORBIDS_FINE_GRAINED, Reason.LIFETIME_EXCEEDS_POLICY})


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    lines: tuple[str, ...]
    challenge: bool = False  # send WWW-Authenticate so git asks for credentials
    reason: str = ""  # for the server log: decide()'s reason code, or why it never got there


@dataclass(frozen=True, slots=True)
class Grant:
    push: bool
    workflows: bool  # may create or change files under .github/workflows/ (pushes only)
    fine_grained: bool


CHALLENGE = Refusal(401, (messages.CREDENTIALS_NEEDED,), challenge=True, reason="credentials needed")
NOT_FOUND = Refusal(404, (messages.REPOSITORY_NOT_FOUND,), reason="not found")


def bad_credentials(*, looks_like_password: bool, base_url: str) -> Refusal:
    """Credentials were sent and are not a live token (unknown, expired, revoked, deleted, malformed)."""
    if looks_like_password:
        return Refusal(401, tuple(messages.password_not_supported(base_url)), challenge=True, reason="password")
    return Refusal(401, (messages.INVALID_TOKEN,), challenge=True, reason="bad credentials")


def authorize(principal: Principal, resource: Resource | None, *, push: bool) -> Grant | Refusal:
    """``resource`` is None when no repository has that name."""
    anonymous = isinstance(principal, Anonymous)
    if resource is None:
        return CHALLENGE if anonymous else NOT_FOUND
    read = decide(principal, resource, CONTENTS_READ)
    if not read.allowed:
        return _refuse_read(read, anonymous=anonymous)
    if not push:
        return Grant(push=False, workflows=False, fine_grained=isinstance(principal, FineGrainedToken))
    if anonymous:
        return CHALLENGE  # any push needs credentials, even to a public repository
    write = decide(principal, resource, CONTENTS_WRITE)
    if not write.allowed:
        return _refuse_write(write, principal, resource)
    workflows = decide(principal, resource, WORKFLOWS_WRITE)
    return Grant(push=True, workflows=workflows.allowed, fine_grained=isinstance(principal, FineGrainedToken))


def _refuse_read(decision: Decision, *, anonymous: bool) -> Refusal:
    if decision.outcome is Outcome.UNAUTHENTICATED or (anonymous and decision.outcome is Outcome.NOT_FOUND):
        return CHALLENGE
    if decision.outcome is Outcome.FORBIDDEN and decision.reason in _POLICY:
        return Refusal(403, (decision.message,), reason=decision.reason.value)
    return Refusal(404, (messages.REPOSITORY_NOT_FOUND,), reason=decision.reason.value)


def _refuse_write(decision: Decision, principal: Principal, resource: Resource) -> Refusal:
    if decision.reason in _POLICY:
        return Refusal(403, (decision.message,), reason=decision.reason.value)
    login = getattr(principal, "login", "")
    if isinstance(principal, FineGrainedToken) and decision.reason is not Reason.INSUFFICIENT_ROLE:
        # The token's own grant (permission, repository selection, approval) falls short.
        return Refusal(403, (messages.WRITE_NOT_GRANTED,), reason=decision.reason.value)
    return Refusal(403, (messages.permission_denied(resource.name, login),), reason=decision.reason.value)
