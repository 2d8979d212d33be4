"""Settings → Security log: the signed-in user's audit events, newest first.

The same events ``GET /user/security-log`` returns (``AuditEvent.user_id`` is the user), in
words. Only known fields of each event's data are shown, picked one by one below: nothing an
event might carry is echoed wholesale onto the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Organization, User
from tokenforge.audit.models import AuditEvent
from tokenforge.authz.policy import decide
from tokenforge.authz.requirements import SECURITY_LOG_READ, Target
from tokenforge.authz.subjects import Resource
from tokenforge.errors import NotFound
from tokenforge.tokens.models import RevokedReason, Token
from tokenforge.web import present
from tokenforge.web.chrome import token_path
from tokenforge.web.core import MAX_FORM_BYTES, WebRoute, context
from tokenforge.web.paging import page_number, pager

router = APIRouter(route_class=WebRoute, max_body_size=MAX_FORM_BYTES)

SECURITY_LOG = "/settings/security-log"
PER_PAGE = 30

# Human names of the actions. Token actions that name an organization say which one (below).
_ACTIONS = {
    "token.created": "Token created",
    "token.regenerated": "Token regenerated",
    "token.updated": "Token edited",
    "token.expired": "Token expired",
    "user.created": "Account created",
    "user.login": "Signed in",
    "user.profile_updated": "Profile updated",
    "email.verified": "Email address verified",
    "email.verification_sent": "Verification email sent",
    "deploy_key.created": "Deploy key added",
    "deploy_key.deleted": "Deploy key deleted",
    "repo.created": "Repository created",
    "repo.updated": "Repository updated",
    "repo.deleted": "Repository deleted",
}
_REVOKED = {
    RevokedReason.USER.value: "Token deleted",
    RevokedReason.ADMIN.value: "Token deleted by a site administrator",
    RevokedReason.CREDENTIALS_API.value: "Token revoked: reported through /credentials/revoke",
    RevokedReason.UNUSED.value: "Token removed: unused",
    RevokedReason.LEAKED.value: "Token revoked: found in pushed content",
}
_BY_ORG = {
    "token.org_access_revoked": "Access revoked by {org}",
    "token.approval_requested": "Approval requested from {org}",
    "token.approval_approved": "Access approved by {org}",
    "token.approval_denied": "Access denied by {org}",
}


def action_label(action: str, data: Mapping[str, Any], org: str | None) -> str:
    if action == "token.revoked":
        return _REVOKED.get(str(data.get("reason")), "Token deleted")
    if action in _BY_ORG:
        if action == "token.approval_requested" and data.get("upgrade"):
            return f"More access requested from {org or 'an organization'}"
        return _BY_ORG[action].format(org=org or "an organization")
    return _ACTIONS.get(action) or action.replace("_", " ").replace(".", ": ").capitalize()


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _expiry(value: object) -> str:
    if value is None:
        return "No expiration"
    try:
        return f"Expires on {present.day(datetime.fromisoformat(str(value)))}"
    except ValueError:
        return ""


def details(action: str, data: Mapping[str, Any]) -> list[str]:
    """A few facts about the event, each from a named field of its data."""
    out: list[str] = []
    if action == "token.created":
        if data.get("kind") == "classic":
            scopes = data.get("scopes")
            listed = ", ".join(map(str, scopes)) if isinstance(scopes, list) and scopes else "none"
            out.append(f"Classic; scopes: {listed}")
        elif data.get("kind") == "fine_grained":
            out.append(f"Fine-grained; resource owner {_text(data, 'resource_owner')}")
    if action in {"token.created", "token.regenerated"} and "expires_at" in data:
        out.append(_expiry(data.get("expires_at")))
    if action in {"token.approval_approved", "token.approval_denied", "token.org_access_revoked"} and _text(
        data, "reason"
    ):
        out.append(f"Reason: {_text(data, 'reason')}")
    if action == "token.approval_requested" and _text(data, "justification"):
        out.append(f"Justification: {_text(data, 'justification')}")
    if action == "token.updated" and data.get("review_requested"):
        out.append("Sent for the organization's review")
    if action in {"deploy_key.created", "deploy_key.deleted"}:
        out.append(f"{_text(data, 'title')} on {_text(data, 'repository')}")
        if data.get("cause") == "token_deleted":
            out.append("Deleted with the token that created it")
    if action.startswith("email.") and _text(data, "email"):
        out.append(_text(data, "email"))
    if action.startswith("repo.") and _text(data, "repository"):
        out.append(_text(data, "repository"))
    return [line for line in out if line]


@dataclass
class EventRow:
    time: str
    action: str
    actor: str  # a login, or "Tokenforge" for the server's own jobs
    token_name: str | None
    token_id: int | None
    token_url: str | None  # the token's page while it is live
    org: str | None
    ip: str | None
    details: list[str] = field(default_factory=list)


def _rows(session: Session, user: User, events: list[AuditEvent]) -> list[EventRow]:
    # One query each for the page's organizations and live tokens, not one per event.
    org_ids = {e.org_id for e in events if e.org_id}
    orgs: dict[int, str] = {}
    if org_ids:
        query = select(Organization.id, Organization.login).where(Organization.id.in_(org_ids))
        orgs = dict(session.execute(query).all())
    token_ids = {e.token_id for e in events if e.token_id}
    live: dict[int, str] = {}
    if token_ids:
        query = select(Token.id, Token.kind).where(
            Token.id.in_(token_ids), Token.user_id == user.id, Token.revoked_at.is_(None)
        )
        live = dict(session.execute(query).all())
    rows = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        org = orgs.get(event.org_id) if event.org_id else None
        kind = live.get(event.token_id) if event.token_id else None
        rows.append(
            EventRow(
                time=present.timestamp(event.created_at),
                action=action_label(event.action, data, org),
                actor=event.actor_login or "Tokenforge",
                token_name=event.token_name,
                token_id=event.token_id,
                token_url=token_path(kind, event.token_id) if kind and event.token_id else None,
                org=org,
                ip=event.ip,
                details=details(event.action, data),
            )
        )
    return rows


@router.get(SECURITY_LOG)
def security_log(request: Request) -> Response:
    ctx = context(request)
    number = page_number(ctx.query("page"))
    with ctx.unit_of_work() as session:
        user = ctx.require_user(session)
        resource = Resource(Target.ACCOUNT, owner_id=user.id, owner_login=user.login, public=False, name=user.login)
        if not decide(ctx.principal(user), resource, SECURITY_LOG_READ).allowed:
            raise NotFound("No security log")
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.user_id == user.id)
                .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
                .offset((number - 1) * PER_PAGE)
                .limit(PER_PAGE + 1)  # one more than shown: is there an older page?
            )
        )
        rows = _rows(session, user, events[:PER_PAGE])
    return ctx.render(
        "security_log.html",
        {"events": rows, "pager": pager(request, number, has_next=len(events) > PER_PAGE), "nav": "security_log"},
    )
