"""What a notification says: its subject and plain-text body, in the language its recipient
has saved (else the installation's, English) and with times in their time zone.

Rendered when the message is sent, not when it is queued: a person who changes their language
before it goes out gets it in the new one. Nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime

from fpic.accounts.settings import zone_of
from fpic.i18n import N_

if TYPE_CHECKING:
    from babel.support import NullTranslations

#: the installation's language, for a person who saved none
DEFAULT_LOCALE = "en"
#: parameters of a deadline's message that hold a text of a process template (a limit's or a
#: step's title), translated like the template's other texts (as web.i18n.TEMPLATE_TEXTS)
TEMPLATE_TEXTS = ("limit", "step")

TURN_SUBJECT = N_("It is your turn on %(case)s (%(community)s): %(step)s")
DEADLINE_SUBJECT = N_("Due on %(day)s: %(what)s")


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    locale: str | None
    time_zone: str | None


@dataclass(frozen=True)
class About:
    """The case a message is about, as its recipient knows it."""

    case_id: int | None
    reference: str
    community: str


@dataclass(frozen=True)
class Letter:
    subject: str
    body: str
    #: the language it is written in, as a BCP 47 tag (Content-Language)
    language: str


@dataclass(frozen=True)
class Links:
    """Addresses of the web interface, from its base URL (FPIC_BASE_URL)."""

    base_url: str

    def case(self, case_id: int | None) -> str:
        return f"{self.base_url}/cases/{case_id}" if case_id is not None else self.base_url + "/"

    @property
    def settings(self) -> str:
        return f"{self.base_url}/account/settings"


def compose(
    kind: str, params: dict[str, Any], recipient: Recipient, about: About, links: Links
) -> Letter:
    """The message of an outbox row of ``kind`` ("turn" or "deadline")."""
    words = Words(recipient)
    compose_kind = _turn if kind == "turn" else _deadline
    subject, lines = compose_kind(words, params, about)
    body = [
        words(N_("Hello %(name)s,"), name=recipient.name),
        "",
        *lines,
        "",
        words(N_("Open the case: %(link)s"), link=links.case(about.case_id)),
        "",
        "-- ",
        words(
            N_(
                "You receive this e-mail because notifications are on in your settings. To "
                "turn them off, or to change your address or time zone: %(link)s"
            ),
            link=links.settings,
        ),
    ]
    return Letter(" ".join(subject.split()), "\n".join(body) + "\n", words.language)


def _turn(words: Words, params: dict[str, Any], about: About) -> tuple[str, list[str]]:
    steps = [words(title) for title in params.get("steps", [])]
    stage = words(str(params.get("stage_title") or params.get("stage", "")))
    # one step names itself; a community's decision offers several (consent, conditions,
    # withholding ...): the subject then names the stage
    subject = words(
        TURN_SUBJECT, case=about.reference, community=about.community,
        step=steps[0] if len(steps) == 1 else stage,
    )  # fmt: skip
    lines = [
        words(
            N_("It is your turn on the case %(case)s (%(community)s)."),
            case=about.reference,
            community=about.community,
        ),
        words(
            N_("Stage: %(stage)s, since %(when)s."), stage=stage, when=words.moment(params["at"])
        ),
    ]
    if len(steps) == 1:
        lines.append(words(N_("Next step: %(step)s"), step=steps[0]))
    elif steps:
        lines.append(words(N_("Next steps, one of:")))
        lines.extend(f"- {step}" for step in steps)
    return subject, lines


def _deadline(words: Words, params: dict[str, Any], about: About) -> tuple[str, list[str]]:
    message_params = {
        k: words(str(v)) if k in TEMPLATE_TEXTS else v
        for k, v in dict(params.get("params") or {}).items()
    }
    what = words(str(params["message"]), **message_params)
    day = words.day(params["due"])
    subject = words(DEADLINE_SUBJECT, day=day, what=what)
    lines = [
        words(
            N_("A deadline is coming on the case %(case)s (%(community)s):"),
            case=about.reference,
            community=about.community,
        ),
        what,
        words(N_("Due on: %(day)s"), day=day),
    ]
    return subject, lines


class Words:
    """Texts, days and times in one recipient's language and time zone."""

    def __init__(self, recipient: Recipient) -> None:
        self.locale = _babel_locale(recipient.locale)
        self.translations = _translations(str(self.locale))
        self.zone = zone_of(recipient.time_zone)
        self.language = str(self.locale).replace("_", "-")

    def __call__(self, message: str, **params: Any) -> str:
        text = self.translations.gettext(message)
        if not params:
            return text
        try:
            return text % params
        except (KeyError, ValueError, TypeError):  # a broken translation: the English
            return message % params

    def day(self, value: str | date) -> str:
        day = date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(day, "full", locale=self.locale)

    def moment(self, value: str | datetime) -> str:
        """A time in the recipient's zone, with the zone's name (a reader elsewhere knows
        which time it is)."""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        shown = format_datetime(moment, "medium", tzinfo=self.zone, locale=self.locale)
        return f"{shown} ({self.zone.key})"


def _babel_locale(code: str | None) -> Locale:
    try:
        return Locale.parse(code or DEFAULT_LOCALE)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


@cache
def _translations(locale: str) -> NullTranslations:
    from fpic.i18n.catalogs import cli_translations

    return cli_translations(locale)
