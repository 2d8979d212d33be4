"""Clone and fetch with the real git client: who may read what, and exactly what git prints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session
from test_git_support import Git, seed, shown, url

import factories as f
from live import LiveServer
from tokenforge.authz.roles import RepoRole
from tokenforge.config import Settings
from tokenforge.repos import storage
from tokenforge.repos.services import repo_path

pytestmark = pytest.mark.slow

NOT_FOUND = "remote: Repository not found."


@pytest.fixture
def git(tmp_path: Path) -> Git:
    return Git(tmp_path)


@dataclass
class World:
    tokens: dict[str, str]


def _world(session: Session, settings: Settings, now: datetime) -> World:
    alice = f.user(session, "alice", now, password="alice's account password")
    bob = f.user(session, "bob", now)
    carol = f.user(session, "carol", now)
    acme = f.org(session, "acme", alice, now, members=[bob])
    strict = f.org(session, "strict", alice, now, classic_tokens_allowed=False)
    website = f.repo(session, settings, acme, "website", now)
    infra = f.repo(session, settings, acme, "infrastructure", now, private=True)
    diary = f.repo(session, settings, alice, "diary", now, private=True, collaborators={carol: RepoRole.READ})
    vault = f.repo(session, settings, strict, "vault", now, private=True)
    for repo in (website, infra, diary, vault):
        storage.commit_files(
            settings.git_binary,
            repo_path(settings, repo),
            branch="main",
            files={"README.md": f"# {repo.full_name}\n".encode()},
            message="Initial commit",
            author=("alice", "alice@example.com"),
            when=now,
        )
    tokens = {
        "alice-repo": f.classic(session, settings, alice, now, "repo").secret,
        "alice-none": f.classic(session, settings, alice, now).secret,
        "alice-public": f.classic(session, settings, alice, now, "public_repo").secret,
        "bob-repo": f.classic(session, settings, bob, now, "repo").secret,
        "carol-repo": f.classic(session, settings, carol, now, "repo").secret,
        "alice-fg-infra": f.fine_grained(
            session, settings, alice, now, resource_owner=acme, repositories=[infra], name="infra",
            permissions={"contents": "read"},
        ).secret,
        "alice-fg-website-only": f.fine_grained(
            session, settings, alice, now, resource_owner=acme, repositories=[website], name="website",
            permissions={"contents": "read"},
        ).secret,
        "alice-fg-no-contents": f.fine_grained(
            session, settings, alice, now, resource_owner=acme, all_repos=True, name="issues only",
            permissions={"issues": "read"},
        ).secret,
    }  # fmt: skip
    return World(tokens)


@pytest.fixture
def world(live_server: LiveServer) -> World:
    return seed(live_server, _world)


def test_anonymous_clone_of_a_public_repository(live_server: LiveServer, git: Git, world: World) -> None:
    result = git("clone", url(live_server, "acme/website"), "website")
    assert result.code == 0, result
    assert result.lines == ["Cloning into 'website'..."]
    assert (git.root / "website" / "README.md").read_text() == "# acme/website\n"
    # Without the .git suffix too, as GitHub serves it.
    plain = git("clone", f"{live_server.url}/acme/website", "website-plain")
    assert plain.code == 0, plain


def test_anonymous_private_or_missing_repository_asks_for_credentials(
    live_server: LiveServer, git: Git, world: World
) -> None:
    # The same 401 challenge for private and missing repositories: nothing tells them apart.
    for name in ("acme/infrastructure", "acme/no-such-repo", "nobody/nothing"):
        result = git("clone", url(live_server, name), "out")
        assert result.code == 128, result
        assert result.lines == [
            "Cloning into 'out'...",
            f"fatal: could not read Username for 'http://127.0.0.1:{live_server.port}': terminal prompts disabled",
        ]
        response = httpx.get(f"{live_server.url}/{name}.git/info/refs", params={"service": "git-upload-pack"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="Tokenforge"'
        assert response.headers["content-type"].startswith("text/plain")


# One server and one set of data for each table below: each case is a clone in its own directory.
READABLE = [
    ("alice-repo", "acme/infrastructure"),  # classic `repo`, organization owner
    ("bob-repo", "acme/infrastructure"),  # classic `repo`, member with the base read role
    ("alice-fg-infra", "acme/infrastructure"),  # fine-grained, selected, contents: read
    ("carol-repo", "alice/diary"),  # outside collaborator with the read role
    ("alice-none", "acme/website"),  # any token reads a public repository
    ("alice-fg-no-contents", "acme/website"),
]

INVISIBLE = [
    ("alice-none", "acme/infrastructure"),  # classic without `repo`
    ("alice-public", "acme/infrastructure"),  # `public_repo` does not reach private repositories
    ("carol-repo", "acme/infrastructure"),  # no role at all on a private repository
    ("alice-fg-website-only", "acme/infrastructure"),  # not among the token's repositories
    ("alice-fg-no-contents", "acme/infrastructure"),  # selected (all), but no contents permission
    ("alice-repo", "acme/no-such-repo"),
]


def test_tokens_clone_what_they_may_read(live_server: LiveServer, git: Git, world: World) -> None:
    for i, (token, name) in enumerate(READABLE):
        user = token.split("-", maxsplit=1)[0]
        result = git("clone", url(live_server, name, user=user, secret=world.tokens[token]), f"out{i}")
        assert (token, name, result.code, result.lines) == (token, name, 0, [f"Cloning into 'out{i}'..."]), result
        # And fetches again from the clone (the URL with the token is kept in its config).
        again = git("fetch", "origin", cwd=git.root / f"out{i}")
        assert again.code == 0, again


def test_invisible_repository_is_not_found(live_server: LiveServer, git: Git, world: World) -> None:
    for token, name in INVISIBLE:
        user = token.split("-", maxsplit=1)[0]
        result = git("clone", url(live_server, name, user=user, secret=world.tokens[token]), "out")
        assert (token, name, result.code, result.lines) == (
            token,
            name,
            128,
            ["Cloning into 'out'...", NOT_FOUND, f"fatal: repository '{shown(live_server, name)}' not found"],
        ), result


def test_organization_policy_refusal_is_shown(live_server: LiveServer, git: Git, world: World) -> None:
    result = git("clone", url(live_server, "strict/vault", user="alice", secret=world.tokens["alice-repo"]), "out")
    assert result.code == 128, result
    assert result.lines == [
        "Cloning into 'out'...",
        "remote: `strict` forbids access via a personal access token (classic). Please use a GitHub App, "
        "OAuth App, or a personal access token with fine-grained permissions.",
        f"fatal: unable to access '{shown(live_server, 'strict/vault')}': The requested URL returned error: 403",
    ]


def test_account_password_is_refused_with_a_pointer_to_tokens(live_server: LiveServer, git: Git, world: World) -> None:
    result = git("clone", url(live_server, "acme/infrastructure", user="alice", secret="alice's account password"), "o")
    assert result.code == 128, result
    assert result.lines == [
        "Cloning into 'o'...",
        "remote: Password authentication is not supported for Git operations.",
        f"remote: Please use a personal access token instead: create one at {live_server.url}/settings/tokens",
        "remote: and enter it when git asks for your password.",
        f"fatal: Authentication failed for '{shown(live_server, 'acme/infrastructure')}'",
    ]


def test_unknown_token_is_refused(live_server: LiveServer, git: Git, world: World) -> None:
    # Well-formed (valid checksum) but unknown: a token from another server, or a deleted one.
    forged = _unknown_token(live_server)
    result = git("clone", url(live_server, "acme/infrastructure", user="alice", secret=forged), "out")
    assert result.code == 128, result
    assert result.lines == [
        "Cloning into 'out'...",
        "remote: Invalid username or token. Password authentication is not supported for Git operations.",
        f"fatal: Authentication failed for '{shown(live_server, 'acme/infrastructure')}'",
    ]
    # A public repository is cloned without credentials ever being sent (git sends them only
    # after a 401), so there the unknown token in the URL goes unseen, as on GitHub.
    public = git("clone", url(live_server, "acme/website", user="alice", secret=forged), "public")
    assert public.code == 0, public


def test_credentials_sent_up_front_are_checked_even_on_a_public_repository(
    live_server: LiveServer, world: World
) -> None:
    # Clients that send Basic credentials pre-emptively (gh's helper with http.extraHeader,
    # curl) get a 401 for a bad token rather than a silent anonymous fall-back.
    response = httpx.get(
        f"{live_server.url}/acme/website.git/info/refs",
        params={"service": "git-upload-pack"},
        auth=("alice", _unknown_token(live_server)),
    )
    assert response.status_code == 401
    assert response.text == (
        "Invalid username or token. Password authentication is not supported for Git operations.\n"
    )
    ok = httpx.get(
        f"{live_server.url}/acme/website.git/info/refs",
        params={"service": "git-upload-pack"},
        auth=("x-access-token", world.tokens["alice-repo"]),
    )
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "application/x-git-upload-pack-advertisement"


def test_bearer_is_not_a_git_credential(live_server: LiveServer, git: Git, world: World) -> None:
    # spec §7.1: git takes Basic only; Bearer is treated as no credentials, so git is asked
    # for Basic (here: no way to answer, so it stops).
    header = f"http.extraHeader=Authorization: Bearer {world.tokens['alice-repo']}"
    result = git("-c", header, "clone", url(live_server, "acme/infrastructure"), "out")
    assert result.code == 128, result
    assert result.lines[-1] == (
        f"fatal: could not read Username for 'http://127.0.0.1:{live_server.port}': terminal prompts disabled"
    )


def test_empty_username_is_refused(live_server: LiveServer, world: World) -> None:
    response = httpx.get(
        f"{live_server.url}/acme/infrastructure.git/info/refs",
        params={"service": "git-upload-pack"},
        auth=("", world.tokens["alice-repo"]),
    )
    assert response.status_code == 401


def test_dumb_http_and_wrong_methods_are_refused(live_server: LiveServer, world: World) -> None:
    dumb = httpx.get(f"{live_server.url}/acme/website.git/info/refs")
    assert dumb.status_code == 403
    assert dumb.text == "Git over dumb HTTP is not supported. Please upgrade your git client.\n"
    assert httpx.post(f"{live_server.url}/acme/website.git/info/refs").status_code == 405
    assert httpx.get(f"{live_server.url}/acme/website.git/git-upload-pack").status_code == 405
    # Only the smart-HTTP endpoints are git's: other paths under a repository are not served.
    assert httpx.get(f"{live_server.url}/acme/website.git/HEAD").status_code == 404


def _unknown_token(server: LiveServer) -> str:
    from tokenforge.credentials.format import TokenKind

    return server.settings.token_format.mint(TokenKind.CLASSIC)
