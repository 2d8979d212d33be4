"""``create_app(settings)``: the ASGI application. No import-time globals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from tokenforge.accounts.reads import UserReads
from tokenforge.accounts.sessions import derive_key
from tokenforge.accounts.throttle import Limits, PasswordThrottle
from tokenforge.api.ratelimit import Limiter, RateLimiter, RedisRateLimiter
from tokenforge.auth.authenticator import Authenticator
from tokenforge.auth.generation import Generation
from tokenforge.auth.middleware import AuthenticationMiddleware
from tokenforge.auth.resources import RepositoryAccess
from tokenforge.auth.usage import UsageRecorder
from tokenforge.clock import Clock, SystemClock
from tokenforge.config import Settings
from tokenforge.db import Database, is_sqlite
from tokenforge.rawdb import LoopReader
from tokenforge.repos.reads import RepositoryReads
from tokenforge.tokens.lookup import TokenLookup

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What every surface needs, built once per application."""

    settings: Settings
    db: Database
    clock: Clock
    lookup: TokenLookup
    generation: Generation
    usage: UsageRecorder
    authenticator: Authenticator
    limiter: Limiter
    # Password guessing on the sign-in form and the sudo prompt (accounts/throttle.py).
    passwords: PasswordThrottle
    repo_access: RepositoryAccess
    repo_reads: RepositoryReads
    user_reads: UserReads
    # PostgreSQL: the hot reads awaited on the event loop (token, access facts, the hottest
    # documents), one small pool for all of them. None on SQLite, which reads inline.
    loop_reader: LoopReader | None = None

    def flush_usage(self) -> int:
        return self.usage.flush(self.db)

    async def aclose_loop_reader(self) -> None:
        """At the application's shutdown, on its loop: asyncpg connections close on their loop."""
        if self.loop_reader is not None:
            await self.loop_reader.aclose()

    def close(self) -> None:
        if self.loop_reader is not None:
            self.loop_reader.terminate()
        self.lookup.close()
        self.repo_access.close()
        self.repo_reads.close()
        self.user_reads.close()
        for counter in (self.limiter, self.passwords.counter):
            if isinstance(counter, RedisRateLimiter):
                counter.close()
        self.generation.close()
        self.db.dispose()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    # Fail at start, not on the first request, if the secret or the prefixes are unusable.
    peppers, token_format = settings.peppers, settings.token_format
    url = settings.resolved_database_url
    clock = clock or SystemClock()
    db = Database(url)
    loop_reader = None if is_sqlite(url) else LoopReader(url)
    lookup = TokenLookup(url, token_format, peppers, base_url=settings.base_url, loop=loop_reader)
    generation = Generation(url, poll_interval=settings.generation_poll_seconds)
    db.access_listeners.append(generation.refresh)
    usage = UsageRecorder()
    authenticator = Authenticator(settings, db, lookup, generation, usage, clock, cache_size=settings.auth_cache_size)
    limiter: Limiter
    password_counter: Limiter
    # The per_user/per_ip limits of the password counter are unused: the throttle applies its own.
    window = settings.password_window_seconds
    if settings.redis_url:
        # Shared by every process: one Redis round trip per counted request.
        limiter = RedisRateLimiter(
            settings.redis_url,
            prefix=settings.redis_key_prefix,
            enabled=settings.rate_limit_enabled,
            per_user=settings.rate_limit_per_hour,
            per_ip=settings.rate_limit_anonymous_per_hour,
        )
        password_counter = RedisRateLimiter(
            settings.redis_url,
            prefix=f"{settings.redis_key_prefix}pw:",
            enabled=True,
            per_user=0,
            per_ip=0,
            window=window,
        )
    else:
        limiter = RateLimiter(
            enabled=settings.rate_limit_enabled,
            per_user=settings.rate_limit_per_hour,
            per_ip=settings.rate_limit_anonymous_per_hour,
        )
        password_counter = RateLimiter(enabled=True, per_user=0, per_ip=0, window=window)
    passwords = PasswordThrottle(
        password_counter,
        Limits(
            per_address=settings.sign_in_failures_per_address,
            per_login_and_address=settings.sign_in_failures_per_login,
            sudo_per_user=settings.sudo_failures_per_user,
        ),
        derive_key(settings.effective_secret_key(), b"tokenforge/password-throttle/v1"),
    )
    repo_access = RepositoryAccess(url, generation, max_entries=settings.access_cache_size, loop=loop_reader)
    return Services(
        settings,
        db,
        clock,
        lookup,
        generation,
        usage,
        authenticator,
        limiter,
        passwords,
        repo_access,
        RepositoryReads(url, loop_reader),
        UserReads(url, loop_reader),
        loop_reader,
    )


async def _maintain_periodically(services: Services) -> None:
    """Token lifecycle work (jobs/maintenance.py), safe alongside other processes doing the same."""
    from tokenforge.jobs import maintenance
    from tokenforge.mail import mailer_for

    interval = services.settings.maintenance_interval_seconds
    if interval <= 0:
        return
    mailer = mailer_for(services.settings)
    while True:
        try:
            await asyncio.to_thread(maintenance.run, services.db, services.settings, mailer, now=services.clock.now())
        except Exception:
            log.exception("maintenance run failed; will retry")
        await asyncio.sleep(interval)


async def _flush_periodically(services: Services) -> None:
    while True:
        await asyncio.sleep(services.settings.usage_flush_seconds)
        try:
            await asyncio.to_thread(services.flush_usage)
        except Exception:  # a failed flush keeps its batch for the next one
            log.exception("could not write last-used data; will retry")


def telemetry(settings: Settings) -> TelemetryConfig | None:
    """FastAPI's own OpenTelemetry defaults when asked for (``TOKENFORGE_OPENTELEMETRY``), else off."""
    return None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    services = build_services(settings, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        background = [
            asyncio.create_task(_flush_periodically(services)),
            asyncio.create_task(_maintain_periodically(services)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                services.flush_usage()
                await services.aclose_loop_reader()
            finally:
                services.close()

    app = FastAPI(
        title="Tokenforge",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=telemetry(settings),
    )
    app.state.services = services

    from tokenforge.api.app import PREFIX, ApiShortcut, create_api
    from tokenforge.git.http import GitHTTP
    from tokenforge.web.routes import router as web_router

    if settings.expose_stats:
        from tokenforge.api.responses import GitHubJSON
        from tokenforge.stats import WriteCounter, snapshot

        writes = WriteCounter()
        writes.attach(services.db.engine)

        @app.get("/-/stats", include_in_schema=False)
        def stats() -> GitHubJSON:
            return GitHubJSON(snapshot(services, writes))

    api = create_api(services, telemetry=telemetry(settings))
    app.mount(PREFIX, api)
    app.include_router(web_router)
    app.add_middleware(GitHTTP, services=services)  # inside authentication; takes git paths by suffix
    app.add_middleware(ApiShortcut, api=api)  # inside authentication; takes /api/… past the outer app
    app.add_middleware(AuthenticationMiddleware, authenticator=services.authenticator)
    return app


def create_app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` with several workers: each builds its app from TOKENFORGE_* vars."""
    return create_app(Settings())
