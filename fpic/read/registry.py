"""The history of a register entry: the system-chain events that added and changed a community
(with its mandates) or a project, newest first, for whoever may read the entry's page.

The community's page already shows its register to everyone who may read the community (who
recorded and confirmed each mandate, from which resolution); its history shows the same facts
as they happened, so it follows the page, not the rule for reading the whole system chain.
Only those who read every chain are given the events themselves (their detail page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fpic.accounts.registry import community_standing
from fpic.i18n import Reason
from fpic.storage.models import Community, Representative, TrailEvent
from fpic.trail import audit
from fpic.workflow.actors import Actor
from fpic.workflow.permissions import community_scope, reads_every_chain, register_refusals

#: the events that make a community's history: its entry, and its register of mandates
COMMUNITY_ACTIONS = (
    "add_community",
    "edit_community",
    "record_mandate",
    "confirm_mandate",
    "revoke_mandate",
)
PROJECT_ACTIONS = ("add_project", "edit_project")
#: what an event that adds or mandates shows of its data, in this order
_SHOWN = {
    "add_community": ("name", "region", "country", "institution", "content_languages"),
    "add_project": (
        "name", "proponent", "description", "sector", "phases", "activities",
        "design_freeze_on", "permit_applied_on", "legacy_site",
    ),
    "record_mandate": ("granted_by", "resolved_on", "valid_from", "valid_until"),
    "revoke_mandate": ("resolution", "effective_on"),
}  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One field of an entry: its value before (None when the event first set it) and after."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Entry:
    """One event of an entry's history."""

    chain: str
    seq: int
    #: the trail's own ISO-8601 UTC text
    at: str
    actor: str
    role: str
    action: str
    changes: tuple[Change, ...]
    #: a mandate event's representative, by name
    representative: str | None = None
    #: whether this person may open the event itself on the trail
    linked: bool = False

    @property
    def changed(self) -> bool:
        """A change to the entry, each field shown before and after (not its first values)."""
        return self.action.startswith("edit_")


def community_history(session: Session, actor: Actor, community_id: int) -> list[Entry]:
    """What happened to a community's entry and register, newest first; nothing for a
    community this person may not read (a representative reads only their own)."""
    if session.get(Community, community_id) is None or not _reads_community(actor, community_id):
        return []
    events = _events(session, COMMUNITY_ACTIONS, "community_id", community_id)
    names = _representatives(session, events)
    linked = reads_every_chain(actor)
    return [
        _entry(event, data, names.get(data.get("representative_id", 0)), linked)
        for event, data in events
    ]


def project_history(session: Session, actor: Actor, project_id: int) -> list[Entry]:
    """What happened to a project's entry, newest first (every signed-in person reads its
    page)."""
    linked = reads_every_chain(actor)
    return [
        _entry(event, data, None, linked)
        for event, data in _events(session, PROJECT_ACTIONS, "project_id", project_id)
    ]


def community_edit_refusals(
    session: Session, actor: Actor, community_id: int, day: date
) -> list[Reason]:
    """Why this person may not change the community's entry today (nothing if they may): the
    engine's own rule (fpic.accounts.registry.edit_community), asked before a form is shown."""
    standing = community_standing(session, actor, community_id, day)
    return register_refusals(actor, "edit_community", standing)


def _reads_community(actor: Actor, community_id: int) -> bool:
    """As the community's page (fpic.read.queries.visible_communities)."""
    scope = community_scope(actor)
    return scope is None or scope == community_id


def _events(
    session: Session, actions: tuple[str, ...], key: str, entry_id: int
) -> list[tuple[TrailEvent, dict[str, Any]]]:
    """The done events of ``actions`` on the system chain whose data names the entry. The
    text is narrowed in SQL (canonical JSON: no spaces, ``"key":id`` then ``,`` or ``}``) and
    each match decoded to be sure (``"key":1`` is the start of ``"key":12``)."""
    named = f'"{key}":{entry_id}'
    rows = session.scalars(
        select(TrailEvent)
        .where(
            TrailEvent.chain == audit.SYSTEM_CHAIN,
            TrailEvent.outcome == "done",
            TrailEvent.action.in_(actions),
            or_(TrailEvent.data.contains(named + ","), TrailEvent.data.contains(named + "}")),
        )
        .order_by(TrailEvent.seq.desc())
    )
    found = []
    for event in rows:
        data = json.loads(event.data)
        if isinstance(data, dict) and data.get(key) == entry_id:
            found.append((event, data))
    return found


def _representatives(
    session: Session, events: list[tuple[TrailEvent, dict[str, Any]]]
) -> dict[int, str]:
    ids = {data["representative_id"] for _, data in events if "representative_id" in data}
    if not ids:
        return {}
    rows = session.execute(
        select(Representative.id, Representative.name).where(Representative.id.in_(ids))
    )
    return {row.id: row.name for row in rows}


def _place(field: str) -> int:
    order = (*_SHOWN["add_community"], *_SHOWN["add_project"])
    return order.index(field) if field in order else len(order)


def _entry(
    event: TrailEvent, data: dict[str, Any], representative: str | None, linked: bool
) -> Entry:
    if isinstance(data.get("changes"), dict):
        # in the order the entry's page and form show its fields (the trail sorts its keys)
        changes = tuple(
            Change(key, change.get("from"), change.get("to"))
            for key, change in sorted(data["changes"].items(), key=lambda kv: _place(kv[0]))
            if isinstance(change, dict)
        )
    else:
        shown = _SHOWN.get(event.action, ())
        changes = tuple(Change(key, None, data[key]) for key in shown if data.get(key))
    return Entry(
        chain=event.chain,
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        role=event.actor_role,
        action=event.action,
        changes=changes,
        representative=(representative or data.get("name")) if "mandate" in event.action else None,
        linked=linked,
    )
