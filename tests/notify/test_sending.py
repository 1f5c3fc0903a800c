"""Sending the outbox to a real SMTP server (aiosmtpd, started by the tests): each message once,
in its recipient's language, with the case's link; retried when the server says "later",
given up when it says "never"; and after the sender is killed in the middle, every message
arrives exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from babel.dates import format_date
from sqlalchemy import select

from fpic.notify import outbox
from fpic.notify.reminders import queue_reminders
from fpic.notify.sender import NotConfigured, SmtpSettings, send_due
from fpic.storage.models import OutboxMessage
from tests.factories import Community, World, case_at, decision
from tests.notify.conftest import BASE_URL, MailServer, free_port, give_addresses, set_user

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def any_world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")


def _rows(world: World) -> list[OutboxMessage]:
    with world.db.read_session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _decision_due(world: World, community: Community) -> int:
    """A case moved to the decision stage by the first representative: the two others are
    told it is their turn (everything queued before is marked sent, so only they count)."""
    case_id = case_at(world, community, "fpic-general", "negotiation")
    with world.db.write_session() as session, session.begin():
        for row in session.scalars(select(OutboxMessage)):
            row.sent_at = world.clock.now()
    world.act(case_id, "convene_decision", community.rep_actors[0], {"text": "Assembly."})
    return case_id


def test_each_message_is_sent_once_in_its_recipients_language(any_world: World, smtp: MailServer):
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-2", locale="es", time_zone="America/Lima")
    case_id = _decision_due(world, community)
    report = send_due(world.db, smtp.settings(), world.clock)
    assert (report.sent, report.retried, report.given_up, report.uncertain) == (2, 0, 0, 0)
    assert send_due(world.db, smtp.settings(), world.clock).sent == 0  # never twice
    by_recipient = {m["X-Envelope-To"]: m for m in smtp.messages}
    assert sorted(by_recipient) == [
        "rep-ayllu-qollana-2@example.org", "rep-ayllu-qollana-3@example.org",
    ]  # fmt: skip
    spanish = by_recipient["rep-ayllu-qollana-2@example.org"]
    english = by_recipient["rep-ayllu-qollana-3@example.org"]
    assert spanish["Content-Language"] == "es"
    assert english["Content-Language"] == "en"
    # the decision offers several steps: the subject names the stage, in the reader's language
    assert "Decisión" in spanish["Subject"]
    assert "Decision" in english["Subject"]
    assert "Decisión" not in english["Subject"]
    assert f"{world.case(case_id).reference} (Ayllu Qollana)" in english["Subject"]
    link = f"{BASE_URL}/cases/{case_id}"
    for message in (spanish, english):
        body = message.get_content()
        assert link in body
        assert f"{BASE_URL}/account/settings" in body
        assert message["From"] == "fpic@fpic.example.org"
        assert message["Auto-Submitted"] == "auto-generated"
    # the time of the stage change, 09:00 UTC, in each one's zone
    assert "4:00:00" in spanish.get_content()
    assert "(America/Lima)" in spanish.get_content()
    assert "9:00:00" in english.get_content()
    assert "(UTC)" in english.get_content()
    # each Message-ID is the row's own, the same at every attempt
    rows = [r for r in _rows(world) if r.case_id == case_id and r.kind == "turn"][-2:]
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(
        f"<{r.message_id}@fpic.example.org>" for r in rows
    )
    assert all(outbox.state_of(r) == "sent" for r in rows)


def test_a_message_the_server_puts_off_is_tried_again_later(
    world: World, community: Community, smtp: MailServer
):
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-3", notify=False)
    _decision_due(world, community)
    smtp.refusals = ["451 4.3.0 Mailbox busy, try again later"]
    first = send_due(world.db, smtp.settings(), world.clock)
    assert (first.sent, first.retried) == (0, 1)
    [row] = [r for r in _rows(world) if r.sent_at is None]
    assert row.attempts == 1
    assert row.claimed_at is None
    assert "451" in (row.last_error or "")
    assert row.next_attempt_at == world.clock.now() + outbox.FIRST_RETRY
    # not due yet: nothing is sent
    assert send_due(world.db, smtp.settings(), world.clock).sent == 0
    world.clock.advance(minutes=2)
    assert send_due(world.db, smtp.settings(), world.clock).sent == 1
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["rep-ayllu-qollana-2@example.org"]


def test_an_unreachable_server_is_tried_again_waiting_longer_each_time(
    world: World, community: Community
):
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-3", notify=False)
    _decision_due(world, community)
    nowhere = SmtpSettings("127.0.0.1", free_port(), "fpic@fpic.example.org", BASE_URL)
    waits = []
    for _attempt in range(3):
        assert send_due(world.db, nowhere, world.clock).retried == 1
        [row] = [r for r in _rows(world) if r.sent_at is None]
        assert row.next_attempt_at is not None
        waits.append(row.next_attempt_at - world.clock.now())
        world.clock.advance(seconds=waits[-1].total_seconds())
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]


def test_a_permanent_refusal_is_recorded_and_never_retried(
    world: World, community: Community, smtp: MailServer
):
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-3", notify=False)
    _decision_due(world, community)
    smtp.refusals = ["550 5.1.1 No such mailbox"]
    assert send_due(world.db, smtp.settings(), world.clock).given_up == 1
    world.clock.advance(days=3)
    assert send_due(world.db, smtp.settings(), world.clock).sent == 0
    assert smtp.messages == []
    [row] = [r for r in _rows(world) if r.sent_at is None]
    assert outbox.state_of(row) == "given_up"
    assert "550" in (row.last_error or "")


def test_a_message_whose_acceptance_was_never_heard_is_not_sent_again(
    world: World, community: Community, smtp: MailServer
):
    """The server got the message and hung up before saying so: it may have gone out, so it
    stays uncertain, is reported, and no later pass sends it; the other one is sent."""
    give_addresses(world)
    _decision_due(world, community)
    smtp.hang_ups = 1
    report = send_due(world.db, smtp.settings(), world.clock)
    assert (report.sent, report.uncertain) == (1, 1)
    world.clock.advance(days=1)
    assert send_due(world.db, smtp.settings(), world.clock).sent == 0
    assert len(smtp.messages) == 2  # each received once
    [uncertain] = [r for r in _rows(world) if outbox.state_of(r) == "uncertain"]
    assert "while the message was sent" in (uncertain.last_error or "")


def test_someone_who_turned_notifications_off_since_gets_nothing(
    world: World, community: Community, smtp: MailServer
):
    give_addresses(world)
    _decision_due(world, community)
    set_user(world, "rep-ayllu-qollana-2", notify=False)
    report = send_due(world.db, smtp.settings(), world.clock)
    assert (report.sent, report.given_up) == (1, 1)
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["rep-ayllu-qollana-3@example.org"]


def test_a_reminder_says_what_is_due_and_when(world: World, community: Community, smtp: MailServer):
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-2", locale="es")
    case_id = case_at(world, community, "fpic-general", "decision")
    due = (world.clock.now() + timedelta(days=5)).date()
    condition = {
        "text": "No drilling within 500 m of the springs.", "language": "es",
        "obligated_party": "Andes Copper S.A.", "due_on": due.isoformat(),
        "verification": "Site visit.",
    }  # fmt: skip
    world.act(case_id, "give_consent_with_conditions", community.rep_actors[0],
              decision(world, community, conditions=[condition]))  # fmt: skip
    with world.db.write_session() as session, session.begin():
        for row in session.scalars(select(OutboxMessage)):
            row.sent_at = world.clock.now()  # only the reminders count here
    assert queue_reminders(world.db, world.clock.now()) == 4  # the liaison and the three
    send_due(world.db, smtp.settings(), world.clock)
    by_recipient = {m["X-Envelope-To"]: m for m in smtp.messages}
    english = by_recipient["liaison@example.org"]
    spanish = by_recipient["rep-ayllu-qollana-2@example.org"]
    assert english["Subject"].startswith(f"Due on {format_date(due, 'full', locale='en')}:")
    assert "condition due (Andes Copper S.A.)" in english.get_content()
    assert f"{BASE_URL}/cases/{case_id}" in english.get_content()
    # the day in Spanish, as CLDR writes it ("martes, 7 de abril de 2026")
    assert format_date(due, "full", locale="es") in spanish["Subject"]
    assert " de " in format_date(due, "full", locale="es")
    assert spanish["Content-Language"] == "es"


def test_settings_come_from_the_environment_with_a_clear_error_when_missing():
    with pytest.raises(NotConfigured) as missing:
        SmtpSettings.from_environment({})
    assert [name for name, _kind in missing.value.problems] == [
        "FPIC_SMTP_HOST", "FPIC_MAIL_FROM", "FPIC_BASE_URL",
    ]  # fmt: skip
    with pytest.raises(NotConfigured) as clear:
        SmtpSettings.from_environment({
            "FPIC_SMTP_HOST": "mail", "FPIC_MAIL_FROM": "f@x.org", "FPIC_BASE_URL": "x.org",
            "FPIC_SMTP_USER": "fpic", "FPIC_SMTP_PASSWORD": "secret",
        })  # fmt: skip
    assert clear.value.problems == [
        ("FPIC_BASE_URL", "bad_url"), ("FPIC_SMTP_USER", "password_in_clear"),
    ]  # fmt: skip
    settings = SmtpSettings.from_environment({
        "FPIC_SMTP_HOST": "mail", "FPIC_MAIL_FROM": "f@x.org",
        "FPIC_BASE_URL": "https://x.org/", "FPIC_SMTP_STARTTLS": "1",
    })  # fmt: skip
    assert (settings.port, settings.starttls, settings.base_url) == (587, True, "https://x.org")


# --- the sender killed in the middle -------------------------------------------------------


def _notify(world: World, smtp: MailServer, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **smtp.environment(), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "fpic.cli", "--database-url", world.db.url, "notify", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_after_the_sender_is_killed_in_the_middle_every_message_arrives_exactly_once(
    any_world: World, smtp: MailServer
):
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"], reps=6)
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-4", locale="es")
    _decision_due(world, community)
    expected = sorted(f"rep-ayllu-qollana-{n}@example.org" for n in range(2, 7))
    # the server kills `fpic notify` when the third message reaches it, before it answers:
    # the message is delivered, the sender never marks it sent
    smtp.kill_after = 3
    sender = _notify(world, smtp)
    smtp.kill_pid = sender.pid
    sender.communicate(timeout=120)
    assert sender.returncode == -9
    assert len(smtp.messages) == 3
    states = [outbox.state_of(r) for r in _rows(world) if r.sent_at is None or r.claimed_at]
    assert states.count("uncertain") == 1
    # started again, it sends the two left and not the one whose fate it could not know
    smtp.kill_pid = None
    again = _notify(world, smtp)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "2 sent" in out
    received = sorted(m["X-Envelope-To"] for m in smtp.messages)
    assert received == expected  # every one exactly once
    assert len({m["Message-ID"] for m in smtp.messages}) == 5
    spanish = next(m for m in smtp.messages if m["X-Envelope-To"].startswith("rep-ayllu-qollana-4"))
    assert spanish["Content-Language"] == "es"
    assert "Decisión" in spanish["Subject"]
    # the operator is told about the uncertain one
    status = _notify(world, smtp, "--status")
    out, _err = status.communicate(timeout=120)
    assert status.returncode == 0
    assert "Uncertain: 1" in out
    [uncertain] = [r for r in _rows(world) if outbox.state_of(r) == "uncertain"]
    assert f"<{uncertain.message_id}>" in out


def test_the_operator_may_send_an_uncertain_message_again(
    world: World, community: Community, smtp: MailServer
):
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-3", notify=False)
    _decision_due(world, community)
    [row] = [r for r in _rows(world) if r.sent_at is None]
    with world.db.write_session() as session, session.begin():  # a sender that died mid-way
        assert outbox.claim(session, row.id, world.clock.now())
    assert send_due(world.db, smtp.settings(), world.clock).sent == 0
    with world.db.write_session() as session, session.begin():
        with pytest.raises(outbox.NotRequeued) as recent:
            outbox.requeue(session, row.id, world.clock.now())
        assert recent.value.kind == "recent"  # its sender may still be at it
    world.clock.advance(minutes=10)
    with world.db.write_session() as session, session.begin():
        outbox.requeue(session, row.id, world.clock.now())
    assert send_due(world.db, smtp.settings(), world.clock).sent == 1
    with world.db.write_session() as session, session.begin():
        with pytest.raises(outbox.NotRequeued) as sent:
            outbox.requeue(session, row.id, world.clock.now())
        assert sent.value.kind == "sent"


def _until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.1)


def test_the_worker_sends_what_comes_and_stops_cleanly_on_sigterm(
    world: World, community: Community, smtp: MailServer
):
    give_addresses(world)
    case_id = _decision_due(world, community)
    worker = _notify(world, smtp, "--loop", "--interval", "1")
    try:
        _until(lambda: len(smtp.messages) == 2)
        # a new stage change while it runs: its message goes at the next pass
        world.act(case_id, "defer_decision", community.rep_actors[1],
                  decision(world, community, votes_for=0))  # fmt: skip
        _until(lambda: len(smtp.messages) == 3)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, err
    assert "Stopped." in out
    assert smtp.messages[-1]["X-Envelope-To"] == "liaison@example.org"  # disclosure again


def test_a_refused_sign_in_to_the_mail_server_gives_nothing_up(
    world: World, community: Community, smtp: MailServer, monkeypatch: pytest.MonkeyPatch
):
    """A wrong password (535) is the installation's problem, not the message's: every
    message waits for the next pass instead of being given up."""
    import smtplib

    from fpic.notify import sender

    give_addresses(world)
    _decision_due(world, community)

    def refuse(_self: object) -> smtplib.SMTP:
        raise smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid")

    monkeypatch.setattr(sender.Connection, "_open", refuse)
    report = send_due(world.db, smtp.settings(), world.clock)
    assert (report.sent, report.given_up, report.retried) == (0, 0, 2)
    monkeypatch.undo()
    world.clock.advance(minutes=2)
    assert send_due(world.db, smtp.settings(), world.clock).sent == 2


def test_a_message_that_cannot_be_written_is_given_up_and_the_others_go(
    world: World, community: Community, smtp: MailServer, monkeypatch: pytest.MonkeyPatch
):
    from fpic.notify import sender

    give_addresses(world)
    _decision_due(world, community)
    real_build = sender.build
    calls: list[int] = []

    def build_once_broken(row: OutboxMessage, *args: object) -> object:
        calls.append(row.id)
        if len(calls) == 1:
            raise KeyError("step")
        return real_build(row, *args)

    monkeypatch.setattr(sender, "build", build_once_broken)
    report = send_due(world.db, smtp.settings(), world.clock)
    assert (report.sent, report.given_up) == (1, 1)
    broken = next(r for r in _rows(world) if r.id == calls[0])
    assert outbox.state_of(broken) == "given_up"
    assert "could not be written" in (broken.last_error or "")
