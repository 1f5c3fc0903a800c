"""The decision trail: canonical encoding, hash chains, verification, export and trail head.

docs/audit-format.md specifies the encoding so an auditor can verify without this code. It is
the one place that defines it: change one, change the other.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring as _json_string
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.models import ChainHead, TrailEvent

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"
EXPORT_FIELDS = (
    "chain",
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "outcome",
    "case",
    "from",
    "to",
    "data",
    "prev_hash",
    "hash",
)
_BODY_FIELDS = tuple(key for key in EXPORT_FIELDS if key not in ("hash", "prev_hash"))
#: a spreadsheet would run a cell that starts with one of these as a formula
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_ESCAPE = "'"


def case_chain(case_id: int) -> str:
    return f"case:{case_id}"


def format_time(moment: datetime) -> str:
    """The one timestamp form the trail uses: microseconds, UTC, a literal Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: sorted keys, no white space, UTF-8 text as is (one encoder: building one per call costs)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _c_canonical_encoder() -> Callable[[Any], str]:
    """_CANONICAL.encode without the encoder object it builds on every call (half its time)."""
    make = json.encoder.c_make_encoder
    if make is None:  # a Python without the C accelerator
        return _CANONICAL.encode
    # markers None: no cycle check, as in the one-shot encoding json.dumps does
    encode = make(None, _CANONICAL.default, _json_string, None, ":", ",", True, False, True)

    def encode_canonical(value: Any) -> str:
        return "".join(encode(value, 0))

    return encode_canonical


_encode_canonical = _c_canonical_encoder()


def canonical_json(value: Any) -> str:
    """Sorted keys, no white space, UTF-8 text as is; floats are refused (no portable form)."""
    _refuse_floats(value)
    return _encode_canonical(value)


#: values that need no look inside: skipping the call for them keeps hashing cheap
_LEAF_TYPES = frozenset({str, int, bool, type(None)})


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("trail data may not contain floating-point numbers")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("trail data keys must be strings")
            if type(item) not in _LEAF_TYPES:
                _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            if type(item) not in _LEAF_TYPES:
                _refuse_floats(item)


def event_body(row: dict[str, Any]) -> dict[str, Any]:
    """The object that is hashed: every exported field but ``hash`` and ``prev_hash``."""
    return {key: row[key] for key in _BODY_FIELDS}


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return _digest(prev_hash, canonical_json(body))


def _digest(prev_hash: str, canonical_body: str) -> str:
    material = prev_hash.encode("ascii") + canonical_body.encode("utf-8")
    return hashlib.sha256(material).hexdigest()


class StoredText(str):
    """``data`` as the database keeps it: the canonical JSON text that was hashed, undecoded."""


#: the body's keys in canonical (sorted) order, ``data`` given as its stored text
_SPLICED_BODY = (
    '{"action":%s,"actor":%s,"at":%s,"case":%s,"chain":%s,"data":%s,"from":%s,'
    '"outcome":%s,"role":%s,"seq":%s,"to":%s}'
)


def _expected_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The link hash of ``row``; for stored text, first tried without decoding it.

    The stored text is put into a body encoded directly. When that reproduces the stored hash,
    the stored bytes are the ones that were hashed, and the event verifies without its data
    being decoded and encoded again. When it does not (a field of an odd type, text that is
    not canonical, an event that was changed), the data is decoded and the body encoded as the
    specification says, which decides.

    One answer differs from the specification's, on purpose: text that is not canonical and
    was hashed as it stands verifies here, while its export (data decoded) breaks. fpic never
    writes such text; a writer that computes hashes itself could, and could as well write
    canonical text that verifies everywhere. Checking canonical form here would double the
    cost of verification (docs/performance.md, B3); the chain head kept outside the database
    (``fpic audit head``) is what shows either rewrite.
    """
    data = row.get("data")
    if not isinstance(data, StoredText):
        return link_hash(prev_hash, event_body(row))
    text = _spliced_body(row, data)
    if text is not None:
        material = prev_hash.encode("ascii") + text.encode("utf-8")
        digest = hashlib.sha256(material).hexdigest()
        if digest == row.get("hash"):
            return digest
    body = event_body(row)
    body["data"] = json.loads(data)
    return link_hash(prev_hash, body)


def _spliced_body(row: dict[str, Any], data: str) -> str | None:
    """None when a field is not of its plain type (the full path then decides)."""
    get = row.get
    case, seq, came, went = get("case"), get("seq"), get("from"), get("to")
    if type(seq) is not int or (case is not None and type(case) is not int):
        return None
    try:  # the encoder takes only str: any other type falls to the full path
        return _SPLICED_BODY % (
            _json_string(get("action")),
            _json_string(get("actor")),
            _json_string(get("at")),
            "null" if case is None else str(case),
            _json_string(get("chain")),
            data,
            "null" if came is None else _json_string(came),
            _json_string(get("outcome")),
            _json_string(get("role")),
            str(seq),
            "null" if went is None else _json_string(went),
        )
    except TypeError:
        return None


def row_of(event: TrailEvent) -> dict[str, Any]:
    """A stored event as the exported object (``data`` decoded from its canonical text)."""
    return {
        "chain": event.chain,
        "seq": event.seq,
        "at": event.at,
        "actor": event.actor,
        "role": event.actor_role,
        "action": event.action,
        "outcome": event.outcome,
        "case": event.case_id,
        "from": event.from_stage,
        "to": event.to_stage,
        "data": json.loads(event.data),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def append(
    session: Session,
    *,
    chain: str,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    outcome: str,
    data: dict[str, Any],
    case_id: int | None = None,
    from_stage: str | None = None,
    to_stage: str | None = None,
) -> TrailEvent:
    """Add the next link of ``chain`` to the session; the caller's transaction commits it.

    The caller must hold the lock that serialises writers of this chain (the case row for a
    case chain); for the system chain the head row is locked here.
    """
    head = session.execute(
        select(ChainHead).where(ChainHead.chain == chain).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = ChainHead(chain=chain, seq=0, hash=GENESIS)
        session.add(head)
    body = {
        "chain": chain,
        "seq": head.seq + 1,
        "at": format_time(at),
        "actor": actor,
        "role": role,
        "action": action,
        "outcome": outcome,
        "case": case_id,
        "from": from_stage,
        "to": to_stage,
        "data": data,
    }
    digest = link_hash(head.hash, body)
    event = TrailEvent(
        chain=chain,
        seq=body["seq"],
        at=body["at"],
        actor=actor,
        actor_role=role,
        action=action,
        outcome=outcome,
        case_id=case_id,
        from_stage=from_stage,
        to_stage=to_stage,
        data=canonical_json(data),
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(event)
    head.seq, head.hash = body["seq"], digest
    return event


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first place a chain stops verifying."""

    chain: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"chain {self.chain}, sequence number {self.seq}: {self.problem}"


@dataclass
class Verification:
    chains: int = 0
    events: int = 0
    breaks: list[Break] | None = None

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None


class _ChainState:
    __slots__ = ("broken", "hash", "seq")

    def __init__(self) -> None:
        self.seq, self.hash, self.broken = 0, GENESIS, False


def verify_rows(
    rows: Iterable[dict[str, Any]], heads: dict[str, tuple[int, str]] | None = None
) -> Verification:
    """Check links one by one, streaming; each chain's rows must come in sequence order.

    ``heads`` (chain -> (seq, hash)) are the recorded chain ends: a chain that stops short of
    its head lost rows at the end.
    """
    heads = heads or {}
    states: dict[str, _ChainState] = {}
    #: chains whose rows ended exactly at their head: their state is let go, so memory stays
    #: flat when rows come chain by chain (as from the database); rows arriving later for such
    #: a chain take its state back from the head
    closed: set[str] = set()
    breaks: list[Break] = []
    result = Verification()
    current: str | None = None
    for row in rows:
        result.events += 1
        chain = row.get("chain")
        if not isinstance(chain, str):
            breaks.append(Break(str(chain), _int_or_zero(row.get("seq")), "no chain name"))
            continue
        if chain != current:
            if current is not None:
                _close(current, states, closed, heads)
            current = chain
        state = states.get(chain) or _reopen(chain, states, closed, heads)
        if state.broken:
            continue
        problem = _link_problem(state, row)
        if problem:
            state.broken = True
            breaks.append(Break(chain, _int_or_zero(row.get("seq")), problem))
            continue
        state.seq, state.hash = row["seq"], row["hash"]
    for chain, (seq, digest) in heads.items():
        state = states.get(chain, _ChainState())
        if chain in closed or state.broken:
            continue
        if state.seq < seq:
            breaks.append(Break(chain, state.seq + 1, f"missing: the chain head is at {seq}"))
        elif state.seq > seq or state.hash != digest:
            breaks.append(Break(chain, seq, "does not match the recorded chain head"))
    result.chains = len(states) + len(closed)
    result.breaks = sorted(breaks, key=lambda b: (b.chain != SYSTEM_CHAIN, _chain_key(b.chain)))
    return result


def _close(
    chain: str,
    states: dict[str, _ChainState],
    closed: set[str],
    heads: dict[str, tuple[int, str]],
) -> None:
    state = states.get(chain)
    if state is not None and not state.broken and heads.get(chain) == (state.seq, state.hash):
        del states[chain]
        closed.add(chain)


def _reopen(
    chain: str,
    states: dict[str, _ChainState],
    closed: set[str],
    heads: dict[str, tuple[int, str]],
) -> _ChainState:
    state = states[chain] = _ChainState()
    if chain in closed:
        closed.discard(chain)
        state.seq, state.hash = heads[chain]
    return state


def _link_problem(state: _ChainState, row: dict[str, Any]) -> str | None:
    seq = row.get("seq")
    if not isinstance(seq, int) or seq != state.seq + 1:
        return f"expected sequence number {state.seq + 1}, found {seq!r}"
    if row.get("prev_hash") != state.hash:
        return "prev_hash does not match the previous event's hash"
    try:
        expected = _expected_hash(state.hash, row)
    except (KeyError, ValueError, TypeError) as exc:
        return f"malformed event ({exc})"
    if row.get("hash") != expected:
        return "hash does not match the event's content"
    return None


def _int_or_zero(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _chain_key(chain: str) -> tuple[int, str]:
    kind, _, number = chain.partition(":")
    return (int(number), kind) if number.isdigit() else (0, chain)


#: the stored columns in EXPORT_FIELDS order, as table columns: selected through the ORM's
#: attributes instead, every row would cost a third more to read
_STORED_COLUMNS = tuple(
    TrailEvent.__table__.c[name]
    for name in (
        "chain", "seq", "at", "actor", "actor_role", "action", "outcome", "case_id",
        "from_stage", "to_stage", "data", "prev_hash", "hash",
    )
)  # fmt: skip


def _stored(
    session: Session,
    chain: str | None = None,
    batch: int = 5000,
    decode: Callable[[str], Any] = json.loads,
) -> Iterator[dict[str, Any]]:
    """Stored events as exported objects, streamed as plain rows (no ORM objects to build)."""
    stmt = select(*_STORED_COLUMNS)
    columns = TrailEvent.__table__.c
    if chain is None:
        stmt = stmt.order_by(columns.chain, columns.seq)
    else:
        stmt = stmt.where(columns.chain == chain).order_by(columns.seq)
    for values in session.execute(stmt.execution_options(yield_per=batch)):
        row = dict(zip(EXPORT_FIELDS, values, strict=True))
        row["data"] = decode(row["data"])
        yield row


def stored_rows(session: Session, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every stored event, chain by chain in sequence order, a batch at a time."""
    return _stored(session, batch=batch)


def stored_heads(session: Session, chain: str | None = None) -> dict[str, tuple[int, str]]:
    """Recorded chain ends (all, or just ``chain``'s), read as plain rows."""
    columns = ChainHead.__table__.c
    stmt = select(columns.chain, columns.seq, columns.hash)
    if chain is not None:
        stmt = stmt.where(columns.chain == chain)
    rows = session.execute(stmt.execution_options(yield_per=5000))
    return {name: (seq, digest) for name, seq, digest in rows}


def verify_database(session: Session) -> Verification:
    """Every chain against its recorded head; ``data`` is only decoded where it must be."""
    return verify_rows(_stored(session, decode=StoredText), stored_heads(session))


# --- export --------------------------------------------------------------------------------


def export_rows(session: Session, case_id: int | None = None) -> Iterator[dict[str, Any]]:
    if case_id is None:
        yield from stored_rows(session)
        return
    yield from _stored(session, chain=case_chain(case_id))


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for row in rows:
        out.write(canonical_json(row) + "\n")
        count += 1
    return count


def neutralise_cell(text: str) -> str:
    """Defuse spreadsheet formulas; a leading quote is doubled so the escape can be undone."""
    if text.startswith(CSV_FORMULA_STARTS) or text.startswith(CSV_ESCAPE):
        return CSV_ESCAPE + text
    return text


def restore_cell(text: str) -> str:
    return text[1:] if text.startswith(CSV_ESCAPE) else text


def _csv_cell(key: str, value: Any) -> str:
    if key == "data":
        return neutralise_cell(canonical_json(value))
    return "" if value is None else neutralise_cell(str(value))


def _csv_row(out: IO[str], cells: list[str]) -> None:
    """Write one CSV line; every cell of a line that holds a carriage return is quoted.

    The csv module quotes a cell with a line feed (the line terminator) but not one with a
    bare carriage return (e.g. in a name typed at a failed sign-in), which readers take for
    the end of a line.
    """
    quoting = csv.QUOTE_ALL if any("\r" in cell for cell in cells) else csv.QUOTE_MINIMAL
    csv.writer(out, lineterminator="\n", quoting=quoting).writerow(cells)


def csv_line(row: dict[str, Any]) -> str:
    """One exported event as a CSV line (for streaming writers that emit the header once)."""
    buffer = io.StringIO()
    _csv_row(buffer, [_csv_cell(key, row[key]) for key in EXPORT_FIELDS])
    return buffer.getvalue()


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    _csv_row(out, list(EXPORT_FIELDS))
    count = 0
    for row in rows:
        _csv_row(out, [_csv_cell(key, row[key]) for key in EXPORT_FIELDS])
        count += 1
    return count


class ExportFormatError(ValueError):
    """An export file that cannot be read as a trail export at all."""


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExportFormatError(f"line {number} is not JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise ExportFormatError(f"line {number} is not a JSON object")
        yield row


def read_csv(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or tuple(header) != EXPORT_FIELDS:
        raise ExportFormatError("the first line is not the trail export header")
    for number, cells in enumerate(reader, start=2):
        if len(cells) != len(EXPORT_FIELDS):
            raise ExportFormatError(f"line {number} has {len(cells)} cells, not 13")
        raw = dict(zip(EXPORT_FIELDS, (restore_cell(c) for c in cells), strict=True))
        try:
            yield _typed_csv_row(raw)
        except (ValueError, json.JSONDecodeError) as exc:
            raise ExportFormatError(f"line {number}: {exc}") from exc


def _typed_csv_row(raw: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = dict(raw)
    row["seq"] = int(raw["seq"])
    row["case"] = int(raw["case"]) if raw["case"] else None
    row["from"] = raw["from"] or None
    row["to"] = raw["to"] or None
    row["data"] = json.loads(raw["data"])
    return row


def sniff_format(first_line: str) -> str:
    return "jsonl" if first_line.lstrip().startswith("{") else "csv"


def verify_export(stream: IO[str]) -> Verification:
    """Verify an exported file (JSON Lines or CSV, told apart by its first line)."""
    first = stream.readline()
    rest = _chain_lines(first, stream)
    rows = read_jsonl(rest) if sniff_format(first) == "jsonl" else read_csv(rest)
    return verify_rows(rows)


def _chain_lines(first: str, stream: IO[str]) -> Iterator[str]:
    yield first
    yield from stream


# --- trail head ----------------------------------------------------------------------------


def trail_head(heads: dict[str, tuple[int, str]]) -> str:
    """One digest over every chain head, to be kept outside the system (RFC 6962 in spirit)."""
    lines = "".join(f"{chain}\t{seq}\t{digest}\n" for chain, (seq, digest) in sorted(heads.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def export_text(rows: Iterable[dict[str, Any]], fmt: str) -> str:
    buffer = io.StringIO()
    (write_jsonl if fmt == "jsonl" else write_csv)(rows, buffer)
    return buffer.getvalue()
