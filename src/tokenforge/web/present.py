"""How tokens read on a page: GitHub's phrases for last use and expiry, permission summaries.

Display only: nothing here decides anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from tokenforge.credentials import permissions as perms
from tokenforge.credentials.permissions import Level

# (younger than, phrase) — GitHub's coarse "last used" wording on the token lists.
_LAST_USED = (
    (timedelta(days=7), "Last used within the last week"),
    (timedelta(days=14), "Last used within the last 2 weeks"),
    (timedelta(days=31), "Last used within the last month"),
    (timedelta(days=92), "Last used within the last 3 months"),
    (timedelta(days=183), "Last used within the last 6 months"),
    (timedelta(days=366), "Last used within the last year"),
)

LEVEL_LABELS = {Level.READ: "Read-only", Level.WRITE: "Read and write", Level.ADMIN: "Admin"}
GROUP_TITLES = {
    perms.Group.REPOSITORY: "Repository permissions",
    perms.Group.ORGANIZATION: "Organization permissions",
    perms.Group.ACCOUNT: "Account permissions",
}


def day(moment: datetime) -> str:
    """``Sat, Jan 1 2022`` (GitHub's format), in UTC."""
    return f"{moment:%a, %b} {moment.day} {moment:%Y}"


def timestamp(moment: datetime | None) -> str:
    return "—" if moment is None else f"{day(moment)}, {moment:%H:%M} UTC"


def last_used(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "Never used"
    age = now - moment
    for limit, phrase in _LAST_USED:
        if age <= limit:
            return phrase
    return "Last used more than a year ago"


def expiry(expires_at: datetime | None, now: datetime) -> str:
    if expires_at is None:
        return "This token has no expiration date"
    if expires_at <= now:
        return f"Expired on {day(expires_at)}"
    return f"Expires on {day(expires_at)}"


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def level_label(level: str | Level) -> str:
    return LEVEL_LABELS[level if isinstance(level, Level) else Level.parse(level)]


def permission_summary(granted: Mapping[str, str]) -> list[str]:
    """``["Read and write: Contents, Issues", "Read-only: Metadata"]``, highest level first."""
    by_level: dict[Level, list[str]] = {}
    for key, label in granted.items():
        permission = perms.CATALOG.get(key)
        if permission is None:
            continue
        by_level.setdefault(Level.parse(label), []).append(permission.display)
    return [
        f"{LEVEL_LABELS[level]}: {', '.join(sorted(names))}" for level, names in sorted(by_level.items(), reverse=True)
    ]


def grouped_permissions(granted: Mapping[str, str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The grant as (group title, [(display name, level label)]) in catalog order."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for group, title in GROUP_TITLES.items():
        rows = [
            (p.display, level_label(granted[key]))
            for key, p in perms.CATALOG.items()
            if p.group is group and key in granted
        ]
        if rows:
            out.append((title, rows))
    return out


def repository_access(selection: str, names: Iterable[str]) -> str:
    names = list(names)
    if selection == "all":
        return "All repositories"
    if selection == "subset":
        count = len(names)
        return f"{count} selected repositor{'y' if count == 1 else 'ies'}"
    return "Public repositories (read-only)"


def _access_rank(selection: str) -> int:
    return {"none": 0, "subset": 1, "all": 2}.get(selection, 0)


def requested_more(
    granted: Mapping[str, str],
    requested: Mapping[str, str],
    *,
    granted_selection: str,
    requested_selection: str,
    granted_repositories: Iterable[str],
    requested_repositories: Iterable[str],
) -> list[str]:
    """What a request for more access adds to the approved grant, one phrase per item:
    ``["Issues: Read and write (approved: Read-only)", "Pull requests: Read-only (new)",
    "Repository acme/tools (new)"]``. Display only: the service decides what needs review."""
    out: list[str] = []
    for key, permission in perms.CATALOG.items():
        if key not in requested:
            continue
        wanted = Level.parse(requested[key])
        had = Level.parse(granted[key]) if key in granted else None
        if had is None:
            out.append(f"{permission.display}: {LEVEL_LABELS[wanted]} (new)")
        elif wanted > had:
            out.append(f"{permission.display}: {LEVEL_LABELS[wanted]} (approved: {LEVEL_LABELS[had]})")
    if _access_rank(requested_selection) > _access_rank(granted_selection):
        out.append(
            f"{repository_access(requested_selection, requested_repositories)} "
            f"(approved: {repository_access(granted_selection, granted_repositories)})"
        )
    elif requested_selection == granted_selection == "subset":
        before = set(granted_repositories)
        out.extend(f"Repository {name} (new)" for name in sorted(requested_repositories) if name not in before)
    return out
