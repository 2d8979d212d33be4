"""Issue 8, target 6: the pages that list tokens, over a large database, and the storage per token.

The database is bench/decision.py's (``populated``): N tokens (half classic, half fine-grained
with an approved grant on the organization ``acme``, which requires approval), one user per ten
tokens, R private repositories. On top of it:

* user ``u1`` owns ``--heavy`` of those tokens (a CI fleet's account), is an owner of ``acme``,
  and signs in with a password;
* ``--pending`` of the fine-grained grants are turned back into pending requests.

Then one ``tokenforge serve`` (one worker, pinned to CPU 0, as bench/http_auth.py starts it)
answers, for a signed-in browser session (httpx, cookies and CSRF as a browser has them):

* the user's token lists (``/settings/tokens``, ``/settings/personal-access-tokens``), first page
  and a deep page;
* the organization's review pages: active tokens (first page; a deep page, reached by its Next
  link as a user reaches it and by its typed ``?page=N`` URL; filtered by permission and by
  repository) and pending requests;
* the REST API's ``GET /orgs/acme/personal-access-tokens?per_page=100``.

Each is requested ``--requests`` times in a row after two warm-up requests; the table gives the
median and the 95th percentile of the whole HTTP round trip, and checks what came back (status
200, the expected number of rows). Storage: bytes per token of the ``tokens`` table with its
indexes and of its ``token_principals`` row, and of a fine-grained token's grant and selected
repository rows, from SQLite's ``dbstat`` and PostgreSQL's ``pg_total_relation_size``.

    .venv/bin/python bench/scale.py                          # 1,000,000 tokens, 100,000 repositories
    .venv/bin/python bench/scale.py --tokens 20000 --repos 1000 --heavy 2000   # a quick pass
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).parent))
from decision import SECRET, machine, populated
from http_auth import server
from tokenforge.accounts.passwords import hash_password
from tokenforge.config import Settings
from tokenforge.models import Base

PASSWORD = "bench-password-8d1c"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TOKEN_ROW = re.compile(r'class="list-row token-row"')
_GRANT_ROW = re.compile(r'name="token_ids" value="\d+"')
_REQUEST_ROW = re.compile(r'name="request_ids" value="\d+"')
_NEXT = re.compile(r'rel="next" href="([^"]+)"')


def prepare(url: str, tmp: Path, heavy: int, pending: int) -> str:
    """u1: a password, owner of acme, owner of the first ``heavy`` tokens; ``pending`` grants back
    to pending requests. Returns an admin:org classic token of u1 for the API."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET password_hash = :h WHERE id = 1"), {"h": hash_password(PASSWORD)})
        conn.execute(text("UPDATE memberships SET role = 'owner' WHERE user_id = 1"))
        conn.execute(text("UPDATE tokens SET user_id = 1 WHERE id <= :n"), {"n": heavy})
        org_id = conn.execute(text("SELECT id FROM accounts WHERE login_key = 'acme'")).scalar_one()
        ids = [
            row[0]
            for row in conn.execute(
                text("SELECT token_id FROM fine_grained_grants WHERE token_id > :n ORDER BY token_id DESC LIMIT :k"),
                {"n": heavy, "k": pending},
            )
        ]
        if ids:
            conn.execute(
                text(
                    "UPDATE fine_grained_grants SET approval = 'pending', access_granted_at = NULL WHERE token_id = :t"
                ),
                [{"t": t} for t in ids],
            )
            conn.execute(
                text(
                    "INSERT INTO token_requests (token_id, org_id, status, reason, repository_selection, "
                    "repository_ids, permissions, upgrade, created_at, review_reason) VALUES (:t, :o, 'pending', "
                    "'', 'subset', '[]', :p, false, CURRENT_TIMESTAMP, '')"
                ),
                [{"t": t, "o": org_id, "p": '{"contents": "read", "metadata": "read"}'} for t in ids],
            )
        # The API's token: inserted as populate() inserts its own (no email to verify here).
        settings = Settings(data_dir=tmp, database_url=url, secret_key=SECRET)
        secret = settings.token_format.mint_classic()
        now = datetime.now(UTC)
        conn.execute(
            insert(Base.metadata.tables["tokens"]),
            [
                {
                    # An explicit id: populate() wrote its ids itself, so PostgreSQL's sequence is behind.
                    "id": conn.execute(text("SELECT MAX(id) + 1 FROM tokens")).scalar_one(),
                    "user_id": 1, "kind": "classic", "digest": settings.peppers.digest(secret),
                    "pepper_id": settings.peppers.current.id, "last_eight": secret[-8:], "name": "scale bench",
                    "description": "", "scopes": "admin:org", "created_at": now, "updated_at": now,
                    "expires_at": None, "recent_ips": [],
                }
            ],
        )  # fmt: skip
    engine.dispose()
    return secret


def storage(url: str, tokens: int) -> dict[str, float]:
    """Bytes per token: the tokens table with its indexes, and the principal row authentication
    reads (token_principals, kept by triggers); a fine-grained token's extra rows."""
    engine = create_engine(url)
    sizes: dict[str, int] = {}
    with engine.connect() as conn:
        tables = ("tokens", "fine_grained_grants", "token_repositories", "token_principals")
        if url.startswith("sqlite"):
            # dbstat lists every b-tree page, tables and indexes alike; indexes are named after
            # their table in Alembic's naming convention (ix_/uq_<table>_…) or sqlite_autoindex_<table>.
            rows = conn.execute(text("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")).all()
            for table in tables:
                sizes[table] = sum(
                    int(size)
                    for name, size in rows
                    if name == table
                    or re.fullmatch(rf"(ix|uq|sqlite_autoindex)_{table}(_.*)?", name)
                    or (table == "tokens" and name.startswith("ix_tokens_"))
                )
        else:
            for table in tables:
                sizes[table] = int(conn.execute(text(f"SELECT pg_total_relation_size('{table}')")).scalar_one())
    engine.dispose()
    fine = tokens // 2
    return {
        "tokens_bytes_per_token": sizes["tokens"] / tokens,
        "principal_bytes_per_token": sizes["token_principals"] / tokens,
        "grant_bytes_per_fine_grained_token": sizes["fine_grained_grants"] / fine,
        "repository_row_bytes_per_fine_grained_token": sizes["token_repositories"] / fine,
    }


def sign_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    page = client.get("/login").text
    match = _CSRF.search(page)
    assert match, "no CSRF field on the login page"
    answer = client.post("/login", data={"login": "u1", "password": PASSWORD, "csrf_token": match.group(1)})
    assert answer.status_code == 303, f"sign-in failed: {answer.status_code}"
    return client


def next_link(client: httpx.Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code}"
    match = _NEXT.search(response.text)
    assert match, f"{path}: no Next link"
    return html.unescape(match.group(1))


def timed(client: httpx.Client, path: str, n: int, headers: dict[str, str] | None = None) -> tuple[list[float], str]:
    for _ in range(2):
        client.get(path, headers=headers)
    samples = []
    body = ""
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        body = response.text
    return samples, body


def bench(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with populated(kind, args.tokens, args.repos) as (url, tmp, _result):
        token = prepare(url, tmp, args.heavy, args.pending)
        sizes = storage(url, args.tokens + 1)
        rows: list[dict[str, Any]] = []
        with server(url, tmp) as base, contextlib.closing(sign_in(base)) as client:
            active = "/organizations/acme/settings/personal-access-tokens/active"
            # Deep pages: the middle of each list (an OFFSET of half the rows).
            list_deep = max(1, args.heavy // 2 // 50 // 2)
            active_deep = max(2, (args.tokens // 2 - args.pending) // 50 // 2)
            # The organization's list pages by keyset links: the deep page a user reaches is the
            # Next link of the page before it (read here once, untimed, by its typed URL).
            followed = next_link(client, f"{active}?page={active_deep - 1}")
            pages: list[tuple[str, str, re.Pattern[str] | None, int | None, dict[str, str] | None]] = [
                (f"classic token list of a user with {args.heavy // 2:,}", "/settings/tokens", _TOKEN_ROW, 50, None),
                (f"the same, page {list_deep:,}", f"/settings/tokens?page={list_deep}", _TOKEN_ROW, 50, None),
                ("fine-grained token list, first page", "/settings/personal-access-tokens", _TOKEN_ROW, 50, None),
                (f"organization: {args.tokens // 2 - args.pending:,} active tokens, first page", active, _GRANT_ROW, 50,
                 None),
                (f"organization: active tokens, page {active_deep:,} by its Next link", followed, _GRANT_ROW, 50,
                 None),
                (f"organization: active tokens, page {active_deep:,} typed (OFFSET)", f"{active}?page={active_deep}",
                 _GRANT_ROW, 50, None),
                ("organization: active tokens, ?permission=contents", f"{active}?permission=contents", _GRANT_ROW,
                 50, None),
                ("organization: active tokens, ?repository=r7", f"{active}?repository=r7", _GRANT_ROW, None, None),
                (f"organization: {args.pending:,} pending requests, first page",
                 "/organizations/acme/settings/personal-access-token-requests", _REQUEST_ROW, 50, None),
                ("API: GET /orgs/acme/personal-access-tokens?per_page=100",
                 "/api/v3/orgs/acme/personal-access-tokens?per_page=100", None, None,
                 {"Authorization": f"token {token}"}),
            ]  # fmt: skip
            for label, path, pattern, expected, headers in pages:
                samples, body = timed(client, path, args.requests, headers)
                found = len(pattern.findall(body)) if pattern else None
                if path.startswith("/api/"):
                    found = len(json.loads(body))
                    assert found == 100, f"{path}: {found} items"
                if expected is not None:
                    assert found == expected, f"{path}: {found} rows, expected {expected}"
                rows.append(
                    {
                        "page": f"{label} ({kind})",
                        "median_ms": statistics.median(samples),
                        "p95_ms": sorted(samples)[int(0.95 * (len(samples) - 1))],
                        "rows": found,
                    }
                )
        return {"kind": kind, "pages": rows, "storage": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--repos", type=int, default=100_000)
    parser.add_argument("--heavy", type=int, default=20_000, help="tokens owned by the signed-in user")
    parser.add_argument("--pending", type=int, default=1_000, help="grants turned into pending requests")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = [bench(kind, args) for kind in args.databases.split(",")]
    print(f"\n{machine()}; {args.tokens:,} tokens, {args.repos:,} repositories; one uvicorn worker on CPU 0\n")
    print("| Page | median ms | p95 ms | rows shown |")
    print("|---|---:|---:|---:|")
    for result in results:
        for row in result["pages"]:
            shown = "" if row["rows"] is None else row["rows"]
            print(f"| {row['page']} | {row['median_ms']:.1f} | {row['p95_ms']:.1f} | {shown} |")
    print("\n| Storage | " + " | ".join(r["kind"] for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for key in results[0]["storage"]:
        print(f"| {key.replace('_', ' ')} | " + " | ".join(f"{r['storage'][key]:.0f}" for r in results) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
