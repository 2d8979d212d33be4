"""Issue 8, target 3's analysis: the HTTP scenarios of http_auth.py without the HTTP server.

The ASGI application is called directly, requests in turn on one event loop, and the process's CPU
time per request is reported — the same scenarios as bench/http_auth.py (anonymous on a public
repository, one cached fine-grained token, 10,000 rotating tokens with caches of 1,000). Set beside
http_auth.py's server CPU per request, it splits a request's cost into the application's share
and the server's (uvicorn, the HTTP parser, the sockets). Run it under a sampling profiler to see
where the application's share goes:

    .venv/bin/python bench/inprocess.py                       # SQLite
    .venv/bin/python bench/inprocess.py --databases sqlite,postgresql
    py-spy record -o cold.svg -- .venv/bin/python bench/inprocess.py --only rotating --requests 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from decision import SECRET, machine, pin_backends, populated
from tokenforge.app import create_app
from tokenforge.config import Settings

SCENARIOS = ("anonymous", "cached", "rotating")


def scope(path: str, authorization: bytes | None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def drive(app: Any, requests: list[tuple[str, bytes | None]], count: int) -> float:
    """Serve ``count`` requests cycling through ``requests``; CPU µs per request."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scopes = [scope(path, header) for path, header in requests]
    started = time.process_time()
    for i in range(count):
        await app(dict(scopes[i % len(scopes)]), receive, send)
    cpu = time.process_time() - started
    failed = sum(1 for s in statuses if s != 200)
    if failed:
        raise SystemExit(f"{failed} of {count} requests were not answered 200 (first: {statuses[0]})")
    return cpu / count * 1e6


def run(kind: str, args: argparse.Namespace) -> list[tuple[str, str, float]]:
    results: list[tuple[str, str, float]] = []
    with populated(kind, args.tokens, args.repos) as (url, tmp, (_classic, fine, repo_of)):
        rotation = fine[: args.rotate]
        one = fine[0]
        plans: dict[str, tuple[int, list[tuple[str, bytes | None]]]] = {
            "anonymous": (10_000, [("/api/v3/repos/acme/site", None)]),
            "cached": (10_000, [(f"/api/v3/repos/acme/{repo_of[one]}", f"token {one}".encode())]),
            "rotating": (args.cache, [(f"/api/v3/repos/acme/{repo_of[t]}", f"token {t}".encode()) for t in rotation]),
        }
        for name in args.only.split(","):
            cache, requests = plans[name]
            settings = Settings(
                data_dir=tmp,
                database_url=url,
                secret_key=SECRET,
                base_url="http://127.0.0.1:8000",
                rate_limit_enabled=False,
                maintenance_interval_seconds=0,
                auth_cache_size=cache,
                access_cache_size=cache,
            )
            app = create_app(settings)

            async def scenario(app: Any = app, requests: list[tuple[str, bytes | None]] = requests) -> float:
                async with app.router.lifespan_context(app):
                    # Warmed as http_auth.py warms: every request of the rotation once or more.
                    await drive(app, requests, max(len(requests), 2_000))
                    if kind == "postgresql":
                        pin_backends(url)
                    return min([await drive(app, requests, args.requests) for _ in range(args.repeats)])

            cpu = asyncio.run(scenario())
            print(f"[{kind}] {name}: {cpu:.1f} µs CPU per request", flush=True)
            results.append((kind, name, cpu))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--repos", type=int, default=1_000)
    parser.add_argument("--rotate", type=int, default=10_000)
    parser.add_argument("--cache", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=20_000, help="requests per measured repeat")
    parser.add_argument("--repeats", type=int, default=3, help="measured repeats; the least CPU is kept")
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # as the server is in http_auth.py
    rows: list[tuple[str, str, float]] = []
    for kind in args.databases.split(","):
        rows += run(kind, args)
    print(f"\n{machine()}; the ASGI app called directly on one event loop, CPU 0\n")
    print("| Database | Scenario | CPU µs per request | vs cached |")
    print("|---|---|---:|---:|")
    cached: Callable[[str], float] = lambda k: next(c for kk, n, c in rows if kk == k and n == "cached")  # noqa: E731
    for kind, name, cpu in rows:
        ratio = f"{cached(kind) / cpu:.2f}" if any(kk == kind and n == "cached" for kk, n, _ in rows) else ""
        print(f"| {kind} | {name} | {cpu:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
