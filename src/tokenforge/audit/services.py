"""Recording audit events. Called by the service that makes the change, in its transaction,
so an event exists exactly when the change it describes was committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account
from tokenforge.audit.models import AuditEvent
from tokenforge.tokens.models import Token


def record(
    session: Session,
    action: str,
    *,
    now: datetime,
    actor: Account | None,
    user: Account | None = None,
    org: Account | None = None,
    token: Token | None = None,
    ip: str | None = None,
    **data: Any,
) -> AuditEvent:
    event = AuditEvent(
        created_at=now,
        action=action,
        actor_id=actor.id if actor else None,
        actor_login=actor.login if actor else "",
        user_id=user.id if user else (token.user_id if token else None),
        org_id=org.id if org else None,
        token_id=token.id if token else None,
        token_name=token.name if token else None,
        ip=ip,
        data=data,
    )
    session.add(event)
    return event
