"""Parsing the organization pages' forms: the token policy, review and revoke choices, and the
active-token filters.

As in web/forms.py, parsing only: a choice is one of the offered values, a number of days is a
number, a date is a date, an id fits the database. Whether a value is acceptable (a lifetime of
zero days, a reason too long, a request already reviewed) is the services' decision, shown next
to the field the service names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from tokenforge.accounts.models import Organization
from tokenforge.credentials import permissions as perms
from tokenforge.errors import TokenforgeError
from tokenforge.orgs.review import Filters

_MAX_ID = 2**31 - 1
# Lifetimes are stored as an integer number of days and become timedelta(days=…), which stops
# at 999,999,999: nine digits is the most that both can hold.
_MAX_DAY_DIGITS = 9
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# Where the services' field names appear on these pages.
FIELD_ALIASES = {
    "max_lifetime_fine_grained_days": "max_lifetime_fine_grained",
    "max_lifetime_classic_days": "max_lifetime_classic",
    "pat_request_ids": "requests",
    "pat_ids": "tokens",
}


def errors_of(error: TokenforgeError, default: str = "form") -> dict[str, str]:
    """The message under the field the service names; ``default`` when it names none (a
    request or token that is gone is about the list the person chose from)."""
    name = error.field or default
    return {FIELD_ALIASES.get(name, name): error.message}


def parse_ids(values: list[str]) -> list[int] | None:
    """Ids from checkboxes or buttons; None when one cannot be a row's id (a tampered form)."""
    ids = []
    for raw in values:
        if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not 0 < int(raw) <= _MAX_ID:
            return None
        ids.append(int(raw))
    return ids


# -- the policy ---------------------------------------------------------------------------------


def _days_text(days: int | None) -> str:
    return "" if days is None else str(days)


@dataclass
class PolicyForm:
    """The policy form's state: what the organization has, or what was submitted."""

    classic: str = "allow"  # allow | restrict
    fine_grained: str = "allow"  # allow | restrict
    approval: str = "required"  # required | not_required
    fine_grained_limit: str = "days"  # days | none
    fine_grained_days: str = "366"
    classic_limit: str = "none"  # days | none
    classic_days: str = ""

    @classmethod
    def of(cls, org: Organization) -> PolicyForm:
        return cls(
            classic="allow" if org.classic_tokens_allowed else "restrict",
            fine_grained="allow" if org.fine_grained_tokens_allowed else "restrict",
            approval="required" if org.approval_required else "not_required",
            fine_grained_limit="none" if org.max_lifetime_fine_grained_days is None else "days",
            fine_grained_days=_days_text(org.max_lifetime_fine_grained_days) or "366",
            classic_limit="none" if org.max_lifetime_classic_days is None else "days",
            classic_days=_days_text(org.max_lifetime_classic_days),
        )

    @classmethod
    def from_fields(cls, fields: dict[str, list[str]]) -> PolicyForm:
        def one(name: str) -> str:
            values = fields.get(name)
            return values[0].strip() if values else ""

        return cls(
            classic=one("classic"),
            fine_grained=one("fine_grained"),
            approval=one("approval"),
            fine_grained_limit=one("max_lifetime_fine_grained"),
            fine_grained_days=one("max_lifetime_fine_grained_days"),
            classic_limit=one("max_lifetime_classic"),
            classic_days=one("max_lifetime_classic_days"),
        )

    def arguments(self) -> tuple[dict[str, Any], dict[str, str]]:
        """``set_policy``'s keyword arguments, and every field's parsing error at once."""
        errors: dict[str, str] = {}
        args: dict[str, Any] = {}
        allow = {"allow": True, "restrict": False}
        for name, value, key in (
            ("classic", self.classic, "classic_allowed"),
            ("fine_grained", self.fine_grained, "fine_grained_allowed"),
        ):
            if value in allow:
                args[key] = allow[value]
            else:
                errors[name] = "Choose allow or restrict"
        if self.approval in {"required", "not_required"}:
            args["approval_required"] = self.approval == "required"
        else:
            errors["approval"] = "Choose whether approval is required"
        for name, limit, days in (
            ("max_lifetime_fine_grained", self.fine_grained_limit, self.fine_grained_days),
            ("max_lifetime_classic", self.classic_limit, self.classic_days),
        ):
            key = f"{name}_days"  # set_policy's argument
            if limit == "none":
                args[key] = None
            elif limit != "days":
                errors[name] = "Choose a maximum lifetime, or no maximum"
            elif not days:
                errors[name] = "Enter the maximum lifetime in days"
            elif not days.isascii() or not days.isdigit() or len(days) > _MAX_DAY_DIGITS:
                errors[name] = "Enter the maximum lifetime as a whole number of days"
            else:
                args[key] = int(days)
        return args, errors


# -- review and revoke --------------------------------------------------------------------------


@dataclass
class Choice:
    """Which rows a review or revoke form acts on: the row whose own button was pressed, or
    the ticked boxes with the bulk button."""

    ids: list[int] = field(default_factory=list)
    action: str = ""  # approve | deny | revoke
    error: str = ""  # shown next to the list

    @property
    def single(self) -> bool:
        return len(self.ids) == 1


def review_choice(fields: dict[str, list[str]]) -> Choice:
    def one(name: str) -> str:
        values = fields.get(name)
        return values[0] if values else ""

    # A row's own button (name="approve"/"deny", value=its id) wins over ticked boxes: the form
    # submits the boxes too, and the person pressed the row's button, not the bulk one.
    for action in ("approve", "deny"):
        if one(action):
            ids = parse_ids([one(action)])
            return Choice(ids or [], action, "" if ids else "That request no longer exists. Reload the page.")
    return _bulk(fields, "request_ids", {"approve", "deny"}, "request")


def revoke_choice(fields: dict[str, list[str]]) -> Choice:
    values = fields.get("revoke")
    if values and values[0]:
        ids = parse_ids(values[:1])
        return Choice(ids or [], "revoke", "" if ids else "That token no longer has access. Reload the page.")
    return _bulk(fields, "token_ids", {"revoke"}, "token")


def _bulk(fields: dict[str, list[str]], name: str, actions: set[str], noun: str) -> Choice:
    action = (fields.get("bulk") or [""])[0]
    if action not in actions:
        return Choice(error="Choose an action")
    raw = fields.get(name, [])
    if not raw:
        return Choice(action=action, error=f"Select at least one {noun}")
    ids = parse_ids(raw)
    if ids is None:
        return Choice(action=action, error=f"A selected {noun} no longer exists. Reload the page.")
    return Choice(ids, action)


# -- active-token filters -------------------------------------------------------------------------


@dataclass
class GrantFilters:
    """The active-token filters as entered (echoed back into the form) and as parsed."""

    owner: str = ""
    repository: str = ""
    permission: str = ""
    used_after: str = ""
    used_before: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    filters: Filters = field(default_factory=Filters)

    @property
    def active(self) -> bool:
        return any((self.owner, self.repository, self.permission, self.used_after, self.used_before))

    @classmethod
    def parse(cls, query: dict[str, str]) -> GrantFilters:
        out = cls(
            owner=query.get("owner", "").strip()[:200],
            repository=query.get("repository", "").strip()[:100],
            permission=query.get("permission", "").strip(),
            used_after=query.get("last_used_after", "").strip(),
            used_before=query.get("last_used_before", "").strip(),
        )
        owners = [o for o in re.split(r"[\s,]+", out.owner) if o]
        permission = out.permission or None
        if permission is not None and permission not in perms.CATALOG:
            out.errors["permission"] = "Choose a permission from the list"
            permission = None
        after = out._date("last_used_after", out.used_after)
        before = out._date("last_used_before", out.used_before)
        out.filters = Filters(
            owners=owners,
            repository=out.repository or None,
            permission=permission,
            last_used_after=after,
            last_used_before=before,
        )
        return out

    def _date(self, name: str, text: str) -> datetime | None:
        if not text:
            return None
        if not _DATE.fullmatch(text):
            self.errors[name] = "Enter the date as YYYY-MM-DD"
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            self.errors[name] = "Enter a real date"
            return None
        # The start of that day (UTC): "after Nov 1" includes Nov 1, "before Nov 1" excludes it.
        return datetime.combine(day, time(0, 0), UTC)


def organization_permissions() -> list[tuple[str, str]]:
    """(key, display name) of what a token aimed at an organization can hold, for the filter."""
    wanted = (perms.Group.REPOSITORY, perms.Group.ORGANIZATION)
    return sorted(((k, p.display) for k, p in perms.CATALOG.items() if p.group in wanted), key=lambda kp: kp[1])
