"""Every REST route declares its requirement, and docs/api.md shows exactly those declarations."""

from __future__ import annotations

from pathlib import Path

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
