"""The raw, cached repository-access loader agrees with the ORM services and never serves stale roles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

import factories
from tokenforge.accounts.services import get_user
from tokenforge.app import Services, build_services
from tokenforge.authz.requirements import CONTENTS_READ
from tokenforge.authz.roles import OrgRole, RepoRole
from tokenforge.authz.subjects import ClassicToken
from tokenforge.config import Settings
from tokenforge.credentials import scopes as scope_catalog
from tokenforge.orgs.services import get_org, remove_member, set_member
from tokenforge.repos.services import (
    add_collaborator,
    get_repository,
    remove_collaborator,
    repository_resource,
    update_repository,
)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


@pytest.fixture
def world(services: Services, settings: Settings, now: datetime) -> None:
    with services.db.unit_of_work() as s:
        alice, bob, carol, dave, erin = (factories.user(s, n, now) for n in ("alice", "bob", "carol", "dave", "erin"))
        acme = factories.org(s, "acme", alice, now, members=[bob, erin])
        factories.repo(s, settings, acme, "site", now)
        factories.repo(
            s, settings, acme, "infra", now, private=True, collaborators={carol: RepoRole.WRITE, erin: RepoRole.ADMIN}
        )
        factories.repo(s, settings, bob, "dots", now, private=True, collaborators={dave: RepoRole.TRIAGE})


CASES = [
    (repo, login)
    for repo in ("acme/site", "acme/infra", "bob/dots")
    for login in (None, "alice", "bob", "carol", "dave", "erin")
]


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize(("full_name", "login"), CASES)
def test_agrees_with_the_orm_services(services: Services, full_name: str, login: str | None) -> None:
    with services.db.unit_of_work() as s:
        repo = get_repository(s, full_name)
        uid = get_user(s, login).id if login else None
        expected = repository_resource(s, repo, uid)
    owner, name = full_name.split("/")
    assert services.repo_access.resource(owner.upper(), name, uid) == expected


@pytest.mark.usefixtures("world")
def test_unknown_repositories_are_not_cached(services: Services, settings: Settings, now: datetime) -> None:
    assert services.repo_access.resource("acme", "later", None) is None
    with services.db.unit_of_work() as s:
        factories.repo(s, settings, get_org(s, "acme"), "later", now)
    assert services.repo_access.resource("acme", "later", None) is not None


@pytest.mark.usefixtures("world")
def test_role_changes_are_seen_on_the_next_request(services: Services, now: datetime) -> None:
    access = services.repo_access
    with services.db.unit_of_work() as s:
        bob, carol = get_user(s, "bob").id, get_user(s, "carol").id
    assert access.resource("acme", "infra", bob).repo_role is RepoRole.READ  # type: ignore[union-attr]
    queries = access.queries
    assert access.resource("acme", "infra", bob).repo_role is RepoRole.READ  # type: ignore[union-attr]
    assert access.queries == queries  # a hit
    with services.db.unit_of_work() as s:
        remove_member(s, org=get_org(s, "acme"), user=get_user(s, "bob"), now=now)
    assert access.resource("acme", "infra", bob).repo_role is None  # type: ignore[union-attr]
    with services.db.unit_of_work() as s:
        set_member(s, org=get_org(s, "acme"), user=get_user(s, "bob"), role=OrgRole.OWNER, now=now)
    assert access.resource("acme", "infra", bob).repo_role is RepoRole.ADMIN  # type: ignore[union-attr]
    with services.db.unit_of_work() as s:
        remove_collaborator(s, repo=get_repository(s, "acme/infra"), user=get_user(s, "carol"), now=now)
    assert access.resource("acme", "infra", carol).repo_role is None  # type: ignore[union-attr]
    with services.db.unit_of_work() as s:
        add_collaborator(
            s, repo=get_repository(s, "acme/infra"), user=get_user(s, "carol"), role=RepoRole.READ, now=now
        )
    assert access.resource("acme", "infra", carol).repo_role is RepoRole.READ  # type: ignore[union-attr]
    with services.db.unit_of_work() as s:
        update_repository(s, repo=get_repository(s, "acme/site"), private=True, now=now)
    assert access.resource("acme", "site", None).public is False  # type: ignore[union-attr]
    with services.db.unit_of_work() as s:
        update_repository(s, repo=get_repository(s, "acme/site"), name="www", now=now)
    assert access.resource("acme", "site", None) is None
    assert access.resource("acme", "www", None) is not None


@pytest.mark.usefixtures("world")
def test_the_last_owner_cannot_leave(services: Services, now: datetime) -> None:
    from tokenforge.errors import Invalid

    with services.db.unit_of_work() as s, pytest.raises(Invalid, match="last owner"):
        remove_member(s, org=get_org(s, "acme"), user=get_user(s, "alice"), now=now)


def _classic(user_id: int, login: str, token_id: int, *scopes: str) -> ClassicToken:
    return ClassicToken(
        user_id=user_id,
        login=login,
        token_id=token_id,
        lifetime=None,
        expires_at=None,
        settings_url="",
        scopes=scopes,
        granted=scope_catalog.expand(scopes),
    )


@pytest.mark.usefixtures("world")
def test_memoized_decisions_follow_access_changes(services: Services, now: datetime) -> None:
    # decide() answers a principal it has seen from its memo; a removed membership must still
    # take effect on the very next call with the same principal object.
    access = services.repo_access
    with services.db.unit_of_work() as s:
        bob = get_user(s, "bob").id
    token = _classic(bob, "bob", 900, "repo")
    first = access.decide(token, "acme", "infra", CONTENTS_READ)
    assert first is not None
    assert first[1].allowed
    queries = access.queries
    again = access.decide(token, "acme", "infra", CONTENTS_READ)
    assert again is first  # from the memo
    assert access.queries == queries
    with services.db.unit_of_work() as s:
        remove_member(s, org=get_org(s, "acme"), user=get_user(s, "bob"), now=now)
    after = access.decide(token, "acme", "infra", CONTENTS_READ)
    assert after is not None
    assert not after[1].allowed


@pytest.mark.usefixtures("world")
def test_memoized_decisions_never_cross_between_principals(services: Services) -> None:
    access = services.repo_access
    with services.db.unit_of_work() as s:
        bob = get_user(s, "bob").id
    scoped, unscoped = _classic(bob, "bob", 901, "repo"), _classic(bob, "bob", 902)
    for _ in range(3):  # the second and third rounds come from the memo
        allowed = access.decide(scoped, "acme", "infra", CONTENTS_READ)
        refused = access.decide(unscoped, "acme", "infra", CONTENTS_READ)
        assert allowed is not None
        assert allowed[1].allowed
        assert refused is not None
        assert not refused[1].allowed
        # The spelling asked for is part of the memo's key, the repository is not confused.
        other = access.decide(scoped, "ACME", "site", CONTENTS_READ)
        assert other is not None
        assert other[0].name == "acme/site"
