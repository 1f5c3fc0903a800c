"""Cases: the list, the case page, a form for every trigger, opening a case, and the printable
decision record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.dates import get_timezone_gmt, get_timezone_name
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length

from fpic.read.deadlines import deadlines, deliberation_ends
from fpic.read.events import decision_events, just_done, typed_text
from fpic.read.evidence import case_files, downloadable
from fpic.read.figures import grievance_figures, next_step_due
from fpic.read.places import Place, case_place
from fpic.read.queries import (
    case_events,
    disclosure_matrix,
    events_since_version,
    filter_options,
    is_overdue,
    list_cases,
)
from fpic.storage.models import (
    Case,
    Community,
    ComplainantIdentity,
    Decision,
    Disclosure,
    Project,
    Protocol,
    Representative,
)
from fpic.trail import audit
from fpic.workflow.actions import ACTIONS
from fpic.workflow.engine import Option
from fpic.workflow.errors import (
    FpicError,
    GuardRefused,
    InvalidData,
    InvalidTransition,
    StaleCase,
)
from fpic.workflow.limits import grievance_days
from fpic.workflow.permissions import can_see_complainant, opens_cases_on
from fpic.workflow.process import Template, shipped_templates
from fpic.workflow.signing import signature_required
from fpic.workflow.turns import GROUPS, Turn, arrange, people_whose_turn, turns_of, whose_turn
from web.auth import requires
from web.context import actor, engine, int_arg, local_now, sent_assertion, str_arg
from web.downloads import file_response
from web.forms import attach_error, form_for, options, submitted
from web.i18n import reason_text
from web.log import record_receipts
from web.maps import map_svg

bp = Blueprint("cases", __name__, url_prefix="/cases")
#: how far ahead a case page lists the dates to plan by
DATES_AHEAD = 400


@bp.route("/")
@requires("case:read")
def index() -> Any:
    me, now = actor(), engine().clock.now()
    stage = str_arg("stage")
    with engine().db.read_session() as db:
        page = list_cases(
            db, me, now, stage=stage, community_id=int_arg("community"),
            project_id=int_arg("project"), overdue=bool(request.args.get("overdue")),
            waiting=bool(request.args.get("waiting")), page=int_arg("page", 1) or 1,
        )  # fmt: skip
        return render_template(
            "cases/list.html", page=page, options=filter_options(db, me), now=now,
            is_overdue=is_overdue, turns=turns_of(page.items),
        )  # fmt: skip


def _load(db: Session, case_id: int) -> Case:
    return engine().case_for(db, case_id, actor())


def _representatives(db: Session, case: Case) -> list[Representative]:
    return list(
        db.scalars(
            select(Representative)
            .where(Representative.community_id == case.community_id)
            .order_by(Representative.name)
        )
    )


@bp.route("/<int:case_id>")
@requires("case:read")
def show(case_id: int) -> Any:
    with engine().db.read_session() as db:
        case = _load(db, case_id)
        return render_template("cases/show.html", **_case_context(db, case))


def _case_context(db: Session, case: Case) -> dict[str, Any]:
    template = engine().template_of(case)
    events = case_events(db, case.id)
    files = case_files(db, actor(), case)
    done = just_done(events, int_arg("done"), actor(), engine().clock.now())
    visited = {e.to_stage for e in events if e.outcome == "done"}
    protocol = case.protocol
    matrix = disclosure_matrix(
        template.required_disclosure_items,
        protocol.content_languages if protocol else [],
        protocol.formats if protocol else [],
        case.disclosures,
    )
    options = engine().options(db, case, actor())
    place = case_place(db, actor(), case)
    steps_due = grievance_days(template, case)
    now = local_now()
    turn = whose_turn(template, case.stage)
    return {
        **_next_step(db, template, case, options, turn, now),
        "dates": deadlines(db, now, actor(), horizon_days=DATES_AHEAD, case_id=case.id),
        "deliberation_ends": deliberation_ends(case, template, template.stages[case.stage]),
        "case": case,
        "place": place,
        "map": _case_map(case, place),
        "template": template,
        "visited": visited,
        "options": options,
        # the matrix's missing cells link to the form when this person may register now
        "may_disclose": any(o.allowed and o.trigger.name == "register_disclosure" for o in options),
        "events": events,
        "typed": {event.id: typed_text(template, event) for event in events},
        "files": files,
        "file_link": lambda f: url_for("cases.evidence_file", case_id=case.id, file_id=f.id),
        "done": done,
        "matrix": matrix,
        "reps": {r.id: r for r in _representatives(db, case)},
        "overdue": is_overdue(case, engine().clock.now()),
        "today": now.date(),
        "grievances": [(g, next_step_due(g, steps_due)) for g in case.grievances],
        "complainants": complainant_names(db, case),
        "grievance_figures": grievance_figures(db, engine().clock.now(), case_id=case.id),
    }


def _next_step(
    db: Session, template: Template, case: Case, options: list[Option], turn: Turn, now: datetime
) -> dict[str, Any]:
    """Whose turn it is and the main step, marked, with why it cannot be taken yet; the other
    actions grouped (fpic.workflow.turns)."""
    offered = arrange(template, case, options, ACTIONS, now.date())
    others = [o for o in offered if not o.main]
    return {
        "turn": turn,
        "people": people_whose_turn(db, case, turn, now.date()) if turn.roles else [],
        "main_steps": [o for o in offered if o.main],
        "groups": [
            (title, [o for o in others if o.group == name and o.option.allowed])
            for name, title in GROUPS.items()
        ],
        "blocked": [o for o in others if not o.option.allowed and not o.option.role_refused],
    }


def _case_map(case: Case, place: Place) -> Markup | None:
    return map_svg(
        place,
        _("Map of %(project)s and %(community)s", project=case.project.name,
          community=case.community.name),
        _(
            "The project's area, the community's territory, and the protected areas and "
            "habitats the screening found; the table below lists the same."
        ),
        "case-map",
    )  # fmt: skip


def complainant_names(db: Session, case: Case) -> dict[int, str]:
    """The names of the case's confidential complainants, for those the engine lets see
    them (fpic.workflow.permissions.can_see_complainant); for everyone else, nothing is read."""
    ids = [g.id for g in case.grievances if g.confidential]
    if not ids or not can_see_complainant(actor(), case):
        return {}
    rows = db.scalars(select(ComplainantIdentity).where(ComplainantIdentity.grievance_id.in_(ids)))
    return {row.grievance_id: row.name for row in rows}


@bp.route("/<int:case_id>/files/<int:file_id>")
@requires("case:read")
def evidence_file(case_id: int, file_id: int) -> Any:
    """An evidence file of the case, for those who may see it (404 for everyone else)."""
    with engine().db.read_session() as db:
        case = _load(db, case_id)
        found = downloadable(db, actor(), case, file_id)
    if found is None:
        abort(404)
    return file_response(found)


@bp.route("/<int:case_id>/actions/<trigger>", methods=["GET", "POST"])
@requires("case:act")
def act(case_id: int, trigger: str) -> Any:
    """The action's form, and sending it. CSRFProtect has checked the token of a POST; the
    engine reads the rest, with the action's declaration, once it holds the case: an action
    that goes through builds no form and reads nothing here."""
    if request.method == "GET":
        return action_page(case_id, trigger, 200)
    version = sent_version()
    try:
        # the engine asks the password of the actions declared so, and checks it last, under
        # the sign-in throttle, or the representative's passkey signature where the protocol
        # asks for it (fpic/workflow/engine.py)
        result = engine().advance(
            case_id, trigger, actor(), submitted(request.form, request.files), version,
            request.form.get("password", ""), sent_assertion(request.form),
        )  # fmt: skip
    except (StaleCase, InvalidData, GuardRefused, InvalidTransition) as refusal:
        return refused_page(case_id, trigger, version, refusal)
    # the case page says it was done from the trail event (``just_done``): no session to write
    return redirect(url_for("cases.show", case_id=case_id, done=result.event_seq))


def sent_version() -> int:
    """The case version an action's form was rendered with (-1 for none: refused as stale)."""
    seen = request.form.get("version", "")
    return int(seen) if seen.isdigit() else -1


def refused_page(case_id: int, trigger: str, version: int, refusal: FpicError) -> Any:
    """The action's page again, with why the engine refused what its form sent."""
    if isinstance(refusal, StaleCase):
        return action_page(case_id, trigger, 409, stale=refusal, version_seen=version)
    if isinstance(refusal, InvalidData):
        return action_page(case_id, trigger, 400, bad=refusal)
    if isinstance(refusal, GuardRefused):
        return action_page(case_id, trigger, 409, refusal=refusal.reasons)
    if refusal.reasons and refusal.reasons[0].code == "unknown_trigger":
        abort(404)
    raise refusal


def action_page(
    case_id: int,
    trigger: str,
    status: int,
    *,
    bad: InvalidData | None = None,
    stale: StaleCase | None = None,
    version_seen: int = -1,
    **extra: Any,
) -> tuple[str, int]:
    """The action's page: its form (with what was sent, after a POST) and why the action is
    refused now, if it is (every guard of the trigger evaluated: only for a page shown)."""
    me = actor()
    with engine().db.read_session() as db:
        case = _load(db, case_id)
        template = engine().template_of(case)
        spec = template.triggers.get(trigger)
        if spec is None:
            abort(404)
        sent = request.form if request.method == "POST" else None
        # a link may name the first values of the form's fields (the disclosure matrix's
        # missing cells); what is sent overrides them
        first = request.args if sent is None else None
        today = engine().clock.now().date()
        form = form_for(spec, case, template, today, formdata=sent, prefill=first)
        if bad is not None:
            message = reason_text(bad.reasons[0], ACTIONS[spec.effect]) if bad.reasons else None
            if message is not None and not attach_error(form, bad.field, message):
                extra["refusal"] = bad.reasons
        if stale is not None:
            form.version.data = str(case.version)
            extra.update(stale=stale, changes=events_since_version(db, case_id, version_seen))
        # why the action is refused now: every guard of the trigger evaluated, only for a page
        # that shows it (a stale page shows what changed instead)
        option = engine().option(db, case, me, trigger) if stale is None else None
        # where the protocol asks for it, the form goes to the page that signs the decision
        signing = signature_required(ACTIONS[spec.effect], case)
        page = render_template(
            "cases/action.html", case=case, trigger=spec, form=form, option=option,
            signing=signing, **extra,
        )  # fmt: skip
        return page, status


class OpenCaseForm(FlaskForm):
    reference = StringField(_l("Case reference"), validators=[InputRequired(), Length(max=40)])
    project_id = SelectField(_l("Project"), coerce=int)
    community_id = SelectField(_l("Community"), coerce=int)
    template_id = SelectField(_l("Process template"))


@bp.route("/new", methods=["GET", "POST"])
@requires("case:open")
def new() -> Any:
    with engine().db.read_session() as db:
        form = OpenCaseForm()
        form.project_id.choices = options(
            (p.id, p.name) for p in db.scalars(select(Project).order_by(Project.name))
        )
        form.community_id.choices = options(
            (c.id, c.name) for c in db.scalars(select(Community).order_by(Community.name))
        )
    # a regime says who convenes: only the templates this person's role may open a case on
    form.template_id.choices = options(
        (t.id, _(t.title)) for t in shipped_templates().values() if opens_cases_on(actor(), t)
    )
    if form.validate_on_submit():
        try:
            result = engine().open_case(
                actor(), project_id=form.project_id.data, community_id=form.community_id.data,
                template_id=form.template_id.data, reference=form.reference.data or "",
            )  # fmt: skip
        except InvalidData as bad:
            if not attach_error(form, bad.field, reason_text(bad.reasons[0])):
                raise
            return render_template("cases/new.html", form=form), 400
        flash(_("Case %(reference)s opened.", reference=form.reference.data), "success")
        return redirect(url_for("cases.show", case_id=result.case_id))
    status = 400 if request.method == "POST" else 200
    return render_template("cases/new.html", form=form), status


@bp.route("/<int:case_id>/record")
@requires("case:read")
def record(case_id: int) -> Any:
    """The printable decision record, carrying the trail head digest and, for each decision, the
    community's receipt: its inclusion proof in a signed checkpoint, as text and as a QR code."""
    with engine().db.read_session() as db:
        case = _load(db, case_id)
        heads = audit.stored_heads(db)
        chain = heads.get(audit.case_chain(case.id), (0, audit.GENESIS))
        place = case_place(db, actor(), case)
        receipts, log_key = record_receipts(decision_events(db, case.id), case.id)
        printed_at = engine().clock.now()
        return render_template(
            "cases/record.html", case=case, template=engine().template_of(case),
            place=place, map=_case_map(case, place),
            reps={r.id: r for r in _representatives(db, case)},
            trail_head=audit.trail_head(heads), chain_seq=chain[0], chain_hash=chain[1],
            printed_at=printed_at, receipts=receipts, log_key=log_key,
            informed=_informed(case), counted=_counted,
            time_zone=time_zone_name(printed_at),
        )  # fmt: skip


def _informed(case: Case) -> dict[int, list[Disclosure]]:
    """For each decision, the disclosures in force when the community took it (the versions
    it names, later superseded or not), in the order they were disclosed."""
    by_id = {d.id: d for d in case.disclosures}
    return {
        decision.id: sorted(
            (by_id[i] for i in decision.disclosure_ids if i in by_id),
            key=lambda d: (d.disclosed_on, d.item, d.language, d.format),
        )
        for decision in case.decisions
    }


def _counted(decision: Decision, protocol: Protocol | None) -> dict[str, Any]:
    """How a decision met its rule, for the record: the votes cast as the protocol counts them
    (abstentions only where it counts them), and its quorum and majority where the protocol
    still has the rule the decision was taken under (an amended protocol's would not apply)."""
    same = protocol is not None and protocol.decision_rule == decision.decision_rule
    counts_abstentions = bool(same and protocol and protocol.abstentions_count)
    cast = decision.votes_for + decision.votes_against
    if counts_abstentions:
        cast += decision.abstentions
    return {
        "cast": cast,
        "quorum": protocol.quorum_percent if same and protocol else None,
        "majority": (protocol.majority_percent or 67) if same and protocol else None,
        "abstentions_count": counts_abstentions,
    }


def time_zone_name(moment: datetime) -> str:
    """The time zone the record's times (and the trail's) are written in: Flask-Babel's, which
    follows the reader's setting, by name in the reader's language, with its identifier and
    offset."""
    zone = get_timezone()
    key = str(getattr(zone, "zone", None) or zone)
    if key in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu"):
        return _("Coordinated Universal Time (UTC)")
    locale = str(get_locale() or "en")
    return _(
        "%(name)s (%(zone)s, %(offset)s)",
        name=get_timezone_name(zone, locale=locale),
        zone=key,
        offset=get_timezone_gmt(moment.astimezone(zone), locale=locale),
    )
