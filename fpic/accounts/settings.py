"""A person's own settings: where notifications go, the time zone every date and time is shown
in, and whether they want e-mail at all.

They are the person's preferences, like the interface language (``sessions.set_locale``), and
like it they are not on the decision trail: they decide nothing about any process, and an
e-mail address written on an append-only trail could never be erased.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError, MessageDefect
from email.headerregistry import Address
from functools import cache

from fpic.i18n import N_
from fpic.storage.models import User
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine, require_active
from fpic.workflow.errors import InvalidData, invalid

#: the zone of a person who chose none, and of every date the CLI and the e-mails show them
DEFAULT_TIME_ZONE = "UTC"
#: names the zone database holds that are no place's time: the server's own, and a placeholder
_NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})
#: the regions of the IANA names offered in a list (the older aliases, "US/Eastern" or "GB",
#: are accepted but not listed), each with its title
REGIONS: dict[str, str] = {
    "Africa": N_("Africa"),
    "America": N_("Americas"),
    "Antarctica": N_("Antarctica"),
    "Arctic": N_("Arctic"),
    "Asia": N_("Asia"),
    "Atlantic": N_("Atlantic Ocean"),
    "Australia": N_("Australia"),
    "Europe": N_("Europe"),
    "Indian": N_("Indian Ocean"),
    "Pacific": N_("Pacific Ocean"),
}
MAX_EMAIL = 254  #: RFC 5321's longest path, less its angle brackets


@dataclass(frozen=True)
class Settings:
    email: str | None
    time_zone: str | None
    notify: bool


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_PLACES


def zones_by_region() -> dict[str, list[str]]:
    """The IANA names a person picks from, by region, sorted; UTC first, alone."""
    grouped: dict[str, list[str]] = {region: [] for region in REGIONS}
    for name in known_time_zones():
        region = name.split("/", 1)[0]
        if region in grouped and "/" in name:
            grouped[region].append(name)
    return {region: sorted(names) for region, names in grouped.items() if names}


def zone_of(name: str | None) -> zoneinfo.ZoneInfo:
    """The zone a stored name stands for; the default for none (or one the server's zone
    database no longer knows)."""
    if name and name in known_time_zones():
        return zoneinfo.ZoneInfo(name)
    return zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)


def utc_offset(name: str, at: datetime) -> str:
    """``UTC−05:00``: the zone's offset at ``at`` (it changes with summer time)."""
    offset = at.astimezone(zoneinfo.ZoneInfo(name)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def check_time_zone(value: str | None) -> str | None:
    """An IANA time zone name, or None for the installation's default."""
    name = (value or "").strip()
    if not name:
        return None
    if name not in known_time_zones():
        raise invalid(
            "time_zone",
            N_("%(value)s is not a time zone: choose one from the list, such as America/Lima."),
            value=name[:64],
        )
    return name


def check_email(value: str | None) -> str | None:
    """One e-mail address, as a person types it (``name@example.org``), or None for none."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > MAX_EMAIL or not _is_address(text):
        raise invalid(
            "email", N_("This is not an e-mail address: write one like name@example.org.")
        )
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _is_address(text: str) -> bool:
    # one plain address: no display name, no list, no quoted local part, and a domain with a
    # dot that the mail system can spell (IDNA)
    if any(c.isspace() or c in '"<>,;' for c in text) or text.count("@") != 1:
        return False
    try:
        address = Address(addr_spec=text)
        address.domain.encode("idna")
    except (HeaderParseError, MessageDefect, ValueError, UnicodeError):
        return False
    labels = address.domain.split(".")
    return (
        bool(address.username)
        and len(labels) > 1
        and all(label and not label.startswith("-") and not label.endswith("-") for label in labels)
    )


def settings_of(user: User) -> Settings:
    return Settings(user.email, user.time_zone, bool(user.notify))


def current_settings(engine: Engine, actor: Actor) -> Settings:
    """The signed-in person's settings as stored."""
    with engine.db.read_session() as session:
        user = session.get(User, actor.user_id)
        return settings_of(user) if user is not None else Settings(None, None, False)


class SettingsRefused(InvalidData):
    """Every wrong field at once (``problems``), so a form can mark them all; itself the
    first of them."""

    def __init__(self, problems: list[InvalidData]) -> None:
        super().__init__(problems[0].field, problems[0].reasons[0])
        self.problems = problems


def change_settings(
    engine: Engine, actor: Actor, *, email: str | None, time_zone: str | None, notify: bool
) -> Settings:
    """The signed-in person's own settings, every field checked first (SettingsRefused names
    each wrong one). Not on the trail (module docstring)."""
    problems: list[InvalidData] = []
    checked: dict[str, str | None] = {}
    for field, check, value in (("email", check_email, email),
                                ("time_zone", check_time_zone, time_zone)):  # fmt: skip
        try:
            checked[field] = check(value)
        except InvalidData as problem:
            problems.append(problem)
    if problems:
        raise SettingsRefused(problems)
    with engine.db.write_session() as session, session.begin():
        require_active(session, actor)
        user = session.get(User, actor.user_id)
        assert user is not None  # require_active found it
        user.email, user.time_zone, user.notify = checked["email"], checked["time_zone"], notify
        return settings_of(user)
