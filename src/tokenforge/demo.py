"""The demo: alice and bob, the acme organization, a public and a private repository.

Seeded once into an empty database by ``tokenforge serve --demo``; the passwords are kept in
the data directory (mode 0600, demo only) so every start can print them again.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tokenforge.accounts.services import create_user, find_account
from tokenforge.authz.roles import OrgRole
from tokenforge.authz.subjects import RepositorySelection
from tokenforge.config import Settings
from tokenforge.orgs.services import create_org, set_member
from tokenforge.repos import storage
from tokenforge.repos.services import create_repository, repo_path
from tokenforge.tokens.services import create_fine_grained_token

CREDENTIALS_FILE = "demo-credentials.json"


@dataclass(frozen=True)
class DemoAccounts:
    passwords: dict[str, str]
    created: bool
    # Shown once, on the start that created them (only their digests are stored).
    tokens: dict[str, str] = field(default_factory=dict)


def _readme(title: str, body: str) -> bytes:
    return f"# {title}\n\n{body}\n".encode()


def seed(session: Session, settings: Settings, *, now: datetime) -> DemoAccounts:
    path = settings.data_dir / CREDENTIALS_FILE
    if find_account(session, "alice") is not None:
        passwords = json.loads(path.read_text()) if path.exists() else {}
        return DemoAccounts(passwords, created=False)

    passwords = {login: secrets.token_urlsafe(12) for login in ("alice", "bob")}
    alice = create_user(
        session, login="alice", email="alice@example.com", password=passwords["alice"], verified=True, now=now
    )
    bob = create_user(session, login="bob", email="bob@example.com", password=passwords["bob"], verified=True, now=now)
    acme = create_org(session, login="acme", owner=alice, now=now)
    set_member(session, org=acme, user=bob, role=OrgRole.MEMBER, now=now)
    repos = [
        (
            create_repository(
                session, settings, owner=acme, name="website", now=now, description="acme's public website"
            ),
            _readme("acme/website", "A public repository: anyone may clone it."),
        ),
        (
            create_repository(
                session,
                settings,
                owner=acme,
                name="infrastructure",
                private=True,
                now=now,
                description="acme's private infrastructure code",
            ),
            _readme("acme/infrastructure", "A private repository: members of acme only."),
        ),
    ]
    for repo, readme in repos:
        storage.commit_files(
            settings.git_binary,
            repo_path(settings, repo),
            branch=repo.default_branch,
            files={"README.md": readme},
            message="Initial commit",
            author=("alice", "alice@example.com"),
            when=now,
        )
        repo.pushed_at = now
    # bob asks for access to acme's private repository: acme requires approval (the default), so
    # the token waits for alice, an owner — the review flow, ready to try by hand.
    pending = create_fine_grained_token(
        session,
        settings,
        user=bob,
        name="website deploy",
        resource_owner=acme,
        description="Deploys acme/website from CI",
        repository_selection=RepositorySelection.SUBSET,
        repositories=[repos[1][0]],
        permissions={"contents": "read", "issues": "write"},
        expires_at=now + timedelta(days=90),
        now=now,
        justification="CI needs to read the infrastructure repo.",
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(passwords, indent=2) + "\n")
    path.chmod(0o600)
    return DemoAccounts(passwords, created=True, tokens={"bob (fine-grained, pending acme's approval)": pending.secret})
