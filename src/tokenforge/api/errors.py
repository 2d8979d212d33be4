"""Every error the API can produce, in GitHub's shape. Registered on the API app only.

Never a traceback: anything unexpected is logged here and answered 500 with a generic body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tokenforge.api.responses import error_response
from tokenforge.db import first_line
from tokenforge.errors import Conflict, Forbidden, Invalid, NotFound, TokenforgeError, Unauthorized, Unavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer decided by a route: status, GitHub message, optional errors[] and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers


def validation_failed(resource: str, field: str, code: str = "invalid", message: str | None = None) -> ApiError:
    error: dict[str, Any] = {"resource": resource, "field": field, "code": code}
    if message:
        error["message"] = message
    return ApiError(422, "Validation Failed", errors=[error])


def _resource_of(request: Request) -> str:
    endpoint = request.scope.get("endpoint")
    return str(getattr(endpoint, "resource_name", "Resource"))


def _from_service(request: Request, exc: TokenforgeError) -> Response:
    if isinstance(exc, Invalid | Conflict):
        code = "already_exists" if isinstance(exc, Conflict) else (exc.error_code or "custom")
        err = validation_failed(_resource_of(request), exc.field or "base", code, exc.message)
        return error_response(422, err.message, errors=err.errors)
    if isinstance(exc, NotFound):
        return error_response(404, "Not Found")
    if isinstance(exc, Unauthorized):
        return error_response(401, "Requires authentication")
    if isinstance(exc, Forbidden):
        return error_response(403, exc.message)
    if isinstance(exc, Unavailable):
        log.error("dependency unavailable: %s", exc.message)
        return error_response(503, "Service Unavailable")
    log.error("unhandled service error %s: %s", type(exc).__name__, exc.message)
    return error_response(500, "Server Error")


def _from_validation(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    for error in errors:
        if error.get("type") == "json_invalid":
            return error_response(400, "Problems parsing JSON")
        loc = tuple(error.get("loc", ()))
        if loc == ("body",) and error.get("type") in {"model_attributes_type", "dict_type", "model_type", "missing"}:
            return error_response(400, "Body should be a JSON object")
    if any(tuple(error.get("loc", ()))[:1] == ("path",) for error in errors):
        # A path that names nothing that can exist (/repositories/abc, an id beyond 64 bits).
        return error_response(404, "Not Found")
    resource = _resource_of(request)
    out: list[dict[str, Any]] = []
    for error in errors:
        where = list(error.get("loc", ()))
        if where and where[0] in ("body", "query", "path"):
            where = where[1:]  # only the location's kind: a field may itself be called "body"
        parts = [str(part) for part in where]
        field = ".".join(parts) or "base"
        code = "missing_field" if error.get("type") == "missing" else "invalid"
        out.append({"resource": resource, "field": field, "code": code, "message": str(error.get("msg", ""))})
    return error_response(422, "Validation Failed", errors=out)


def _from_http(request: Request, exc: StarletteHTTPException) -> Response:
    messages = {404: "Not Found", 405: "Method Not Allowed", 401: "Requires authentication"}
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)), headers=headers)


def _from_api(request: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, errors=exc.errors, headers=exc.headers)


def _from_data_error(request: Request, exc: DataError) -> Response:
    # The database refused a value the validation let through (PostgreSQL: a NUL character in
    # text, a number out of its range): bad input, not a server fault.
    log.warning("database refused a value on %s %s: %s", request.method, request.url.path, first_line(exc.orig))
    err = validation_failed(_resource_of(request), "base", "invalid", "A value cannot be stored (e.g. a NUL character)")
    return error_response(422, err.message, errors=err.errors)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "Server Error")


HANDLERS: dict[type[Exception], Callable[[Request, Any], Response]] = {
    ApiError: _from_api,
    TokenforgeError: _from_service,
    RequestValidationError: _from_validation,
    StarletteHTTPException: _from_http,
    DataError: _from_data_error,
    Exception: _unexpected,
}


def install(app: FastAPI) -> None:
    for kind, handler in HANDLERS.items():
        app.add_exception_handler(kind, handler)


def response_for(request: Request, exc: Exception) -> Response:
    """The answer to ``exc`` from its class's handler, most specific first (as Starlette picks)."""
    for kind in type(exc).__mro__:
        handler = HANDLERS.get(kind)
        if handler is not None:
            return handler(request, exc)
    return _unexpected(request, exc)  # unreachable: every exception is an Exception
