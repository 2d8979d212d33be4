"""The one error tree. Services raise these; each surface translates them once.

    TokenforgeError              code, message, status (the HTTP status the API edge uses)
    ├── ConfigurationError       the server cannot start as configured
    ├── Unavailable              the database (or another dependency) cannot be reached
    ├── Unauthorized      401    no or bad credentials
    ├── Forbidden         403    known, visible, not permitted
    ├── NotFound          404    missing or invisible (never distinguish the two)
    ├── Conflict          409    would duplicate something that must be unique
    ├── Invalid           422    input that fails validation; ``field`` names the input
    └── RateLimited       403    over a rate limit

API surfaces render ``{"message", "documentation_url", "status"}``; git writes ``remote:`` text;
the web puts the message next to the field; the CLI prints one line on stderr and exits non-zero.
"""

from __future__ import annotations


class TokenforgeError(Exception):
    code = "error"
    status = 500

    def __init__(self, message: str, *, field: str | None = None, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # For 422 ``errors[].code`` (GitHub: missing, missing_field, invalid, already_exists,
        # custom); None lets the edge choose.
        self.error_code = error_code


class ConfigurationError(TokenforgeError):
    code = "configuration"


class Unavailable(TokenforgeError):
    code = "unavailable"
    status = 503


class Unauthorized(TokenforgeError):
    code = "unauthorized"
    status = 401


class Forbidden(TokenforgeError):
    code = "forbidden"
    status = 403


class NotFound(TokenforgeError):
    code = "not_found"
    status = 404


class Conflict(TokenforgeError):
    code = "already_exists"
    status = 409


class Invalid(TokenforgeError):
    code = "invalid"
    status = 422


class RateLimited(TokenforgeError):
    code = "rate_limited"
    status = 403
