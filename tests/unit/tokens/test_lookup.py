"""The verification path: shape and checksum first, one indexed query, revocation seen at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

import factories
from tokenforge.authz.subjects import ClassicToken, FineGrainedToken, RepositorySelection
from tokenforge.config import Settings
from tokenforge.credentials.format import TokenKind
from tokenforge.credentials.permissions import Level
from tokenforge.db import Database
from tokenforge.tokens.lookup import TokenLookup
from tokenforge.tokens.models import FineGrainedGrant, RevokedReason
from tokenforge.tokens.services import revoke_token


def test_valid_tokens_verify_with_one_query(
    db: Database, settings: Settings, lookup: TokenLookup, now: datetime
) -> None:
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        classic = factories.classic(s, settings, alice, now, "repo")
        fine = factories.fine_grained(s, settings, alice, now, expires_in=None)
    verified = lookup.verify(classic.secret, now)
    assert verified is not None
    assert (verified.id, verified.user_id, verified.kind) == (classic.token.id, alice.id, TokenKind.CLASSIC)
    assert verified.expires_at == now + timedelta(days=30)
    verified_fine = lookup.verify(fine.secret, now)
    assert verified_fine is not None
    assert verified_fine.kind is TokenKind.FINE_GRAINED
    assert verified_fine.expires_at is None
    assert (lookup.queries, lookup.digests) == (2, 2)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "password123",
        "ghp_",
        "ghp_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V3",  # GitHub's vector with its last character changed
        "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 ",
        "github_pat_" + "A" * 82,
        "x" * 10_000,
        "ghp_ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ",
    ],
)
def test_garbage_is_rejected_before_hashing_or_io(lookup: TokenLookup, now: datetime, garbage: str) -> None:
    assert lookup.verify(garbage, now) is None
    assert (lookup.queries, lookup.digests) == (0, 0)


def test_well_formed_unknown_token_costs_one_lookup(settings: Settings, lookup: TokenLookup, now: datetime) -> None:
    unknown = settings.token_format.mint_classic()
    assert lookup.verify(unknown, now) is None
    assert (lookup.queries, lookup.digests) == (1, 1)


def test_revocation_is_seen_by_the_next_lookup(
    db: Database, settings: Settings, lookup: TokenLookup, now: datetime
) -> None:
    with db.unit_of_work() as s:
        issued = factories.classic(s, settings, factories.user(s, "alice", now), now, "repo")
    assert lookup.verify(issued.secret, now) is not None
    with db.unit_of_work() as s:
        token = s.merge(issued.token)
        revoke_token(s, token=token, reason=RevokedReason.USER, now=now)
    # Same lookup, same long-lived connection: no stale snapshot may hide the revocation.
    assert lookup.verify(issued.secret, now) is None


def test_expiry_is_exact(db: Database, settings: Settings, lookup: TokenLookup, now: datetime) -> None:
    with db.unit_of_work() as s:
        issued = factories.classic(
            s, settings, factories.user(s, "alice", now), now, "repo", expires_in=timedelta(days=7)
        )
    expiry = now + timedelta(days=7)
    assert lookup.verify(issued.secret, expiry - timedelta(microseconds=1)) is not None
    assert lookup.verify(issued.secret, expiry) is None


def test_a_kind_mismatch_is_refused(db: Database, settings: Settings, lookup: TokenLookup, now: datetime) -> None:
    with db.unit_of_work() as s:
        issued = factories.classic(s, settings, factories.user(s, "alice", now), now, "repo")
    assert lookup.verify(issued.secret, now) is not None
    with db.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE tokens SET kind = 'fine_grained', scopes = NULL"))
    assert lookup.verify(issued.secret, now) is None


def test_rotated_secret_keeps_old_tokens_working(db: Database, settings: Settings, now: datetime) -> None:
    with db.unit_of_work() as s:
        old = factories.classic(s, settings, factories.user(s, "alice", now), now, "repo")
    rotated = Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        secret_key="a-brand-new-secret-key-0123456789",
        previous_secret_keys=(settings.secret_key,),
    )
    lookup = TokenLookup(rotated.resolved_database_url, rotated.token_format, rotated.peppers)
    try:
        verified = lookup.verify(old.secret, now)
        assert verified is not None
        assert verified.id == old.token.id
        assert (lookup.queries, lookup.digests) == (1, 2)  # one query for both peppers
    finally:
        lookup.close()
    # Without the old secret configured, the old token no longer verifies.
    forgotten = Settings(
        data_dir=settings.data_dir, database_url=settings.database_url, secret_key="a-brand-new-secret-key-0123456789"
    )
    lookup = TokenLookup(forgotten.resolved_database_url, forgotten.token_format, forgotten.peppers)
    try:
        assert lookup.verify(old.secret, now) is None
    finally:
        lookup.close()


def test_new_tokens_use_the_new_pepper(session: Session, settings: Settings, now: datetime) -> None:
    rotated = Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        secret_key="a-brand-new-secret-key-0123456789",
        previous_secret_keys=(settings.secret_key,),
    )
    issued = factories.classic(session, rotated, factories.user(session, "alice", now), now, "repo")
    assert issued.token.pepper_id == rotated.peppers.current.id != settings.peppers.current.id


def test_principals_share_a_read_only_permission_set_and_see_a_changed_grant(
    db: Database, settings: Settings, lookup: TokenLookup, now: datetime
) -> None:
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        wanted = {"contents": "write", "issues": "read"}
        one = factories.fine_grained(s, settings, alice, now, name="one", permissions=wanted)
        two = factories.fine_grained(s, settings, alice, now, name="two", permissions=wanted)
    first = lookup.principal(one.secret, now)
    second = lookup.principal(two.secret, now)
    assert isinstance(first, FineGrainedToken)
    assert isinstance(second, FineGrainedToken)
    granted = {"contents": Level.WRITE, "issues": Level.READ, "metadata": Level.READ}  # metadata: implied
    assert first.permissions == granted
    # Decoded once and shared, so no principal can change what another one holds.
    assert first.permissions is second.permissions
    with pytest.raises(TypeError):
        first.permissions["administration"] = Level.WRITE  # type: ignore[index]
    # A changed grant stores different text: the next lookup decodes it, not the shared set.
    with db.unit_of_work() as s:
        s.get_one(FineGrainedGrant, two.token.id).permissions = {"contents": "read"}
    changed = lookup.principal(two.secret, now)
    assert isinstance(changed, FineGrainedToken)
    assert changed.permissions == {"contents": Level.READ}
    assert first.permissions == granted


def test_principal_fields_land_where_their_names_say(db: Database, settings: Settings, now: datetime) -> None:
    # The lookup builds principals positionally (lookup.py): a field order changed in subjects.py
    # must not silently swap two values of one type. Ids are made to differ from each other.
    lookup = TokenLookup(settings.resolved_database_url, settings.token_format, settings.peppers, base_url="https://tf")
    with db.unit_of_work() as s:
        factories.user(s, "zed", now)
        alice = factories.user(s, "alice", now)
        acme = factories.org(s, "acme", alice, now)
        factories.classic(s, settings, alice, now, "gist")
        factories.classic(s, settings, alice, now, "gist", note="another")
        classic = factories.classic(s, settings, alice, now, "repo", expires_in=timedelta(days=7))
        fine = factories.fine_grained(s, settings, alice, now, resource_owner=acme, all_repos=True)
    try:
        old = lookup.principal(classic.secret, now)
        assert isinstance(old, ClassicToken)
        assert (old.user_id, old.login, old.token_id) == (alice.id, "alice", classic.token.id)
        assert old.token_id != old.user_id
        assert (old.lifetime, old.expires_at) == (timedelta(days=7), now + timedelta(days=7))
        assert old.settings_url == f"https://tf/settings/tokens/{classic.token.id}"
        assert old.scopes == ("repo",)
        assert "public_repo" in old.granted
        new = lookup.principal(fine.secret, now)
        assert isinstance(new, FineGrainedToken)
        assert (new.user_id, new.login, new.token_id) == (alice.id, "alice", fine.token.id)
        assert len({new.user_id, new.token_id, new.resource_owner_id}) == 3
        assert (new.lifetime, new.expires_at) == (timedelta(days=30), now + timedelta(days=30))
        assert new.settings_url == f"https://tf/settings/personal-access-tokens/{fine.token.id}"
        assert (new.resource_owner_id, new.resource_owner_login) == (acme.id, "acme")
        assert new.repository_selection is RepositorySelection.ALL
        assert new.repository_ids == frozenset()
    finally:
        lookup.close()
