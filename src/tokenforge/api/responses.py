"""JSON responses as GitHub sends them, encoded with orjson (10-13× faster than json here)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

DOCS = "https://docs.github.com/rest"


class GitHubJSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_body(
    status: int, message: str, *, documentation_url: str = DOCS, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """GitHub's error shape; ``status`` is a string (spec §4.4)."""
    body: dict[str, Any] = {"message": message, "documentation_url": documentation_url, "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    return body


def error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None, errors: list[dict[str, Any]] | None = None
) -> GitHubJSON:
    return GitHubJSON(error_body(status, message, errors=errors), status_code=status, headers=headers)
