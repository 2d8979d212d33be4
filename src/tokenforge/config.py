"""Settings, from ``TOKENFORGE_*`` environment variables (pydantic-settings).

Built explicitly (``Settings()``) by the entry points and passed down; nothing reads the
environment at import time, so tests construct as many independent instances as they need.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tokenforge.credentials.digest import PepperRing
from tokenforge.credentials.format import (
    DEFAULT_CLASSIC_PREFIX,
    DEFAULT_FINE_GRAINED_PREFIX,
    InvalidPrefix,
    TokenFormat,
)
from tokenforge.errors import ConfigurationError

# Values that mean "not set": refused outside the demo, where a real secret is mandatory.
_PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "insecure"})
DEMO_SECRET_FILE = "demo-secret-key"  # noqa: S105 (a file name, not a secret)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOKENFORGE_", extra="ignore", frozen=True)

    data_dir: Path = Path("tokenforge-data")
    # Default: SQLite in the data directory. PostgreSQL: postgresql+psycopg://user@host/db
    database_url: str = ""
    # The externally visible URL, used in every absolute link (API ``url`` fields, emails).
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    # Secrets used before the current one, comma-separated: tokens minted under them still
    # verify (see credentials/digest.py). Remove one when no token row uses its pepper id.
    previous_secret_keys: Annotated[tuple[str, ...], NoDecode] = ()
    classic_prefix: str = DEFAULT_CLASSIC_PREFIX
    fine_grained_prefix: str = DEFAULT_FINE_GRAINED_PREFIX
    # True only for ``tokenforge serve --demo``: allows a generated secret in the data dir.
    demo: bool = False
    smtp_url: str = ""
    mail_from: str = "Tokenforge <tokenforge@localhost>"
    git_binary: str = "git"
    # Verified principals kept in memory (entries); 0 disables the cache.
    auth_cache_size: int = 10_000
    # Cached repository access facts, one per (repository, user) pair in use.
    access_cache_size: int = 50_000
    # How often another process's access-reducing change is picked up at the latest (seconds).
    generation_poll_seconds: float = 0.5
    # How often last-used data is written (seconds); also written at shutdown.
    usage_flush_seconds: float = 60.0
    # Token lifecycle (jobs/maintenance.py): reminder emails this many days before expiry, removal
    # of tokens unused for this many days (counting from creation if never used), and how often
    # the server runs this work (seconds; 0 turns the in-server schedule off).
    expiry_reminder_days: Annotated[tuple[int, ...], NoDecode] = (7, 1)
    unused_token_days: int = 365
    maintenance_interval_seconds: float = 3600.0
    # Last-used tracking (auth/usage.py); off only to measure what it costs.
    track_usage: bool = True
    # FastAPI's native OpenTelemetry instrumentation (spans, metrics, logs to the global providers
    # you configure). Off unless asked for: even with no provider configured, FastAPI asks
    # OpenTelemetry for its providers on every request of each app (environment lookups), which
    # was 7 % of a cold-cache API request's CPU here (docs/benchmarks.md, profile).
    opentelemetry: bool = False
    # GET /-/stats: counters for benchmarks and operators (queries, cache hits, writes, memory).
    # Off by default: it reveals load, not secrets, but there is no reason to publish it.
    expose_stats: bool = False
    # REST rate limits per hour (GitHub's: 5,000 per user across all their tokens, 60 per IP
    # anonymously). Off entirely with TOKENFORGE_RATE_LIMIT_ENABLED=false.
    rate_limit_enabled: bool = True
    # Shared rate-limit counters for several processes (e.g. redis://127.0.0.1:6379/0).
    redis_url: str = ""
    redis_key_prefix: str = "tokenforge:rl:"
    rate_limit_per_hour: int = 5000
    rate_limit_anonymous_per_hour: int = 60
    log_level: str = Field(default="info")
    # Web UI. A sign-in lasts this long (hours) from the moment the password was entered; the
    # cookie carries the sign-in time, so the limit holds even if a browser keeps the cookie.
    session_hours: int = Field(default=24 * 14, ge=1)
    # "Sudo mode": generating, regenerating or deleting a token asks for the password again
    # unless it was entered within this many minutes (0: ask every time).
    sudo_minutes: int = Field(default=10, ge=0)
    # How long an email verification link stays valid.
    email_verification_hours: int = Field(default=72, ge=1)
    # Password guessing (accounts/throttle.py): failed sign-ins allowed per window from one
    # address, and for one login from one address; failed sudo confirmations per user. Past a
    # limit every attempt is refused, the right password included, until the window ends.
    # 0 turns a limit off. Shared through Redis when TOKENFORGE_REDIS_URL is set.
    password_window_seconds: int = Field(default=900, ge=1)
    sign_in_failures_per_address: int = Field(default=20, ge=0)
    sign_in_failures_per_login: int = Field(default=10, ge=0)
    sudo_failures_per_user: int = Field(default=10, ge=0)

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("expiry_reminder_days", mode="before")
    @classmethod
    def _split_days(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("TOKENFORGE_BASE_URL must start with http:// or https://")
        return value

    # -- derived --------------------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tokenforge.db').resolve()}"

    @property
    def repositories_dir(self) -> Path:
        return self.data_dir / "repositories"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def effective_secret_key(self) -> str:
        """The secret, or a clear refusal. The demo may generate one and keep it in the data dir."""
        if self.secret_key.strip().lower() not in _PLACEHOLDER_SECRETS:
            if len(self.secret_key) < 16:
                raise ConfigurationError("TOKENFORGE_SECRET_KEY must be at least 16 characters long")
            return self.secret_key
        if not self.demo:
            raise ConfigurationError(
                "TOKENFORGE_SECRET_KEY is not set (or is a placeholder). Set it to a long random value, "
                "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or run "
                "`tokenforge serve --demo` for a throw-away demo."
            )
        path = self.data_dir / DEMO_SECRET_FILE
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret + "\n")
        path.chmod(0o600)
        return secret

    @cached_property
    def peppers(self) -> PepperRing:
        try:
            return PepperRing.from_secrets(self.effective_secret_key(), self.previous_secret_keys)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None

    @cached_property
    def token_format(self) -> TokenFormat:
        try:
            return TokenFormat(self.classic_prefix, self.fine_grained_prefix)
        except InvalidPrefix as exc:
            raise ConfigurationError(str(exc)) from None

    def api_url(self, path: str = "") -> str:
        """An absolute REST URL; every one carries /api/v3 (PyGithub rejects anything else)."""
        return f"{self.base_url}/api/v3{path}"

    def web_url(self, path: str = "") -> str:
        return f"{self.base_url}{path}"
