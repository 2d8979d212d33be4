"""Organization policy and the review of fine-grained tokens, through the services."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import factories
from smtp import Inbox, smtp_server
from tokenforge.accounts.services import get_user
from tokenforge.audit.models import AuditEvent
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.errors import Invalid, NotFound
from tokenforge.mail import SmtpMailer
from tokenforge.orgs import review as org_review
from tokenforge.orgs.review import (
    Filters,
    active_grants,
    grants_query,
    pending_requests,
    requests_query,
    review,
    revoke_grants,
    set_policy,
)
from tokenforge.orgs.services import get_org
from tokenforge.tokens.models import FineGrainedGrant, RevokedReason, TokenRequest
from tokenforge.tokens.services import revoke_token


def _generation(session: Session) -> int:
    return int(session.execute(text("SELECT generation FROM auth_state")).scalar_one())


@pytest.fixture
def acme(session: Session, settings: Settings, now: datetime):  # type: ignore[no-untyped-def]
    alice, bob, carol = (factories.user(session, n, now) for n in ("alice", "bob", "carol"))
    org = factories.org(session, "acme", alice, now, members=[bob, carol])
    site = factories.repo(session, settings, org, "site", now)
    return org, alice, bob, carol, site


def test_policy_changes_are_audited_and_invalidate(session: Session, acme) -> None:  # type: ignore[no-untyped-def]
    org, alice, *_ = acme
    now = datetime(2026, 1, 1).astimezone()
    before = _generation(session)
    changes = set_policy(
        session,
        org=org,
        now=now,
        actor=alice,
        classic_allowed=False,
        max_lifetime_fine_grained_days=30,
        max_lifetime_classic_days=None,
    )
    assert changes == {"classic_tokens_allowed": (True, False), "max_lifetime_fine_grained_days": (366, 30)}
    assert _generation(session) == before + 1
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "org.policy_changed")).one()
    assert event.data["changes"]["classic_tokens_allowed"] == [True, False]
    assert set_policy(session, org=org, now=now, actor=alice, classic_allowed=False) == {}
    with pytest.raises(Invalid, match="between 1 and 3660 days"):
        set_policy(session, org=org, now=now, actor=alice, max_lifetime_classic_days=0)


def test_member_requests_owner_approves_and_the_requester_is_emailed(
    db: Database, settings: Settings, now: datetime
) -> None:
    with db.unit_of_work() as s:
        alice, bob = factories.user(s, "alice", now), factories.user(s, "bob", now)
        org = factories.org(s, "acme", alice, now, members=[bob])
        site = factories.repo(s, settings, org, "site", now)
        issued = factories.fine_grained(
            s, settings, bob, now, resource_owner=org, repositories=[site], permissions={"issues": "write"}
        )
        [request] = pending_requests(s, org)
        assert request.token_id == issued.token.id
        assert request.permissions == {"issues": "write", "metadata": "read"}
    with smtp_server() as (inbox, url):
        with db.unit_of_work() as s:
            org = get_org(s, "acme")
            review(
                s,
                org=org,
                request_ids=[request.id],
                approve=True,
                reason="looks fine",
                now=now,
                actor=get_user(s, "alice"),
                mailer=SmtpMailer(url, "tf@example.com"),
                settings_url="http://tf.test",
            )
            assert inbox.messages == []  # not before the commit
        [mail] = inbox.to("bob@example.com")
        assert mail["Subject"] == "[Tokenforge] acme approved your token request"
        assert "Reason: looks fine" in Inbox.body(mail)
    with db.unit_of_work() as s:
        grant = s.get(FineGrainedGrant, issued.token.id)
        assert grant is not None
        assert grant.approval == "approved"
        assert grant.access_granted_at == now
        with pytest.raises(Invalid, match="already approved"):
            review(s, org=get_org(s, "acme"), request_ids=[request.id], approve=False, now=now, actor=None)


def test_denial_with_reason_reaches_the_requester(
    session: Session,
    settings: Settings,
    now: datetime,  # type: ignore[no-untyped-def]
    acme,
) -> None:
    org, alice, bob, _, site = acme
    issued = factories.fine_grained(session, settings, bob, now, resource_owner=org, repositories=[site])
    [request] = pending_requests(session, org)
    sent = []

    class Collect:
        def send(self, mail: object) -> None:
            sent.append(mail)

    review(
        session,
        org=org,
        request_ids=[request.id],
        approve=False,
        reason="Access is too broad.",
        now=now,
        actor=alice,
        mailer=Collect(),
        settings_url="http://tf.test",
    )
    for callback in session.info.pop("after_commit", []):
        callback()
    assert issued.token.grant is not None
    assert issued.token.grant.approval == "denied"
    [mail] = sent
    assert mail.to == "bob@example.com"  # type: ignore[attr-defined]
    assert "denied" in mail.subject  # type: ignore[attr-defined]
    assert "Reason: Access is too broad." in mail.body  # type: ignore[attr-defined]
    assert f"/settings/personal-access-tokens/{issued.token.id}" in mail.body  # type: ignore[attr-defined]


def test_bulk_review_and_filters(session: Session, settings: Settings, now: datetime, acme) -> None:  # type: ignore[no-untyped-def]
    org, alice, bob, carol, site = acme
    for i, person in enumerate([bob, carol, bob]):
        factories.fine_grained(
            session,
            settings,
            person,
            now + timedelta(minutes=i),
            resource_owner=org,
            repositories=[site],
            name=f"t{i}",
            permissions={"contents": "read"},
        )
    bobs = session.scalars(requests_query(org, Filters(owners=["BOB"]))).all()
    assert len(bobs) == 2
    done = review(session, org=org, request_ids=[r.id for r in bobs], approve=True, now=now, actor=alice)
    assert len(done) == 2
    assert len(pending_requests(session, org)) == 1
    review(session, org=org, request_ids=None, approve=True, now=now, actor=alice)  # all that remain
    assert pending_requests(session, org) == []
    assert len(session.scalars(grants_query(org, Filters())).all()) == 3
    assert len(session.scalars(grants_query(org, Filters(owners=["carol"]))).all()) == 1


@pytest.mark.parametrize("cap", [org_review.CANDIDATES_CAP, 1], ids=["by-candidates", "along-the-index"])
def test_the_repository_filter_finds_the_same_grants_by_either_plan(  # type: ignore[no-untyped-def]  # noqa: PLR0917 (fixtures)
    session: Session, settings: Settings, now: datetime, acme, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    """The filter reads its candidates by primary key while they are few, and walks the review
    index otherwise (``CANDIDATES_CAP`` = 1 forces that here): both must answer alike — the
    grants that select the repository or all repositories, approved, of live tokens."""
    org, alice, bob, carol, site = acme
    tools = factories.repo(session, settings, org, "tools", now, private=True)
    made = {}
    for name, person, repositories, everything in [
        ("site-only", bob, [site], False),
        ("tools-only", bob, [tools], False),
        ("both", carol, [site, tools], False),
        ("everywhere", carol, None, True),
        ("revoked", bob, [site], False),
        ("nothing", carol, None, False),
    ]:
        made[name] = factories.fine_grained(
            session, settings, person, now, resource_owner=org, name=name, repositories=repositories,
            all_repos=everything, permissions={"contents": "read"},
        ).token  # fmt: skip
    factories.fine_grained(
        session, settings, bob, now, resource_owner=org, name="pending everywhere", all_repos=True,
        permissions={"contents": "read"},
    )  # fmt: skip
    pending = [r.id for r in pending_requests(session, org) if r.token.name != "pending everywhere"]
    review(session, org=org, request_ids=pending, approve=True, now=now, actor=alice)
    revoke_token(session, token=made["revoked"], reason=RevokedReason.USER, now=now)
    monkeypatch.setattr(org_review, "CANDIDATES_CAP", cap)

    def names(repository: str, **more: object) -> list[str]:
        query = active_grants(session, org, Filters(repository=repository, **more))  # type: ignore[arg-type]
        return [grant.token.name for grant in session.scalars(query)]

    assert names("site") == ["everywhere", "both", "site-only"]  # newest first
    assert names("TOOLS") == ["everywhere", "both", "tools-only"]
    assert names("nowhere") == ["everywhere"]
    assert names("site", owners=["bob"]) == ["site-only"]
    oldest = active_grants(session, org, Filters(repository="site"), oldest_first=True)
    assert [grant.token.name for grant in session.scalars(oldest)] == ["site-only", "both", "everywhere"]


def test_owner_revokes_a_grant(session: Session, settings: Settings, now: datetime, acme) -> None:  # type: ignore[no-untyped-def]
    org, alice, bob, _, site = acme
    issued = factories.fine_grained(session, settings, bob, now, resource_owner=org, repositories=[site])
    review(session, org=org, request_ids=None, approve=True, now=now, actor=alice)
    before = _generation(session)
    revoke_grants(session, org=org, token_ids=[issued.token.id], now=now, actor=alice)
    assert issued.token.grant is not None
    assert issued.token.grant.approval == "revoked"
    assert issued.token.revoked_at is None  # the token itself lives on (public reads)
    assert _generation(session) == before + 1
    with pytest.raises(Invalid, match="not approved"):
        revoke_grants(session, org=org, token_ids=[issued.token.id], now=now, actor=alice)
    with pytest.raises(NotFound):
        revoke_grants(session, org=org, token_ids=[99999], now=now, actor=alice)


def test_revoking_a_token_cancels_its_pending_request(  # type: ignore[no-untyped-def]
    session: Session, settings: Settings, now: datetime, acme
) -> None:
    org, _, bob, carol, site = acme
    kept = factories.fine_grained(session, settings, bob, now, resource_owner=org, repositories=[site]).token
    gone = factories.fine_grained(session, settings, carol, now, resource_owner=org, repositories=[site]).token
    assert org_review.pending_count(session, org) == 2
    revoke_token(session, token=gone, reason=RevokedReason.USER, now=now)
    statuses = dict(session.execute(select(TokenRequest.token_id, TokenRequest.status)).all())
    assert statuses == {kept.id: "pending", gone.id: "cancelled"}
    # The pending tab's count (by index alone) and the reviewers' list agree.
    listed = session.scalars(requests_query(org, Filters())).all()
    assert [request.token_id for request in listed] == [kept.id]
    assert org_review.pending_count(session, org) == 1
    assert [request.token_id for request in pending_requests(session, org)] == [kept.id]


def test_turning_approval_off_approves_pending_requests(
    session: Session,
    settings: Settings,
    now: datetime,  # type: ignore[no-untyped-def]
    acme,
) -> None:
    org, alice, bob, _, site = acme
    issued = factories.fine_grained(session, settings, bob, now, resource_owner=org, repositories=[site])
    set_policy(session, org=org, now=now, actor=alice, approval_required=False)
    assert issued.token.grant is not None
    assert issued.token.grant.approval == "approved"
    assert session.scalars(select(TokenRequest.status)).all() == ["approved"]


def test_request_from_another_org_is_not_found(
    session: Session,
    settings: Settings,
    now: datetime,  # type: ignore[no-untyped-def]
    acme,
) -> None:
    org, alice, bob, _, _site = acme
    other = factories.org(session, "other", alice, now, members=[bob])
    factories.fine_grained(session, settings, bob, now, resource_owner=other, all_repos=True)
    [request] = pending_requests(session, other)
    with pytest.raises(NotFound):
        review(session, org=org, request_ids=[request.id], approve=True, now=now, actor=alice)


def test_policy_lifetimes_are_bounded_and_changes_record_the_address(session: Session, acme) -> None:  # type: ignore[no-untyped-def]
    org, alice, *_ = acme
    now = datetime(2026, 1, 1).astimezone()
    with pytest.raises(Invalid, match="between 1 and 3660 days"):
        set_policy(session, org=org, now=now, actor=alice, max_lifetime_fine_grained_days=10**10)
    set_policy(session, org=org, now=now, actor=alice, max_lifetime_classic_days=3660, ip="192.0.2.7")
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "org.policy_changed")).one()
    assert event.ip == "192.0.2.7"
