"""Issue 8, target 7: several processes on one PostgreSQL database, and what rate limiting costs.

**Propagation.** Two ``tokenforge serve`` processes (A and B) on one PostgreSQL database, and
separately one server with two uvicorn workers. Each round: a new classic token is created in
the database, both processes answer it once (so each caches it), then it is revoked through A's
API (``POST /api/v3/credentials/revoke``). A is asked at once (it must refuse on the very next
request), then B is asked every 2 ms until it refuses; the delay from the revocation's answer to
B's first refusal is recorded. With two workers behind one port, the workers are told apart by
the pid in ``/-/stats`` (asked on the same connection, which stays with one worker). The caches
are invalidated through the access generation (auth/generation.py): each process re-reads it at
most every 0.5 s.

The functional proof that every kind of change (deletion, regeneration, policy, membership)
reaches every process is tests/functional/test_multiprocess.py; this measures how soon.

**Rate limiting.** The in-process counter (``RateLimiter.hit``), timed with ``timeit`` (best of
5), and the Redis counter (``RedisRateLimiter.hit``, Redis at ``--redis``) timed the same way,
with the round trips per hit counted at the socket: every write of a command buffer to Redis is
one round trip (redis-py sends a whole pipeline in one write).

    .venv/bin/python bench/processes.py [--rounds 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
from decision import PG_ADMIN, SECRET, machine
from http_auth import server, tokenforge_serve
from tokenforge.accounts.services import create_user, get_user
from tokenforge.api.ratelimit import RateLimiter, RedisRateLimiter
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.tokens.services import create_classic_token


@contextmanager
def pg_database() -> Iterator[str]:
    name = f"tf_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def status(client: httpx.Client, base: str, token: str) -> int:
    return client.get(f"{base}/api/v3/user", headers={"Authorization": f"token {token}"}).status_code


class World:
    def __init__(self, url: str, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir, database_url=url, secret_key=SECRET)
        self.db = Database(url)
        self.db.migrate()
        now = datetime.now(UTC)
        with self.db.unit_of_work() as session:
            create_user(session, login="alice", email="alice@example.com", password=None, now=now, verified=True)
        self.count = 0

    def token(self) -> str:
        self.count += 1
        with self.db.unit_of_work() as session:
            issued = create_classic_token(
                session, self.settings, user=get_user(session, "alice"), note=f"p{self.count}", scopes=["read:user"],
                expires_at=None, now=datetime.now(UTC),
            )  # fmt: skip
            return issued.secret


def revoke(client: httpx.Client, base: str, token: str) -> None:
    answer = client.post(f"{base}/api/v3/credentials/revoke", json={"credentials": [token]})
    assert answer.status_code == 202, answer.text


def two_servers(world: World, url: str, data_dir: Path, rounds: int) -> dict[str, Any]:
    delays: list[float] = []
    with (
        server(url, data_dir, port=18_601, pin=False) as a,
        server(url, data_dir, port=18_602, pin=False) as b,
        httpx.Client(timeout=5) as client,
    ):
        for _ in range(rounds):
            token = world.token()
            assert status(client, a, token) == 200
            assert status(client, b, token) == 200
            time.sleep(0.3)  # somewhere in B's poll interval, as a real revocation would fall
            revoke(client, a, token)
            done = time.monotonic()
            assert status(client, a, token) == 401, "the revoking process must refuse on the next request"
            while status(client, b, token) != 401:
                assert time.monotonic() - done < 5, "the other process never refused"
                time.sleep(0.002)
            delays.append(time.monotonic() - done)
    return _summary("two servers, one PostgreSQL database: B refuses after", delays)


def two_workers(world: World, url: str, data_dir: Path, rounds: int) -> dict[str, Any]:
    """A connection stays with the worker that accepted it, and /-/stats names that worker's pid:
    so each check knows which worker answered, and the delay measured is the other worker's."""
    delays: list[float] = []

    def worker(client: httpx.Client, base: str) -> int:
        return int(client.get(f"{base}/-/stats").json()["pid"])

    with server(url, data_dir, port=18_603, command=tokenforge_serve("--workers", "2"), pin=False) as base:
        for _ in range(rounds):
            token = world.token()
            warmed: set[int] = set()
            while len(warmed) < 2:  # new connections until both workers have cached the token
                with httpx.Client(timeout=5) as client:
                    pid = worker(client, base)
                    assert status(client, base, token) == 200
                    warmed.add(pid)
            time.sleep(0.3)
            with httpx.Client(timeout=5) as client:
                revoker = worker(client, base)
                revoke(client, base, token)
                done = time.monotonic()
                assert status(client, base, token) == 401, "the revoking worker must refuse on the next request"
            while True:
                assert time.monotonic() - done < 5, "the other worker never refused"
                with httpx.Client(timeout=5) as client:
                    if worker(client, base) != revoker and status(client, base, token) == 401:
                        delays.append(time.monotonic() - done)
                        break
    return _summary("two uvicorn workers: the other worker refuses after", delays)


def _summary(label: str, delays: list[float]) -> dict[str, Any]:
    ms = sorted(d * 1000 for d in delays)
    return {"label": label, "rounds": len(ms), "median_ms": statistics.median(ms), "max_ms": ms[-1]}


def per_call(fn: Any) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def limiters(redis_url: str) -> list[dict[str, Any]]:
    now = time.time()
    local = RateLimiter(enabled=True, per_user=5000, per_ip=60)
    rows = [{"limiter": "in-process (RateLimiter.hit)", "us": per_call(lambda: local.hit("user:1", now)), "trips": 0.0}]
    shared = RedisRateLimiter(redis_url, enabled=True, per_user=5000, per_ip=60, prefix=f"bench:{uuid.uuid4().hex}:")
    try:
        shared.hit("user:1", now)
        assert shared.errors == 0, f"Redis at {redis_url} did not answer"
        import redis.connection

        writes = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counting(self: Any, command: Any, check_health: bool = True) -> None:
            nonlocal writes
            writes += 1
            original(self, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
        try:
            hits = 1000
            for _ in range(hits):
                shared.hit("user:1", now)
            trips = writes / hits
        finally:
            redis.connection.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
        rows.append({"limiter": "Redis (RedisRateLimiter.hit)", "us": per_call(lambda: shared.hit("user:1", now)),
                     "trips": trips})  # fmt: skip
    finally:
        shared.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with pg_database() as url, tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        world = World(url, Path(tmp))
        try:
            results["propagation"] = [
                two_servers(world, url, Path(tmp), args.rounds),
                two_workers(world, url, Path(tmp), args.rounds),
            ]
        finally:
            world.db.dispose()
    results["limiters"] = limiters(args.redis)
    print(f"\n{machine()}; PostgreSQL at 127.0.0.1:5432, Redis at {args.redis}\n")
    print("| Revocation through one process | rounds | median ms | max ms |")
    print("|---|---:|---:|---:|")
    for row in results["propagation"]:
        print(f"| {row['label']} | {row['rounds']} | {row['median_ms']:.0f} | {row['max_ms']:.0f} |")
    print("\n| Rate limiter | µs per counted request | Redis round trips per request |")
    print("|---|---:|---:|")
    for row in results["limiters"]:
        print(f"| {row['limiter']} | {row['us']:.2f} | {row['trips']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
