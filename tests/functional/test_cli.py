"""The admin CLI as an operator runs it: a real process, real databases, real git."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import factories
from tokenforge.authz.roles import RepoRole
from tokenforge.config import Settings
from tokenforge.credentials.format import TokenKind
from tokenforge.db import Database
from tokenforge.tokens.lookup import TokenLookup

SECRET = "cli-test-secret-0123456789abcdef"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOKENFORGE_")}
    base.update(
        TOKENFORGE_DATA_DIR=str(tmp_path / "data"),
        TOKENFORGE_DATABASE_URL=database_url,
        TOKENFORGE_SECRET_KEY=SECRET,
        NO_COLOR="1",
    )
    return base


def run(env: dict[str, str], *args: str, stdin: str = "") -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "tokenforge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def ok(env: dict[str, str], *args: str, stdin: str = "") -> str:
    result = run(env, *args, stdin=stdin)
    assert result.code == 0, result.err
    return result.out


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("accounts", "memberships", "repositories", "collaborators", "tokens", "audit_events")
        }
    engine.dispose()
    return found


def seed_with_cli(env: dict[str, str]) -> None:
    ok(
        env,
        "user",
        "create",
        "alice",
        "--email",
        "alice@example.com",
        "--password-stdin",
        "--verified",
        stdin="correct horse battery\n",
    )
    ok(env, "user", "create", "bob", "--email", "bob@example.com", "--verified")
    ok(env, "user", "create", "carol", "--email", "carol@example.com")
    ok(env, "org", "create", "acme", "--owner", "alice")
    ok(env, "org", "add-member", "acme", "bob")
    ok(env, "repo", "create", "acme/site", "--description", "the site")
    ok(env, "repo", "create", "acme/infra", "--private")
    ok(env, "repo", "add-collaborator", "acme/infra", "carol", "--role", "write")


@pytest.fixture
def seeded(env: dict[str, str], now: datetime) -> dict[str, str]:
    """The same data as ``seed_with_cli``, written in-process: each CLI process costs ~1 s of imports."""
    settings = settings_for(env)
    db = Database(settings.resolved_database_url)
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now, password="correct horse battery")
        bob = factories.user(s, "bob", now)
        carol = factories.user(s, "carol", now, verified=False)
        acme = factories.org(s, "acme", alice, now, members=[bob])
        factories.repo(s, settings, acme, "site", now)
        factories.repo(s, settings, acme, "infra", now, private=True, collaborators={carol: RepoRole.WRITE})
        factories.classic(s, settings, alice, now, "repo", note="taken")
    db.dispose()
    return env


def settings_for(env: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(env["TOKENFORGE_DATA_DIR"]), database_url=env["TOKENFORGE_DATABASE_URL"], secret_key=SECRET
    )


def lookup_for(env: dict[str, str]) -> TokenLookup:
    settings = settings_for(env)
    return TokenLookup(settings.resolved_database_url, settings.token_format, settings.peppers)


def test_operator_flow(env: dict[str, str]) -> None:
    seed_with_cli(env)
    classic = ok(env, "token", "create", "alice", "--classic", "--scopes", "repo,workflow", "--note", "ci")
    fine = ok(
        env,
        "token",
        "create",
        "bob",
        "--fine-grained",
        "--name",
        "deploy",
        "--owner",
        "acme",
        "--repos",
        "site,infra",
        "--permission",
        "contents=write",
        "--permission",
        "issues=read",
        "--expires-in",
        "7",
    )
    # Exactly the token, once, and nothing else on stdout.
    assert classic.count("\n") == 1
    assert fine.count("\n") == 1
    classic, fine = classic.strip(), fine.strip()
    lookup = lookup_for(env)
    try:
        now = datetime.now(UTC)
        verified_classic = lookup.verify(classic, now)
        verified_fine = lookup.verify(fine, now)
        assert verified_classic is not None
        assert verified_classic.kind is TokenKind.CLASSIC
        assert verified_fine is not None
        assert verified_fine.kind is TokenKind.FINE_GRAINED
        listing = ok(env, "token", "list", "bob")
        assert "deploy" in listing
        assert "contents=write" in listing
        assert "pending" in listing
        assert fine not in listing
        assert fine[-20:] not in listing
        assert "repo, workflow" in ok(env, "token", "list", "alice")
        revoked = ok(env, "token", "revoke", str(verified_classic.id))
        assert "revoked token" in revoked
        assert lookup.verify(classic, datetime.now(UTC)) is None
        assert " ci " not in ok(env, "token", "list", "alice")
    finally:
        lookup.close()
    # The repositories exist as bare git repositories under the data directory.
    repos = sorted(p.name for p in (Path(env["TOKENFORGE_DATA_DIR"]) / "repositories").iterdir())
    assert repos == ["1.git", "2.git"]


def test_no_scope_classic_token_and_public_only_fine_grained(seeded: dict[str, str]) -> None:
    assert ok(seeded, "token", "create", "alice", "--classic").startswith("ghp_")
    assert ok(seeded, "token", "create", "alice", "--fine-grained", "--name", "read public").startswith("github_pat_")


BAD_INPUT = [
    pytest.param(("token", "create", "zed", "--classic", "--scopes", "repo"), "No user named 'zed'", id="unknown-user"),
    pytest.param(
        ("token", "create", "alice", "--classic", "--scopes", "repo,rpo"), "unknown scope: rpo", id="bad-scope"
    ),
    pytest.param(
        (
            "token",
            "create",
            "bob",
            "--fine-grained",
            "--name",
            "x",
            "--owner",
            "acme",
            "--permission",
            "contents=admin",
        ),
        "contents can be read, write, not admin",
        id="bad-permission-level",
    ),
    pytest.param(
        ("token", "create", "bob", "--fine-grained", "--name", "x", "--owner", "acme", "--permission", "contents"),
        "--permission expects NAME=LEVEL",
        id="malformed-permission",
    ),
    pytest.param(
        ("token", "create", "bob", "--fine-grained", "--name", "x", "--owner", "acme", "--permission", "nonsense=read"),
        "unknown permission: 'nonsense'",
        id="unknown-permission",
    ),
    pytest.param(
        ("token", "create", "alice", "--classic", "--scopes", "repo", "--note", "taken"),
        "Note has already been taken",
        id="duplicate-name",
    ),
    pytest.param(
        ("token", "create", "carol", "--classic", "--scopes", "repo"), "Verify your email", id="unverified-email"
    ),
    pytest.param(("token", "create", "alice", "--classic", "--fine-grained"), "choose exactly one", id="both-kinds"),
    pytest.param(
        ("token", "create", "alice", "--classic", "--expires-in", "soon"), "--expires-in must be", id="bad-expiry"
    ),
    pytest.param(
        ("token", "create", "bob", "--fine-grained", "--name", "x", "--owner", "acme", "--repos", "nope"),
        "No repository named 'acme/nope'",
        id="unknown-repo",
    ),
    pytest.param(
        ("token", "create", "carol", "--fine-grained", "--name", "x", "--owner", "acme"),
        "Verify your email",
        id="carol-unverified-fine-grained",
    ),
    pytest.param(("token", "revoke", "999"), "No token with id 999", id="unknown-token"),
    pytest.param(
        ("user", "create", "Alice", "--email", "new@example.com"),
        "Login 'Alice' is already taken",
        id="duplicate-login",
    ),
    pytest.param(("user", "create", "bad_login", "--email", "x@example.com"), "Login may only contain", id="bad-login"),
    pytest.param(("user", "create", "dave", "--email", "nope"), "is not a valid email", id="bad-email"),
    pytest.param(("org", "create", "acme2", "--owner", "ghost1"), "No user named 'ghost1'", id="unknown-owner"),
    pytest.param(
        ("org", "add-member", "acme", "bob", "--role", "king"), "unknown organization role", id="bad-org-role"
    ),
    pytest.param(("org", "add-member", "alice", "bob"), "No organization named 'alice'", id="not-an-org"),
    pytest.param(("repo", "create", "acme/site"), "Repository 'acme/site' already exists", id="duplicate-repo"),
    pytest.param(("repo", "create", "site"), "expected OWNER/NAME", id="repo-without-owner"),
    pytest.param(("repo", "create", "acme/bad name"), "Repository names may contain", id="bad-repo-name"),
    pytest.param(
        ("repo", "add-collaborator", "acme/infra", "bob", "--role", "god"),
        "unknown repository role",
        id="bad-repo-role",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_one_line_and_changes_nothing(seeded: dict[str, str], args: tuple[str, ...], message: str) -> None:
    before = counts(seeded["TOKENFORGE_DATABASE_URL"])
    repos_before = sorted((Path(seeded["TOKENFORGE_DATA_DIR"]) / "repositories").iterdir())
    result = run(seeded, *args)
    assert result.code == 1
    assert result.out == ""
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("tokenforge: error: ")
    assert message in result.err
    assert counts(seeded["TOKENFORGE_DATABASE_URL"]) == before
    assert sorted((Path(seeded["TOKENFORGE_DATA_DIR"]) / "repositories").iterdir()) == repos_before


def test_unreachable_database(env: dict[str, str]) -> None:
    env = dict(env, TOKENFORGE_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
    result = run(env, "token", "list", "alice")
    assert result.code == 3
    assert result.err.count("\n") == 1
    assert result.err.startswith("tokenforge: error: cannot reach the database at postgresql+psycopg://nobody@")


def test_missing_secret_is_refused(env: dict[str, str]) -> None:
    ok(env, "user", "create", "alice", "--email", "alice@example.com", "--verified")
    result = run(dict(env, TOKENFORGE_SECRET_KEY=""), "token", "create", "alice", "--classic")
    assert result.code == 1
    assert "TOKENFORGE_SECRET_KEY is not set" in result.err
    assert result.err.count("\n") == 1
    assert result.out == ""


def test_regenerate_policy_review_maintenance_and_audit(seeded: dict[str, str], now: datetime) -> None:
    env = dict(seeded, TOKENFORGE_MAINTENANCE_INTERVAL_SECONDS="0")
    old = ok(
        env,
        "token",
        "create",
        "bob",
        "--fine-grained",
        "--name",
        "ci",
        "--owner",
        "acme",
        "--repos",
        "infra",
        "--permission",
        "contents=read",
    ).strip()
    lookup = lookup_for(env)
    try:
        verified = lookup.verify(old, datetime.now(UTC))
        assert verified is not None
        token_id = verified.id
        new = ok(env, "token", "regenerate", str(token_id), "--expires-in", "7").strip()
        assert new != old
        assert lookup.verify(old, datetime.now(UTC)) is None
        again = lookup.verify(new, datetime.now(UTC))
        assert again is not None
        assert again.id == token_id
    finally:
        lookup.close()

    listing = ok(env, "org", "requests", "acme")
    assert "bob" in listing
    assert "ci" in listing
    request_id = listing.splitlines()[1].split()[0]
    assert ok(env, "org", "review", "acme", request_id, "--deny", "--reason", "too broad").strip() == (
        f"request {request_id} denied"
    )
    denied_again = run(env, "org", "review", "acme", request_id, "--approve")
    assert denied_again.code == 1
    assert "already denied" in denied_again.err

    policy = ok(
        env,
        "org",
        "set-policy",
        "acme",
        "--classic",
        "restrict",
        "--approval",
        "not-required",
        "--max-lifetime-fine-grained",
        "90",
        "--max-lifetime-classic",
        "none",
    )
    assert "classic_tokens_allowed: true -> false" in policy
    assert "max_lifetime_fine_grained_days: 366 -> 90" in policy
    assert policy.strip().endswith("classic none")
    bad = run(env, "org", "set-policy", "acme", "--max-lifetime-classic", "0")
    assert bad.code == 1
    assert bad.err.count("\n") == 1

    report = ok(env, "maintenance", "run")
    assert "unused tokens removed: 0" in report
    assert "expiry reminders sent: 1" in report  # bob's regenerated token expires within 7 days

    log = ok(env, "audit", "list", "--user", "bob")
    assert "token.regenerated" in log
    assert "token.approval_denied" in log
    assert new not in log
    assert old not in log
    everything = ok(env, "audit", "list", "--since", "1d")
    assert "org.policy_changed" in everything
    assert run(env, "audit", "list", "--since", "yesterday-ish").code == 1
    # Mail went to the outbox: creation, regeneration, denial, reminder — never the secret.
    outbox = Path(env["TOKENFORGE_DATA_DIR"]) / "outbox"
    mails = [p.read_text() for p in sorted(outbox.glob("*.eml"))]
    assert any("A new personal access token was added to your account" in m for m in mails)
    assert any("regenerated" in m for m in mails)
    assert all(new not in m and old not in m for m in mails)
