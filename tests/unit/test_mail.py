"""Mail goes out through real SMTP or into the outbox, and only after the change is committed."""

from __future__ import annotations

import email
from pathlib import Path

import pytest

from smtp import Inbox, smtp_server
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.mail import Mail, OutboxMailer, SmtpMailer, mailer_for, send_after_commit


def test_outbox_by_default(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s" * 32)
    mailer = mailer_for(settings)
    assert isinstance(mailer, OutboxMailer)
    mailer.send(Mail("alice@example.com", "Verify", "Open http://x.test/verify/abc to verify."))
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Verify"
    assert "http://x.test/verify/abc" in caplog.text


def test_smtp_delivers() -> None:
    with smtp_server() as (inbox, url):
        mailer = SmtpMailer(url, "Tokenforge <tf@example.com>")
        mailer.send(Mail("bob@example.com", "Hello", "Body text"))
        assert [m["Subject"] for m in inbox.to("bob@example.com")] == ["Hello"]
        assert Inbox.body(inbox.messages[0]).strip() == "Body text"


def test_bad_smtp_url() -> None:
    with pytest.raises(ValueError, match="TOKENFORGE_SMTP_URL"):
        SmtpMailer("http://nope", "x@example.com")


def test_sent_only_after_commit(database_url: str) -> None:
    with smtp_server() as (inbox, url):
        mailer = SmtpMailer(url, "tf@example.com")
        db = Database(database_url)
        with pytest.raises(RuntimeError), db.unit_of_work() as session:
            send_after_commit(session, mailer, Mail("a@example.com", "Rolled back", "x"))
            raise RuntimeError("the change fails")
        with db.unit_of_work() as session:
            send_after_commit(session, mailer, Mail("a@example.com", "Committed", "x"))
            assert inbox.messages == []  # not before the commit
        db.dispose()
        assert [m["Subject"] for m in inbox.messages] == ["Committed"]


def test_a_failing_mailer_does_not_undo_the_commit(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def send(self, mail: Mail) -> None:
            raise OSError("smtp down")

    db = Database(database_url)
    with db.unit_of_work() as session:
        send_after_commit(session, Broken(), Mail("a@example.com", "x", "y"))
    db.dispose()
    assert "could not send mail" in caplog.text
