"""The application really serves over HTTP, and shuts down cleanly (writing last-used data)."""

from __future__ import annotations

import httpx

from live import LiveServer


def test_health_and_home(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/health").text == "ok"
    assert "Tokenforge" in httpx.get(f"{live_server.url}/").text
