"""The decision trail: canonical encoding, hash chains, verification, export and trail head.

docs/audit-format.md specifies the encoding so an auditor can verify without this code. It is
the one place that defines it: change one, change the other.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring as _json_string
from typing import IO, Any, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from fpic.storage.db import table_of
from fpic.storage.models import ChainHead, TrailEvent
from fpic.trail import log

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"
#: sign-ins, sign-outs and failed sign-ins: kept apart so the trail head changes only with
#: governance (docs/audit-format.md, sections 1 and 7)
ACCESS_CHAIN = "access"
#: the chains outside any case, which only auditors and administrators read
NON_CASE_CHAINS = (SYSTEM_CHAIN, ACCESS_CHAIN)
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


#: a case's chain is named by this prefix and the case's id
CASE_CHAIN_PREFIX = "case:"


def case_chain(case_id: int) -> str:
    return f"{CASE_CHAIN_PREFIX}{case_id}"


def format_time(moment: datetime) -> str:
    """The one timestamp form the trail uses: microseconds, UTC, a literal Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: sorted keys, no white space, UTF-8 text as is (one encoder: building one per call costs)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _c_canonical_encoder() -> Callable[[Any], str]:
    """_CANONICAL.encode without the encoder object it builds on every call (half its time)."""
    # typeshed does not declare the accelerator (None where the C module is missing)
    make: Callable[..., Callable[[Any, int], Iterable[str]]] | None = getattr(
        json.encoder, "c_make_encoder", None
    )
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
    being decoded and encoded again; only its outline is checked (an object: "{" ... "}").
    When it does not (a field of an odd type, text that is not canonical, an event that was
    changed), the data is decoded and the body encoded as the specification says, which
    decides, and a matching event must then hold canonical text.

    One answer differs from the specification's, on purpose: text that is not canonical (keys
    out of order or repeated, white space) and was hashed as it stands verifies here, while
    its export (data decoded) breaks. fpic never writes such text; a writer that computes
    hashes itself could. Decoding and encoding every event's data again to refuse it took B3
    from 0.66 to 0.31 (docs/performance.md); the file verifier refuses it, and the trail head
    kept outside the database shows any rewrite.
    """
    data = row.get("data")
    if type(data) is not StoredText:
        return link_hash(prev_hash, event_body(row))
    text = _spliced_body(row, data)
    if text is not None:
        material = prev_hash.encode("ascii") + text.encode("utf-8")
        digest = hashlib.sha256(material).hexdigest()
        if digest == row.get("hash"):
            if not (data.startswith("{") and data.endswith("}")):
                raise ValueError("data is not an object")
            return digest
    body = event_body(row)
    body["data"] = _decode_stored(data)
    digest = link_hash(prev_hash, body)
    if digest == row.get("hash"):
        _require_canonical(data)
    return digest


def _no_float(text: str) -> Any:
    raise ValueError(f"a number with a fraction or exponent ({text})")


#: floats and NaN/Infinity refused while parsing: the hooks run only when one occurs, so they
#: cost nothing on the data fpic writes
_STORED_DECODER = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)
#: set by JSONDecoder.__init__, which typeshed does not declare
_scan_stored: Callable[[str, int], tuple[Any, int]] = _STORED_DECODER.scan_once  # type: ignore[attr-defined]


def _decode_stored(text: str) -> Any:
    try:
        value, end = _scan_stored(text, 0)
    except StopIteration:  # what the scanner raises when no value starts at 0
        raise ValueError("data is not JSON") from None
    if end != len(text):
        raise ValueError("data holds more than one JSON value")
    return value


def _require_canonical(text: str) -> None:
    """Stored data must be the canonical JSON of an object: decoded and encoded again, the same
    text. This also refuses duplicate keys (encoded again, only the last copy remains)."""
    value = _decode_stored(text)
    if type(value) is not dict:
        raise ValueError(f"data is not an object (found {_shown(value)})")
    if _encode_canonical(value) != text:
        duplicate = _first_duplicate(text)
        if duplicate is not None:
            raise ValueError(f"duplicate key {_shown(duplicate)} in data")
        raise ValueError("data is not in canonical form (section 3)")


def _first_duplicate(text: str) -> str | None:
    """The first key that occurs twice in one object of ``text``, at any depth (slow; only
    called once an event is known to be wrong, to say why)."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _value in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found[0] if found else None


def _spliced_body(row: dict[str, Any], data: str) -> str | None:
    """None when a field is not of its plain type (the full path then decides)."""
    # the row's values are whatever was read: the encoder raises TypeError for a non-str
    get: Callable[[str], Any] = row.get
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


#: ``append``'s default: read the chain's head (the caller has not)
LOOK_UP = object()


class HeadRow(NamedTuple):
    """A chain's head as a statement read it (the engine's lock reads the two columns)."""

    seq: int
    hash: str


_HEADS = table_of(ChainHead)
_INSERT_HEAD = insert(_HEADS)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_INSERT_EVENT = insert(table_of(TrailEvent))
#: the model's columns, not the table's: the session flushes a head added but not yet written
#: (engine.ensure_system_chain) before reading it
_LOCK_HEAD = (
    select(ChainHead.seq, ChainHead.hash)
    .where(ChainHead.chain == bindparam("chain"))
    .with_for_update()
)


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
    head: HeadRow | object | None = LOOK_UP,
) -> Appended:
    """Add the next link of ``chain`` in the session's transaction, which commits it.

    The caller must hold the lock that serialises writers of this chain (the case row for a
    case chain); for the system chain the head row is locked here. A caller that read the
    chain's ``head`` under that lock already (None: the chain has none yet) passes it.
    """
    if head is LOOK_UP:
        found = session.execute(_LOCK_HEAD, {"chain": chain}).one_or_none()
        head = HeadRow(*found) if found is not None else None
    assert head is None or isinstance(head, HeadRow)
    previous = head.hash if head is not None else GENESIS
    seq = head.seq + 1 if head is not None else 1
    body = {
        "chain": chain,
        "seq": seq,
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
    digest = link_hash(previous, body)
    # two Core statements, built once: the trail is append-only, so the ORM's bookkeeping
    # buys nothing here
    connection = session.connection()
    if head is None:
        connection.execute(_INSERT_HEAD, {"chain": chain, "seq": seq, "hash": digest})
    else:
        connection.execute(_MOVE_HEAD, {"head": chain, "new_seq": seq, "new_hash": digest})
    connection.execute(
        _INSERT_EVENT,
        {
            "chain": chain,
            "seq": seq,
            "at": body["at"],
            "actor": actor,
            "actor_role": role,
            "action": action,
            "outcome": outcome,
            "case_id": case_id,
            "from_stage": from_stage,
            "to_stage": to_stage,
            "data": canonical_json(data),
            "prev_hash": previous,
            "hash": digest,
        },
    )
    log.note_event(session, chain, seq, digest)
    return Appended(chain, seq, digest)


@dataclass(frozen=True)
class Appended:
    """The link ``append`` added."""

    chain: str
    seq: int
    hash: str


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first place a chain stops verifying, or an event that names no chain.

    ``chain`` and ``seq`` are given only as the event has them (a valid chain name, an integer
    sequence number); ``line`` is the event's line in an export file (None in the database).
    """

    chain: str | None
    seq: int | None
    problem: str
    line: int | None = None

    def __str__(self) -> str:
        where = [f"chain {self.chain}"] if self.chain is not None else []
        where += [f"sequence number {self.seq}"] if self.seq is not None else []
        where += [f"line {self.line}"] if self.line is not None else []
        return f"{', '.join(where)}: {self.problem}"


@dataclass
class Verification:
    chains: int = 0
    events: int = 0
    breaks: list[Break] | None = None
    #: chain -> (seq, hash) of its last event, for the chains that verified
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None

    @property
    def trail_head(self) -> str:
        """The trail head of what was verified (every chain but ``access``, section 7)."""
        return trail_head(self.heads)


class FileRow(dict[str, Any]):
    """An event read from an export file: its line, and why it is malformed if it is."""

    __slots__ = ("line", "problem")

    def __init__(self, values: dict[str, Any], line: int, problem: str | None = None) -> None:
        super().__init__(values)
        self.line, self.problem = line, problem


class _ChainState:
    __slots__ = ("broken", "hash", "seq")

    def __init__(self) -> None:
        self.seq, self.hash, self.broken = 0, GENESIS, False


def verify_rows(
    rows: Iterable[dict[str, Any]], heads: dict[str, tuple[int, str]] | None = None
) -> Verification:
    """Check events one by one, streaming, in the order given; each chain's events must come in
    sequence order (chains may be interleaved).

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
    current = ""  # no chain is named "": the first row's name is checked like any change
    for row in rows:
        result.events += 1
        line = row.line if type(row) is FileRow else None
        chain = row.get("chain")
        if chain != current:
            # a chain name is checked once per run of its rows, not once per row
            bad_chain = _chain_problem(row)
            if bad_chain:
                name = chain if type(chain) is str and _CHAIN_NAME.fullmatch(chain) else None
                breaks.append(Break(name, _seq_of(row), f"malformed event: {bad_chain}", line))
                continue
            if current:
                _close(current, states, closed, heads)
            current = row["chain"]  # a chain name: _chain_problem found none
        state = states.get(current) or _reopen(current, states, closed, heads)
        if state.broken:
            continue
        problem = _link_problem(state, row)
        if problem:
            state.broken = True
            breaks.append(Break(chain, _seq_of(row), problem, line))
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
    result.breaks = sorted(breaks, key=_break_order)
    result.heads = {chain: heads[chain] for chain in closed}
    result.heads.update(
        (chain, (state.seq, state.hash))
        for chain, state in states.items()
        if not state.broken and state.seq
    )
    return result


def _break_order(found: Break) -> tuple[int, int, int, str]:
    """File order in an export (the first line that fails); in the database, the system
    chain, then access, then case chains by number."""
    chain = found.chain or ""
    number = chain.partition(":")[2]
    rank = {SYSTEM_CHAIN: 0, ACCESS_CHAIN: 1}.get(chain, 2)
    return (found.line or 0, rank, int(number) if number.isdigit() else 0, chain)


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


#: section 1: system, access, or case: and the case id in decimal without leading zeros
_CHAIN_NAME = re.compile(r"system|access|case:[1-9][0-9]*")
#: section 2: exactly 27 ASCII characters ([0-9], not \d, which takes any script's digits)
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_MEMBERS = frozenset(EXPORT_FIELDS)
_STRING_FIELDS = ("actor", "role", "action")
_OUTCOMES = ("done", "refused")


def _shown(value: Any) -> str:
    """A value as JSON, shortened: what a message says was found."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _seq_of(row: dict[str, Any]) -> int | None:
    """The sequence number to report: only a real one (an integer, not a boolean, >= 1)."""
    seq = row.get("seq")
    return seq if type(seq) is int and seq >= 1 else None


def _chain_problem(row: dict[str, Any]) -> str | None:
    if type(row) is FileRow and row.problem and row.problem.startswith('duplicate key "chain"'):
        return row.problem
    chain = row.get("chain")
    if type(chain) is not str:
        return f"chain is not a string (found {_shown(chain)})"
    if not _CHAIN_NAME.fullmatch(chain):
        return f"{_shown(chain)} is not a chain name (section 1)"
    return None


def _field_problem(row: dict[str, Any]) -> str | None:
    """Section 2's types and forms, checked before any hash (the chain name is checked apart)."""
    if type(row) is FileRow:
        if row.problem:
            return row.problem
        if row.keys() != _MEMBERS:
            missing = sorted(_MEMBERS - row.keys())
            extra = sorted(row.keys() - _MEMBERS)
            return "members " + "; ".join(
                text
                for text in (
                    f"missing: {', '.join(missing)}" if missing else "",
                    f"not allowed: {', '.join(extra)}" if extra else "",
                )
                if text
            )
    get = row.get
    seq = get("seq")
    if type(seq) is not int or seq < 1:
        return f"seq is not an integer >= 1 (found {_shown(seq)})"
    at = get("at")
    if type(at) is not str or not _TIMESTAMP.fullmatch(at):
        return f"at is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ (found {_shown(at)})"
    try:
        datetime.fromisoformat(at[:-1])  # 30 February, hour 24, second 60, year 0
    except ValueError:
        return f"at is not a real date and time (found {_shown(at)})"
    for key in _STRING_FIELDS:
        if type(get(key)) is not str:
            return f"{key} is not a string (found {_shown(get(key))})"
    if get("outcome") not in _OUTCOMES:
        return f'outcome is not "done" or "refused" (found {_shown(get("outcome"))})'
    case = get("case")
    if case is not None and (type(case) is not int or case < 1):
        return f"case is not null or an integer >= 1 (found {_shown(case)})"
    for key in ("from", "to"):
        value = get(key)
        if value is not None and (type(value) is not str or not value):
            return f"{key} is not null or a non-empty string (found {_shown(value)})"
    data = get("data")
    if type(data) is not dict and type(data) is not StoredText:
        return f"data is not an object (found {_shown(data)})"
    return None


def _link_problem(state: _ChainState, row: dict[str, Any]) -> str | None:
    problem = _field_problem(row)
    if problem:
        return f"malformed event: {problem}"
    seq = row["seq"]
    if seq != state.seq + 1:
        return f"expected sequence number {state.seq + 1}, found {seq}"
    if row.get("prev_hash") != state.hash:
        return "prev_hash does not match the previous event's hash"
    try:
        expected = _expected_hash(state.hash, row)
    except (KeyError, ValueError, TypeError) as exc:
        return f"malformed event: {exc}"
    if row.get("hash") != expected:
        return "hash does not match the event's content"
    return _signature_problem(row)


def _signature_problem(row: dict[str, Any]) -> str | None:
    """Section 16.10: a decision signed with the representative's passkey carries the
    signature in ``data.signature``; it must verify (the event's hash alone says nothing of
    who could sign it)."""
    data = row["data"]
    if type(data) is StoredText:
        if '"signature":' not in data:  # read only the rows that may hold one
            return None
        row = {**row, "data": json.loads(data)}
    elif not isinstance(data, dict) or "signature" not in data:
        return None
    from fpic.trail.signatures import signature_problem  # it builds on this module

    problem = signature_problem(row)
    return None if problem is None else f"the representative's signature: {problem}"


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


def log_rows(session: Session, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every stored event in the Merkle log's order (section 16): the order in which an
    auditor rebuilds the tree a checkpoint signs; chains interleave, each in sequence order."""
    nodes = log.leaf_table()
    columns = TrailEvent.__table__.c
    stmt = (
        select(*_STORED_COLUMNS)
        .join(nodes, (nodes.c.chain == columns.chain) & (nodes.c.seq == columns.seq))
        .where(nodes.c.level == 0)
        .order_by(nodes.c.idx)
    )
    for values in session.execute(stmt.execution_options(yield_per=batch)):
        row = dict(zip(EXPORT_FIELDS, values, strict=True))
        row["data"] = json.loads(row["data"])
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
    """One case's chain, or every event in the log's order."""
    if case_id is None:
        yield from log_rows(session)
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
    quoted = any("\r" in cell for cell in cells)
    csv.writer(
        out, lineterminator="\n", quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL
    ).writerow(cells)


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


class _FileDecoder:
    """JSON as section 5 reads it: duplicate keys at any depth and floats are noted, not
    silently resolved (json.loads keeps a duplicate's last copy), so that the event can be
    reported as malformed with its chain and position."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        #: the duplicate keys of the last object completed: the outermost one, at the end
        self.last_duplicates: list[str] = []
        self._decoder = json.JSONDecoder(
            object_pairs_hook=self._object, parse_float=self._float, parse_constant=self._float
        )

    def _object(self, items: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(items)
        self.last_duplicates = []
        if len(value) != len(items):
            seen: set[str] = set()
            for key, _item in items:
                if key in seen:
                    self.last_duplicates.append(key)
                    self.problems.append(f"duplicate key {_shown(key)}")
                seen.add(key)
        return value

    def _float(self, text: str) -> None:
        self.problems.append(f"a number with a fraction or exponent ({text})")

    def decode(self, text: str) -> tuple[Any, str | None]:
        """The value, and the first problem found in it (None when there is none)."""
        self.problems, self.last_duplicates = [], []
        value = self._decoder.decode(text)
        problem = self.problems[0] if self.problems else None
        if isinstance(value, dict) and "chain" in self.last_duplicates:
            problem = 'duplicate key "chain"'  # the event names no chain: said first
        return value, problem


_BOM = "\ufeff"


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Events from a JSON Lines export (section 5): a line that cannot be an event at all is an
    error for the whole file; an event that is malformed comes back with its problem noted."""
    decoder = _FileDecoder()
    for number, line in enumerate(lines, start=1):
        _check_line_end(number, line)
        text = line[:-1]
        if not text.strip(" \t"):
            raise ExportFormatError(f"line {number} is empty")
        try:
            value, problem = decoder.decode(text)
        except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
            raise ExportFormatError(f"line {number} is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ExportFormatError(f"line {number} is not a JSON object")
        yield FileRow(value, number, problem)


def _check_line_end(number: int, line: str) -> None:
    if "\r" in line:
        raise ExportFormatError(
            f"line {number} holds a carriage return: lines end with a line feed alone"
        )
    if not line.endswith("\n"):
        raise ExportFormatError(
            f"line {number} does not end with a line feed (the file may have been cut short)"
        )


#: section 6: seq and case cells are ASCII decimal digits, no sign, no leading zero
_DECIMAL = re.compile(r"[1-9][0-9]*")


def read_csv(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Events from a CSV export (section 6), as read_jsonl."""
    last: list[str] = [""]

    def physical() -> Iterator[str]:
        for text in lines:
            last[0] = text
            yield text

    reader = csv.reader(physical(), strict=True)
    decoder = _FileDecoder()
    header = _next_record(reader, last)
    if header is None or tuple(header) != EXPORT_FIELDS:
        raise ExportFormatError("the first line is not the trail export header")
    while True:
        number = reader.line_num + 1  # where the record starts (a cell may span lines)
        cells = _next_record(reader, last)
        if cells is None:
            return
        if len(cells) != len(EXPORT_FIELDS):
            raise ExportFormatError(f"line {number} has {len(cells)} cells, not 13")
        raw = dict(zip(EXPORT_FIELDS, (restore_cell(c) for c in cells), strict=True))
        yield _typed_csv_row(raw, number, decoder)


def _next_record(reader: Any, last: list[str]) -> list[str] | None:
    """The next CSV record; refused when its line ends with CR LF, a CR or no LF at all."""
    try:
        cells = next(reader, None)
    except csv.Error as exc:
        raise ExportFormatError(f"line {reader.line_num}: {exc}") from exc
    if cells is not None:
        ending = last[0]  # the physical line that ended the record
        if ending.endswith("\r\n") or ending.endswith("\r"):
            raise ExportFormatError(
                f"line {reader.line_num} ends with a carriage return: lines end with a line "
                "feed alone"
            )
        if not ending.endswith("\n"):
            raise ExportFormatError(
                f"line {reader.line_num} does not end with a line feed (the file may have "
                "been cut short)"
            )
    return cells


def _typed_csv_row(raw: dict[str, str], number: int, decoder: _FileDecoder) -> FileRow:
    """Cells to values; a cell that cannot be its field's value makes the event malformed."""
    row: dict[str, Any] = dict(raw)
    problems = []
    if _DECIMAL.fullmatch(raw["seq"]):
        row["seq"] = int(raw["seq"])
    else:
        problems.append(f"the seq cell is not a decimal integer >= 1 ({_shown(raw['seq'])})")
    if not raw["case"]:
        row["case"] = None
    elif _DECIMAL.fullmatch(raw["case"]):
        row["case"] = int(raw["case"])
    else:
        problems.append(f"the case cell is not empty or a decimal integer ({_shown(raw['case'])})")
    row["from"] = raw["from"] or None
    row["to"] = raw["to"] or None
    try:
        row["data"], problem = decoder.decode(raw["data"])
    except ValueError:
        problems.append("the data cell is not JSON")
    else:
        if problem:
            problems.append(f"{problem} in data")
    return FileRow(row, number, problems[0] if problems else None)


def sniff_format(first_line: str) -> str:
    """Section 8: JSON Lines when the file's first character is "{" (or the file is empty),
    else CSV, whose first record must then be the header."""
    if first_line.startswith(_BOM):
        raise ExportFormatError(
            "the file starts with a byte order mark (U+FEFF), which exports never have: "
            "remove it (its three bytes EF BB BF) and verify again"
        )
    return "jsonl" if first_line.startswith("{") or not first_line else "csv"


def verify_export(stream: IO[str]) -> Verification:
    """Verify an exported file (JSON Lines or CSV, told apart by its first line).

    Open it with ``newline=""`` or ``newline="\n"``, so that line ends reach the readers as
    they are in the file.
    """
    return verify_rows(read_export(stream))


def read_export(stream: IO[str]) -> Iterator[dict[str, Any]]:
    """An exported file's events in file order (JSON Lines or CSV, told apart by its first
    line), each as :func:`verify_rows` reads it."""
    first = stream.readline()
    rest = _chain_lines(first, stream)
    return read_jsonl(rest) if sniff_format(first) == "jsonl" else read_csv(rest)


def _chain_lines(first: str, stream: IO[str]) -> Iterator[str]:
    if first:
        yield first
    yield from stream


# --- trail head ----------------------------------------------------------------------------


def kept_heads(heads: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """The chain heads the trail head covers: every chain but ``access`` (sign-ins)."""
    return {chain: head for chain, head in heads.items() if chain != ACCESS_CHAIN}


def trail_head(heads: dict[str, tuple[int, str]]) -> str:
    """One digest over every chain head but the access chain's, to be kept outside the system
    (section 7): it changes with governance, not with every sign-in."""
    kept = sorted(kept_heads(heads).items())
    lines = "".join(f"{chain}\t{seq}\t{digest}\n" for chain, (seq, digest) in kept)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def export_text(rows: Iterable[dict[str, Any]], fmt: str) -> str:
    buffer = io.StringIO()
    (write_jsonl if fmt == "jsonl" else write_csv)(rows, buffer)
    return buffer.getvalue()
