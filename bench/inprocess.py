"""Issue 8, target 3's analysis: the HTTP scenarios of http_auth.py without the HTTP server.

The ASGI application is called directly, requests in turn on one event loop, and the process's CPU
time per request is reported for the same scenarios as bench/http_auth.py: anonymous on a public
repository, one cached fine-grained token with last-used tracking on and off, and 10,000 rotating
tokens with caches of 1,000. Set beside http_auth.py's server CPU per request, it splits a
request's cost into the application's share and the server's (uvicorn, the HTTP parser, the
sockets). Run it under a sampling profiler to see where the application's share goes.

``--instructions`` counts instead of timing: each scenario runs twice under valgrind's callgrind,
with two request counts, and the difference of the two totals over the difference of the counts
is the instructions one request executes. The count is the same run after run whatever the VM's
neighbours do (CPU time here swung by a third and more between runs of the same code); what it
leaves out is time spent waiting on memory, which is why both are reported.

    .venv/bin/python bench/inprocess.py                       # SQLite, CPU time (~1 minute)
    .venv/bin/python bench/inprocess.py --databases sqlite,postgresql
    .venv/bin/python bench/inprocess.py --instructions        # SQLite, instructions (~25 minutes)
    py-spy record -o cold.svg -- .venv/bin/python bench/inprocess.py --only rotating --requests 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from decision import SECRET, machine, pin_backends, populated
from tokenforge.app import create_app
from tokenforge.config import Settings

SCENARIOS = ("anonymous", "cached", "untracked", "rotating")


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
        plans["untracked"] = plans["cached"]  # the same request; the settings differ (below)
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
                track_usage=name != "untracked",  # target 4: last-used tracking on against off
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


def instructions(kind: str, name: str, args: argparse.Namespace) -> float:
    """Instructions per request of one scenario: two runs under callgrind, side by side (one per
    core), differing only in the number of measured requests."""
    low, high = 500, 2_500
    runs = [
        subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--databases",
                kind,
                "--only",
                name,
                "--requests",
                str(count),
                "--repeats",
                "1",
                "--no-pin",
                # Smaller than the timed run's (valgrind runs Python ~100× slower), in the same
                # proportions: half the tokens rotate, through caches a tenth of the rotation.
                "--tokens",
                "4000",
                "--repos",
                "200",
                "--rotate",
                "2000",
                "--cache",
                "200",
            ],
            env={**os.environ, "PYTHONHASHSEED": "0"},  # the same dict layouts in every run
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for count in (low, high)
    ]
    totals = []
    for run in runs:
        _, err = run.communicate()
        found = re.search(r"Collected : (\d+)", err)
        if run.returncode or not found:
            raise SystemExit(f"callgrind run failed:\n{err[-2000:]}")
        totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) / (high - low)


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
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind instead")
    parser.add_argument("--no-pin", action="store_true", help=argparse.SUPPRESS)  # the callgrind runs
    args = parser.parse_args()
    if not args.no_pin:
        os.sched_setaffinity(0, {0})  # as the server is in http_auth.py
    rows: list[tuple[str, str, float]] = []
    if args.instructions:
        unit = "instructions per request"
        for kind in args.databases.split(","):
            for name in args.only.split(","):
                rows.append((kind, name, instructions(kind, name, args)))
                print(f"[{kind}] {name}: {rows[-1][2]:,.0f} instructions per request", flush=True)
        print(f"\n{machine()}; the ASGI app called directly; valgrind --tool=callgrind\n")
    else:
        unit = "CPU µs per request"
        for kind in args.databases.split(","):
            rows += run(kind, args)
        print(f"\n{machine()}; the ASGI app called directly on one event loop, CPU 0\n")
    # Requests per second relative to the cached token's, at equal speed: its cost ÷ this one's.
    # (Target 3 reads it off the rotating row; target 2 is the inverse of the anonymous row's.)
    cached = {kind: cost for kind, name, cost in rows if name == "cached"}
    print(f"| Database | Scenario | {unit} | cached ÷ this |")
    print("|---|---|---:|---:|")
    for kind, name, cost in rows:
        ratio = f"{cached[kind] / cost:.2f}" if kind in cached else ""
        print(f"| {kind} | {name} | {cost:,.1f} | {ratio} |")


if __name__ == "__main__":
    main()
