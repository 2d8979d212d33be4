"""Create the tables, one user and one database access token; print the token on stdout.

FUA_DB=/tmp/x.sqlite3 bench/.venv-peers/bin/python bench/peers/fastapi_users_app/seed.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def seed() -> str:
    from fastapi_users.authentication.strategy.db import DatabaseStrategy
    from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
    from fastapi_users_db_sqlalchemy.access_token import SQLAlchemyAccessTokenDatabase

    from fastapi_users_app.app import (
        TOKEN_LIFETIME_SECONDS,
        AccessToken,
        Base,
        User,
        UserCreate,
        UserManager,
        async_session_maker,
        engine,
    )

    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with async_session_maker() as session:
        manager = UserManager(SQLAlchemyUserDatabase(session, User))
        user = await manager.create(UserCreate(email="bench@example.com", password="bench-password-1"))
        access_tokens = SQLAlchemyAccessTokenDatabase(session, AccessToken)
        strategy = DatabaseStrategy(access_tokens, lifetime_seconds=TOKEN_LIFETIME_SECONDS)
        token = await strategy.write_token(user)  # what POST /auth/db/login hands out
    await engine.dispose()
    return token


if __name__ == "__main__":
    print(asyncio.run(seed()))
