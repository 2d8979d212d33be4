"""Email: SMTP when ``TOKENFORGE_SMTP_URL`` is set, otherwise an outbox folder in the data
directory (one ``.eml`` file per message, and the first link logged) so the demo works with no
mail server.

Services never send directly: ``send_after_commit`` queues the message on the unit of work, and
it goes out only once the change it describes is committed — a rolled-back token creation never
emails "a new token was added". Messages never contain a token's secret.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from sqlalchemy.orm import Session

from tokenforge.config import Settings

log = logging.getLogger(__name__)
_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


def _message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="tokenforge")
    message.set_content(mail.body)
    return message


class OutboxMailer:
    """Writes each message to ``<data_dir>/outbox/<time>-<n>.eml`` and logs its first link."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender
        self._n = 0

    def send(self, mail: Mail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._n += 1
        path = self.directory / f"{time.time_ns()}-{self._n}.eml"
        path.write_bytes(bytes(_message(mail, self.sender)))
        link = _LINK.search(mail.body)
        log.warning(
            "mail to %s (%s) written to %s%s", mail.to, mail.subject, path, f"; link: {link.group(0)}" if link else ""
        )


class SmtpMailer:
    """``smtp://user:password@host:port`` (STARTTLS when offered) or ``smtps://`` (implicit TLS)."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlparse(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("TOKENFORGE_SMTP_URL must look like smtp://user:password@host:port")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender

    def send(self, mail: Mail) -> None:
        smtp: smtplib.SMTP
        if self.tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=10, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=10)
        with smtp:
            if not self.tls and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(_message(mail, self.sender))


def mailer_for(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return OutboxMailer(settings.outbox_dir, settings.mail_from)


def send_after_commit(session: Session, mailer: Mailer, mail: Mail) -> None:
    """Queue ``mail`` to go out after this unit of work commits (never if it rolls back)."""

    def deliver() -> None:
        try:
            mailer.send(mail)
        except Exception:  # the change is committed; a mail failure must not undo it or surface as a 500
            log.exception("could not send mail %r to %s", mail.subject, mail.to)

    session.info.setdefault("after_commit", []).append(deliver)
