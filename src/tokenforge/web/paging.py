"""Page links for long lists, keeping the list's other query parameters.

Two kinds: ``?page=N`` (LIMIT/OFFSET; a user's own lists, which stay short), and keyset links
(``?page=N&after=ID`` / ``?page=N&before=ID``) for an organization's grants, where an OFFSET of a
quarter of a million rows took 209–480 ms (docs/benchmarks.md, scale) and a keyset page costs what
the first page costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

# A page number past this is a typed URL, not a link we made; it shows the first page.
_MAX_PAGE_DIGITS = 6
# A cursor is a row id (a 64-bit integer); anything longer is not one of our links.
_MAX_CURSOR_DIGITS = 19
_PAGING = frozenset({"page", "after", "before"})  # the parameters a page link sets itself


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


def _link(request: Request, number: int, cursor: tuple[str, int] | None = None) -> str:
    """This list's URL for page ``number`` (with a keyset ``cursor``), keeping its other parameters.
    Page 1 is the bare list: no page number and no cursor."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in _PAGING]
    if number > 1:
        params.append(("page", str(number)))
        if cursor is not None:
            params.append((cursor[0], str(cursor[1])))
    return request.url.path + (f"?{urlencode(params)}" if params else "")


def pager(request: Request, number: int, *, has_next: bool) -> Pager:
    previous_url = _link(request, number - 1) if number > 1 else None
    return Pager(number, previous_url, _link(request, number + 1) if has_next else None)


def page_of(session: Session, query: Select[Any], number: int, per_page: int) -> tuple[list[Any], bool]:
    """Page ``number`` of ``query``'s rows, and whether another page follows.

    LIMIT/OFFSET in SQL, one row more than is shown to know whether there is a next page: a list
    of a million rows costs what a page of it costs (docs/benchmarks.md, scale).
    """
    rows = list(session.scalars(query.limit(per_page + 1).offset((number - 1) * per_page)))
    return rows[:per_page], len(rows) > per_page


def _cursor(raw: str) -> int | None:
    if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_CURSOR_DIGITS:
        return int(raw)
    return None


def keyset_page(
    request: Request,
    session: Session,
    query: Select[Any],
    key: InstrumentedAttribute[int],
    per_page: int,
    *,
    joined: Sequence[InstrumentedAttribute[int]] = (),
) -> tuple[list[Any], Pager]:
    """A page of ``query``'s rows in descending ``key`` order (``key``: a unique integer column),
    and its pager. ``joined``: columns the query joins equal to ``key``; the cursor bounds them
    too, or PostgreSQL's planner merge-joins from the far end of the other table's index (101 ms
    a page at 500,000 grants, against 6 ms with both sides bounded).

    ``?after=K`` (a Next link) reads the rows below K and ``?before=K`` (a Previous link) the rows
    above it, each along ``key``'s index, so every page a link leads to costs what the first page
    costs. ``?page=N`` only labels the page, except in a typed URL without a cursor, which is
    read with an OFFSET (a bookmark still works; it costs what OFFSET costs). A cursor that is not
    a row id is ignored, like a bad page number: the first page.

    Rows added or removed between two clicks move the page boundaries, never skip or repeat a
    row within one direction; a Previous link that would lead back to page 1 leads to the list's
    first page itself.
    """
    params = request.query_params
    number = page_number(params.get("page", ""))
    after = _cursor(params.get("after", ""))
    before = None if after is not None else _cursor(params.get("before", ""))
    rows: list[Any] = []
    if before is not None:
        # Upwards from the cursor: ascending, then turned around for display.
        above = query.where(*(column > before for column in (key, *joined)))
        rows = list(session.scalars(above.order_by(None).order_by(key).limit(per_page + 1)))
    if rows:
        shown = rows[:per_page][::-1]
        has_previous, has_next = len(rows) > per_page, True
    else:  # no cursor, a Next link's, or a Previous link's with nothing left above it (the start)
        number = 1 if before is not None else number
        ordered = query.order_by(None).order_by(key.desc())
        if after is not None:
            ordered = ordered.where(*(column < after for column in (key, *joined)))
        shown, has_next = page_of(session, ordered, 1 if after is not None else number, per_page)
        has_previous = after is not None or number > 1
    number = max(number, 2) if has_previous else 1

    ids: list[int] = [getattr(row, key.key) for row in shown]
    previous_url = next_url = None
    if has_previous and ids:
        previous_url = _link(request, number - 1, ("before", ids[0]))
    elif has_previous:  # an empty page past the end (rows went away): back to the start
        previous_url = _link(request, 1)
    if has_next and ids:
        next_url = _link(request, number + 1, ("after", ids[-1]))
    return shown, Pager(number, previous_url, next_url)
