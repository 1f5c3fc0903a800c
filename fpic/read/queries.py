"""Read-side queries for interfaces: filtered, paginated, and limited to what a person may see.

Filters are applied in SQL (indexed columns) so lists stay fast with many cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from fpic.storage.models import Case, Community, Project, TrailEvent
from fpic.trail import audit
from fpic.workflow.actors import Actor
from fpic.workflow.limits import overdue_on
from fpic.workflow.permissions import (
    assignment_column,
    can_read_case,
    community_scope,
    reads_every_chain,
)
from fpic.workflow.process import installed_templates, shipped_templates
from fpic.workflow.turns import whose_turn

PER_PAGE = 25
#: a list counts its rows this far past the page shown and no further: an exact count reads
#: every matching row, so its cost grows with the table (docs/performance.md, B5: 11 of the
#: 40 ms of the case list at 100,000 cases on PostgreSQL)
COUNT_AHEAD = 10_000


@dataclass(frozen=True)
class Page:
    items: list[Any]
    #: the rows that match, or, when ``more``, how many were counted (there are more)
    total: int
    page: int
    per_page: int
    more: bool = False

    @property
    def pages(self) -> int:
        """The number of pages, or, when ``more``, a number of pages there are more than."""
        if self.more:
            return self.total // self.per_page
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.more or self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def visible_cases(actor: Actor) -> Select[Case]:
    stmt = select(Case)
    scope = community_scope(actor)
    if scope is not None:
        stmt = stmt.where(Case.community_id == scope)
    return stmt


def overdue_case_ids(session: Session, now: datetime) -> Select[Any]:
    """The cases where a time limit that exists has passed (advisory, never acted on): read for
    the cases standing where such a limit runs, and decided by fpic.workflow.limits."""
    where = [
        and_(
            Case.template_id == template.id,
            Case.template_version == template.version,
            Case.stage.in_(sorted({s for limit in template.limits.values() for s in limit.stages})),
        )
        for template in installed_templates().values()
        if any(limit.exists for limit in template.limits.values())
    ]
    if not where:
        return select(Case.id).where(Case.id.is_(None))
    candidates = session.scalars(
        select(Case).options(selectinload(Case.protocol)).where(or_(*where))
    ).all()
    return select(Case.id).where(
        Case.id.in_([case.id for case in candidates if is_overdue(case, now)])
    )


def list_cases(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    stage: str | None = None,
    community_id: int | None = None,
    project_id: int | None = None,
    overdue: bool = False,
    waiting: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    stmt = filtered_cases(
        actor, now, stage=stage, community_id=community_id, project_id=project_id,
        overdue=overdue, session=session,
    )  # fmt: skip
    if waiting:
        stmt = stmt.where(waiting_clause(actor))
    return paginate(
        session,
        stmt,
        stmt.options(joinedload(Case.community), joinedload(Case.project)).order_by(
            Case.updated_at.desc(), Case.id.desc()
        ),
        page,
        per_page,
    )


def filtered_cases(
    actor: Actor,
    now: datetime,
    *,
    stage: str | None = None,
    community_id: int | None = None,
    project_id: int | None = None,
    overdue: bool = False,
    session: Session | None = None,
) -> Select[Case]:
    """The cases this person may see that match the list's filters (the web list and the
    API's filter the same way); the overdue filter reads in ``session``."""
    stmt = visible_cases(actor)
    if stage:
        stmt = stmt.where(Case.stage == stage)
    if community_id:
        stmt = stmt.where(Case.community_id == community_id)
    if project_id:
        stmt = stmt.where(Case.project_id == project_id)
    if overdue:
        assert session is not None, "the overdue filter reads the cases' time limits"
        stmt = stmt.where(Case.id.in_(overdue_case_ids(session, now)))
    return stmt


def cases_after(
    session: Session, matching: Select[Case], after_id: int | None, limit: int
) -> tuple[list[Case], int | None]:
    """Keyset pagination, newest case first: up to ``limit`` of ``matching`` with ids below
    ``after_id``, and the id to continue after (None on the last page). Costs the same on
    the thousandth page as on the first, and a case opened meanwhile shifts nothing."""
    stmt = matching.options(joinedload(Case.community), joinedload(Case.project))
    if after_id is not None:
        stmt = stmt.where(Case.id < after_id)
    rows = list(session.scalars(stmt.order_by(Case.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None


def case_events_after(
    session: Session, case_id: int, after_seq: int | None, limit: int
) -> tuple[list[TrailEvent], int | None]:
    """A case's chain in order, ``limit`` events after ``after_seq``, and the seq to continue
    after (None on the last page)."""
    stmt = select(TrailEvent).where(TrailEvent.chain == audit.case_chain(case_id))
    if after_seq is not None:
        stmt = stmt.where(TrailEvent.seq > after_seq)
    rows = list(session.scalars(stmt.order_by(TrailEvent.seq).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].seq if more and rows else None


def visible_communities(actor: Actor) -> Select[Community]:
    """The communities whose pages this person reads (a representative: their own)."""
    stmt = select(Community)
    scope = community_scope(actor)
    if scope is not None:
        stmt = stmt.where(Community.id == scope)
    return stmt


def paginate(
    session: Session, matching: Select[Any], ordered: Select[Any], page: int, per_page: int
) -> Page:
    """Page ``page`` of ``ordered``; ``matching`` is the same rows unordered, for counting.

    Rows are counted up to COUNT_AHEAD past the page asked for, so a page costs the same
    however many rows match; past that, the page says there are more than it counted.
    """
    page = max(1, page)
    # at least a page ahead, so that "more than this many pages" is always true
    ahead = (page - 1) * per_page + max(COUNT_AHEAD, per_page)
    # counting a constant, not the rows' columns: a third less work on PostgreSQL
    rows_matching = matching.with_only_columns(literal(1), maintain_column_froms=True)
    counted = session.scalar(
        select(func.count()).select_from(rows_matching.limit(ahead + 1).subquery())
    )
    total, more = min(counted or 0, ahead), (counted or 0) > ahead
    if not more:
        page = min(page, max(1, -(-total // per_page)))
    rows = session.scalars(ordered.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(rows), total, page, per_page, more)


def is_overdue(case: Case, now: datetime) -> bool:
    template = installed_templates().get(
        (case.template_id, case.template_version, case.template_hash)
    )
    if template is None or template.stages[case.stage].terminal:
        return False
    return overdue_on(template, case, now.date())


def waiting_clause(actor: Actor) -> ColumnElement[bool]:
    """SQL for "the case stands where this person's role takes the main step"
    (fpic.workflow.turns), on every installed template version; the case's facilitator or
    mediator only on their own cases."""
    waiting = [
        and_(Case.template_id == t.id, Case.template_version == t.version, Case.stage == stage)
        for t in installed_templates().values()
        for stage in t.stages
        if actor.role in whose_turn(t, stage).roles
    ]
    if not waiting:
        return false()
    clause = or_(*waiting)
    assigned = assignment_column(actor.role)
    return clause if assigned is None else and_(clause, assigned == actor.user_id)


def cases_waiting_for(session: Session, actor: Actor, page: int = 1, per_page: int = 10) -> Page:
    """The cases where it is this person's turn, the longest waiting first: every one of
    them, a page at a time."""
    stmt = visible_cases(actor).where(waiting_clause(actor))
    ordered = stmt.options(joinedload(Case.community), joinedload(Case.project)).order_by(
        Case.updated_at, Case.id
    )
    return paginate(session, stmt, ordered, page, per_page)


def filter_options(session: Session, actor: Actor) -> dict[str, list[tuple[Any, str]]]:
    communities = select(Community.id, Community.name).order_by(Community.name)
    scope = community_scope(actor)
    if scope is not None:
        communities = communities.where(Community.id == scope)
    stages: dict[str, str] = {}
    for template in shipped_templates().values():
        for stage in template.stages.values():
            stages.setdefault(stage.name, stage.title)
    return {
        "communities": [(row.id, row.name) for row in session.execute(communities)],
        "projects": [
            (row.id, row.name)
            for row in session.execute(select(Project.id, Project.name).order_by(Project.name))
        ],
        "stages": sorted(stages.items(), key=lambda item: item[1]),
    }


# --- the trail -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionMatch:
    """The actions a trail filter finds: those in ``anywhere`` on any event, and each set of
    ``in_templates`` only on the events of cases opened on one of its templates (an action
    some templates call by another name: the Native Title Act's consent is the native title
    parties' agreement, so a filter by the name "Record consent" leaves it out)."""

    anywhere: frozenset[str] = frozenset()
    #: (actions, template ids) pairs
    in_templates: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()

    def clause(self) -> ColumnElement[bool]:
        found: list[ColumnElement[bool]] = []
        if self.anywhere:
            found.append(TrailEvent.action.in_(sorted(self.anywhere)))
        for actions, templates in self.in_templates:
            # not correlated: the database reads the cases of these templates once
            of_templates = select(Case.id).where(Case.template_id.in_(sorted(templates)))
            found.append(
                and_(TrailEvent.action.in_(sorted(actions)), TrailEvent.case_id.in_(of_templates))
            )
        return or_(*found) if found else false()


def trail_events(
    session: Session,
    actor: Actor,
    *,
    case_id: int | None = None,
    person: str | None = None,
    action: str | ActionMatch | None = None,
    outcome: str | None = None,
    since: date | None = None,
    until: date | None = None,
    access: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """A page of the trail, newest first: the events of the cases and of the system chain, or,
    with ``access``, the sign-ins, sign-outs and refused anonymous attempts of the access chain
    alone (kept apart: they would drown the events of the cases). ``action`` is an action's
    code or the actions a label names."""
    stmt = visible_events(actor)
    if access:
        stmt = stmt.where(TrailEvent.chain == audit.ACCESS_CHAIN)
    elif action or outcome or since or until:
        # another column decides: read newest first, each row checked
        stmt = stmt.where(TrailEvent.chain != audit.ACCESS_CHAIN)
    else:
        # the same rows, as two ranges of the (chain, seq) index: counted from the index
        # alone (13 to 3 ms at 200,000 events, 60% of them sign-ins, on SQLite)
        outside = TrailEvent.chain < audit.ACCESS_CHAIN, TrailEvent.chain > audit.ACCESS_CHAIN
        stmt = stmt.where(or_(*outside))
    if case_id:
        stmt = stmt.where(TrailEvent.chain == audit.case_chain(case_id))
    if person:
        stmt = stmt.where(TrailEvent.actor == person)
    if isinstance(action, ActionMatch):
        stmt = stmt.where(action.clause())
    elif action:
        stmt = stmt.where(TrailEvent.action == action)
    if outcome:
        stmt = stmt.where(TrailEvent.outcome == outcome)
    if since:
        stmt = stmt.where(TrailEvent.at >= since.isoformat())
    if until:
        stmt = stmt.where(TrailEvent.at < (until + timedelta(days=1)).isoformat())
    # one chain's events are in the order of its sequence numbers as of its ids: the access
    # chain is read newest first along its (chain, seq) index, not sorted whole
    newest_first = TrailEvent.seq.desc() if access else TrailEvent.id.desc()
    return paginate(session, stmt, stmt.order_by(newest_first), page, per_page)


def cases_by_reference(session: Session, actor: Actor, reference: str) -> list[Case]:
    """The cases this person may read with this reference, capitals aside (at most two: more
    than one means the spelling must be exact). The exact spelling is read from the unique
    index; only when none has it are the references compared in lower case."""
    visible = visible_cases(actor).options(joinedload(Case.community))
    exact = session.scalars(visible.where(Case.reference == reference)).all()
    if exact:
        return list(exact)
    lowered = visible.where(func.lower(Case.reference) == func.lower(reference))
    return list(session.scalars(lowered.order_by(Case.id).limit(2)))


def visible_events(actor: Actor) -> Select[TrailEvent]:
    """The trail events this person may read: a representative those of their community's
    cases; the system and access chains only those who read every chain."""
    stmt = select(TrailEvent)
    scope = community_scope(actor)
    if scope is not None:
        own = select(Case.id).where(Case.community_id == scope)
        return stmt.where(TrailEvent.case_id.in_(own))
    if not reads_every_chain(actor):
        return stmt.where(TrailEvent.chain.not_in(audit.NON_CASE_CHAINS))
    return stmt


def case_events(session: Session, case_id: int) -> list[TrailEvent]:
    return list(
        session.scalars(
            select(TrailEvent)
            .where(TrailEvent.chain == audit.case_chain(case_id))
            .order_by(TrailEvent.seq)
        )
    )


def events_since_version(session: Session, case_id: int, version: int) -> list[TrailEvent]:
    """What happened to a case after the version a person saw (for the 'case changed' page).

    Read newest first and only as far back as that version: a case with a long trail answers
    a stale form as fast as a new one (each done action raised the version by one, so the
    versions fall as the sequence numbers do).
    """
    newest_first = (
        select(TrailEvent)
        .where(TrailEvent.chain == audit.case_chain(case_id), TrailEvent.outcome == "done")
        .order_by(TrailEvent.seq.desc())
        .execution_options(yield_per=20)
    )
    newer = []
    with session.scalars(newest_first) as events:  # closed here, read through or not
        for event in events:
            seen = json.loads(event.data).get("version")
            if isinstance(seen, int) and seen <= version:
                break
            if isinstance(seen, int):
                newer.append(event)
    return newer[::-1]


def disclosure_matrix(
    items: tuple[str, ...], languages: list[str], formats: list[str], disclosures: list[Any]
) -> list[tuple[str, list[tuple[str, list[Any]]]]]:
    """Rows of items, each with languages × formats cells holding the current disclosure."""
    current = {(d.item, d.language, d.format): d for d in disclosures if d.superseded_at is None}
    return [
        (item, [(lang, [current.get((item, lang, fmt)) for fmt in formats]) for lang in languages])
        for item in items
    ]


def cases_touched_by(session: Session, actor: Actor, limit: int = 10) -> list[Case]:
    """The cases this person acted on most recently ("my cases")."""
    recent = (
        select(TrailEvent.case_id, func.max(TrailEvent.id).label("last"))
        .where(TrailEvent.actor == actor.username, TrailEvent.case_id.is_not(None))
        .group_by(TrailEvent.case_id)
        .subquery()
    )
    stmt = (
        visible_cases(actor)
        .join(recent, recent.c.case_id == Case.id)
        .options(joinedload(Case.community))
        .order_by(recent.c.last.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def exportable_rows(
    session: Session, actor: Actor, case_id: int | None = None, community_id: int | None = None
) -> Any:
    """Whole chains this person may read, in order: an export of them verifies on its own.
    With ``community_id``, the chains of that community's cases alone, one after another."""
    if case_id is not None:
        case = session.get(Case, case_id)
        if case is None or not can_read_case(actor, case):
            return iter(())
        return audit.export_rows(session, case_id)
    if community_id is not None:
        own = visible_cases(actor).where(Case.community_id == community_id)
        return _chains_of(session, own.with_only_columns(Case.id))
    if reads_every_chain(actor):
        return audit.export_rows(session)
    return _chains_of(session, visible_cases(actor).with_only_columns(Case.id))


def community_chains(session: Session, community_id: int) -> Any:
    """Every chain of one community's cases, each whole, in the order of the case numbers:
    the command line's export of a community (its operator reads every chain)."""
    return _chains_of(session, select(Case.id).where(Case.community_id == community_id))


def _chains_of(session: Session, case_ids: Any) -> Any:
    """The chains of these cases, one whole chain after another in the order of the case
    numbers (each read along the (chain, seq) index)."""
    ids = list(session.scalars(case_ids.order_by(Case.id)))
    for case_id in ids:
        yield from audit.export_rows(session, case_id)
