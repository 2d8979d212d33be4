"""Token lifecycle jobs, end to end with a real SMTP server and controlled time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

import factories
from smtp import Inbox, smtp_server
from tokenforge.audit.models import AuditEvent
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.jobs import maintenance
from tokenforge.keys.models import DeployKey
from tokenforge.mail import SmtpMailer
from tokenforge.tokens.models import Token
from tokenforge.tokens.services import regenerate_token


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, SmtpMailer]]:
    with smtp_server() as (inbox, url):
        yield inbox, SmtpMailer(url, "tf@example.com")


def subjects(inbox: Inbox, to: str = "alice@example.com") -> list[str]:
    return [m["Subject"] for m in inbox.to(to)]


def test_reminders_7_days_1_day_and_on_expiry_each_once(
    db: Database, settings: Settings, now: datetime, mail: tuple[Inbox, SmtpMailer]
) -> None:
    inbox, mailer = mail
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        token = factories.classic(s, settings, alice, now, "repo", note="deploy", expires_in=timedelta(days=10)).token
    expiry = now + timedelta(days=10)
    maintenance.run(db, settings, mailer, now=now)
    assert subjects(inbox) == []  # 10 days out: nothing yet
    report = maintenance.run(db, settings, mailer, now=expiry - timedelta(days=6))
    assert report.reminders == [token.id]
    maintenance.run(db, settings, mailer, now=expiry - timedelta(days=5))  # again: nothing new
    assert subjects(inbox) == ['[Tokenforge] Your personal access token "deploy" expires in 6 days']
    maintenance.run(db, settings, mailer, now=expiry - timedelta(hours=20))
    assert subjects(inbox)[-1] == '[Tokenforge] Your personal access token "deploy" expires tomorrow'
    maintenance.run(db, settings, mailer, now=expiry + timedelta(minutes=5))
    maintenance.run(db, settings, mailer, now=expiry + timedelta(hours=5))
    assert subjects(inbox)[-1] == '[Tokenforge] Your personal access token "deploy" has expired'
    assert len(subjects(inbox)) == 3
    body = Inbox.body(inbox.to("alice@example.com")[-1])
    assert f"http://tokenforge.test/settings/tokens/{token.id}/regenerate" in body
    with db.unit_of_work() as s:
        assert s.scalars(
            select(AuditEvent.action).where(AuditEvent.token_id == token.id, AuditEvent.action == "token.expired")
        ).all()


def test_a_regenerated_token_is_reminded_again(
    db: Database, settings: Settings, now: datetime, mail: tuple[Inbox, SmtpMailer]
) -> None:
    inbox, mailer = mail
    with db.unit_of_work() as s:
        token = factories.classic(
            s, settings, factories.user(s, "alice", now), now, "repo", expires_in=timedelta(days=3)
        ).token
    maintenance.run(db, settings, mailer, now=now)
    assert len(subjects(inbox)) == 1
    later = now + timedelta(days=1)
    with db.unit_of_work() as s:
        regenerate_token(s, settings, token=s.get(Token, token.id), expires_at=later + timedelta(days=5), now=later)
    maintenance.run(db, settings, mailer, now=later)
    assert len(subjects(inbox)) == 2


def test_old_expirations_are_not_announced(
    db: Database, settings: Settings, now: datetime, mail: tuple[Inbox, SmtpMailer]
) -> None:
    inbox, mailer = mail
    with db.unit_of_work() as s:
        factories.classic(s, settings, factories.user(s, "alice", now), now, "repo", expires_in=timedelta(days=1))
    maintenance.run(db, settings, mailer, now=now + timedelta(days=30))
    assert not any("expired" in subject for subject in subjects(inbox))


def test_unused_tokens_are_removed_with_their_deploy_keys(
    db: Database, settings: Settings, now: datetime, mail: tuple[Inbox, SmtpMailer]
) -> None:
    inbox, mailer = mail
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        repo = factories.repo(s, settings, alice, "app", now)
        idle = factories.classic(s, settings, alice, now, "repo", note="idle", expires_in=None).token
        used = factories.classic(s, settings, alice, now, "repo", note="used", expires_in=None).token
        s.add(
            DeployKey(
                repo_id=repo.id,
                title="k",
                key="ssh-ed25519 AAAA",
                fingerprint="SHA256:x",
                read_only=True,
                added_by="alice",
                token_id=idle.id,
                created_at=now,
            )
        )
    year = now + timedelta(days=365)
    with db.unit_of_work() as s:
        s.execute(update(Token).where(Token.id == used.id).values(last_used_at=year - timedelta(days=10)))
    report = maintenance.run(db, settings, mailer, now=year + timedelta(hours=1))
    assert report.removed == [idle.id]
    with db.unit_of_work() as s:
        assert s.get(Token, idle.id).revoked_reason == "unused"  # type: ignore[union-attr]
        assert s.get(Token, used.id).revoked_at is None  # type: ignore[union-attr]
        assert s.scalars(select(DeployKey)).all() == []
    assert '[Tokenforge] Your unused personal access token "idle" was removed' in subjects(inbox)
    assert maintenance.run(db, settings, mailer, now=year + timedelta(days=2)).removed == []


def test_owners_get_one_digest_a_day(
    db: Database, settings: Settings, now: datetime, mail: tuple[Inbox, SmtpMailer]
) -> None:
    inbox, mailer = mail
    with db.unit_of_work() as s:
        alice, bob = factories.user(s, "alice", now), factories.user(s, "bob", now)
        acme = factories.org(s, "acme", alice, now, members=[bob])
        factories.fine_grained(s, settings, bob, now, resource_owner=acme, all_repos=True)
    maintenance.run(db, settings, mailer, now=now)
    maintenance.run(db, settings, mailer, now=now + timedelta(hours=3))
    assert subjects(inbox) == ["[Tokenforge] 1 pending personal access token request in acme"]
    maintenance.run(db, settings, mailer, now=now + timedelta(days=1))
    assert len(subjects(inbox)) == 2
    assert "/organizations/acme/settings/personal-access-token-requests" in Inbox.body(inbox.messages[0])


def test_two_runners_racing_send_each_mail_once(
    database_url: str, settings: Settings, now: datetime, mail: tuple[Inbox, SmtpMailer]
) -> None:
    """Several server processes run maintenance at once: claims make each piece happen once."""
    inbox, mailer = mail
    db = Database(database_url)
    with db.unit_of_work() as s:
        alice = factories.user(s, "alice", now)
        for i in range(12):
            factories.classic(s, settings, alice, now, "repo", note=f"t{i}", expires_in=timedelta(days=2))
    db.dispose()
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def runner() -> None:
        own = Database(database_url)  # another process: its own engine and connections
        try:
            barrier.wait()
            maintenance.run(own, settings, mailer, now=now)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    reminders = [s for s in subjects(inbox) if "expires in" in s]
    assert len(reminders) == 12
    assert len(set(reminders)) == 12
