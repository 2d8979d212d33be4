"""Issue 8, "Also": does the ASGI server matter? uvicorn (what ``tokenforge serve`` runs) against
granian, serving the same application on the same SQLite database.

PERFORMANCE.md §8 measured granian ahead of uvicorn and noted an unexplained uvicorn slowdown with
synchronous SQLite calls made in async handlers — which is what Tokenforge's authentication does
(one raw SQLite read on the event loop per cache miss). Three loads, each on both servers, one
worker pinned to CPU 0, wrk on CPU 1 (bench/http_auth.py's harness and database):

* anonymous ``GET /api/v3/repos/acme/site``;
* a fine-grained token on a private repository, cached;
* 10,000 rotating tokens with caches of 1,000 (one SQLite read on the loop per request).

granian is not a dependency of Tokenforge: it is installed for this run only, into a directory of
its own (``--granian-dir``, default /tmp/tokenforge-granian), from PyPI.

    .venv/bin/python bench/servers.py [--seconds 10] [--rounds 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from decision import machine
from http_auth import LUA, database, run_wrk, server, warm

GRANIAN_VERSION = "2.8.7"


def granian(directory: Path) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment that run granian from ``directory`` (installed if missing)."""
    if not (directory / "granian").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(directory), f"granian=={GRANIAN_VERSION}"],
            check=True,
        )
    return [sys.executable, "-m", "granian"], {"PYTHONPATH": str(directory)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is kept")
    parser.add_argument("--granian-dir", type=Path, default=Path("/tmp/tokenforge-granian"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    prefix, granian_env = granian(args.granian_dir)

    def granian_command(port: int) -> list[str]:
        return [
            *prefix, "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--log-level", "warning", "tokenforge.app:create_app_from_env",
        ]  # fmt: skip

    servers: dict[str, dict[str, Any]] = {
        "uvicorn (tokenforge serve)": {},
        f"granian {GRANIAN_VERSION}": {"command": granian_command, "environment": granian_env},
    }
    best: dict[tuple[str, str], float] = {}
    with database("sqlite", 20_000, 1_000) as (url, tmp, fine, repo_of):
        rotation = tmp / "rotation.txt"
        rotation.write_text("".join(f"{t} /api/v3/repos/acme/{repo_of[t]}\n" for t in fine))
        script = tmp / "rotate.lua"
        script.write_text(LUA)
        one = fine[0]
        for _ in range(args.rounds):
            for name, options in servers.items():
                caches = {"auth_cache_size": "1000", "access_cache_size": "1000"}
                with server(url, tmp, **options, **caches) as base:
                    warm(base)
                    loads = {
                        "anonymous, public repository": run_wrk(f"{base}/api/v3/repos/acme/site", args.seconds),
                        "fine-grained token, cached": run_wrk(
                            f"{base}/api/v3/repos/acme/{repo_of[one]}", args.seconds, f"Authorization: token {one}"
                        ),
                        "10,000 rotating tokens, caches of 1,000": run_wrk(
                            f"{base}/api/v3/", args.seconds, script=script, script_arg=rotation
                        ),
                    }
                for load_name, load in loads.items():
                    assert load.non_2xx == 0, f"{name}, {load_name}: {load.non_2xx} errors"
                    best[name, load_name] = max(best.get((name, load_name), 0.0), load.rps)
    names = list(servers)
    loads_seen = list(dict.fromkeys(load for _, load in best))
    print(f"\n{machine()}; one worker on CPU 0, wrk -t1 -c32 -d{args.seconds}s on CPU 1, best of {args.rounds}\n")
    print(f"| Load | {' | '.join(names)} | {names[1]} / {names[0]} |")
    print("|---|" + "---:|" * (len(names) + 1))
    for load in loads_seen:
        a, b = best[names[0], load], best[names[1], load]
        print(f"| {load} | {a:,.0f} | {b:,.0f} | {b / a:.2f}× |")
    if args.json:
        args.json.write_text(json.dumps([{"server": s, "load": ld, "rps": r} for (s, ld), r in best.items()], indent=2))


if __name__ == "__main__":
    main()
