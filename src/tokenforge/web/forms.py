"""Turning submitted forms and pre-fill URLs into service arguments, and back into form state.

Parsing only: which values are acceptable (name lengths, scopes, permission levels, lifetimes,
repositories) is decided by the services, whose ``Invalid``/``Conflict``/``Forbidden`` messages
the pages show next to the field they name. What is checked here is only what must be true to
*call* a service at all: a number is a number, a date is a date, an id fits the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from tokenforge.accounts.models import Account
from tokenforge.accounts.services import find_account
from tokenforge.authz.subjects import RepositorySelection
from tokenforge.credentials import permissions as perms
from tokenforge.credentials import scopes as scope_catalog
from tokenforge.errors import Invalid, NotFound, TokenforgeError
from tokenforge.repos.models import Repository

PRESET_DAYS = (7, 30, 60, 90)
DEFAULT_DAYS = 30  # GitHub's default on both forms
PERMISSION_PREFIX = "perm."
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id would be a database error, not a 404
# Where the services' ``field`` names are shown on the forms (the rest go to the top).
FIELD_ALIASES = {"note": "name", "expires_at": "expiration", "repository_selection": "repositories"}


def field_of(error: TokenforgeError) -> str:
    name = error.field or "form"
    return FIELD_ALIASES.get(name, name)


def errors_of(error: TokenforgeError) -> dict[str, str]:
    return {field_of(error): error.message}


def parse_id(raw: str) -> int:
    """A path id; anything that cannot be a row's id is simply not found."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not 0 < int(raw) <= _MAX_ID:
        raise NotFound(f"No token with id {raw[:20]!r}")
    return int(raw)


# -- expiration -----------------------------------------------------------------------------------


@dataclass
class Expiration:
    """The expiration control: a preset number of days, "custom" with a date, or "none"."""

    choice: str = str(DEFAULT_DAYS)
    date: str = ""

    def resolve(self, now: datetime) -> datetime | None:
        if self.choice.isdigit() and int(self.choice) in PRESET_DAYS:
            return now + timedelta(days=int(self.choice))
        if self.choice == "none":
            return None
        if self.choice == "custom":
            if not _DATE.fullmatch(self.date):
                raise Invalid("Enter the expiration date as YYYY-MM-DD", field="expires_at")
            try:
                chosen = date.fromisoformat(self.date)
            except ValueError:
                raise Invalid("Enter a real date", field="expires_at") from None
            # The end of the chosen day (UTC): "Expires on <that day>" stays true all day.
            return datetime.combine(chosen, time(23, 59, 59), UTC)
        raise Invalid("Choose an expiration", field="expires_at")

    @classmethod
    def from_days(cls, text: str, now: datetime) -> Expiration:
        """GitHub's ``expires_in`` URL parameter: 1–366 days, or ``none`` (spec §3.1)."""
        if text == "none":
            return cls("none")
        if text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= 366:
            days = int(text)
            if days in PRESET_DAYS:
                return cls(str(days))
            return cls("custom", (now + timedelta(days=days)).date().isoformat())
        raise Invalid("expires_in must be a number of days from 1 to 366, or none", field="expires_at")


def expiration_options(now: datetime, max_days: int | None) -> list[dict[str, object]]:
    """The choices of the expiration control, each marked whether the owner's policy allows it."""
    options: list[dict[str, object]] = [
        {
            "value": str(days),
            "label": f"{days} days ({(now + timedelta(days=days)):%a, %b} {(now + timedelta(days=days)).day})",
            "days": days,
            "allowed": max_days is None or days <= max_days,
        }
        for days in PRESET_DAYS
    ]
    options.append({"value": "custom", "label": "Custom…", "days": "", "allowed": True})
    options.append({"value": "none", "label": "No expiration", "days": "none", "allowed": max_days is None})
    return options


def default_expiration(max_days: int | None) -> Expiration:
    if max_days is None or max_days >= DEFAULT_DAYS:
        return Expiration()
    allowed = [d for d in PRESET_DAYS if d <= max_days]
    return Expiration(str(allowed[-1])) if allowed else Expiration("custom")


# -- classic tokens --------------------------------------------------------------------------------


@dataclass
class ClassicForm:
    note: str = ""
    scopes: list[str] = field(default_factory=list)
    expiration: Expiration = field(default_factory=Expiration)

    @property
    def checked(self) -> frozenset[str]:
        """Checkboxes to show ticked: the scopes and everything they imply."""
        known = [s for s in self.scopes if s in scope_catalog.CATALOG]
        return scope_catalog.expand(known)

    @classmethod
    def from_query(cls, scopes: str, description: str) -> tuple[ClassicForm, dict[str, str]]:
        """``/settings/tokens/new?scopes=repo,workflow&description=…`` (spec §6.1)."""
        form, errors = cls(note=description[:255]), {}
        try:
            form.scopes = list(scope_catalog.parse(scopes))
        except scope_catalog.UnknownScope as exc:
            errors["scopes"] = f"Unknown scope: {exc.scope}"
            form.scopes = [s for s in scopes.replace(",", " ").split() if s in scope_catalog.CATALOG]
        return form, errors


# -- fine-grained tokens ---------------------------------------------------------------------------


@dataclass
class FineGrainedForm:
    name: str = ""
    description: str = ""
    owner: str = ""
    expiration: Expiration = field(default_factory=Expiration)
    selection: str = RepositorySelection.NONE.value
    repository_ids: list[str] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)
    justification: str = ""

    @classmethod
    def from_fields(cls, fields: dict[str, list[str]]) -> FineGrainedForm:
        def one(name: str) -> str:
            values = fields.get(name)
            return values[0] if values else ""

        return cls(
            name=one("name"),
            description=one("description"),
            owner=one("resource_owner"),
            expiration=Expiration(one("expiration"), one("expiration_date")),
            selection=one("repository_selection") or RepositorySelection.NONE.value,
            repository_ids=fields.get("repositories", []),
            permissions={
                key[len(PERMISSION_PREFIX) :]: values[0]
                for key, values in fields.items()
                if key.startswith(PERMISSION_PREFIX) and values and values[0]
            },
            justification=one("justification"),
        )

    @classmethod
    def from_query(cls, query: dict[str, str], now: datetime) -> tuple[FineGrainedForm, dict[str, str]]:
        """GitHub's pre-fill parameters (spec §6.1): name, description, target_name,
        expires_in and ``<permission>=<level>``. Bad values become messages in the form."""
        form, errors = cls(), {}
        form.name = query.get("name", "")[:40]
        form.description = query.get("description", "")[:1024]
        form.owner = query.get("target_name", "")
        if "expires_in" in query:
            try:
                form.expiration = Expiration.from_days(query["expires_in"], now)
            except Invalid as exc:
                errors[field_of(exc)] = exc.message
        problems = []
        for key, level in query.items():
            permission = perms.CATALOG.get(key)
            if permission is None or key in perms.MANDATORY:
                continue  # not a permission (name, utm_…): ignored, as GitHub does
            try:
                parsed = perms.Level.parse(level)
            except ValueError:
                problems.append(f"{key}: unknown level {level[:20]!r}")
                continue
            if parsed not in permission.levels:
                problems.append(f"{key} can be {', '.join(lv.label for lv in permission.levels)}, not {parsed.label}")
                continue
            form.permissions[key] = parsed.label
        if problems:
            errors["permissions"] = "; ".join(problems)
        return form, errors

    def selection_value(self) -> RepositorySelection:
        try:
            return RepositorySelection(self.selection)
        except ValueError:
            raise Invalid("Choose the repository access", field="repositories") from None

    def resolve_owner(self, session: Session) -> Account:
        if not self.owner:
            raise Invalid("Choose a resource owner", field="resource_owner")
        account = find_account(session, self.owner)
        if account is None:
            # GitHub's message (spec §6.1); the service gives the same one for an account the
            # user may not choose, so the two cases look alike.
            raise Invalid(f"Cannot find the specified resource owner: {self.owner[:100]}", field="resource_owner")
        return account

    def resolve_repositories(self, session: Session) -> list[Repository]:
        if self.selection != RepositorySelection.SUBSET.value:
            return []
        repositories = []
        for raw in self.repository_ids:
            repo = None
            if raw.isascii() and raw.isdigit() and len(raw) <= 10 and 0 < int(raw) <= _MAX_ID:
                repo = session.get(Repository, int(raw))
            if repo is None:
                raise Invalid("Repository not found", field="repositories")
            repositories.append(repo)
        return repositories

    @property
    def selected_ids(self) -> frozenset[str]:
        return frozenset(self.repository_ids)
