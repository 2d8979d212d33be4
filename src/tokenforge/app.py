"""``create_app(settings)``: the ASGI application. No import-time globals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from tokenforge.clock import Clock, SystemClock
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.tokens.lookup import TokenLookup


@dataclass
class Services:
    """What every surface needs, built once per application."""

    settings: Settings
    db: Database
    clock: Clock
    lookup: TokenLookup


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    # Fail at start, not on the first request, if the secret or the prefixes are unusable.
    peppers, token_format = settings.peppers, settings.token_format
    url = settings.resolved_database_url
    services = Services(settings, Database(url), clock or SystemClock(), TokenLookup(url, token_format, peppers))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.lookup.close()
        services.db.dispose()

    app = FastAPI(title="Tokenforge", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services

    from tokenforge.web.routes import router as web_router

    app.include_router(web_router)
    return app
