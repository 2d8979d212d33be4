"""Page links for long lists (``?page=N``), keeping the list's other query parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import Select
from sqlalchemy.orm import Session

# A page number past this is a typed URL, not a link we made; it shows the first page.
_MAX_PAGE_DIGITS = 6


def page_number(raw: str) -> int:
    """``?page=N``; anything that is not a page number is the first page (a bad link is not an
    error worth a page of its own)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_PAGE_DIGITS and int(raw) > 0:
        return int(raw)
    return 1


@dataclass(frozen=True, slots=True)
class Pager:
    number: int
    previous_url: str | None
    next_url: str | None

    @property
    def shown(self) -> bool:
        return self.previous_url is not None or self.next_url is not None


def pager(request: Request, number: int, *, has_next: bool) -> Pager:
    def url(n: int) -> str:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
        if n > 1:
            params.append(("page", str(n)))
        return request.url.path + (f"?{urlencode(params)}" if params else "")

    return Pager(number, url(number - 1) if number > 1 else None, url(number + 1) if has_next else None)


def page_of(session: Session, query: Select[Any], number: int, per_page: int) -> tuple[list[Any], bool]:
    """Page ``number`` of ``query``'s rows, and whether another page follows.

    LIMIT/OFFSET in SQL, one row more than is shown to know whether there is a next page: a list
    of a million rows costs what a page of it costs (docs/benchmarks.md, scale).
    """
    rows = list(session.scalars(query.limit(per_page + 1).offset((number - 1) * per_page)))
    return rows[:per_page], len(rows) > per_page
