"""The decision trail under attack: tampering is found and the first broken event named, in the
database and in exported files; the database refuses changes; the trail head; exports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from fpic.accounts.sessions import sign_in
from fpic.cli import main
from fpic.storage.db import Database
from fpic.storage.models import TrailEvent
from fpic.trail import audit, log
from fpic.workflow.errors import FpicError
from tests.factories import PASSWORD, World, make_world, walk_to

CASE = "case:2"
SQLITE_TRIGGERS = ("trail_events_no_update", "trail_events_no_delete")
FIELDS = ("chain", "seq", "at", "actor", "role", "action", "outcome", "case", "from", "to")
BODY = (*FIELDS, "data")
COLUMNS = {"role": "actor_role", "case": "case_id", "from": "from_stage", "to": "to_stage"}


def cli(url: str, *args: str):
    return CliRunner().invoke(main, ["--database-url", url, *args])


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link(prev_hash: str, event: dict[str, Any]) -> str:
    """What a forger computes: the algorithm is public and has no secret."""
    body = _canonical({key: event[key] for key in BODY})
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode("utf-8")).hexdigest()


# --- a database with one case, copied for every test ---------------------------------------------


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trail") / "template.sqlite3"
    world = make_world(f"sqlite:///{path}")
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    assert case_id == 2  # case 1 is the community's registration case
    walk_to(world, case_id, "deliberation", community)
    world.db.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture
def db_path(template_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "fpic.sqlite3"
    shutil.copyfile(template_db, path)
    return path


@pytest.fixture
def url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
def raw(db_path: Path) -> Iterator[sqlite3.Connection]:
    """The file opened directly, triggers dropped: what someone with the file can do."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for trigger in SQLITE_TRIGGERS:
        conn.execute(f"DROP TRIGGER {trigger}")
    yield conn
    conn.close()


def last_seq(conn: sqlite3.Connection, chain: str = CASE) -> int:
    return conn.execute("SELECT max(seq) FROM trail_events WHERE chain = ?", (chain,)).fetchone()[0]


def stored_event(conn: sqlite3.Connection, seq: int, chain: str = CASE) -> dict[str, Any]:
    row = conn.execute(
        "SELECT * FROM trail_events WHERE chain = ? AND seq = ?", (chain, seq)
    ).fetchone()
    event = {key: row[COLUMNS.get(key, key)] for key in BODY}
    event["data"] = json.loads(event["data"])
    return {**event, "id": row["id"], "prev_hash": row["prev_hash"], "hash": row["hash"]}


def update(conn: sqlite3.Connection, sql: str, *params: Any) -> None:
    assert conn.execute(sql, params).rowcount >= 1, sql


# --- tampering with the database -----------------------------------------------------------------


def change_data(conn: sqlite3.Connection) -> tuple[str, int, str]:
    data = stored_event(conn, 6)["data"]
    assert data["payload"]["deciding_body"] == "Community assembly"
    data["payload"]["deciding_body"] = "Municipal council"
    update(
        conn,
        "UPDATE trail_events SET data = ? WHERE chain = ? AND seq = 6",
        _canonical(data),
        CASE,
    )
    return CASE, 6, "hash does not match the event's content"


def change_actor(conn: sqlite3.Connection) -> tuple[str, int, str]:
    assert stored_event(conn, 5)["actor"] == "rep-ayllu-qollana-1"
    update(
        conn,
        "UPDATE trail_events SET actor = 'rep-ayllu-qollana-2' WHERE chain = ? AND seq = 5",
        CASE,
    )
    return CASE, 5, "hash does not match the event's content"


def change_time(conn: sqlite3.Connection) -> tuple[str, int, str]:
    at = stored_event(conn, 5)["at"]
    earlier = "2026-02-" + at[len("2026-03-") :]
    assert at.startswith("2026-03-")
    update(conn, "UPDATE trail_events SET at = ? WHERE chain = ? AND seq = 5", earlier, CASE)
    return CASE, 5, "hash does not match the event's content"


def delete_middle(conn: sqlite3.Connection) -> tuple[str, int, str]:
    update(conn, "DELETE FROM trail_events WHERE chain = ? AND seq = 5", CASE)
    return CASE, 6, "expected sequence number 5, found 6"


def delete_last(conn: sqlite3.Connection) -> tuple[str, int, str]:
    last = last_seq(conn)
    update(conn, "DELETE FROM trail_events WHERE chain = ? AND seq = ?", CASE, last)
    return CASE, last, f"missing: the chain head is at {last}"


def swap(conn: sqlite3.Connection) -> tuple[str, int, str]:
    """Events 5 and 6 trade places (their numbers swapped; the unique key needs a detour)."""
    update(conn, "UPDATE trail_events SET seq = -1 WHERE chain = ? AND seq = 5", CASE)
    update(conn, "UPDATE trail_events SET seq = 5 WHERE chain = ? AND seq = 6", CASE)
    update(conn, "UPDATE trail_events SET seq = 6 WHERE chain = ? AND seq = -1", CASE)
    return CASE, 5, "prev_hash does not match the previous event's hash"


def _renumber_from(conn: sqlite3.Connection, seq: int) -> None:
    update(conn, "UPDATE trail_events SET seq = -seq WHERE chain = ? AND seq >= ?", CASE, seq)
    update(conn, "UPDATE trail_events SET seq = 1 - seq WHERE chain = ? AND seq < 0", CASE)


def _insert(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    columns = [COLUMNS.get(key, key) for key in BODY]
    values = [event[key] for key in FIELDS] + [_canonical(event["data"])]
    update(
        conn,
        f"INSERT INTO trail_events ({', '.join(columns)}, prev_hash, hash) "
        f"VALUES ({', '.join('?' * (len(columns) + 2))})",
        *values,
        event["prev_hash"],
        event["hash"],
    )


def _forged_protocol(conn: sqlite3.Connection) -> dict[str, Any]:
    """A protocol the community never agreed, linked correctly after event 5."""
    forged = stored_event(conn, 6)
    assert forged["action"] == "agree_protocol"
    forged["data"]["payload"]["quorum_percent"] = 10
    forged["data"]["payload"]["min_deliberation_days"] = 0
    forged["prev_hash"] = stored_event(conn, 5)["hash"]
    forged["hash"] = link(forged["prev_hash"], forged)
    return forged


def insert_forged(conn: sqlite3.Connection) -> tuple[str, int, str]:
    """A forged event as 6, correctly hashed; the real 6 onwards renumbered to 7 onwards."""
    forged = _forged_protocol(conn)
    _renumber_from(conn, 6)
    _insert(conn, forged)
    return CASE, 7, "prev_hash does not match the previous event's hash"


def insert_clumsy(conn: sqlite3.Connection) -> tuple[str, int, str]:
    """The same without knowing the algorithm: the hash of the real event 6 is reused."""
    forged = _forged_protocol(conn)
    forged["hash"] = stored_event(conn, 6)["hash"]
    _renumber_from(conn, 6)
    _insert(conn, forged)
    return CASE, 6, "hash does not match the event's content"


def escalate_on_system_chain(conn: sqlite3.Connection) -> tuple[str, int, str]:
    row = conn.execute(
        "SELECT seq, data FROM trail_events WHERE chain = 'system' AND action = 'add_user' "
        'AND data LIKE \'%"role":"auditor"%\''
    ).fetchone()
    data = row["data"].replace('"role":"auditor"', '"role":"admin"')
    update(
        conn,
        "UPDATE trail_events SET data = ? WHERE chain = 'system' AND seq = ?",
        data,
        row["seq"],
    )
    return "system", row["seq"], "hash does not match the event's content"


DB_TAMPERING = [
    change_data,
    change_actor,
    change_time,
    delete_middle,
    delete_last,
    swap,
    insert_forged,
    insert_clumsy,
    escalate_on_system_chain,
]


def test_untampered_database_is_intact(url):
    result = cli(url, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert re.match(r"Intact: \d+ events in 3 chains \(the database\)\.", result.stdout)
    db = Database(url)
    with db.read_session() as session:
        assert audit.verify_database(session).intact
    db.dispose()


@pytest.mark.parametrize("tamper", DB_TAMPERING)
def test_database_tampering_is_found_and_named(url, raw, tamper):
    chain, seq, problem = tamper(raw)
    db = Database(url)
    with db.read_session() as session:
        result = audit.verify_database(session)
    db.dispose()
    assert not result.intact
    first = result.first_break
    assert first is not None
    assert (first.chain, first.seq, first.problem) == (chain, seq, problem)
    assert len(result.breaks or []) == 1  # the other chain is untouched and says so
    out = cli(url, "audit", "verify")
    assert out.exit_code == 1, out.output
    assert f"BROKEN: chain {chain}, sequence number {seq}: {problem} (the database)." in out.output


def test_a_complete_rewrite_verifies_but_the_trail_head_gives_it_away(url, raw):
    """Why the trail head and the log's checkpoints are kept outside: with write access a
    chain can be rebuilt, and the Merkle log over it too."""
    recorded = cli(url, "audit", "head").output.split()[0]
    forged = _forged_protocol(raw)
    _renumber_from(raw, 6)
    _insert(raw, forged)
    prev = forged["hash"]
    for seq in range(7, last_seq(raw) + 1):
        event = stored_event(raw, seq)
        digest = link(prev, event)
        update(
            raw,
            "UPDATE trail_events SET prev_hash = ?, hash = ? WHERE id = ?",
            prev,
            digest,
            event["id"],
        )
        prev = digest
    update(
        raw, "UPDATE chain_heads SET seq = ?, hash = ? WHERE chain = ?", last_seq(raw), prev, CASE
    )
    # the chains verify, but the log no longer is the tree of the events
    half_done = cli(url, "audit", "verify")
    assert half_done.exit_code == 1
    assert "Merkle log" in half_done.output
    _rebuild_log(raw)
    verified = cli(url, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    now = cli(url, "audit", "head").output.split()[0]
    assert re.fullmatch(r"[0-9a-f]{64}", now)
    assert now != recorded


def _rebuild_log(conn: sqlite3.Connection) -> None:
    """The Merkle log made again over the rewritten events (its triggers dropped first)."""
    for change in ("update", "delete"):
        conn.execute(f"DROP TRIGGER merkle_nodes_no_{change}")
    conn.execute("DELETE FROM merkle_nodes")
    frontier = log.Frontier(0, [])
    for chain, seq, digest in conn.execute("SELECT chain, seq, hash FROM trail_events ORDER BY id"):
        for level, index, node in frontier.append(bytes.fromhex(digest)):
            conn.execute(
                "INSERT INTO merkle_nodes (level, idx, hash, chain, seq) VALUES (?, ?, ?, ?, ?)",
                (
                    level,
                    index,
                    node.hex(),
                    chain if level == 0 else None,
                    seq if level == 0 else None,
                ),
            )
    conn.execute("UPDATE merkle_log SET size = ?, frontier = ?", (frontier.size, frontier.text))


# --- tampering with exported files ---------------------------------------------------------------


def _export(url: str, path: Path, fmt: str, *extra: str) -> list[str]:
    result = cli(url, "audit", "export", "--format", fmt, "-o", str(path), *extra)
    assert result.exit_code == 0, result.output
    lines = path.read_bytes().decode("utf-8").split("\n")
    assert lines.pop() == ""
    return lines


def _parse(fmt: str, line: str) -> dict[str, Any]:
    if fmt == "jsonl":
        return json.loads(line)
    cells = next(csv.reader([line]))
    return {"chain": cells[0], "seq": int(cells[1]), "cells": cells}


def _edit(fmt: str, line: str) -> str:
    """The actor is changed in place."""
    if fmt == "jsonl":
        event = json.loads(line)
        event["actor"] = "rep-ayllu-qollana-2"
        return _canonical(event)
    cells = next(csv.reader([line]))
    cells[3] = "rep-ayllu-qollana-2"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def _forge(fmt: str, lines: list[str], i: int) -> str:
    """A copy of line i with another quorum and a correct hash for its place."""
    if fmt == "jsonl":
        event = json.loads(lines[i])
    else:
        cells = next(csv.reader([lines[i]]))
        event = dict(zip((*FIELDS, "data", "prev_hash", "hash"), cells, strict=True))
        event.update(seq=int(event["seq"]), case=int(event["case"]), data=json.loads(event["data"]))
    event["data"]["payload"]["quorum_percent"] = 10
    event["hash"] = link(event["prev_hash"], event)
    if fmt == "jsonl":
        return _canonical(event)
    cells = [str(event[key]) for key in FIELDS]
    cells += [_canonical(event["data"]), event["prev_hash"], event["hash"]]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


# each returns the seq reported, the problem, and the index in ``lines`` of the line reported


def edit_line(fmt: str, lines: list[str], i: int) -> tuple[int, str, int]:
    lines[i] = _edit(fmt, lines[i])
    return 5, "hash does not match the event's content", i


def delete_line(fmt: str, lines: list[str], i: int) -> tuple[int, str, int]:
    del lines[i]
    return 6, "expected sequence number 5, found 6", i


def swap_lines(fmt: str, lines: list[str], i: int) -> tuple[int, str, int]:
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return 6, "expected sequence number 5, found 6", i


def insert_line(fmt: str, lines: list[str], i: int) -> tuple[int, str, int]:
    lines.insert(i, _forge(fmt, lines, i))
    return 5, "expected sequence number 6, found 5", i + 1


FILE_TAMPERING: list[Callable[[str, list[str], int], tuple[int, str, int]]] = [
    edit_line,
    delete_line,
    swap_lines,
    insert_line,
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_untouched_export_is_intact(url, tmp_path, fmt):
    path = tmp_path / f"trail.{fmt}"
    lines = _export(url, path, fmt)
    result = cli(url, "audit", "verify", str(path))
    assert result.exit_code == 0, result.output
    events = len(lines) - (fmt == "csv")
    head = cli(url, "audit", "head").output.split()[0]
    assert result.stdout == (
        f"Intact: {events} events in 3 chains ({path}).\n"
        f"Trail head (every chain but access): {head}\n"
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("tamper", FILE_TAMPERING)
def test_export_tampering_is_found_and_named(url, tmp_path, fmt, tamper):
    path = tmp_path / f"trail.{fmt}"
    lines = _export(url, path, fmt)
    start = 1 if fmt == "csv" else 0
    keys = [(_parse(fmt, line)["chain"], _parse(fmt, line)["seq"]) for line in lines[start:]]
    i = start + keys.index((CASE, 5))
    seq, problem, at = tamper(fmt, lines, i)
    line = at + 1  # lines[0] is line 1 (the CSV header, or the first event)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    result = cli(url, "audit", "verify", str(path))
    assert result.exit_code == 1, result.output
    assert (
        f"BROKEN: chain {CASE}, sequence number {seq}, line {line}: {problem} ({path})."
        in result.output
    )
    with path.open(encoding="utf-8", newline="") as stream:
        first = audit.verify_export(stream).first_break
    assert first is not None
    assert (first.chain, first.seq, first.line) == (CASE, seq, line)


def test_dropping_the_end_of_an_export_shows_only_against_the_trail_head(url, tmp_path):
    path = tmp_path / "trail.jsonl"
    lines = _export(url, path, "jsonl")
    recorded = cli(url, "audit", "head").output.split()[0]
    dropped = [line for line in lines if json.loads(line)["chain"] == CASE][-1]
    lines.remove(dropped)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    assert cli(url, "audit", "verify", str(path)).exit_code == 0  # nothing in the file is wrong
    heads = {}
    for line in lines:
        event = json.loads(line)
        heads[event["chain"]] = (event["seq"], event["hash"])
    assert audit.trail_head(heads) != recorded
    heads[CASE] = (json.loads(dropped)["seq"], json.loads(dropped)["hash"])
    assert audit.trail_head(heads) == recorded


def test_an_unreadable_export_is_an_error(url, tmp_path):
    path = tmp_path / "trail.csv"
    lines = _export(url, path, "csv")
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))  # saved by a spreadsheet
    result = cli(url, "audit", "verify", str(path))
    assert result.exit_code == 1
    assert "starts with a byte order mark (U+FEFF)" in result.output


# --- what the database refuses -------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE trail_events SET actor = 'someone-else' WHERE seq = 2",
        "UPDATE trail_events SET data = '{}'",
        "DELETE FROM trail_events WHERE seq = 2",
        "DELETE FROM trail_events",
    ],
)
def test_sqlite_refuses_to_change_the_trail(url, statement):
    db = Database(url)
    with db.read_session() as session:
        before = list(audit.stored_rows(session))
    with (
        pytest.raises((IntegrityError, OperationalError), match="append-only"),
        db.engine.begin() as conn,
    ):
        conn.execute(text(statement))
    with db.read_session() as session:
        assert list(audit.stored_rows(session)) == before
        assert audit.verify_database(session).intact
    db.dispose()


@pytest.mark.postgres
def test_postgres_refuses_update_delete_and_truncate(pg_world):
    world = pg_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    walk_to(world, world.open_case(community), "protocol", community)
    with world.db.read_session() as session:
        count = session.scalar(select(func.count()).select_from(TrailEvent))
    for statement in [
        "UPDATE trail_events SET actor = 'someone-else' WHERE chain = 'case:2' AND seq = 2",
        "DELETE FROM trail_events WHERE chain = 'case:2' AND seq = 2",
        "DELETE FROM trail_events",
        "TRUNCATE trail_events",
    ]:
        with (
            pytest.raises(DBAPIError, match="append-only"),
            world.db.engine.begin() as conn,
        ):
            conn.execute(text(statement))
    with world.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(TrailEvent)) == count
        assert audit.verify_database(session).intact
    # the table owner can switch the protection off; verification still finds the change
    with world.db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE trail_events DISABLE TRIGGER trail_events_no_change"))
        conn.execute(
            text("UPDATE trail_events SET actor = 'liaison' WHERE chain = 'case:2' AND seq = 5")
        )
        conn.execute(text("ALTER TABLE trail_events ENABLE TRIGGER trail_events_no_change"))
    with world.db.read_session() as session:
        first = audit.verify_database(session).first_break
    assert first is not None
    assert (first.chain, first.seq) == ("case:2", 5)
    # in a process of its own: the command never closes its PostgreSQL connections itself
    result = subprocess.run(
        [sys.executable, "-m", "fpic.cli", "--database-url", world.db.url, "audit", "verify"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN: chain case:2, sequence number 5: hash does not match" in result.stderr


# --- trail head, case export, CSV neutralisation -------------------------------------------------


def _head(world: World) -> tuple[str, int, int]:
    result = cli(world.db.url, "audit", "head")
    assert result.exit_code == 0, result.output
    match = re.fullmatch(r"([0-9a-f]{64})  \((\d+) chains, (\d+) events\)\n", result.output)
    assert match, result.output
    return match[1], int(match[2]), int(match[3])


def _stored_head(world: World) -> str:
    with world.db.read_session() as session:
        return audit.trail_head(audit.stored_heads(session))


def test_trail_head_changes_with_every_event(world, community):
    first, chains, events = _head(world)
    assert first == _stored_head(world)
    assert chains == 2  # the system chain and the community's registration case
    case_id = world.open_case(community)
    second, chains, more = _head(world)
    assert (chains, more) == (3, events + 1)
    assert second != first
    assert second == _stored_head(world)
    world.act(case_id, "screen_in", world.liaison, {"text": "Screened in."})
    third, _, _ = _head(world)
    assert third not in (first, second)
    assert third == _stored_head(world)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_case_export_holds_only_that_chain(world, community, tmp_path, fmt):
    first = world.open_case(community)
    second = world.open_case(community)
    walk_to(world, first, "protocol", community)
    walk_to(world, second, "mapping", community)
    path = tmp_path / f"case.{fmt}"
    lines = _export(world.db.url, path, fmt, "--case", str(second))
    if fmt == "csv":
        lines = lines[1:]
    chains = [_parse(fmt, line)["chain"] for line in lines]
    seqs = [_parse(fmt, line)["seq"] for line in lines]
    assert set(chains) == {f"case:{second}"}
    with world.db.read_session() as session:
        stored = session.scalar(select(func.count()).where(TrailEvent.chain == f"case:{second}"))
    assert seqs == list(range(1, stored + 1))
    result = cli(world.db.url, "audit", "verify", str(path))
    assert result.exit_code == 0, result.output
    assert f"{stored} events in 1 chains" in result.output


SPREADSHEET_BAIT = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "'quoted", "\rx", "mid\rdle"]


def test_csv_cells_a_spreadsheet_would_run_are_neutralised_and_still_verify(
    world, community, tmp_path
):
    case_id = world.open_case(community)
    for name in SPREADSHEET_BAIT:
        with pytest.raises(FpicError):
            world.act(case_id, name, world.liaison)
    for typed in ['=HYPERLINK("http://evil.example")', "", "Rosa\rMamani"]:
        with pytest.raises(FpicError):
            sign_in(world.engine, typed, "wrong password")
    path = tmp_path / "trail.csv"
    _export(world.db.url, path, "csv")
    raw_text = path.read_bytes().decode("utf-8")
    cells = [c for row in csv.reader(io.StringIO(raw_text, newline="")) for c in row]
    for bait in [*SPREADSHEET_BAIT[:-1], '=HYPERLINK("http://evil.example")', "-"]:
        assert "'" + bait in cells, bait
        assert bait not in cells, bait
    assert "mid\rdle" in cells  # quoted, not split at the carriage return
    assert "Rosa\rMamani" in cells
    for written in ["liaison,liaison,'=1+1,refused", "liaison,liaison,'@SUM(A1),refused"]:
        assert written in raw_text
    assert "liaison,liaison,''quoted,refused" in raw_text
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    result = cli(world.db.url, "audit", "verify", str(path))
    assert result.exit_code == 0, result.output
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(audit.read_csv(stream))
    with world.db.read_session() as session:
        assert rows == list(audit.log_rows(session))  # the whole trail: in the log's order


# --- the access chain and the kept trail head -------------------------------------------------


def test_sign_ins_go_to_the_access_chain_and_leave_the_trail_head_alone(world):
    from fpic.accounts.sessions import sign_out

    before, chains, events = _head(world)
    signed = sign_in(world.engine, "liaison", PASSWORD)
    with pytest.raises(FpicError):
        sign_in(world.engine, "liaison", "not the password")
    sign_out(world.engine, signed.token)
    assert _head(world) == (before, chains, events)
    with world.db.read_session() as session:
        access = session.scalars(
            select(TrailEvent)
            .where(TrailEvent.chain == audit.ACCESS_CHAIN)
            .order_by(TrailEvent.seq)
        ).all()
        assert [(e.action, e.outcome) for e in access] == [
            ("sign_in", "done"), ("sign_in", "refused"), ("sign_out", "done"),
        ]  # fmt: skip
        heads = audit.stored_heads(session)
        assert audit.ACCESS_CHAIN in heads
        assert audit.trail_head(heads) == before  # the web pages show this one too
        assert audit.verify_database(session).intact
    world.act(world.open_case(world.add_community("ayllu-x", ["es"])), "screen_in",
              world.liaison, {"text": "In."})  # fmt: skip
    assert _head(world)[0] != before  # governance still moves it


def test_verify_prints_the_trail_head_and_compares_it_with_a_kept_one(url, tmp_path):
    kept = cli(url, "audit", "head").output.split()[0]
    path = tmp_path / "trail.jsonl"
    _export(url, path, "jsonl")
    for args in (("audit", "verify"), ("audit", "verify", str(path))):
        same = cli(url, *args, "--expect-head", kept.upper())
        assert same.exit_code == 0, same.output
        assert f"Trail head (every chain but access): {kept}\n" in same.stdout
        assert "It equals the kept trail head." in same.stdout
        other = "0" * 63 + "1"
        differs = cli(url, *args, "--expect-head", other)
        assert differs.exit_code == 1, differs.output
        assert f"DIFFERENT: the trail head computed is not the kept one, {other}" in (
            differs.stderr
        )
    assert cli(url, "audit", "verify", "--expect-head", "xyz").exit_code == 2


def test_a_dropped_last_line_shows_against_a_kept_head(url, tmp_path):
    kept = cli(url, "audit", "head").output.split()[0]
    path = tmp_path / "trail.jsonl"
    lines = _export(url, path, "jsonl")
    last = max(i for i, line in enumerate(lines) if json.loads(line)["chain"] == CASE)
    del lines[last]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    result = cli(url, "audit", "verify", str(path), "--expect-head", kept)
    assert result.exit_code == 1
    assert "DIFFERENT" in result.stderr
