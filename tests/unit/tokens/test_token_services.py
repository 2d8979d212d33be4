"""Creating, listing and revoking tokens through the service layer, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import factories
from tokenforge.audit.models import AuditEvent
from tokenforge.authz.subjects import Approval, ClassicToken, FineGrainedToken, RepositorySelection
from tokenforge.config import Settings
from tokenforge.credentials.permissions import Level
from tokenforge.errors import Conflict, Forbidden, Invalid, NotFound
from tokenforge.orgs.review import pending_requests, review
from tokenforge.orgs.services import get_org
from tokenforge.tokens import services
from tokenforge.tokens.models import RevokedReason, Token


def test_classic_token_stores_only_a_digest(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    issued = factories.classic(session, settings, alice, now, "user", "gist", "user:email", note="laptop")
    session.commit()
    assert settings.token_format.identify(issued.secret) is not None
    row = session.execute(text("SELECT * FROM tokens")).mappings().one()
    # No column holds the plaintext, or any long part of it.
    for value in row.values():
        if isinstance(value, str):
            assert issued.secret not in value
            assert issued.secret[4:20] not in value
    assert row["digest"] == settings.peppers.digest(issued.secret)
    assert row["pepper_id"] == settings.peppers.current.id
    assert row["last_eight"] == issued.secret[-8:]
    # Normalized like GitHub: user:email is implied by user; sorted.
    assert issued.token.scope_list == ("gist", "user")
    assert issued.token.expires_at == now + timedelta(days=30)


def test_creation_is_audited_without_the_secret(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    issued = factories.classic(session, settings, alice, now, "repo")
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "token.created")).one()
    assert event.token_id == issued.token.id
    assert event.user_id == alice.id
    assert event.data["scopes"] == ["repo"]
    assert issued.secret not in repr(event.data)


def test_unverified_email_cannot_create_tokens(session: Session, settings: Settings, now: datetime) -> None:
    carol = factories.user(session, "carol", now, verified=False)
    with pytest.raises(Forbidden, match="Verify your email"):
        factories.classic(session, settings, carol, now, "repo")
    with pytest.raises(Forbidden, match="Verify your email"):
        factories.fine_grained(session, settings, carol, now)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"note": "   "}, "Note can't be blank"),
        ({"note": "x" * 256}, "Note is too long"),
        ({"scopes": ["repo", "rpo"]}, "Unknown scope: rpo"),
        ({"expires_at": "past"}, "Expiration must be in the future"),
    ],
)
def test_classic_token_validation(
    session: Session, settings: Settings, now: datetime, kwargs: dict[str, object], message: str
) -> None:
    alice = factories.user(session, "alice", now)
    args: dict[str, object] = {"note": "n", "scopes": ["repo"], "expires_at": None}
    args.update(kwargs)
    if args["expires_at"] == "past":
        args["expires_at"] = now - timedelta(seconds=1)
    with pytest.raises(Invalid, match=message):
        services.create_classic_token(session, settings, user=alice, now=now, **args)  # type: ignore[arg-type]
    assert session.scalar(select(Token.id)) is None


def test_duplicate_names_conflict_per_kind_and_free_after_revocation(
    session: Session, settings: Settings, now: datetime
) -> None:
    alice = factories.user(session, "alice", now)
    first = factories.classic(session, settings, alice, now, "repo", note="deploy")
    with pytest.raises(Conflict, match="Note has already been taken"):
        factories.classic(session, settings, alice, now, "gist", note="deploy")
    factories.fine_grained(session, settings, alice, now, name="deploy")  # other kind: fine
    services.revoke_token(session, token=first.token, reason=RevokedReason.USER, now=now)
    factories.classic(session, settings, alice, now, "gist", note="deploy")  # name free again


def test_fine_grained_token_grant(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    dots = factories.repo(session, settings, alice, "dots", now, private=True)
    issued = factories.fine_grained(
        session, settings, alice, now, repositories=[dots], permissions={"contents": "write", "issues": "READ"}
    )
    session.commit()
    token = issued.token
    assert issued.secret.startswith("github_pat_11")
    assert token.grant is not None
    assert token.grant.permissions == {"contents": "write", "issues": "read", "metadata": "read"}
    assert token.grant.repository_selection == "subset"
    assert [r.name for r in token.grant.repositories] == ["dots"]
    assert token.grant.approval == "approved"
    assert token.scopes is None


def test_org_token_is_pending_for_members_and_approved_for_owners(
    session: Session, settings: Settings, now: datetime
) -> None:
    alice, bob = factories.user(session, "alice", now), factories.user(session, "bob", now)
    acme = factories.org(session, "acme", alice, now, members=[bob])
    site = factories.repo(session, settings, acme, "site", now)
    bobs = factories.fine_grained(
        session,
        settings,
        bob,
        now,
        resource_owner=acme,
        repositories=[site],
        permissions={"contents": "read"},
        name="bob's",
    )
    alices = factories.fine_grained(
        session,
        settings,
        alice,
        now,
        resource_owner=acme,
        all_repos=True,
        permissions={"contents": "read", "members": "read"},
        name="alice's",
    )
    session.commit()
    assert bobs.token.grant is not None
    assert bobs.token.grant.approval == "pending"
    assert alices.token.grant is not None
    assert alices.token.grant.approval == "approved"
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.token_id == bobs.token.id)).all()
    assert "token.approval_requested" in actions


def test_org_without_approval_requirement_approves_at_once(session: Session, settings: Settings, now: datetime) -> None:
    alice, bob = factories.user(session, "alice", now), factories.user(session, "bob", now)
    acme = factories.org(session, "acme", alice, now, members=[bob], approval_required=False)
    issued = factories.fine_grained(session, settings, bob, now, resource_owner=acme, all_repos=True)
    assert issued.token.grant is not None
    assert issued.token.grant.approval == "approved"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("stranger-org", "Cannot find the specified resource owner: acme"),
        ("other-user", "Cannot find the specified resource owner: alice"),
        ("org-restricts", "Cannot find the specified resource owner: closed"),
        ("member-org-permission", "Only organization owners can grant organization permissions"),
        ("account-permission-for-org", "account permission"),
        ("org-permission-for-user", "organization permission"),
        ("other-owners-repo", "bob/theirs does not belong to alice"),
        ("invisible-private-repo", "Repository not found"),
        ("subset-without-repos", "Select at least one repository"),
        ("lifetime-over-org-policy", "acme requires fine-grained tokens to expire within 366 days"),
        ("no-expiry-in-org", "acme requires fine-grained tokens to expire within 366 days"),
        ("bad-level", "contents can be read, write, not admin"),
        ("long-name", "Name is too long"),
    ],
)
def test_fine_grained_validation(session: Session, settings: Settings, now: datetime, case: str, message: str) -> None:
    alice, bob, carol = (factories.user(session, n, now) for n in ("alice", "bob", "carol"))
    acme = factories.org(session, "acme", alice, now, members=[bob])
    factories.org(session, "closed", alice, now, members=[bob, carol], fine_grained_tokens_allowed=False)
    theirs = factories.repo(session, settings, bob, "theirs", now)
    secret = factories.repo(session, settings, acme, "secret", now, private=True)
    acme.default_repository_role = "none"
    session.flush()
    args: dict[str, object] = {
        "user": bob,
        "name": "t",
        "resource_owner": acme,
        "permissions": {},
        "expires_at": now + timedelta(days=30),
    }
    match case:
        case "stranger-org":
            args["user"] = carol
        case "other-user":
            args["resource_owner"] = alice
        case "org-restricts":
            args["resource_owner"] = get_org(session, "closed")
        case "member-org-permission":
            args["permissions"] = {"members": "read"}
        case "account-permission-for-org":
            args["permissions"] = {"emails": "read"}
        case "org-permission-for-user":
            args.update(resource_owner=bob, permissions={"members": "read"})
        case "other-owners-repo":
            args.update(
                user=alice, resource_owner=alice, repository_selection=RepositorySelection.SUBSET, repositories=[theirs]
            )
        case "invisible-private-repo":
            args.update(repository_selection=RepositorySelection.SUBSET, repositories=[secret])
        case "subset-without-repos":
            args.update(repository_selection=RepositorySelection.SUBSET)
        case "lifetime-over-org-policy":
            args["expires_at"] = now + timedelta(days=367)
        case "no-expiry-in-org":
            args["expires_at"] = None
        case "bad-level":
            args["permissions"] = {"contents": "admin"}
        case "long-name":
            args["name"] = "n" * 41
    with pytest.raises(Invalid, match=message):
        services.create_fine_grained_token(session, settings, now=now, **args)  # type: ignore[arg-type]


def test_fine_grained_limit_per_user(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    for i in range(services.FINE_GRAINED_PER_USER):
        factories.fine_grained(session, settings, alice, now, name=f"t{i}")
    with pytest.raises(Invalid, match="at most 50"):
        factories.fine_grained(session, settings, alice, now, name="one too many")


def test_list_is_newest_first_and_hides_revoked(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    old = factories.classic(session, settings, alice, now, "repo", note="old")
    mid = factories.fine_grained(session, settings, alice, now + timedelta(minutes=1), name="mid")
    new = factories.classic(session, settings, alice, now + timedelta(minutes=2), "gist", note="new")
    services.revoke_token(session, token=mid.token, reason=RevokedReason.USER, now=now)
    assert [t.name for t in services.list_tokens(session, alice)] == ["new", "old"]
    with pytest.raises(NotFound):
        services.get_token(session, mid.token.id)
    assert services.get_token(session, old.token.id) is old.token
    assert new.token.id > old.token.id


def test_revocation_is_audited_once(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    issued = factories.classic(session, settings, alice, now, "repo")
    services.revoke_token(session, token=issued.token, reason=RevokedReason.ADMIN, now=now)
    services.revoke_token(session, token=issued.token, reason=RevokedReason.USER, now=now)
    session.commit()
    assert issued.token.revoked_reason == "admin"
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "token.revoked")).all()
    assert [e.data["reason"] for e in events] == ["admin"]


def test_principal_for_classic(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    issued = factories.classic(session, settings, alice, now, "repo", "admin:org")
    principal = services.principal_for(session, settings, issued.token)
    assert isinstance(principal, ClassicToken)
    assert principal.scopes == ("admin:org", "repo")
    assert {"public_repo", "read:org", "write:org", "manage_runners:org"} <= principal.granted
    assert principal.lifetime == timedelta(days=30)
    assert principal.settings_url == f"http://tokenforge.test/settings/tokens/{issued.token.id}"


def test_principal_for_fine_grained(session: Session, settings: Settings, now: datetime) -> None:
    alice, bob = factories.user(session, "alice", now), factories.user(session, "bob", now)
    acme = factories.org(session, "acme", alice, now, members=[bob])
    site = factories.repo(session, settings, acme, "site", now)
    issued = factories.fine_grained(
        session,
        settings,
        bob,
        now,
        resource_owner=acme,
        repositories=[site],
        permissions={"issues": "write"},
        expires_in=timedelta(days=7),
    )
    principal = services.principal_for(session, settings, issued.token)
    assert isinstance(principal, FineGrainedToken)
    assert principal.resource_owner_id == acme.id
    assert principal.repository_ids == frozenset({site.id})
    assert principal.permissions == {"issues": Level.WRITE, "metadata": Level.READ}
    assert principal.approval is Approval.PENDING
    assert principal.settings_url.endswith(f"/settings/personal-access-tokens/{issued.token.id}")


def _generation(session: Session) -> int:
    return int(session.execute(text("SELECT generation FROM auth_state")).scalar_one())


def test_regenerate_keeps_the_id_and_replaces_the_secret(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    issued = factories.classic(session, settings, alice, now, "repo")
    old_digest = issued.token.digest
    before = _generation(session)
    later = now + timedelta(days=3)
    again = services.regenerate_token(
        session, settings, token=issued.token, expires_at=later + timedelta(days=7), now=later
    )
    assert again.token.id == issued.token.id
    assert again.secret != issued.secret
    assert again.token.digest == settings.peppers.digest(again.secret) != old_digest
    assert again.token.last_eight == again.secret[-8:]
    assert again.token.regenerated_at == later
    assert again.token.lifetime == timedelta(days=7)
    assert again.token.scope_list == ("repo",)
    assert _generation(session) == before + 1  # cached verifications of the old secret are dropped
    with pytest.raises(Invalid, match="Expiration must be in the future"):
        services.regenerate_token(session, settings, token=issued.token, expires_at=now, now=later)


def test_update_classic_scopes(session: Session, settings: Settings, now: datetime) -> None:
    alice = factories.user(session, "alice", now)
    issued = factories.classic(session, settings, alice, now, "repo", "user", note="ci")
    factories.classic(session, settings, alice, now, "gist", note="other")
    before = _generation(session)
    services.update_classic_token(session, token=issued.token, note="ci", scopes=["repo", "user", "workflow"], now=now)
    assert issued.token.scope_list == ("repo", "user", "workflow")
    # Even an addition invalidates: a cached verification would otherwise keep the old scopes.
    assert _generation(session) == before + 1
    services.update_classic_token(session, token=issued.token, note="ci", scopes=["public_repo"], now=now)
    assert _generation(session) == before + 2
    with pytest.raises(Conflict):
        services.update_classic_token(session, token=issued.token, note="other", scopes=[], now=now)


def test_update_fine_grained_widening_an_org_token_files_a_request(
    session: Session, settings: Settings, now: datetime
) -> None:
    alice, bob = factories.user(session, "alice", now), factories.user(session, "bob", now)
    acme = factories.org(session, "acme", alice, now, members=[bob])
    site = factories.repo(session, settings, acme, "site", now)
    tools = factories.repo(session, settings, acme, "tools", now)
    issued = factories.fine_grained(
        session, settings, bob, now, resource_owner=acme, repositories=[site], permissions={"contents": "write"}
    )
    grant = issued.token.grant
    assert grant is not None
    review(session, org=acme, request_ids=None, approve=True, now=now, actor=alice)
    assert grant.approval == "approved"
    services.update_fine_grained_token(
        session,
        token=issued.token,
        name="renamed",
        description="d",
        permissions={"contents": "read"},
        repository_selection=RepositorySelection.SUBSET,
        repositories=[site],
        now=now,
    )
    assert grant.approval == "approved"  # narrowing needs no review, and applies at once
    assert grant.permissions["contents"] == "read"
    assert issued.token.name == "renamed"
    services.update_fine_grained_token(
        session,
        token=issued.token,
        name="renamed",
        description="d",
        permissions={"contents": "read"},
        repository_selection=RepositorySelection.SUBSET,
        repositories=[site, tools],
        now=now,
    )
    # Asking for more: a new request, while the approved access keeps working as it was.
    assert grant.approval == "approved"
    assert [r.name for r in grant.repositories] == ["site"]
    [request] = pending_requests(session, acme)
    assert request.upgrade
    assert sorted(request.repository_ids) == sorted([site.id, tools.id])
    review(session, org=acme, request_ids=[request.id], approve=True, now=now, actor=alice)
    session.expire(grant)
    assert sorted(r.name for r in grant.repositories) == ["site", "tools"]


R, W = Level.READ, Level.WRITE


@pytest.mark.parametrize(
    ("old", "new", "old_repos", "new_repos", "widens"),
    [
        ({"contents": R}, {"contents": R}, ("subset", {1}), ("subset", {1}), False),
        ({"contents": R}, {"contents": W}, ("subset", {1}), ("subset", {1}), True),
        ({"contents": W}, {"contents": R}, ("subset", {1}), ("subset", {1}), False),
        ({"contents": W}, {}, ("subset", {1}), ("subset", {1}), False),
        ({"contents": R}, {"contents": R, "issues": R}, ("all", set()), ("all", set()), True),
        ({"contents": R}, {"contents": R}, ("subset", {1}), ("subset", {1, 2}), True),
        ({"contents": R}, {"contents": R}, ("subset", {1, 2}), ("subset", {2}), False),
        ({"contents": R}, {"contents": R}, ("subset", {1}), ("subset", {2}), True),
        ({"contents": R}, {"contents": R}, ("subset", {1}), ("all", set()), True),
        ({"contents": R}, {"contents": R}, ("all", set()), ("subset", {1}), False),
        ({"contents": R}, {"contents": R}, ("none", set()), ("subset", {1}), True),
        ({"contents": R}, {"contents": R}, ("all", set()), ("none", set()), False),
    ],
)
def test_widens(
    old: dict[str, Level],
    new: dict[str, Level],
    old_repos: tuple[str, set[int]],
    new_repos: tuple[str, set[int]],
    widens: bool,
) -> None:
    assert services._widens(old, new, old_repos, new_repos) is widens
