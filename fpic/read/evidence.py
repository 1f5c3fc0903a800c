"""The evidence files a person may see: on the case page, the trail event page, the disclosure
matrix, and for download. Who may see a confidential file is decided only in
fpic.workflow.permissions.can_see_file; here it is applied to what is read."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.evidence.checks import Listing
from fpic.storage.models import Case, EvidenceBlob, EvidenceFile, TrailEvent
from fpic.workflow.actors import Actor
from fpic.workflow.permissions import can_see_file


@dataclass(frozen=True)
class ShownFile:
    id: int
    seq: int
    name: str
    media_type: str
    size: int
    sha256: str
    recorded_at: datetime
    confidential: bool


@dataclass
class CaseFiles:
    """The files of a case's events that this person may see, and how many they may not."""

    by_seq: dict[int, list[ShownFile]] = field(default_factory=dict)
    withheld: dict[int, int] = field(default_factory=dict)
    #: the files registered with each disclosure (the matrix's cells)
    by_disclosure: dict[int, list[ShownFile]] = field(default_factory=dict)


def _shown(row: EvidenceFile) -> ShownFile:
    return ShownFile(
        row.id, row.seq, row.name, row.media_type, row.size, row.sha256, row.recorded_at,
        row.visible_to is not None,
    )  # fmt: skip


def case_files(session: Session, actor: Actor, case: Case) -> CaseFiles:
    """Every file listed on the case's chain, sorted into those shown and those withheld."""
    found = CaseFiles()
    rows = session.scalars(
        select(EvidenceFile)
        .where(EvidenceFile.case_id == case.id)
        .order_by(EvidenceFile.seq, EvidenceFile.position)
    )
    for row in rows:
        if can_see_file(actor, case, row.visible_to):
            found.by_seq.setdefault(row.seq, []).append(_shown(row))
        else:
            found.withheld[row.seq] = found.withheld.get(row.seq, 0) + 1
    if found.by_seq:
        _sort_by_disclosure(session, case, found)
    return found


def _sort_by_disclosure(session: Session, case: Case, found: CaseFiles) -> None:
    """Which disclosures each event with files registered, read from the events themselves."""
    events = session.execute(
        select(TrailEvent.seq, TrailEvent.data).where(
            TrailEvent.chain == f"case:{case.id}", TrailEvent.seq.in_(list(found.by_seq))
        )
    )
    for seq, data in events:
        written = json.loads(data).get("records", {}).get("disclosures") or []
        for record in written:
            found.by_disclosure[record["disclosure_id"]] = found.by_seq[seq]


def event_files(
    session: Session, actor: Actor, chain: str, seq: int, case: Case | None
) -> tuple[list[ShownFile], int]:
    """The files one event lists that this person may see, and how many they may not."""
    rows = session.scalars(
        select(EvidenceFile)
        .where(EvidenceFile.chain == chain, EvidenceFile.seq == seq)
        .order_by(EvidenceFile.position)
    )
    shown, withheld = [], 0
    for row in rows:
        if can_see_file(actor, case, row.visible_to):
            shown.append(_shown(row))
        else:
            withheld += 1
    return shown, withheld


def bundle_visibility(session: Session, actor: Actor) -> Callable[[Listing], bool]:
    """Whether a confidential file a chain lists goes into this person's evidence bundle: the
    same rule as on the pages (permissions.can_see_file), for the file's case."""
    cases: dict[str, Case | None] = {}

    def may_see(listing: Listing) -> bool:
        if listing.chain not in cases:
            number = listing.chain.removeprefix("case:")
            cases[listing.chain] = session.get(Case, int(number)) if number.isdecimal() else None
        return can_see_file(actor, cases[listing.chain], listing.entry["visible_to"])

    return may_see


@dataclass(frozen=True)
class Download:
    name: str
    media_type: str
    size: int
    sha256: str
    chunks: int


def downloadable(session: Session, actor: Actor, case: Case, file_id: int) -> Download | None:
    """A file of ``case`` (which the caller read with ``Engine.case_for``: this person reads
    it) that this person may download, or None (as for one that does not exist)."""
    row = session.execute(
        select(EvidenceFile, EvidenceBlob.chunks)
        .join(EvidenceBlob, EvidenceBlob.sha256 == EvidenceFile.sha256)
        .where(EvidenceFile.id == file_id, EvidenceFile.case_id == case.id)
    ).one_or_none()
    if row is None or not can_see_file(actor, case, row[0].visible_to):
        return None
    listed, chunks = row
    return Download(listed.name, listed.media_type, listed.size, listed.sha256, chunks)


# --- the community's register (the system chain) ----------------------------------------------


def _register_listings(
    session: Session, actor: Actor, community_id: int
) -> list[tuple[int, EvidenceFile]]:
    """The files of the community's recorded mandates that this person may see, with each
    mandate's id, read from the record_mandate events that list them."""
    rows = session.execute(
        select(EvidenceFile, TrailEvent.data)
        .join(
            TrailEvent,
            (TrailEvent.chain == EvidenceFile.chain) & (TrailEvent.seq == EvidenceFile.seq),
        )
        .where(EvidenceFile.chain == "system", TrailEvent.action == "record_mandate")
        .order_by(EvidenceFile.seq, EvidenceFile.position)
    )
    found = []
    for listed, data in rows:
        recorded = json.loads(data)
        seen = can_see_file(actor, None, listed.visible_to)
        if recorded.get("community_id") == community_id and seen:
            found.append((recorded["mandate_id"], listed))
    return found


def resolution_files(
    session: Session, actor: Actor, community_id: int
) -> dict[int, list[ShownFile]]:
    """mandate id -> the files of the resolution it was recorded with."""
    found: dict[int, list[ShownFile]] = {}
    for mandate_id, listed in _register_listings(session, actor, community_id):
        found.setdefault(mandate_id, []).append(_shown(listed))
    return found


def register_file(
    session: Session, actor: Actor, community_id: int, file_id: int
) -> Download | None:
    """A file of the community's register, or None (as for one that does not exist)."""
    for _mandate_id, listed in _register_listings(session, actor, community_id):
        if listed.id == file_id:
            chunks = session.scalar(
                select(EvidenceBlob.chunks).where(EvidenceBlob.sha256 == listed.sha256)
            )
            if chunks is None:
                return None
            return Download(listed.name, listed.media_type, listed.size, listed.sha256, chunks)
    return None
