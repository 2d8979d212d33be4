"""Every REST route declares its requirement, docs/api.md shows exactly those declarations, and
the routers can be ordered freely."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from tokenforge.api.app import ROUTERS
from tokenforge.api.docs import _api_app, api_routes, render_table, served_operations, updated
from tokenforge.authz.requirements import Requirement

DOC = Path(__file__).parents[2] / "docs" / "api.md"


def test_every_route_declares_a_requirement() -> None:
    routes = list(api_routes(_api_app()))
    assert len(routes) >= 15  # the walk really found the routers
    missing = [
        f"{method} {path}"
        for method, path, route in routes
        if not isinstance(getattr(route.endpoint, "requirement", None), Requirement)
    ]
    assert missing == [], f"routes without a declared requirement: {missing}"


def test_the_walk_covers_everything_the_app_serves() -> None:
    api = _api_app()
    walked = {(method, path) for method, path, _ in api_routes(api)}
    assert served_operations(api) == walked


def test_docs_table_is_current() -> None:
    document = DOC.read_text()
    assert updated(document, render_table(_api_app())) == document, (
        "docs/api.md is out of date: run `.venv/bin/python -m tokenforge.api.docs`"
    )


def test_no_request_matches_routes_of_two_routers() -> None:
    # What lets api/app.py order the routers by traffic: if a request could match routes of two
    # routers, reordering them would change which one serves it. Each route's path with every
    # parameter filled in is a request that route serves; no route of another router may match it.
    routes = [
        (index, route.path, set(route.methods or ()), route.path_regex)
        for index, router in enumerate(ROUTERS)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(routes) >= 40
    clashes = [
        f"{methods & others} {path} / {other}"
        for index, path, methods, _ in routes
        for other_index, other, others, pattern in routes
        if index != other_index and methods & others and pattern.match(re.sub(r"\{[^}]+\}", "x", path))
    ]
    assert clashes == []
