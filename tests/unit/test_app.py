"""Application assembly choices that users see."""

from __future__ import annotations

from tokenforge.app import telemetry
from tokenforge.config import Settings


def test_opentelemetry_is_opt_in(settings: Settings) -> None:
    # Off by default: FastAPI would otherwise consult OpenTelemetry's global providers on every
    # request; TOKENFORGE_OPENTELEMETRY=true hands FastAPI its own defaults back (None).
    assert telemetry(settings) == {"tracing": False, "metrics": False, "logs": False}
    assert telemetry(settings.model_copy(update={"opentelemetry": True})) is None
