"""The engine: every action on a case in one transaction, all or nothing.

``advance`` locks the case, checks the version the caller saw, the permission and the guards,
fires the transition, writes the records and appends the trail event, then commits. A refused
attempt is written to the trail too, in its own small transaction, with its reasons.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    Date,
    Integer,
    Select,
    String,
    Update,
    bindparam,
    cast,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from fpic.accounts.passwords import check_password
from fpic.evidence import store as evidence_store
from fpic.evidence.intake import ReceivedFile
from fpic.evidence.store import Listed, listing
from fpic.i18n import N_, Reason
from fpic.notify import outbox
from fpic.storage.db import Database, rows_changed, table_of
from fpic.storage.models import (
    Case,
    ChainHead,
    Community,
    Project,
    RefusalWindow,
    User,
)
from fpic.trail import audit, refusals
from fpic.workflow.actions import ACTIONS
from fpic.workflow.actors import Actor
from fpic.workflow.clock import Clock, SystemClock
from fpic.workflow.errors import (
    FpicError,
    GuardRefused,
    InvalidData,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StaleCase,
    Throttled,
    WrongConfirmation,
)
from fpic.workflow.evidence import files_of
from fpic.workflow.guards import GuardContext, evaluate, holds_mandate, mandate_held
from fpic.workflow.limits import mark_milestone
from fpic.workflow.payloads import printable
from fpic.workflow.permissions import (
    SYSTEM_ACTION_ROLES,
    Standing,
    can_read_case,
    opens_cases_on,
    represents,
    role_refusal,
    standing_on_case,
    trigger_refusals,
)
from fpic.workflow.process import Template, Trigger, shipped_templates, template_for
from fpic.workflow.schema import Action, Submission
from fpic.workflow.signing import (
    Assertion,
    asks_password,
    challenge,
    check_recorded,
    confirmed_keys,
    event_data,
    signature_missing,
    signature_required,
    verify,
)

T = TypeVar("T")


@dataclass(frozen=True)
class ActionResult:
    case_id: int
    stage: str
    version: int
    event_seq: int
    records: dict[str, Any]


@dataclass(frozen=True)
class Option:
    """One thing a person could try on a case now, and if not, why not."""

    trigger: Trigger
    reasons: tuple[Reason, ...]

    @property
    def allowed(self) -> bool:
        return not self.reasons

    @property
    def role_refused(self) -> bool:
        """Not this person's role at all (as opposed to a rule that forbids it now)."""
        return any(r.code == "role_not_allowed" for r in self.reasons)


@dataclass(frozen=True)
class Prepared:
    """An action checked as ``advance`` checks it, but not done: what the person would sign.
    ``data`` is the trail event's data to be (but for the ``records`` written),
    ``challenge`` what a passkey signs (fpic.workflow.signing), ``keys`` the credential ids of
    the person's passkeys that may sign."""

    case_id: int
    trigger: str
    #: the version of the case the action was checked against: the one to send it with
    version: int
    data: dict[str, Any]
    challenge: bytes
    signature_required: bool
    keys: tuple[bytes, ...]


class _Checked(NamedTuple):
    """What an action on a case is, once the person's standing, the stage and the data were
    checked (``Engine._checked``)."""

    template: Template
    trigger: Trigger
    ctx: GuardContext
    action: Action
    received: list[ReceivedFile]
    listed: list[Listed]


class Busy(FpicError):
    code = "busy"


def _busy() -> Busy:
    return Busy(Reason("busy", N_("The database is busy. Please try again in a moment.")))


class Engine:
    def __init__(
        self, db: Database, clock: Clock | None = None, limits: refusals.Limits | None = None
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.limits = limits or refusals.Limits()

    # --- reading ---------------------------------------------------------------------------

    def case_for(self, session: Session, case_id: int, actor: Actor) -> Case:
        """The case if this person may see it; otherwise NotFound (never reveal it exists)."""
        case = session.get(Case, case_id)
        if case is None or not can_read_case(actor, case):
            raise _no_case(case_id)
        return case

    def template_of(self, case: Case) -> Template:
        return template_for(case.template_id, case.template_version, case.template_hash)

    def options(self, session: Session, case: Case, actor: Actor) -> list[Option]:
        """Every trigger of the case's current stage, with the reasons it is refused now."""
        template = self.template_of(case)
        now = self.clock.now()
        standing = self.standing(session, case, actor, now)
        return [
            self._option(session, template, case, actor, trigger, now, standing)
            for trigger in template.triggers_from(case.stage)
        ]

    @staticmethod
    def standing(session: Session, case: Case, actor: Actor, now: datetime) -> Standing:
        """The facts permissions rest on, read in the caller's transaction (one EXISTS, and
        only for a representative of the case's community)."""
        return standing_on_case(actor, case, _mandated(session, case, actor, now.date()))

    def option(
        self, session: Session, case: Case, actor: Actor, trigger_name: str
    ) -> Option | None:
        """One trigger as ``options`` gives it; None when the current stage has no such one."""
        template = self.template_of(case)
        trigger = next(
            (t for t in template.triggers_from(case.stage) if t.name == trigger_name), None
        )
        if trigger is None:
            return None
        now = self.clock.now()
        standing = self.standing(session, case, actor, now)
        return self._option(session, template, case, actor, trigger, now, standing)

    @staticmethod
    def _option(
        session: Session,
        template: Template,
        case: Case,
        actor: Actor,
        trigger: Trigger,
        now: datetime,
        standing: Standing,
    ) -> Option:
        reasons = trigger_refusals(actor, trigger, standing)
        if not reasons:
            reasons = evaluate(GuardContext(session, template, case, actor, trigger, now))
        return Option(trigger, tuple(reasons))

    # --- acting ----------------------------------------------------------------------------

    def advance(
        self,
        case_id: int,
        trigger: str,
        actor: Actor,
        data: Mapping[str, Any] | Submission | None,
        expected_version: int,
        confirmation: str | None = None,
        assertion: Assertion | None = None,
    ) -> ActionResult:
        """Fire ``trigger`` on the case for ``actor`` with ``data``; see the module docstring.

        ``confirmation`` is the person's password asked again. An action declared with
        ``needs_password`` (the community's decision) is refused without it, whatever the
        interface (web, CLI, API); the password is checked after everything else, so the
        answer is the same for a right and a wrong password until the action itself would
        go through.

        ``assertion`` is the acting representative's passkey signature over the action's data
        (``prepare`` gives what to sign). Where the case's protocol asks for signed decisions,
        the actions declared ``signed`` are refused without one that verifies against a
        confirmed passkey of the person (fpic.workflow.signing), and need no password; the
        event then carries the signature."""
        try:
            return self._write(
                lambda s: self._advance(
                    s, case_id, trigger, actor, data, expected_version, confirmation, assertion
                )
            )
        except FpicError as refusal:
            self._log_refusal(case_id, trigger, actor, refusal, expected_version)
            raise

    def prepare(
        self,
        case_id: int,
        trigger: str,
        actor: Actor,
        data: Mapping[str, Any] | Submission | None,
        expected_version: int,
    ) -> Prepared:
        """Check an action as ``advance`` would (the person's standing, the stage, the data, the
        guards) without doing it or writing anything, and say what the person signs to do it:
        the event's data to be and its challenge. A refusal is recorded as ``advance``'s is."""
        try:
            with self.db.read_session() as session:
                return self._prepare(session, case_id, trigger, actor, data, expected_version)
        except FpicError as refusal:
            self._log_refusal(case_id, trigger, actor, refusal, expected_version)
            raise

    def _prepare(
        self,
        session: Session,
        case_id: int,
        trigger_name: str,
        actor: Actor,
        data: Mapping[str, Any] | Submission | None,
        expected_version: int,
    ) -> Prepared:
        require_active(session, actor)
        case = self.case_for(session, case_id, actor)
        if case.version != expected_version:
            raise StaleCase(case_id, expected_version, case.version)
        now = self.clock.now()
        mandated = _mandated(session, case, actor, now.date())
        checked = self._checked(session, case, trigger_name, actor, data, mandated, now)
        reasons = evaluate(checked.ctx)
        if reasons:
            raise GuardRefused(*reasons)
        assert checked.ctx.payload is not None  # _checked read it
        recorded = event_data(case.version + 1, checked.ctx.payload, checked.listed)
        name = checked.trigger.name
        return Prepared(
            case.id, name, case.version, recorded, challenge(case.id, name, recorded),
            signature_required(checked.action, case),
            tuple(key.credential_id for key in confirmed_keys(session, actor.user_id)),
        )  # fmt: skip

    def _checked(
        self,
        session: Session,
        case: Case,
        trigger_name: str,
        actor: Actor,
        data: Mapping[str, Any] | Submission | None,
        mandated: bool,
        now: datetime,
    ) -> _Checked:
        """Who may, in which stage, with what data: everything before the guards."""
        template = self.template_of(case)
        trigger = _trigger_named(template, trigger_name)
        # who may comes before when: a person who may never do this is told so in any stage
        refusals = trigger_refusals(actor, trigger, standing_on_case(actor, case, mandated))
        if refusals:
            raise NotPermitted(*refusals)
        _check_stage(trigger, case)
        ctx = GuardContext(session, template, case, actor, trigger, now)
        action = ACTIONS[trigger.effect]
        ctx.payload = action.parse(data, ctx)
        received, listed = files_of(ctx.payload)
        return _Checked(template, trigger, ctx, action, received, listed)

    def _advance(
        self,
        session: Session,
        case_id: int,
        trigger_name: str,
        actor: Actor,
        data: Mapping[str, Any] | Submission | None,
        expected_version: int,
        confirmation: str | None = None,
        assertion: Assertion | None = None,
    ) -> ActionResult:
        day = self.clock.now().date()
        case, head, mandated = self._lock_for_action(session, case_id, actor, day)
        if case.version != expected_version:
            raise StaleCase(case_id, expected_version, case.version)
        now = self.clock.now()
        if now.date() != day:  # midnight passed while the lock was awaited: ask again
            mandated = _mandated(session, case, actor, now.date())
        template, trigger, ctx, action, received, listed = self._checked(
            session, case, trigger_name, actor, data, mandated, now
        )
        assert ctx.payload is not None  # _checked read it
        password, signed = asks_password(action, case), signature_required(action, case)
        if password and not confirmation:
            raise _password_required()
        if signed and assertion is None:
            raise signature_missing()
        reasons = evaluate(ctx)
        if reasons:
            raise GuardRefused(*reasons)
        if password:
            assert confirmation is not None
            self._confirm(session, actor, confirmation, now)
        # the event's data but for the records: what a signature is over
        recorded = event_data(case.version + 1, ctx.payload, listed)
        signature = None
        if signed:
            assert assertion is not None
            expected = challenge(case.id, trigger.name, recorded)
            signature = verify(session, actor, assertion, expected, now)
        from_stage = case.stage
        if trigger.changes_stage:
            template.fire(case, trigger.name)
            case.stage_entered_at = now
        # every change to the case row before the records are written: the flush that gives
        # a record its id then sends the case's one UPDATE with it
        case.version += 1
        case.updated_at = now
        mark_milestone(template, trigger, case, action.dated_by, ctx.payload, now.date())
        records = action.write(ctx, ctx.payload, from_stage)
        recorded["records"] = records
        if listed:  # the files' bytes in this transaction, their hashes in the event
            evidence_store.store(session.connection(), received, now)
        if signature is not None:
            recorded["signature"] = signature
            check_recorded(case.id, trigger.name, recorded)
        chain = audit.case_chain(case.id)
        event = audit.append(
            session,
            chain=chain,
            at=now,
            actor=actor.username,
            role=actor.role,
            action=trigger.name,
            outcome="done",
            case_id=case.id,
            from_stage=from_stage,
            to_stage=case.stage,
            data=recorded,
            head=head,
        )
        if listed:
            evidence_store.index(session.connection(), listed, chain, event.seq, case.id, now)
        outbox.queue_turn(session, template, case, from_stage, actor, event.seq, now)
        result = ActionResult(case.id, case.stage, case.version, event.seq, records)
        _write_case_row(session, case)
        return result

    def open_case(
        self,
        actor: Actor,
        *,
        project_id: int,
        community_id: int,
        template_id: str,
        reference: str,
    ) -> ActionResult:
        """A liaison officer opens a case, or whoever the template says convenes it (the State);
        it starts in the template's initial stage."""
        try:
            return self._write(
                lambda s: self._open_case(
                    s, actor, project_id, community_id, template_id, reference
                )
            )
        except FpicError as refusal:
            self._log_refusal(None, "open_case", actor, refusal, None)
            raise

    def _open_case(
        self,
        session: Session,
        actor: Actor,
        project_id: int,
        community_id: int,
        template_id: str,
        reference: str,
    ) -> ActionResult:
        require_active(session, actor)
        refusals = role_refusal(actor, SYSTEM_ACTION_ROLES["open_case"], "open_case")
        if refusals:
            raise NotPermitted(*refusals)
        template = shipped_templates().get(template_id)
        if template is None:
            raise _bad("template_id", N_("There is no process template %(value)s."), template_id)
        if not opens_cases_on(actor, template):
            # a regime says who convenes: under Peru's law only the State (Ley 29785 art. 2)
            raise NotPermitted(
                Reason(
                    "not_the_convener",
                    N_("Under the process %(template)s a case is opened by: %(roles)s."),
                    {"template": template.id, "roles": ", ".join(template.opened_by)},
                )
            )
        project = session.get(Project, project_id)
        if project is None:
            raise _bad("project_id", N_("There is no project %(value)s."), project_id)
        if session.get(Community, community_id) is None:
            raise _bad("community_id", N_("There is no community %(value)s."), community_id)
        reference = (reference or "").strip()
        if not reference or len(reference) > 40:
            raise _bad(
                "reference",
                N_("A case reference of 1 to 40 characters is required."),
                reference[:40],
            )
        if session.scalar(select(Case.id).where(Case.reference == reference)) is not None:
            raise _bad("reference", N_("The case reference %(value)s is already used."), reference)
        now = self.clock.now()
        case = Case(
            reference=reference,
            project_id=project_id,
            community_id=community_id,
            template_id=template.id,
            template_version=template.version,
            template_hash=template.content_hash,
            stage=template.initial,
            version=1,
            opened_at=now,
            updated_at=now,
            stage_entered_at=now,
        )
        session.add(case)
        session.flush()  # the case id names its chain
        late = [
            d.isoformat()
            for d in (project.design_freeze_on, project.permit_applied_on)
            if d is not None and d <= now.date()
        ]
        event = audit.append(
            session,
            chain=audit.case_chain(case.id),
            at=now,
            actor=actor.username,
            role=actor.role,
            action="open_case",
            outcome="done",
            case_id=case.id,
            from_stage=None,
            to_stage=case.stage,
            data={
                "version": 1,
                "reference": reference,
                "project_id": project_id,
                "community_id": community_id,
                "template": {
                    "id": template.id,
                    "version": template.version,
                    "hash": template.content_hash,
                },
                # EMRIP18 ¶21: a case opened after design freeze or permit is not "prior"
                "late_start_dates": late,
            },
        )
        outbox.queue_turn(session, template, case, None, actor, event.seq, now)
        return ActionResult(case.id, case.stage, 1, event.seq, {"case_id": case.id})

    def system_action(
        self,
        actor: Actor,
        action: str,
        allowed_roles: tuple[str, ...],
        work: Callable[[Session], dict[str, Any] | None],
        files: Sequence[ReceivedFile] = (),
    ) -> dict[str, Any]:
        """A change outside any case (users, communities, mandates), on the system chain,
        with the files that attest it (a mandate's resolution), listed as a case action's.
        ``work`` returns None when, once permitted, it finds there is nothing to change (the
        same dataset imported again): nothing is written, not even an event."""
        listed = listing(files, None)

        def run(session: Session) -> dict[str, Any]:
            refusals = role_refusal(actor, allowed_roles, action)
            if refusals:
                raise NotPermitted(*refusals)
            data = work(session)
            if data is None:
                return {}
            session.flush()
            now = self.clock.now()
            if listed:
                data = {
                    **data,
                    "files": evidence_store.kept(session.connection(), files, listed, now),
                }
            event = self.record_system_event(session, actor.username, actor.role, action, data)
            if listed:
                evidence_store.index(
                    session.connection(), listed, event.chain, event.seq, None, now
                )
            return data

        try:
            return self._write(run)
        except FpicError as refusal:
            self._log_refusal(None, action, actor, refusal, None)
            raise

    def record_system_event(
        self,
        session: Session,
        username: str,
        role: str,
        action: str,
        data: dict[str, Any],
        outcome: str = "done",
        chain: str = audit.SYSTEM_CHAIN,
    ) -> audit.Appended:
        """Append to the system chain (user changes), or to the access chain (sign-ins), inside
        the caller's transaction."""
        return audit.append(
            session,
            chain=chain,
            at=self.clock.now(),
            actor=username,
            role=role,
            action=action,
            outcome=outcome,
            data=data,
        )

    # --- transactions ----------------------------------------------------------------------

    def _write(self, work: Callable[[Session], T]) -> T:
        try:
            with self.db.write_session() as session, session.begin():
                return work(session)
        except OperationalError as exc:
            if _is_lock_timeout(exc):
                raise _busy() from exc
            raise
        except IntegrityError as exc:
            # Two openers raced for one reference, or a row broke a constraint the checks
            # above missed: nothing was written either way.
            raise InvalidData(
                "data",
                Reason(
                    "conflict", N_("The data conflicts with what is stored; nothing was saved.")
                ),
            ) from exc

    def _lock_for_action(
        self, session: Session, case_id: int, actor: Actor, day: date
    ) -> tuple[Case, audit.HeadRow, bool]:
        """The case and the head of its chain, both locked, with what an action on the case
        needs, in one statement: whether the person's account is still active and whether
        they hold a mandate in force on ``day``. The head row is locked too because refusals
        are appended to the case's chain in transactions of their own, which lock only it."""
        rep = actor.representative_id or 0  # no representative: no mandate is held
        row = session.execute(
            _LOCK_FOR_ACTION,
            {"case_id": case_id, "user_id": actor.user_id, "rep_id": rep, "day": day},
        ).one_or_none()
        if row is None:  # no such case: every case's chain starts when it is opened
            require_active(session, actor)  # a disabled account is told so first
            raise _no_case(case_id)
        case, seq, digest, is_active, holds = row
        head = audit.HeadRow(seq, digest)
        if not is_active:
            raise _disabled()
        if not can_read_case(actor, case):
            raise _no_case(case_id)
        return case, head, _mandated(session, case, actor, day, bool(holds))

    def _confirm(self, session: Session, actor: Actor, password: str, now: datetime) -> None:
        """The password asked again, under the sign-in throttle of the person's name (only
        for an action declared with ``needs_password``, so others gain no statement)."""
        if refusals.credentials_throttled(session, actor.username, now, self.limits):
            raise Throttled(
                Reason(
                    "password_throttled",
                    N_("Too many wrong passwords for this account; wait %(minutes)s minutes."),
                    {"minutes": int(refusals.THROTTLE_WINDOW.total_seconds() // 60)},
                )
            )
        # the hash is read only here, for the actions that ask the password again (the lock
        # reads whether the account is active, not its hash)
        user = session.get(User, actor.user_id)
        if user is None or not check_password(user, password):
            raise WrongConfirmation(
                "password",
                Reason("wrong_password", N_("Your password is not right."), {"field": "password"}),
            )

    def _log_refusal(
        self,
        case_id: int | None,
        action: str,
        actor: Actor,
        refusal: FpicError,
        expected_version: int | None,
    ) -> None:
        """The engine's own refusals, recorded like every other (``record_refusal``)."""
        data: dict[str, Any] = {
            "error": refusal.code,
            "reasons": [_json_safe(r.as_data()) for r in refusal.reasons],
            "version_seen": expected_version,
        }
        if isinstance(refusal, WrongConfirmation):
            # a failed credential check, counted by the sign-in throttle under this name
            data["trigger"] = printable(action, 60)
            action = "confirm_password"
        self.record_refusal(
            actor,
            action,
            data,
            case_id=case_id,
            throttled=isinstance(refusal, Throttled),
        )

    # --- refusals: the one place that decides how a refused attempt is recorded -------------

    def record_refusal(
        self,
        actor: Actor | None,
        action: str,
        data: dict[str, Any],
        *,
        case_id: int | None = None,
        name: str | None = None,
        throttled: bool = False,
        session: Session | None = None,
    ) -> None:
        """Record a refused attempt, wherever it was decided (engine, web, sign-in).

        Where: a signed-in person's refusal on the case's chain when they may see the case
        ``case_id``, otherwise on the system chain (with ``case_id`` in its data); an
        anonymous one (``actor`` None, ``name`` the user name typed, if any) on the access
        chain. How: one event each, up to the limits per address and per account in a window
        (fpic/trail/refusals.py); beyond them, and for ``throttled`` tries (which were not even
        checked), counted into one ``refused_repeatedly`` event per chain and window, written
        once the window has ended. Nothing is dropped, and a flood grows the trail with the
        number of windows, not of requests.

        In its own transaction, unless ``session`` is given (then in the caller's, who closes
        ended windows before opening it: on SQLite a second writer would wait for the first)."""
        origin = refusals.origin()
        origin.recorded = True

        def work(s: Session) -> None:
            self._record_refusal(
                s, origin.address, actor, printable(action, 60), dict(data), case_id, name,
                throttled,
            )  # fmt: skip

        if session is not None:
            work(session)
            return
        self.close_refusal_windows()
        try:
            with self.db.write_session() as own, own.begin():
                work(own)
        except OperationalError as exc:
            if not _is_lock_timeout(exc):
                raise

    def _record_refusal(
        self,
        session: Session,
        address: str | None,
        actor: Actor | None,
        action: str,
        data: dict[str, Any],
        case_id: int | None,
        name: str | None,
        throttled: bool,
    ) -> None:
        now = self.clock.now()
        case = None
        if actor is None:
            chain, who, role = audit.ACCESS_CHAIN, name or "-", "anonymous"
        else:
            who, role = actor.username, actor.role
            if case_id is not None:
                # the case row first: the lock every writer of its chain takes
                case = session.execute(
                    select(Case).where(Case.id == case_id).with_for_update()
                ).scalar_one_or_none()
                if case is not None and not can_read_case(actor, case):
                    case = None
            if case is None:
                chain = audit.SYSTEM_CHAIN
                data["case_id"] = case_id if isinstance(case_id, int) else None
            else:
                chain = audit.case_chain(case.id)
        over = throttled
        by_address = False
        if address:
            by_address = refusals.bump(session, f"addr:{address}", now) > self.limits.address
            if action in refusals.THROTTLED_ACTIONS and not throttled:
                refusals.bump(session, f"signin:{address}", now)
        if actor is not None:
            over |= refusals.bump(session, f"user:{who}", now) > self.limits.account
        over |= by_address
        if over:
            # an anonymous flood is counted under the address, not each name it typed, so
            # spraying names cannot grow the trail either
            summary_actor = "-" if actor is None and by_address else who
            refusals.bump(
                session, f"sum:{chain} {summary_actor} {role}", now,
                chain=chain, actor=summary_actor[:80], actor_role=role,
                case_id=case.id if case is not None else None,
            )  # fmt: skip
            return
        audit.append(
            session,
            chain=chain,
            at=now,
            actor=who,
            role=role,
            action=action,
            outcome="refused",
            case_id=case.id if case is not None else None,
            from_stage=case.stage if case is not None else None,
            to_stage=case.stage if case is not None else None,
            data=data,
        )

    def close_refusal_windows(self) -> int:
        """Write a ``refused_repeatedly`` event for every counted window that has ended;
        returns how many. Runs before each refusal and sign-in (a command for quiet systems is
        left to do). Each window in its own transaction, claimed by
        one conditional UPDATE, so two workers never write one twice nor deadlock."""
        now = self.clock.now()
        with self.db.read_session() as session:
            due = session.execute(
                select(RefusalWindow.key, RefusalWindow.window_start).where(
                    RefusalWindow.recorded.is_(False),
                    RefusalWindow.window_end <= audit.format_time(now),
                )
            ).all()
        written = 0
        for key, start in due:
            try:
                with self.db.write_session() as session, session.begin():
                    written += self._close_window(session, key, start)
            except OperationalError as exc:
                if not _is_lock_timeout(exc):
                    raise  # busy: the next refusal or sign-in writes it
        return written

    def _close_window(self, session: Session, key: str, start: str) -> int:
        claimed = rows_changed(
            session,
            update(RefusalWindow)
            .where(
                RefusalWindow.key == key,
                RefusalWindow.window_start == start,
                RefusalWindow.recorded.is_(False),
            )
            .values(recorded=True)
            .execution_options(synchronize_session=False),
        )
        if not claimed:
            return 0  # another worker wrote it
        row = session.get(RefusalWindow, (key, start))
        assert row is not None
        assert row.chain is not None
        case = None
        if row.case_id is not None:
            case = session.execute(
                select(Case).where(Case.id == row.case_id).with_for_update()
            ).scalar_one()
        audit.append(
            session,
            chain=row.chain,
            at=self.clock.now(),
            actor=row.actor or "-",
            role=row.actor_role or "anonymous",
            action="refused_repeatedly",
            outcome="refused",
            case_id=row.case_id,
            from_stage=case.stage if case is not None else None,
            to_stage=case.stage if case is not None else None,
            data={"count": row.count, "window_start": row.window_start,
                  "window_end": row.window_end},
        )  # fmt: skip
        return 1


def _trigger_named(template: Template, name: str) -> Trigger:
    trigger = template.triggers.get(name) if isinstance(name, str) else None
    if trigger is None:
        raise InvalidTransition(
            Reason(
                "unknown_trigger",
                N_("%(trigger)s is not an action of the process %(template)s."),
                {"trigger": printable(name, 60), "template": template.id},
            )
        )
    return trigger


def _check_stage(trigger: Trigger, case: Case) -> None:
    name = trigger.name
    if case.stage not in trigger.sources:
        raise InvalidTransition(
            Reason(
                "wrong_stage",
                N_("%(trigger)s cannot be done while the case is at the stage %(stage)s."),
                {"trigger": name, "stage": case.stage},
            )
        )


def _mandated(
    session: Session, case: Case, actor: Actor, day: date, read: bool | None = None
) -> bool:
    """Whether ``actor`` is a representative of the case's community holding a mandate in
    force on ``day`` (``read``: as the statement that locked the case read it)."""
    rep = actor.representative_id
    return (
        represents(actor, case.community_id)
        and rep is not None
        and holds_mandate(session, rep, day, read)
    )


_CASES = table_of(Case)
_CASE_COLUMNS = frozenset(column.key for column in _CASES.columns if not column.primary_key)


@functools.cache
def _update_case(columns: frozenset[str]) -> Update:
    """The UPDATE of these columns of a case, built once per set: the actions change a
    handful of different sets."""
    return (
        update(_CASES)
        .where(_CASES.c.id == bindparam("case_id"))
        .values({column: bindparam(f"new_{column}") for column in sorted(columns)})
    )


def _write_case_row(session: Session, case: Case) -> None:
    """The case's changes in one UPDATE of the columns that changed, unless a record's flush
    sent them already: the ORM's unit of work costs more than the statement for this one
    row. The last thing an action does with its case."""
    # what the ORM tracks as changed since the row was loaded or flushed, whoever changed it:
    # no list of the columns an action may change can go stale
    changed = _CASE_COLUMNS.intersection(inspect(case).committed_state)
    if not changed:
        return
    values = {f"new_{column}": getattr(case, column) for column in changed}
    session.connection().execute(_update_case(changed), {"case_id": case.id, **values})
    # the row holds the changes now: expiring the object leaves the commit nothing to flush
    # for it (the transaction ends here; nothing reads the case again)
    session.expire(case)


def _lock_for_action_statement() -> Select[Case, int, str, bool, bool]:
    """Built once: an action pays for executing it, not for building it."""
    active = select(User.active).where(User.id == bindparam("user_id")).scalar_subquery()
    chain = literal(audit.CASE_CHAIN_PREFIX).concat(cast(Case.id, String))
    return (
        select(
            Case,
            ChainHead.seq,
            ChainHead.hash,
            active,
            mandate_held(bindparam("rep_id", type_=Integer), bindparam("day", type_=Date)),
        )
        .join(ChainHead, ChainHead.chain == chain)
        .where(Case.id == bindparam("case_id"))
        .with_for_update()
    )


_LOCK_FOR_ACTION = _lock_for_action_statement()


def _password_required() -> InvalidData:
    return InvalidData(
        "password",
        Reason(
            "password_required",
            N_("Enter your password to confirm this action."),
            {"field": "password"},
        ),
    )


def _no_case(case_id: object) -> NotFound:
    return NotFound(
        Reason("case_not_found", N_("There is no case %(case)s."), {"case": str(case_id)[:40]})
    )


def _bad(field: str, message: str, value: object) -> InvalidData:
    return InvalidData(
        field, Reason("invalid_data", message, {"field": field, "value": str(value)[:80]})
    )


def _is_lock_timeout(exc: OperationalError) -> bool:
    return "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower()


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        return audit.format_time(value)
    return str(value)


def user_actor(session: Session, username: str) -> Actor:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound(
            Reason(
                "user_not_found", N_("There is no active user %(user)s."), {"user": username[:80]}
            )
        )
    return Actor.of(user)


def ensure_system_chain(session: Session) -> None:
    if session.get(ChainHead, audit.SYSTEM_CHAIN) is None:
        session.add(ChainHead(chain=audit.SYSTEM_CHAIN, seq=0, hash=audit.GENESIS))


def require_active(session: Session, actor: Actor) -> None:
    """An account disabled after the person signed in can no longer act (checked in the
    action's own transaction, so a disabling that commits first always wins)."""
    user = session.get(User, actor.user_id)
    if user is None or not user.active:
        raise _disabled()


def _disabled() -> NotPermitted:
    return NotPermitted(
        Reason("account_disabled", N_("Your account is disabled; you can no longer act."))
    )
