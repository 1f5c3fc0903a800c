"""A real SMTP server for the notifications' tests (aiosmtpd, in a thread of the test
process), and worlds whose accounts have e-mail addresses."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from fpic.notify.sender import SmtpSettings
from fpic.storage.models import User
from tests.factories import World

BASE_URL = "https://fpic.example.org"
MAIL_FROM = "fpic@fpic.example.org"


class MailServer:
    """What the server received, and what it is told to do with the next messages: answer
    with a refusal (``refusals``, one per message, in order), hang up once it has a message
    without answering (``hang_ups``), or kill the sender's process once it has received
    ``kill_after`` messages, before it says it accepted the last."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refusals: list[str] = []
        self.kill_after: int | None = None
        self.kill_pid: int | None = None
        #: hang up on the next messages once received, before answering
        self.hang_ups = 0
        self.lock = threading.Lock()
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refusals:
                return self.refusals.pop(0)
            message = message_from_bytes(envelope.content, policy=default)
            assert isinstance(message, EmailMessage)
            message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            self.messages.append(message)
            if self.kill_pid and len(self.messages) == self.kill_after:
                # the message is the server's now; the sender never hears it was accepted
                os.kill(self.kill_pid, signal.SIGKILL)
            if self.hang_ups:
                self.hang_ups -= 1
                server.transport.close()
        return "250 Message accepted for delivery"

    def settings(self, **overrides: Any) -> SmtpSettings:
        values: dict[str, Any] = {
            "host": "127.0.0.1", "port": self.port, "mail_from": MAIL_FROM, "base_url": BASE_URL,
        }  # fmt: skip
        return SmtpSettings(**{**values, **overrides})

    def environment(self) -> dict[str, str]:
        """What ``fpic notify`` reads to send to this server."""
        return {
            "FPIC_SMTP_HOST": "127.0.0.1",
            "FPIC_SMTP_PORT": str(self.port),
            "FPIC_MAIL_FROM": MAIL_FROM,
            "FPIC_BASE_URL": BASE_URL,
        }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    server = MailServer()
    server.port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def give_addresses(world: World) -> None:
    """Every account gets an address: ``<user name>@example.org``."""
    with world.db.write_session() as session, session.begin():
        session.execute(update(User).values(email=User.username + "@example.org"))


def set_user(world: World, username: str, **values: Any) -> None:
    with world.db.write_session() as session, session.begin():
        session.execute(update(User).where(User.username == username).values(**values))
