"""Schema-driven fuzzing of the whole REST API (schemathesis over the app's OpenAPI description):
whatever the input, the answer is never a 500.

Bounded (a few examples per operation) so it fits the suite; run with TOKENFORGE_FUZZ_EXAMPLES=200
for a deeper pass. Authenticated as a classic token with broad scopes, so requests get past
authorization into the handlers.
"""

from __future__ import annotations

import os
from datetime import datetime

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

import factories
from live import LiveServer
from tokenforge.config import Settings

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("TOKENFORGE_FUZZ_EXAMPLES", "6"))


def test_no_input_produces_a_server_error(settings: Settings, now: datetime, database_url: str) -> None:
    if "postgresql" in database_url:
        # One database is enough for the fuzzer's purpose (handlers, not SQL dialects); the
        # hostile-input tests in test_api_core.py cover both databases for known edge cases.
        pytest.skip("fuzzing runs on SQLite only, to keep the suite's running time bounded")
    server = LiveServer(settings.model_copy(update={"rate_limit_enabled": False})).start()
    try:
        db = server.services.db
        with db.unit_of_work() as s:
            alice = factories.user(s, "alice", now)
            acme = factories.org(s, "acme", alice, now)
            factories.repo(s, server.settings, acme, "site", now)
            token = factories.classic(
                s, server.settings, alice, now, "repo", "user", "admin:org", "workflow", "delete_repo", note="fuzz"
            ).secret
        spec = httpx.get(f"{server.url}/api/v3/openapi.json").json()
        schema = schemathesis.openapi.from_dict(spec)
        headers = {"Authorization": f"token {token}"}
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 30

        for operation in operations:

            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def probe(case: schemathesis.Case) -> None:
                response = case.call(base_url=f"{server.url}/api", headers=headers, timeout=10)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                    )

            probe()
        assert failures == []
    finally:
        server.stop()
