"""The decision trail: filter, verify, and download as JSON Lines or CSV."""

from __future__ import annotations

import io
import json
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
from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.evidence.bundle import write_bundle
from fpic.evidence.checks import check_stored
from fpic.read.events import trail_event
from fpic.read.evidence import bundle_visibility, event_files
from fpic.read.queries import exportable_rows, trail_events
from fpic.storage.models import Case, Community
from fpic.trail import audit
from web.auth import requires
from web.context import actor, date_arg, engine, int_arg, str_arg

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.route("/")
@requires("trail:read")
def trail() -> Any:
    me = actor()
    case_id = int_arg("case")
    with engine().db.read_session() as db:
        if case_id is not None:
            engine().case_for(db, case_id, me)  # 404 for another community's case
        page = trail_events(
            db, me, case_id=case_id, person=str_arg("person"), action=str_arg("action", 60),
            since=date_arg("since"), until=date_arg("until"), page=int_arg("page", 1) or 1,
        )  # fmt: skip
        status = None
        if case_id is not None and page.total:
            rows = audit.export_rows(db, case_id)
            heads = audit.stored_heads(db, audit.case_chain(case_id))  # one row, not all
            status = audit.verify_rows(rows, heads)
        return render_template("audit/trail.html", page=page, status=status, case_id=case_id)


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
    me, case_id = actor(), _case_asked()

    def generate() -> Iterator[str]:
        with engine().db.read_session() as db:
            yield from _lines(exportable_rows(db, me, case_id), fmt)

    name = f"fpic-trail{'-case-' + str(case_id) if case_id else ''}.{fmt}"
    mimetype = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    response = Response(stream_with_context(generate()), mimetype=f"{mimetype}; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/bundle")
@requires("trail:read")
def bundle() -> Any:
    """The auditor's evidence bundle (docs/audit-format.md, section 13): the chains this person
    may read, every file they list that this person may see, and a manifest, as one ZIP file
    streamed as it is written."""
    me, case_id = actor(), _case_asked()

    def generate() -> Iterator[bytes]:
        pipe = _Pipe()
        with engine().db.read_session() as db:
            rows = exportable_rows(db, me, case_id)
            may_see = bundle_visibility(db, me)
            now = engine().clock.now()
            for _written in write_bundle(db, pipe, rows, case_id=case_id, may_see=may_see, now=now):
                if pipe.parts:
                    yield pipe.drain()
        yield pipe.drain()

    name = f"fpic-bundle{'-case-' + str(case_id) if case_id else ''}.zip"
    response = Response(stream_with_context(generate()), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _case_asked() -> int | None:
    """The case a download is asked for (``?case=``): 404 for one that does not exist or that
    this person may not read."""
    case_id = int_arg("case")
    if case_id is not None:
        with engine().db.read_session() as db:
            if db.scalar(select(Case.id).where(Case.id == case_id)) is None:
                abort(404)
            engine().case_for(db, case_id, actor())  # 404 for another community's case
    return case_id


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
