"""What a trail event says, for the pages that show it: the text people typed with an action,
and one event with its neighbours on its chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.read.queries import visible_events
from fpic.storage.models import TrailEvent
from fpic.trail.audit import case_chain, format_time
from fpic.workflow.actions import ACTIONS
from fpic.workflow.actors import Actor
from fpic.workflow.process import Template


@dataclass(frozen=True)
class Typed:
    """One text typed with an action, and the label its form gave it (a message id)."""

    label: str
    text: str


def typed_text(template: Template, event: TrailEvent) -> list[Typed]:
    """The free text entered with a done action (a note, a memo, minutes, an answer), each
    under its field's label, in the order the action declares them; nothing for a refusal.
    What is on the trail is shown: a confidential complainant's name never is (the trail
    keeps only a commitment to it)."""
    trigger = template.triggers.get(event.action)
    if event.outcome != "done" or trigger is None:
        return []
    payload = json.loads(event.data).get("payload")
    if not isinstance(payload, dict):
        return []
    return [
        Typed(spec.label, payload[spec.name])
        for spec in ACTIONS[trigger.effect].fields
        if spec.kind == "text"
        and isinstance(payload.get(spec.name), str)
        and payload[spec.name].strip()
    ]


#: how long after an action its case page still says it was done (a reload, the back button)
DONE_SHOWN_FOR = timedelta(minutes=15)


def just_done(
    events: list[TrailEvent], seq: int | None, actor: Actor, now: datetime
) -> TrailEvent | None:
    """The action this person has just done, as the trail recorded it. The redirect after an
    action names its event; only an event of these (one case's chain) that this person did
    in the last minutes is confirmed, so a link made by someone else confirms nothing."""
    if seq is None:
        return None
    since = format_time(now - DONE_SHOWN_FOR)  # the trail's fixed-width text compares as time
    for event in reversed(events):
        if event.seq == seq:
            mine = event.actor == actor.username and event.outcome == "done"
            return event if mine and event.at >= since else None
    return None


@dataclass(frozen=True)
class EventView:
    """One event as its detail page shows it: its data decoded, and the events before and
    after it on its chain (the one before is the link its hash covers)."""

    event: TrailEvent
    data: Any
    before: TrailEvent | None
    after: TrailEvent | None


def trail_event(session: Session, actor: Actor, chain: str, seq: int) -> EventView | None:
    """The event ``seq`` of ``chain`` if this person may read it, else None (as if there
    were none: no page tells a chain or an event exists to someone who may not read it)."""
    visible = visible_events(actor).where(TrailEvent.chain == chain)
    event = session.scalar(visible.where(TrailEvent.seq == seq))
    if event is None:
        return None
    around = session.scalars(
        select(TrailEvent).where(TrailEvent.chain == chain, TrailEvent.seq.in_((seq - 1, seq + 1)))
    )
    neighbours = {e.seq: e for e in around}
    return EventView(
        event, json.loads(event.data), neighbours.get(seq - 1), neighbours.get(seq + 1)
    )


def decision_events(session: Session, case_id: int) -> dict[int, int]:
    """Decision id -> the sequence number of the event in the case's chain that recorded it
    (the event names its record: ``data.records.decision_id``)."""
    rows = session.execute(
        select(TrailEvent.seq, TrailEvent.data)
        .where(
            TrailEvent.chain == case_chain(case_id),
            TrailEvent.outcome == "done",
            TrailEvent.data.contains('"decision_id":'),
        )
        # the decision's own event first: a later one (an activity started under the consent)
        # names the decision it relies on
        .order_by(TrailEvent.seq)
    )
    found: dict[int, int] = {}
    for seq, data in rows:
        records = json.loads(data).get("records")
        decision_id = records.get("decision_id") if isinstance(records, dict) else None
        if isinstance(decision_id, int) and decision_id not in found:
            found[decision_id] = seq
    return found
