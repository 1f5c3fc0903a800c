"""Sending what the outbox holds: at most once each, retried when the mail server says "later".

Each message is claimed, and the claim committed, before the sender talks to the mail server;
it is marked sent, and that committed, once the server accepted it. So:

- a message is never sent twice by a sender: two senders cannot claim one row, and a row
  claimed is never claimed again;
- a sender that stops between the two commits (killed, the machine lost) leaves its message
  claimed and not sent: *uncertain*, since the server may have accepted it. It is not sent
  again by itself; ``fpic notify --status`` lists it and the operator may requeue it
  (``outbox.requeue``), knowing its recipient may then get it twice;
- a definite "not now" (the server unreachable, or a 4xx reply to any command, the message
  itself included) puts it back in the queue after a wait that doubles each time
  (``outbox.release``); a 5xx reply gives it up for good, and so do too many attempts;
- losing the server while the message itself is being handed over (after DATA) is not
  definite: the message stays uncertain.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.i18n import N_
from fpic.notify import outbox
from fpic.notify.mail import About, Letter, Links, Recipient, compose
from fpic.storage.db import Database
from fpic.storage.models import Case, Community, OutboxMessage, User
from fpic.workflow.clock import Clock

#: how long the sender waits for each reply of the mail server, in seconds
SMTP_TIMEOUT = 60
#: the environment a sender reads, each with what it holds
ENVIRONMENT = {
    "FPIC_SMTP_HOST": N_("the mail server's host name"),
    "FPIC_SMTP_PORT": N_("its port: 587 with STARTTLS, 465 with SSL, else 25 unless set"),
    "FPIC_SMTP_USER": N_("the user name to sign in to it, if it asks one"),
    "FPIC_SMTP_PASSWORD": N_("the password to sign in to it"),
    "FPIC_SMTP_STARTTLS": N_("1 to switch to TLS after connecting (port 587)"),
    "FPIC_SMTP_SSL": N_("1 to connect with TLS (port 465)"),
    "FPIC_MAIL_FROM": N_("the sender's address, e.g. fpic@example.org"),
    "FPIC_BASE_URL": N_("the web interface's address, for the links: https://fpic.example.org"),
}
_YES = ("1", "true", "yes", "on")


class NotConfigured(ValueError):
    """What the environment lacks or gets wrong: ``problems`` as (variable, kind) pairs,
    kind one of missing, both_tls, bad_port, bad_url, bad_from, password_in_clear."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{name}: {kind}" for name, kind in problems))
        self.problems = problems


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    mail_from: str
    base_url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False

    @property
    def links(self) -> Links:
        return Links(self.base_url)

    @property
    def domain(self) -> str:
        return self.mail_from.rsplit("@", 1)[-1]

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        env = os.environ if env is None else env
        value = {name: (env.get(name) or "").strip() for name in ENVIRONMENT}
        problems = [
            (name, "missing")
            for name in ("FPIC_SMTP_HOST", "FPIC_MAIL_FROM", "FPIC_BASE_URL")
            if not value[name]
        ]
        starttls = value["FPIC_SMTP_STARTTLS"].lower() in _YES
        over_ssl = value["FPIC_SMTP_SSL"].lower() in _YES
        if starttls and over_ssl:
            problems.append(("FPIC_SMTP_SSL", "both_tls"))
        port = value["FPIC_SMTP_PORT"] or ("465" if over_ssl else "587" if starttls else "25")
        if not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(("FPIC_SMTP_PORT", "bad_port"))
        base_url = value["FPIC_BASE_URL"].rstrip("/")
        if base_url and not base_url.startswith(("https://", "http://")):
            problems.append(("FPIC_BASE_URL", "bad_url"))
        if value["FPIC_MAIL_FROM"] and "@" not in value["FPIC_MAIL_FROM"]:
            problems.append(("FPIC_MAIL_FROM", "bad_from"))
        if value["FPIC_SMTP_USER"] and not (starttls or over_ssl):
            # a password is never sent to the mail server unencrypted
            problems.append(("FPIC_SMTP_USER", "password_in_clear"))
        if problems:
            raise NotConfigured(problems)
        return cls(
            host=value["FPIC_SMTP_HOST"], port=int(port), mail_from=value["FPIC_MAIL_FROM"],
            base_url=base_url, user=value["FPIC_SMTP_USER"] or None,
            password=value["FPIC_SMTP_PASSWORD"] or None, starttls=starttls, ssl=over_ssl,
        )  # fmt: skip


# --- what the mail server said ---------------------------------------------------------------


class Later(Exception):
    """The server did not take the message, and said or showed it was for now (a 4xx reply,
    or it could not be reached): try again later."""


class Never(Exception):
    """The server refused the message for good (a 5xx reply)."""


class Unsure(Exception):
    """The server was lost while the message was handed over: it may have taken it."""


def _refusal(code: int, reply: bytes | str, what: str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    problem = f"{what}: {code} {text}".strip()
    return Never(problem) if 500 <= code < 600 else Later(problem)


class Connection:
    """One SMTP session, opened at the first message and kept for the pass."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Hand ``message`` to the server for ``recipient``; Later, Never or Unsure when it
        did not plainly accept it."""
        smtp = self._ready()
        utf8 = not (message["From"] + recipient).isascii()
        options = ["SMTPUTF8"] if utf8 and smtp.has_extn("smtputf8") else []
        refusal: Exception | None = None
        try:
            code, reply = smtp.mail(self.settings.mail_from, options)
            if code != 250:
                refusal = _refusal(code, reply, "MAIL FROM")
            else:
                code, reply = smtp.rcpt(_ascii_domain(recipient))
                if code not in (250, 251):
                    refusal = _refusal(code, reply, "RCPT TO")
        except (smtplib.SMTPException, OSError) as lost:
            self.close()
            # nothing of the message was sent yet: whatever happened, it was not accepted
            raise Later(f"before the message: {lost!r}") from lost
        if refusal is not None:
            self._reset()
            raise refusal
        payload = message.as_bytes(policy=SMTPUTF8 if options else SMTP)
        try:
            code, reply = smtp.data(payload)
        except smtplib.SMTPDataError as refused:  # refused before the message was sent
            self._reset()
            raise _refusal(refused.smtp_code, refused.smtp_error, "DATA") from refused
        except (smtplib.SMTPException, OSError) as lost:
            self.close()
            raise Unsure(f"while the message was sent: {lost!r}") from lost
        if code != 250:
            self._reset()
            raise _refusal(code, reply, "end of DATA")

    def _ready(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self.close()
        try:
            self._smtp = self._open()
        except smtplib.SMTPResponseException as refused:
            # a refusal to connect or sign in (535: a wrong password) is the installation's,
            # not the message's: it is tried again later, never given up for it
            raise Later(f"connect: {refused.smtp_code} {refused.smtp_error!r}") from refused
        except (smtplib.SMTPException, OSError) as unreachable:
            raise Later(f"connect: {unreachable!r}") from unreachable
        return self._smtp

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.ssl:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=SMTP_TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=SMTP_TIMEOUT)
        try:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()
        self._smtp = None


def _ascii_domain(address: str) -> str:
    """The address with its domain spelt as the mail system spells it (IDNA)."""
    local, domain = address.rsplit("@", 1)
    return f"{local}@{domain.encode('idna').decode('ascii')}"


# --- one pass --------------------------------------------------------------------------------


@dataclass
class Report:
    sent: int = 0
    retried: int = 0
    given_up: int = 0
    uncertain: int = 0
    skipped: int = 0  #: taken by another sender first

    def __bool__(self) -> bool:
        return bool(self.sent or self.retried or self.given_up or self.uncertain)


def build(row: OutboxMessage, user: User, about: About, settings: SmtpSettings) -> EmailMessage:
    """The e-mail of an outbox row, in its recipient's language."""
    assert user.email is not None
    recipient = Recipient(user.display_name, user.email, user.locale, user.time_zone)
    letter: Letter = compose(row.kind, dict(row.params), recipient, about, settings.links)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr((user.display_name, user.email))
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = f"<{row.message_id}@{settings.domain}>"
    # RFC 3834: a machine wrote it; vacation responders do not answer it
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(letter.body)
    # after the content, which replaces every Content-* header
    message["Content-Language"] = letter.language
    return message


#: called after each message with the outcome ("sent", "retried", "given_up", "uncertain",
#: "skipped"): a progress bar, or a test that stops the sender in the middle
Progress = Callable[[str], None]


def send_due(
    db: Database,
    settings: SmtpSettings,
    clock: Clock,
    *,
    ids: Iterable[int] | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Report:
    """Send every message due now (or those of ``ids``), one claim and one mark each, until
    done or ``stop`` says so (checked between messages, never between a claim and its mark).
    Returns what happened."""
    report = Report()
    connection = Connection(settings)
    try:
        for message_id in pending(db, clock) if ids is None else ids:
            if stop():
                break
            outcome = _send_one(db, connection, settings, clock, message_id)
            setattr(report, outcome, getattr(report, outcome) + 1)
            if progress is not None:
                progress(outcome)
    finally:
        connection.close()
    return report


def pending(db: Database, clock: Clock) -> list[int]:
    with db.read_session() as session:
        return outbox.due_ids(session, clock.now())


def _send_one(
    db: Database, connection: Connection, settings: SmtpSettings, clock: Clock, message_id: int
) -> str:
    with db.write_session() as session, session.begin():
        if not outbox.claim(session, message_id, clock.now()):
            return "skipped"
        loaded = _load(session, message_id)
    # the claim is committed: from here on the row is never claimed again by anyone
    row, user, about = loaded
    if not outbox.wants_mail(user):
        with db.write_session() as session, session.begin():
            outbox.give_up(session, message_id, "the recipient turned notifications off")
        return "given_up"
    assert user.email is not None
    try:
        message = build(row, user, about, settings)
    except Exception as broken:  # a message that cannot be written: no mail server saw it
        with db.write_session() as session, session.begin():
            outbox.give_up(session, message_id, f"the message could not be written: {broken!r}")
        return "given_up"
    try:
        connection.send(message, user.email)
    except Later as later:
        with db.write_session() as session, session.begin():
            again = outbox.release(session, message_id, row.attempts, str(later), clock.now())
        return "retried" if again else "given_up"
    except Never as never:
        with db.write_session() as session, session.begin():
            outbox.give_up(session, message_id, str(never))
        return "given_up"
    except Unsure as unsure:
        with db.write_session() as session, session.begin():
            outbox.note_uncertain(session, message_id, str(unsure))
        return "uncertain"
    with db.write_session() as session, session.begin():
        outbox.mark_sent(session, message_id, clock.now())
    return "sent"


def _load(session: Session, message_id: int) -> tuple[OutboxMessage, User, About]:
    row, user, reference, community, case_id = session.execute(
        select(OutboxMessage, User, Case.reference, Community.name, Case.id)
        .join(User, User.id == OutboxMessage.user_id)
        .outerjoin(Case, Case.id == OutboxMessage.case_id)
        .outerjoin(Community, Community.id == Case.community_id)
        .where(OutboxMessage.id == message_id)
    ).one()
    session.expunge_all()  # read after the transaction ends
    return row, user, About(case_id, reference or "", community or "")
