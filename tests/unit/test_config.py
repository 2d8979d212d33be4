"""Settings from TOKENFORGE_* variables; a missing or placeholder secret is refused outside the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tokenforge.config import Settings
from tokenforge.errors import ConfigurationError


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOKENFORGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOKENFORGE_BASE_URL", "https://git.example.com/")
    monkeypatch.setenv("TOKENFORGE_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("TOKENFORGE_PREVIOUS_SECRET_KEYS", "o" * 32 + ", " + "p" * 32)
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.base_url == "https://git.example.com"
    assert settings.api_url("/user") == "https://git.example.com/api/v3/user"
    assert settings.previous_secret_keys == ("o" * 32, "p" * 32)
    assert len(settings.peppers.all()) == 3
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'tokenforge.db').resolve()}"


def test_explicit_database_url_wins(tmp_path: Path) -> None:
    url = "postgresql+psycopg://u@db.example/tokenforge"
    assert Settings(data_dir=tmp_path, database_url=url).resolved_database_url == url


@pytest.mark.parametrize("secret", ["", "change-me", "secret", "  "])
def test_placeholder_secret_is_refused_outside_the_demo(tmp_path: Path, secret: str) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=secret)
    with pytest.raises(ConfigurationError, match="TOKENFORGE_SECRET_KEY is not set"):
        _ = settings.peppers


def test_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        _ = Settings(data_dir=tmp_path, secret_key="short-but-real").peppers


def test_demo_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, demo=True).effective_secret_key()
    again = Settings(data_dir=tmp_path, demo=True).effective_secret_key()
    assert first == again
    assert len(first) >= 48
    assert (tmp_path / "demo-secret-key").stat().st_mode & 0o777 == 0o600


def test_bad_base_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must start with http"):
        Settings(data_dir=tmp_path, base_url="git.example.com")


def test_bad_prefix_is_a_configuration_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s" * 32, classic_prefix="ghp-")
    with pytest.raises(ConfigurationError, match="token prefix"):
        _ = settings.token_format


def test_duplicate_secret_in_rotation_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s" * 32, previous_secret_keys=("s" * 32,))
    with pytest.raises(ConfigurationError, match="configured twice"):
        _ = settings.peppers
