"""Fixtures shared by the token tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tokenforge.config import Settings
from tokenforge.tokens.lookup import TokenLookup


@pytest.fixture
def lookup(settings: Settings) -> Iterator[TokenLookup]:
    instance = TokenLookup(settings.resolved_database_url, settings.token_format, settings.peppers)
    yield instance
    instance.close()
