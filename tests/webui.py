"""Helpers for the web UI's tests: a cookie-keeping HTTP client that fills in CSRF tokens the way
a browser submitting our forms would, and reading verification links from the mail outbox."""

from __future__ import annotations

import email
import html
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from live import LiveServer
from tokenforge.clock import FixedClock
from tokenforge.config import Settings

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r"https?://\S+")
PASSWORD = "correct horse battery staple"

Form = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return html.unescape(found.group(1))


class WebClient:
    """A signed-out visitor (or, after ``login``, a user) talking to the live server."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> WebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.http.get(path, **kwargs)  # type: ignore[arg-type]

    def page(self, path: str) -> str:
        response = self.http.get(path, follow_redirects=True)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.text

    def post(self, path: str, data: Form, *, csrf: str | None) -> httpx.Response:
        # httpx takes repeated fields as a list under one key.
        fields: dict[str, list[str]] = {}
        items = data.items() if isinstance(data, Mapping) else data
        for key, value in items:
            fields.setdefault(key, []).extend([value] if isinstance(value, str) else value)
        if csrf is not None:
            fields.setdefault("csrf_token", []).append(csrf)
        return self.http.post(path, data=fields)

    def submit(self, form_page: str, action: str, data: Form) -> httpx.Response:
        """GET ``form_page`` (for its CSRF token), then POST ``data`` to ``action``."""
        token = csrf_of(self.page(form_page))
        return self.post(action, data, csrf=token)

    def signup(self, login: str, address: str | None = None, password: str = PASSWORD) -> httpx.Response:
        response = self.submit(
            "/signup", "/signup", {"login": login, "email": address or f"{login}@example.com", "password": password}
        )
        assert response.status_code == 303, response.text[:2000]
        return response

    def login(self, login: str, password: str = PASSWORD) -> httpx.Response:
        response = self.submit("/login", "/login", {"login": login, "password": password})
        assert response.status_code == 303, response.text[:2000]
        return response


@contextmanager
def web_server(settings: Settings, **overrides: object) -> Iterator[tuple[LiveServer, FixedClock]]:
    """A live server whose clock the test moves (sudo windows, link expiry)."""
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    server = LiveServer(settings.model_copy(update=overrides) if overrides else settings, clock=clock).start()
    try:
        yield server, clock
    finally:
        server.stop()


def outbox_messages(settings: Settings, address: str) -> list[email.message.Message]:
    outbox = settings.outbox_dir
    if not outbox.exists():
        return []
    messages = [email.message_from_bytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]
    return [m for m in messages if m["To"] == address]


def body_of(message: email.message.Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def link_in(text: str) -> str:
    found = _LINK.search(text)
    assert found, text
    return found.group(0)


def outbox_link(settings: Settings, address: str) -> str:
    """The verification link of the newest message to ``address`` in the outbox."""
    messages = outbox_messages(settings, address)
    assert messages, f"no mail to {address} in {settings.outbox_dir}"
    return link_in(body_of(messages[-1]))


def data_dir(server: LiveServer) -> Path:
    return server.settings.data_dir


_SECRET = re.compile(r'id="new-token"[^>]*value="([^"]+)"')


def secret_in(page: str) -> str:
    found = _SECRET.search(page)
    assert found, page[:3000]
    return found.group(1)


def field_errors(page: str) -> dict[str, str]:
    """The messages shown next to fields: {field: message}."""
    return {
        name: html.unescape(message)
        for name, message in re.findall(r'<p class="field-error" id="error-([\w-]+)">([^<]*)</p>', page)
    }
