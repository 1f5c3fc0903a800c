"""What every command shares: the database it works on, and messages in the reader's language."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import click

from fpic.i18n import Reason
from fpic.storage.db import Database
from fpic.workflow.actors import Actor
from fpic.workflow.clock import SystemClock
from fpic.workflow.engine import Engine, user_actor

if TYPE_CHECKING:  # Babel is loaded only when a message is translated
    from babel.support import NullTranslations


class Context:
    def __init__(self, url: str | None) -> None:
        self.url = url
        self._db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.url)
        return self._db

    def engine(self) -> Engine:
        return Engine(self.db, SystemClock())

    def actor(self, username: str) -> Actor:
        """Who a command acts as (``--by``), read from the accounts."""
        with self.db.read_session() as session:
            return user_actor(session, username)

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


pass_context = click.make_pass_decorator(Context)


@cache
def _translations() -> NullTranslations:
    from fpic.i18n.catalogs import cli_translations

    return cli_translations()


def _(message: str, **params: Any) -> str:
    """A message for the person at the terminal, in their locale (LANG and friends)."""
    text = _translations().gettext(message)
    return text % params if params else text


def _reason_text(reason: Reason) -> str:
    try:
        return _(reason.message, **reason.params)
    except (KeyError, ValueError, TypeError):
        return reason.render()
