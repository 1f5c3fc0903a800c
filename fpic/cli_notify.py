"""``fpic notify``: e-mail the people whose turn it is and remind them of deadlines coming
(fpic.notify): one pass for cron, or a worker that runs until it is stopped."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType

import click
from sqlalchemy.exc import OperationalError

from fpic.cli_base import Context, _, pass_context
from fpic.i18n import N_
from fpic.notify import outbox, reminders, sender
from fpic.notify.sender import NotConfigured, Report, SmtpSettings
from fpic.workflow.clock import SystemClock

#: how often a worker looks for deadlines to remind of (it sends every --interval)
REMINDERS_EVERY = timedelta(hours=1)

_CONFIGURATION_PROBLEMS = {
    "missing": N_("%(name)s is not set (%(what)s)."),
    "both_tls": N_("Set FPIC_SMTP_STARTTLS or FPIC_SMTP_SSL, not both."),
    "bad_port": N_("%(name)s must be a port number, 1 to 65535."),
    "bad_url": N_("%(name)s must start with https:// (or http://)."),
    "bad_from": N_("%(name)s must be an e-mail address."),
    "password_in_clear": N_(
        "%(name)s is set but neither FPIC_SMTP_STARTTLS nor FPIC_SMTP_SSL: a password is never "
        "sent to the mail server unencrypted."
    ),
}


def _remind_days(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        days = tuple(sorted({int(part) for part in value.split(",") if part.strip()}, reverse=True))
    except ValueError:
        days = ()
    if not days or any(n < 0 or n > 366 for n in days):
        raise click.BadParameter(_("days before a deadline, 0 to 366, separated by commas: 7,1"))
    return days


@click.command("notify")
@click.option(
    "--remind-days",
    default="7,1",
    show_default=True,
    callback=_remind_days,
    help="Remind of each deadline this many days before it (in each person's time zone).",
)
@click.option("--loop", is_flag=True, help="Keep running: send every --interval seconds.")
@click.option(
    "--interval",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="With --loop: seconds between passes.",
)
@click.option(
    "--status",
    "show_status",
    is_flag=True,
    help="Say what the outbox holds, and list the uncertain and given-up messages; send nothing.",
)
@click.option(
    "--resend",
    type=click.IntRange(min=1),
    default=None,
    metavar="ID",
    help="Queue an uncertain or given-up message again (its recipient may get it twice).",
)
@pass_context
def notify(
    ctx: Context,
    remind_days: tuple[int, ...],
    loop: bool,
    interval: int,
    show_status: bool,
    resend: int | None,
) -> None:
    """E-mail each person when it is their turn on a case, and before each deadline.

    Queues a reminder of each deadline coming within --remind-days (once each), then sends
    every message due. Run it from cron (one pass) or as a worker (--loop; SIGTERM or Ctrl+C
    stops it after the message it is sending). The mail server is set by FPIC_SMTP_HOST,
    FPIC_SMTP_PORT, FPIC_SMTP_USER, FPIC_SMTP_PASSWORD, FPIC_SMTP_STARTTLS or FPIC_SMTP_SSL,
    FPIC_MAIL_FROM and FPIC_BASE_URL (the web interface's address, for the links).

    Never sent twice: each message is claimed (committed) before the mail server is asked to
    take it, and marked sent (committed) once it did. A message the server turned away for now
    (4xx, or unreachable) is tried again later, waiting longer each time; one it refused (5xx)
    is given up. A sender stopped between the claim and the mark leaves its message uncertain:
    it may have gone out, so it is never sent again by itself. --status lists such messages;
    --resend ID queues one again, if you decide its recipient should get it even twice.
    """
    if show_status:
        _show_status(ctx)
        return
    if resend is not None:
        _resend(ctx, resend)
        return
    settings = _settings()
    with _stopped_by_signals() as stopping:
        if not loop:
            _one_pass(ctx, settings, remind_days, stopping, bar=True)
            return
        click.echo(_("Sending notifications every %(seconds)s seconds (Ctrl+C stops).",
                     seconds=interval))  # fmt: skip
        last_reminders: datetime | None = None
        while not stopping.is_set():
            now = SystemClock().now()
            with_reminders = last_reminders is None or now - last_reminders >= REMINDERS_EVERY
            try:
                _one_pass(ctx, settings, remind_days if with_reminders else (), stopping)
            except OperationalError as busy:  # the database busy or away: the next pass
                click.echo(_("This pass failed: %(problem)s", problem=str(busy.orig)), err=True)
            else:
                last_reminders = now if with_reminders else last_reminders
            stopping.wait(interval)
        click.echo(_("Stopped."))


def _settings() -> SmtpSettings:
    try:
        return SmtpSettings.from_environment()
    except NotConfigured as problem:
        lines = [
            _(_CONFIGURATION_PROBLEMS[kind], name=name, what=_(sender.ENVIRONMENT.get(name, "")))
            for name, kind in problem.problems
        ]
        raise click.ClickException(
            _("E-mail is not set up: %(problems)s", problems=" ".join(lines))
        ) from None


@contextmanager
def _stopped_by_signals() -> Iterator[threading.Event]:
    """SIGTERM and Ctrl+C ask the sender to stop after the message it is sending (never
    between a claim and its mark); a second Ctrl+C stops it at once."""
    stopping = threading.Event()

    def ask(_signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _one_pass(
    ctx: Context,
    settings: SmtpSettings,
    remind_days: tuple[int, ...],
    stopping: threading.Event,
    bar: bool = False,
) -> Report:
    clock = SystemClock()
    if remind_days:
        queued = reminders.queue_reminders(ctx.db, clock.now(), remind_days)
        if queued or bar:
            click.echo(_("%(count)s deadline reminders queued.", count=queued))
    ids = sender.pending(ctx.db, clock)
    if bar:
        with click.progressbar(
            length=len(ids), label=_("Sending notifications"), file=sys.stderr
        ) as progress:
            report = sender.send_due(
                ctx.db, settings, clock, ids=ids, progress=lambda outcome: progress.update(1),
                stop=stopping.is_set,
            )  # fmt: skip
    else:
        report = sender.send_due(ctx.db, settings, clock, ids=ids, stop=stopping.is_set)
    if report or bar:
        click.echo(
            _(
                "%(sent)s sent, %(retried)s to try again later, %(given_up)s given up, "
                "%(uncertain)s uncertain.",
                sent=report.sent, retried=report.retried, given_up=report.given_up,
                uncertain=report.uncertain,
            )
        )  # fmt: skip
    if report.uncertain:
        click.echo(_("Uncertain messages are not sent again by themselves: see --status."),
                   err=True)  # fmt: skip
    return report


_STATE_TITLES = {
    "pending": N_("Waiting to be sent: %(count)s"),
    "uncertain": N_("Uncertain: %(count)s"),
    "sent": N_("Sent: %(count)s"),
    "given_up": N_("Given up: %(count)s"),
}


def _show_status(ctx: Context) -> None:
    with ctx.db.read_session() as session:
        found = outbox.status(session)
        names = {row.id: row.user.username for row in found.attention}  # while the session is open
    click.echo("  ".join(_(_STATE_TITLES[state], count=found.counts[state])
                         for state in outbox.STATES))  # fmt: skip
    uncertain = [row for row in found.attention if outbox.state_of(row) == "uncertain"]
    given_up = [row for row in found.attention if outbox.state_of(row) == "given_up"]
    if uncertain:
        click.echo("")
        click.echo(
            _(
                "Claimed by a sender that never marked them sent: each may or may not have gone "
                "out. Ask the recipient, or look in the mail server's log for its Message-ID; "
                "`fpic notify --resend ID` sends one again. One claimed in the last few minutes "
                "may still be being sent."
            )
        )
        for row in uncertain:
            when = row.claimed_at.strftime("%Y-%m-%d %H:%M UTC") if row.claimed_at else ""
            click.echo(f"  {row.id:>8}  {when}  {names[row.id]:<24} {row.kind:<9} "
                       f"<{row.message_id}>  {row.last_error or ''}")  # fmt: skip
    if given_up:
        click.echo("")
        click.echo(_("Given up (refused by the mail server, or too many failed attempts):"))
        for row in given_up:
            click.echo(f"  {row.id:>8}  {names[row.id]:<24} {row.kind:<9} {row.last_error or ''}")


def _resend(ctx: Context, message_id: int) -> None:
    now = SystemClock().now()
    try:
        with ctx.db.write_session() as session, session.begin():
            outbox.requeue(session, message_id, now)
    except outbox.NotRequeued as refused:
        raise click.ClickException(_requeue_refusal(refused, message_id)) from None
    click.echo(
        _(
            "Message %(id)s is queued again: the next pass sends it (its recipient may get it "
            "twice).",
            id=message_id,
        )
    )


def _requeue_refusal(refused: outbox.NotRequeued, message_id: int) -> str:
    row = refused.row
    if refused.kind == "sent" and row is not None and row.sent_at is not None:
        when = row.sent_at.strftime("%Y-%m-%d %H:%M UTC")
        return _("Message %(id)s was sent on %(when)s; it is not queued again.",
                 id=message_id, when=when)  # fmt: skip
    if refused.kind == "pending":
        return _("Message %(id)s is waiting to be sent already.", id=message_id)
    if refused.kind == "recent":
        return _(
            "Message %(id)s was claimed a moment ago by a sender that may still be sending it; "
            "try again in a few minutes.",
            id=message_id,
        )
    return _("There is no message %(id)s in the outbox.", id=message_id)
