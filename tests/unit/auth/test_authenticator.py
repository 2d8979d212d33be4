"""Verification through the cache: revocation, expiry and access changes are never served stale,
in this process or (within the poll interval) in another one; last-used data is coalesced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select

import factories
from tokenforge.app import Services, build_services
from tokenforge.auth.authenticator import Authentication, Miss
from tokenforge.auth.cache import PrincipalCache
from tokenforge.auth.header import ALL_SCHEMES, BASIC_ONLY
from tokenforge.authz.subjects import Anonymous, ClassicToken, FineGrainedToken
from tokenforge.clock import FixedClock
from tokenforge.config import Settings
from tokenforge.credentials.format import TokenKind
from tokenforge.db import Database
from tokenforge.tokens.models import RevokedReason, Token
from tokenforge.tokens.services import get_token, revoke_token


@pytest.fixture
def clock(now: datetime) -> FixedClock:
    return FixedClock(now)


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    built = build_services(settings.model_copy(update={"generation_poll_seconds": 0.2}), clock)
    yield built
    built.close()


@pytest.fixture
def secrets_(services: Services, settings: Settings, now: datetime) -> dict[str, str]:
    with services.db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        repo = factories.repo(s, settings, alice, "dots", now, private=True)
        return {
            "classic": factories.classic(s, settings, alice, now, "repo", expires_in=timedelta(days=1)).secret,
            "fine": factories.fine_grained(
                s, settings, alice, now, repositories=[repo], permissions={"contents": "write"}
            ).secret,
        }


def test_principals(services: Services, secrets_: dict[str, str]) -> None:
    auth = services.authenticator.authenticate(f"token {secrets_['classic']}", ip="10.0.0.1", schemes=ALL_SCHEMES)
    assert isinstance(auth.principal, ClassicToken)
    assert auth.principal.login == "alice"
    assert not auth.failed
    fine = services.authenticator.authenticate(f"Bearer {secrets_['fine']}", ip=None, schemes=ALL_SCHEMES)
    assert isinstance(fine.principal, FineGrainedToken)


def test_failures_are_not_anonymous(services: Services, secrets_: dict[str, str]) -> None:
    auth = services.authenticator.authenticate("token ghp_wrong", ip=None, schemes=ALL_SCHEMES)
    assert auth.failed
    assert isinstance(auth.principal, Anonymous)
    assert not services.authenticator.authenticate(None, ip=None, schemes=ALL_SCHEMES).failed


def test_git_takes_basic_only(services: Services, secrets_: dict[str, str]) -> None:
    bearer = services.authenticator.authenticate(f"Bearer {secrets_['classic']}", ip=None, schemes=BASIC_ONLY)
    assert isinstance(bearer.principal, Anonymous)
    assert not bearer.failed  # not credentials git understands: git will be asked for Basic
    import base64

    empty_user = "Basic " + base64.b64encode(f":{secrets_['classic']}".encode()).decode()
    assert services.authenticator.authenticate(empty_user, ip=None, schemes=BASIC_ONLY).failed
    password = "Basic " + base64.b64encode(b"alice:hunter2hunter2").decode()
    outcome = services.authenticator.authenticate(password, ip=None, schemes=BASIC_ONLY)
    assert outcome.failed
    assert outcome.looks_like_password


def test_cache_hits_do_not_touch_the_database(services: Services, secrets_: dict[str, str]) -> None:
    authenticator = services.authenticator
    header = f"token {secrets_['classic']}"
    authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES)
    queries = services.lookup.queries
    for _ in range(50):
        assert not authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES).failed
    assert services.lookup.queries == queries
    assert authenticator.cache.hits >= 50


def test_expiry_is_enforced_on_cache_hits(services: Services, secrets_: dict[str, str], clock: FixedClock) -> None:
    header = f"token {secrets_['classic']}"
    assert not services.authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES).failed
    clock.advance(timedelta(days=1))
    assert services.authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES).failed


def test_revocation_in_this_process_is_immediate(
    services: Services, secrets_: dict[str, str], clock: FixedClock
) -> None:
    header = f"token {secrets_['classic']}"
    verified = services.authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES)
    assert isinstance(verified.principal, ClassicToken)
    with services.db.unit_of_work() as s:
        revoke_token(s, token=get_token(s, verified.principal.token_id), reason=RevokedReason.USER, now=clock.now())
    assert services.authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES).failed


def test_revocation_in_another_process_is_seen_within_the_poll_interval(
    services: Services, settings: Settings, secrets_: dict[str, str], clock: FixedClock
) -> None:
    header = f"token {secrets_['classic']}"
    verified = services.authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES)
    assert isinstance(verified.principal, ClassicToken)
    other = Database(settings.resolved_database_url)  # another process: its own engine, no listener here
    try:
        with other.unit_of_work() as s:
            revoke_token(s, token=get_token(s, verified.principal.token_id), reason=RevokedReason.USER, now=clock.now())
    finally:
        other.dispose()
    deadline = time.monotonic() + 2
    while not services.authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES).failed:
        assert time.monotonic() < deadline, "the other process's revocation was never seen"
        time.sleep(0.05)


def test_last_used_is_coalesced_into_one_write_per_token(
    services: Services, secrets_: dict[str, str], clock: FixedClock
) -> None:
    updates: list[str] = []

    @event.listens_for(services.db.engine, "before_cursor_execute")
    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    for i in range(200):
        clock.advance(timedelta(seconds=1))
        for kind in ("classic", "fine"):
            services.authenticator.authenticate(f"token {secrets_[kind]}", ip=f"10.0.0.{i % 7}", schemes=ALL_SCHEMES)
    assert updates == []  # nothing written on the request path
    assert services.flush_usage() == 2
    assert len(updates) == 1  # one batched statement for both tokens
    with services.db.unit_of_work() as s:
        rows = s.scalars(select(Token).order_by(Token.id)).all()
        for row in rows:
            assert row.last_used_at == clock.now()
            assert len(row.recent_ips) == 5
            assert row.recent_ips[0] == "10.0.0.3"  # the most recent (199 % 7)
    assert services.flush_usage() == 0  # nothing new: no write at all


def test_flush_skips_tokens_deleted_meanwhile(services: Services, secrets_: dict[str, str]) -> None:
    services.authenticator.authenticate(f"token {secrets_['classic']}", ip=None, schemes=ALL_SCHEMES)
    with services.db.unit_of_work() as s:
        for token in s.scalars(select(Token)).all():
            s.delete(token)
    assert services.flush_usage() == 0


def test_cache_is_bounded(now: datetime) -> None:
    cache: PrincipalCache[ClassicToken] = PrincipalCache(max_entries=3)
    principal = ClassicToken(user_id=1, login="a", token_id=1, lifetime=None, expires_at=None, settings_url="")
    for i in range(10):
        cache.put(bytes([i]), principal, generation=0, expires_at=None)
    assert len(cache) == 3
    at = now.timestamp()
    assert cache.get(bytes([9]), 0, at) is principal
    assert cache.get(bytes([0]), 0, at) is None
    assert cache.get(bytes([9]), 1, at) is None  # another generation: stale


def test_cache_entry_ends_at_the_token_expiry(now: datetime) -> None:
    cache: PrincipalCache[ClassicToken] = PrincipalCache()
    expires = now + timedelta(minutes=5)
    principal = ClassicToken(user_id=1, login="a", token_id=1, lifetime=None, expires_at=expires, settings_url="")
    cache.put(b"k", principal, generation=0, expires_at=expires)
    assert cache.get(b"k", 0, (expires - timedelta(seconds=1)).timestamp()) is principal
    assert cache.get(b"k", 0, expires.timestamp()) is None  # expired at the instant, not a second later


def test_the_awaited_lookup_gives_what_the_synchronous_one_does(services: Services, secrets_: dict[str, str]) -> None:
    # The middleware's path: begin → Miss → finish (awaited; on PostgreSQL through asyncpg).
    async def through_middleware_path(header: str) -> Authentication:
        outcome = services.authenticator.begin(header.encode(), ip="10.0.0.2", schemes=ALL_SCHEMES)
        assert isinstance(outcome, Miss)
        try:
            return await services.authenticator.finish(outcome)
        finally:
            await services.aclose_loop_reader()  # on this loop, before asyncio.run closes it (as the lifespan does)

    classic = asyncio.run(through_middleware_path(f"token {secrets_['classic']}"))
    fine = asyncio.run(through_middleware_path(f"Bearer {secrets_['fine']}"))
    assert classic == services.authenticator.authenticate(f"token {secrets_['classic']}", ip=None, schemes=ALL_SCHEMES)
    assert isinstance(fine.principal, FineGrainedToken)
    assert (
        fine.principal.permissions
        == services.authenticator.authenticate(
            f"Bearer {secrets_['fine']}", ip=None, schemes=ALL_SCHEMES
        ).principal.permissions
    )  # type: ignore[union-attr]
    # Cached by finish: the next request is answered without a read.
    queries = services.lookup.queries
    again = services.authenticator.begin(f"token {secrets_['classic']}".encode(), ip=None, schemes=ALL_SCHEMES)
    assert isinstance(again, Authentication)
    assert again.principal == classic.principal
    assert services.lookup.queries == queries
    # Unknown (well-formed) tokens fail on this path too, after exactly one read.
    unknown = services.settings.token_format.mint(TokenKind.CLASSIC)
    assert asyncio.run(through_middleware_path(f"token {unknown}")).failed
    assert services.lookup.queries == queries + 1


def test_a_revocation_while_the_read_is_in_flight_is_not_cached_as_live(
    services: Services, secrets_: dict[str, str], clock: FixedClock
) -> None:
    # Awaited, the read of a miss lets other requests run — one of them may revoke the very token
    # being read. The principal read before the revocation answers the request in flight (as a
    # request that arrived a moment earlier would have been), but must not be cached as live.
    header = f"token {secrets_['classic']}"
    miss = services.authenticator.begin(header.encode(), ip=None, schemes=ALL_SCHEMES)
    assert isinstance(miss, Miss)
    principal = services.lookup.principal(secrets_["classic"], clock.now())
    assert principal is not None
    with services.db.unit_of_work() as s:
        revoke_token(s, token=get_token(s, principal.token_id), reason=RevokedReason.USER, now=clock.now())
    assert not services.authenticator.settle(miss, principal).failed
    assert services.authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES).failed


def test_a_cached_header_is_still_held_to_the_surface_s_schemes(services: Services, secrets_: dict[str, str]) -> None:
    # The cache is keyed by the whole header: a Bearer header cached by the API must not become
    # credentials for git, which takes Basic only.
    bearer = f"Bearer {secrets_['classic']}"
    assert isinstance(services.authenticator.authenticate(bearer, ip=None, schemes=ALL_SCHEMES).principal, ClassicToken)
    on_git = services.authenticator.authenticate(bearer, ip=None, schemes=BASIC_ONLY)
    assert isinstance(on_git.principal, Anonymous)
    assert not on_git.failed


def test_every_spelling_verifies_and_then_hits_the_cache(services: Services, secrets_: dict[str, str]) -> None:
    import base64

    secret = secrets_["fine"]
    spellings = [
        f"token {secret}",
        f"BEARER {secret}",
        f"bearer   {secret} ",
        "Basic " + base64.b64encode(f"x-access-token:{secret}".encode()).decode(),
    ]

    def principal(header: str) -> object:
        return services.authenticator.authenticate(header, ip=None, schemes=ALL_SCHEMES).principal

    assert all(isinstance(principal(header), FineGrainedToken) for header in spellings)
    queries = services.lookup.queries
    assert all(isinstance(principal(header), FineGrainedToken) for header in spellings)
    assert services.lookup.queries == queries


def test_neither_the_answer_nor_the_cache_keeps_the_secret(services: Services, secrets_: dict[str, str]) -> None:
    import gc
    import types

    secret = secrets_["classic"]
    first = services.authenticator.authenticate(f"token {secret}", ip=None, schemes=ALL_SCHEMES)
    again = services.authenticator.authenticate(f"token {secret}", ip=None, schemes=ALL_SCHEMES)
    for outcome in (first, again):
        assert outcome.presented is not None
        assert outcome.presented.secret == ""
    # Nothing reachable from the cache's entries holds the token, in any form. (Classes and
    # modules are not followed: they are shared code, not data the cache keeps.)
    seen: list[object] = [services.authenticator.cache.__dict__]
    reachable: set[int] = set()
    strings = 0
    while seen:
        item = seen.pop()
        if id(item) in reachable or isinstance(item, (type, types.ModuleType)):
            continue
        reachable.add(id(item))
        if isinstance(item, (str, bytes)):
            strings += 1
            assert secret.encode() not in (item.encode("utf-8", "surrogatepass") if isinstance(item, str) else item)
            continue
        seen.extend(gc.get_referents(item))
    assert strings >= 2  # the walk did reach the entry (the login, the scopes)


def test_a_header_no_server_could_receive_fails(services: Services) -> None:
    outcome = services.authenticator.authenticate("token ghp_\u20ac", ip=None, schemes=ALL_SCHEMES)
    assert outcome.failed
    assert isinstance(outcome.principal, Anonymous)
