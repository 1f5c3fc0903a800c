"""The decision trail: filter, verify, and download as JSON Lines or CSV."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.evidence.bundle import write_bundle
from fpic.evidence.checks import check_stored
from fpic.read.events import trail_event
from fpic.read.evidence import bundle_visibility, event_files
from fpic.read.queries import (
    ActionMatch,
    Page,
    cases_by_reference,
    exportable_rows,
    trail_events,
    visible_communities,
)
from fpic.storage.models import Case, Community, TrailEvent
from fpic.trail import audit
from web.auth import requires
from web.cases import time_zone_name
from web.context import actor, date_arg, engine, int_arg, str_arg
from web.trail_filters import action_choices, action_match

bp = Blueprint("audit", __name__, url_prefix="/audit")
PER_TRAIL_PAGE = 50
#: what a trail event's ``outcome`` holds (docs/audit-format.md, section 2)
EVENT_OUTCOMES = ("done", "refused")
#: what may go into a download's file name as it is
SAFE_NAME = re.compile(r"[a-z0-9_-]{1,80}")

#: why an attempt by someone not signed in was refused (its event's ``data.reason``)
ACCESS_REASONS = {
    "bad_credentials": _l("The user name or the password was not right."),
    "bad_code": _l("The user name or the enrolment code was not right."),
    "throttled": _l("Too many failed attempts: this one was not checked."),
}


@bp.route("/")
@requires("trail:read")
def trail() -> Any:
    """The events of the cases and of the system chain, filtered by case (its reference, or
    its id as the case page links), person, action (by its label), and dates."""
    me = actor()
    with engine().db.read_session() as db:
        case, problems = _case_asked_for(db)
        action, problem = _action_asked_for()
        problems += problem
        page = Page([], 0, 1, PER_TRAIL_PAGE)  # a filter naming nothing finds nothing
        if not problems:
            page = trail_events(
                db, me, case_id=case.id if case else None, person=str_arg("person"),
                action=action, since=date_arg("since"), until=date_arg("until"),
                page=int_arg("page", 1) or 1, per_page=PER_TRAIL_PAGE,
            )  # fmt: skip
        status = None
        if case is not None and page.total:
            rows = audit.export_rows(db, case.id)
            heads = audit.stored_heads(db, audit.case_chain(case.id))  # one row, not all
            status = audit.verify_rows(rows, heads)
        return render_template(
            "audit/trail.html", page=page, status=status, case=case, problems=problems,
            actions=action_choices(), action_asked=str_arg("action", 300) or "",
            communities=_communities(db), time_zone=time_zone_name(engine().clock.now()),
        )  # fmt: skip


@bp.route("/access")
@requires("system_trail:read")
def access() -> Any:
    """Sign-ins, sign-outs and refused anonymous attempts (the access chain), apart from the
    trail of the cases, filtered by the user name, the outcome and dates."""
    outcome = str_arg("outcome", 10)
    if outcome not in (None, *EVENT_OUTCOMES):
        abort(400)
    with engine().db.read_session() as db:
        page = trail_events(
            db, actor(), access=True, person=str_arg("person"), outcome=outcome,
            since=date_arg("since"), until=date_arg("until"), page=int_arg("page", 1) or 1,
            per_page=PER_TRAIL_PAGE,
        )  # fmt: skip
        return render_template(
            "audit/access.html", page=page, access_reason=_access_reason,
            time_zone=time_zone_name(engine().clock.now()),
        )  # fmt: skip


def _access_reason(event: TrailEvent) -> str | None:
    """What an access event's data says, in words: why a sign-in was refused, or how many
    refused attempts one event counts."""
    data = json.loads(event.data)
    if not isinstance(data, dict):
        return None
    if event.action == "refused_repeatedly" and isinstance(data.get("count"), int):
        return ngettext(
            "%(num)s refused attempt in this window, counted together.",
            "%(num)s refused attempts in this window, counted together.",
            data["count"],
        )
    reason = data.get("reason")
    return str(ACCESS_REASONS[reason]) if reason in ACCESS_REASONS else None


def _case_asked_for(db: Session) -> tuple[Case | None, list[str]]:
    """The case the trail is filtered by: ``?case=<id>`` (the case page's link; 404 for a case
    this person may not read) or ``?reference=``, any capitals (a reference that names no case
    this person reads is said so, as for one that does not exist)."""
    case_id = int_arg("case")
    if case_id is not None:
        return engine().case_for(db, case_id, actor()), []
    reference = str_arg("reference", 40)
    if reference is None:
        return None, []
    found = cases_by_reference(db, actor(), reference)
    if not found:
        return None, [
            _("No case you may read has the reference “%(reference)s”.", reference=reference)
        ]
    if len(found) > 1:
        return None, [
            _(
                "More than one case has the reference “%(reference)s” in other capitals: "
                "type it exactly as it is written.",
                reference=reference,
            )
        ]
    return found[0], []


def _action_asked_for() -> tuple[str | ActionMatch | None, list[str]]:
    value = str_arg("action", 300)
    if value is None:
        return None, []
    found = action_match(value)
    if found is None:
        return None, [_("No action is called “%(action)s”.", action=value)]
    return found, []


def _communities(db: Session) -> list[tuple[int, str]]:
    """The communities whose cases' trail this person may download."""
    listed = visible_communities(actor()).with_only_columns(Community.id, Community.name)
    return [(row.id, row.name) for row in db.execute(listed.order_by(Community.name))]


@bp.route("/<chain>/<int:seq>")
@requires("trail:read")
def event(chain: str, seq: int) -> Any:
    """One event: what it recorded, its hash and the link before it, for anyone who may read
    its chain (404 for everyone else, as for an event that does not exist)."""
    with engine().db.read_session() as db:
        found = trail_event(db, actor(), chain, seq)
        if found is None:
            abort(404)
        case = db.get(Case, found.event.case_id) if found.event.case_id else None
        files, withheld = event_files(db, actor(), chain, seq, case)
        return render_template(
            "audit/event.html", view=found, case=case, pretty=_pretty, files=files,
            withheld=withheld, file_link=_file_link(db, case, found.data),
        )  # fmt: skip


def _file_link(db: Session, case: Case | None, data: Any) -> Callable[[Any], str]:
    """Where an event's files are downloaded: from its case, or, for a mandate's resolution on
    the system chain, from the community's register."""
    if case is not None:
        return lambda f: url_for("cases.evidence_file", case_id=case.id, file_id=f.id)
    community_id = data.get("community_id") if isinstance(data, dict) else None
    community = db.get(Community, community_id) if isinstance(community_id, int) else None
    slug = community.slug if community is not None else ""
    return lambda f: url_for("communities.resolution", slug=slug, file_id=f.id)


def _pretty(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)


@bp.route("/verify")
@requires("system_trail:read")
def verify() -> Any:
    """Verify every chain and every stored evidence file now (read-only; both stream, so it is
    safe on a large trail)."""
    with engine().db.read_session() as db:
        result = audit.verify_database(db)
        head = audit.trail_head(audit.stored_heads(db))
        files = check_stored(db)
    return render_template("audit/verify.html", result=result, head=head, files=files)


@bp.route("/export")
@requires("trail:read")
def export() -> Any:
    fmt = request.args.get("format", "jsonl")
    if fmt not in ("jsonl", "csv"):
        abort(400)
    me, (case_id, community) = actor(), _scope_asked()

    def generate() -> Iterator[str]:
        with engine().db.read_session() as db:
            rows = exportable_rows(db, me, case_id, community[0] if community else None)
            yield from _lines(rows, fmt)

    name = f"fpic-trail{_name_part(case_id, community)}.{fmt}"
    mimetype = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    response = Response(stream_with_context(generate()), mimetype=f"{mimetype}; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/bundle")
@requires("trail:read")
def bundle() -> Any:
    """The auditor's evidence bundle (docs/audit-format.md, section 13): the chains this person
    may read (of one case, or of one community's cases), every file they list that this person
    may see, and a manifest, as one ZIP file streamed as it is written."""
    me, (case_id, community) = actor(), _scope_asked()

    def generate() -> Iterator[bytes]:
        pipe = _Pipe()
        with engine().db.read_session() as db:
            rows = exportable_rows(db, me, case_id, community[0] if community else None)
            may_see = bundle_visibility(db, me)
            now = engine().clock.now()
            for _written in write_bundle(db, pipe, rows, case_id=case_id, may_see=may_see, now=now):
                if pipe.parts:
                    yield pipe.drain()
        yield pipe.drain()

    name = f"fpic-bundle{_name_part(case_id, community)}.zip"
    response = Response(stream_with_context(generate()), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _scope_asked() -> tuple[int | None, tuple[int, str] | None]:
    """What a download is limited to: one case (``?case=``) or one community's cases
    (``?community=``, its id), never both; 404 for one that does not exist or that this
    person may not read."""
    case_id, community_id = int_arg("case"), int_arg("community")
    if case_id is not None and community_id is not None:
        abort(400)
    if case_id is not None:
        with engine().db.read_session() as db:
            if db.scalar(select(Case.id).where(Case.id == case_id)) is None:
                abort(404)
            engine().case_for(db, case_id, actor())  # 404 for another community's case
    if community_id is None:
        return case_id, None
    with engine().db.read_session() as db:
        slug = db.scalar(
            visible_communities(actor())
            .where(Community.id == community_id)
            .with_only_columns(Community.slug)
        )
    if slug is None:
        abort(404)  # none, or another community than a representative's own
    return None, (community_id, slug)


def _name_part(case_id: int | None, community: tuple[int, str] | None) -> str:
    if case_id is not None:
        return f"-case-{case_id}"
    if community is not None:
        # a slug holds lower-case letters, digits, - and _ (the register checks it)
        return f"-community-{community[1] if SAFE_NAME.fullmatch(community[1]) else community[0]}"
    return ""


class _Pipe:
    """Where the ZIP writer writes; the response sends what it holds after each piece."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def _lines(rows: Iterator[dict[str, Any]], fmt: str) -> Iterator[str]:
    """Write in batches so a large export streams with flat memory."""
    buffer = io.StringIO()
    writer = audit.write_jsonl if fmt == "jsonl" else audit.write_csv
    if fmt == "csv":
        audit.write_csv(iter(()), buffer)  # the header line
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 1000:
            yield _flush(batch, buffer, fmt, writer)
    yield _flush(batch, buffer, fmt, writer)


def _flush(batch: list[dict[str, Any]], buffer: io.StringIO, fmt: str, writer: Any) -> str:
    if fmt == "jsonl":
        writer(batch, buffer)
    else:
        for row in batch:
            buffer.write(audit.csv_line(row))
    batch.clear()
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
