"""Micro-benchmark: Gitea's published token check next to Tokenforge's verification (issue 8, target 5).

Gitea (and Forgejo) store ``token_hash = hex(PBKDF2-SHA256(token, salt, 10,000 iterations, 50 bytes))``
with a per-token random salt, and on a cache miss hash the presented token once per row whose
``token_last_eight`` matches (PERFORMANCE.md §2, [P11][P12]). The row below is that hash and the
constant-time compare only: no database, no Go, so it is Gitea's floor per uncached check, in CPython.

Tokenforge's figures come from the real objects, built by ``tokenforge.app.build_services`` over a
temporary SQLite database seeded with one user and one classic token:

* ``TokenLookup.verify``: shape + checksum, peppered digest, one indexed SELECT (no cache);
* ``Authenticator.authenticate``, warm cache: the whole hot path of every API request
  (header parse → checksum → digest → cache hit → last-used recorded in memory);
* ``Authenticator.authenticate``, cache cleared before each call: what a miss pays once per token
  (the principal — token, user, grant — loaded in one raw query).

Method as in PERFORMANCE.md §1: ``timeit``, autoranged loop count, best of 5, the process pinned
to one core.

    .venv/bin/python bench/gitea_pbkdf2.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import string
import tempfile
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

GITEA_ITERATIONS = 10_000
GITEA_KEY_LENGTH = 50
GITEA_SALT_LENGTH = 10  # util.CryptoRandomString(10)
REPEAT = 5


@dataclass
class MicroRow:
    what: str
    usec: float
    per_second: float
    note: str = ""


def best_usec(func: Callable[[], object], repeat: int = REPEAT) -> float:
    for _ in range(3):
        func()
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def row(what: str, usec: float, note: str = "") -> MicroRow:
    return MicroRow(what, round(usec, 2), round(1e6 / usec, 1), note)


# -- Gitea ------------------------------------------------------------------------------------------


def gitea_hash(token: str, salt: str) -> str:
    """models/auth/access_token.go: ``HashToken`` (pbkdf2.Key(token, salt, 10000, 50, sha256.New)), hex."""
    return hashlib.pbkdf2_hmac("sha256", token.encode(), salt.encode(), GITEA_ITERATIONS, GITEA_KEY_LENGTH).hex()


def gitea_row(repeat: int) -> MicroRow:
    token = secrets.token_hex(20)  # Gitea's token: 20 random bytes, 40 hex characters
    alphabet = string.ascii_letters + string.digits
    salt = "".join(secrets.choice(alphabet) for _ in range(GITEA_SALT_LENGTH))
    stored = gitea_hash(token, salt)

    def check() -> bool:
        return hmac.compare_digest(gitea_hash(token, salt), stored)

    assert check()
    return row(
        "Gitea token check: PBKDF2-SHA256 ×10,000, 50 B, per-token salt (hashlib.pbkdf2_hmac)",
        best_usec(check, repeat),
        "per uncached check and per last-eight candidate row; no database, no Go",
    )


# -- Tokenforge -------------------------------------------------------------------------------------


@contextmanager
def tokenforge_services(data_dir: Path) -> Iterator[tuple[object, str]]:
    """Services over a fresh SQLite database with one verified user and one classic token."""
    from tokenforge.accounts import services as accounts
    from tokenforge.app import build_services
    from tokenforge.clock import SystemClock
    from tokenforge.config import Settings
    from tokenforge.tokens import services as tokens

    settings = Settings(
        data_dir=data_dir,
        secret_key="bench-secret-key-0123456789abcdef",
        rate_limit_enabled=False,
        maintenance_interval_seconds=0,
        smtp_url="",
    )
    services = build_services(settings)
    try:
        services.db.migrate()
        now = SystemClock().now()
        with services.db.unit_of_work() as session:
            user = accounts.create_user(
                session, login="bench", email="bench@example.com", password=None, now=now, verified=True
            )
            issued = tokens.create_classic_token(
                session,
                settings,
                user=user,
                note="bench",
                scopes=["read:user"],
                expires_at=now + timedelta(days=30),
                now=now,
            )
            secret = issued.secret
        yield services, secret
    finally:
        services.close()


def tokenforge_rows(repeat: int) -> list[MicroRow]:
    from tokenforge.auth.header import ALL_SCHEMES

    with tempfile.TemporaryDirectory(prefix="tf-micro-") as tmp, tokenforge_services(Path(tmp)) as (svc, secret):
        lookup = svc.lookup  # type: ignore[attr-defined]
        authenticator = svc.authenticator  # type: ignore[attr-defined]
        clock = svc.clock  # type: ignore[attr-defined]
        header = f"token {secret}"
        now = clock.now()

        assert lookup.verify(secret, now) is not None
        queries = lookup.queries
        verify = best_usec(lambda: lookup.verify(secret, now), repeat)
        assert lookup.queries > queries

        def hot() -> object:
            return authenticator.authenticate(header, ip="127.0.0.1", schemes=ALL_SCHEMES)

        assert hot().token is not None  # type: ignore[attr-defined]
        queries = lookup.queries
        warm = best_usec(hot, repeat)
        assert lookup.queries == queries, "the warm path must not query"

        def miss() -> object:
            authenticator.cache.clear()
            return hot()

        cold = best_usec(miss, repeat)
        bad = "ghp_" + "A" * 36  # well-formed length, wrong checksum: rejected before any digest
        queries = lookup.queries
        rejected = best_usec(lambda: authenticator.authenticate(f"token {bad}", ip=None, schemes=ALL_SCHEMES), repeat)
        assert lookup.queries == queries, "a bad checksum must not query"
    return [
        row("Tokenforge TokenLookup.verify (checksum, HMAC digest, one indexed SQLite SELECT)", verify),
        row("Tokenforge Authenticator.authenticate, warm cache (the per-request hot path)", warm),
        row(
            "Tokenforge Authenticator.authenticate, cache cleared each call (the principal in one raw query)",
            cold,
            "paid once per token per generation",
        ),
        row("Tokenforge Authenticator.authenticate, bad checksum", rejected, "no digest, no query"),
    ]


def measure(*, quick: bool = False) -> list[MicroRow]:
    """All rows, in this process, pinned to the first allowed core."""
    if hasattr(os, "sched_setaffinity"):
        previous = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(previous)})
    else:
        previous = None
    try:
        repeat = 3 if quick else REPEAT
        rows = [gitea_row(repeat), *tokenforge_rows(repeat)]
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)
    gitea, warm = rows[0].usec, rows[2].usec
    rows[0].note += f"; {gitea / warm:,.0f}× Tokenforge's warm path, {gitea / rows[1].usec:,.0f}× its verify"
    return rows


def markdown(rows: list[MicroRow]) -> str:
    lines = ["| Check | µs per check | checks/s on one core | Note |", "|---|---:|---:|---|"]
    lines += [f"| {r.what} | {r.usec:,.2f} | {r.per_second:,.0f} | {r.note} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="best of 3 instead of 5")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = measure(quick=args.quick)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
