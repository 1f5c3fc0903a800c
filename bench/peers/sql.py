"""The floor: the unit of work as four statements, in SQLAlchemy Core and on the raw driver.

1. lock and read the case, with the mandate check as an EXISTS in the same SELECT;
2. UPDATE the case (stage, version, the head of its audit chain);
3. INSERT the note;
4. INSERT the audit row with its hash.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, exists, insert, or_, select, update
from sqlalchemy.engine import make_url

from bench.peers import (
    COMMUNITIES,
    NOTE,
    Refused,
    Seed,
    System,
    audit_rows,
    case_notes,
    cases,
    check_actor,
    communities,
    counting_sqlalchemy,
    event_body,
    link,
    mandates,
    metadata,
    moved,
    naive_now,
    representatives,
    stamp,
)
from fpic.storage.db import WRITE_OPTION, make_engine


def peer_engine(url: str) -> Engine:
    """SQLite as fpic opens it (WAL, synchronous=FULL, BEGIN IMMEDIATE for writers);
    PostgreSQL with SQLAlchemy's defaults and psycopg 3."""
    if url.startswith("sqlite"):
        return make_engine(url).execution_options(**{WRITE_OPTION: True})
    return create_engine(url)


def create_and_seed(engine: Engine, seed: Seed) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table, rows in (
            (communities, seed.communities),
            (representatives, seed.representatives),
            (mandates, seed.mandates),
            (cases, seed.cases),
        ):
            conn.execute(insert(table), rows)


def in_force_today() -> Any:
    """SQL for "the actor holds a mandate in force today" (fpic's ``mandate_in_force``)."""
    today = bindparam("today", type_=mandates.c.valid_from.type)
    return (
        exists()
        .where(mandates.c.representative_id == bindparam("rep"))
        .where(mandates.c.confirmed_at.is_not(None))
        .where(mandates.c.valid_from <= today)
        .where(mandates.c.valid_until >= today)
        .where(or_(mandates.c.revoked_on.is_(None), mandates.c.revoked_on > today))
    )


LOCK = (
    select(
        cases.c.community_id,
        cases.c.stage,
        cases.c.suspended_from,
        cases.c.version,
        cases.c.trail_seq,
        cases.c.trail_hash,
        in_force_today().label("mandated"),
    )
    .where(cases.c.id == bindparam("case_id"))
    .with_for_update()
)


class CoreFloor(System):
    key, label, kind = "core", "the same statements in SQLAlchemy Core", "floor"
    lock = LOCK

    def __init__(self, url: str, seed: Seed) -> None:
        super().__init__()
        self.engine = peer_engine(url)
        create_and_seed(self.engine, seed)
        self.actors = seed.actors
        self.case_ids = [row["id"] for row in seed.cases]
        self.conn = self.engine.connect()

    def act(self, case_id: int, trigger: str) -> None:
        actor = self.actors[actor_community(case_id)]
        with self.conn.begin():
            row = self.conn.execute(
                self.lock,
                {"case_id": case_id, "rep": actor.representative_id, "today": date.today()},
            ).one()
            check_actor(actor, row.community_id)
            if not row.mandated:
                raise Refused("no mandate in force")
            stage, suspended_from = self.move(row, trigger)
            now = naive_now()
            version, seq = row.version + 1, row.trail_seq + 1
            note_id = self.conn.execute(
                insert(case_notes),
                {
                    "case_id": case_id,
                    "kind": trigger,
                    "text": NOTE["text"],
                    "suspended_from": suspended_from,
                    "recorded_at": now,
                    "recorded_by": actor.username,
                },
            ).inserted_primary_key[0]
            body = event_body(
                case_id, seq, stamp(now), actor, trigger, row.stage, stage, version, note_id
            )
            text, digest = link(row.trail_hash, body)
            self.conn.execute(
                update(cases).where(cases.c.id == case_id),
                {
                    "stage": stage,
                    "suspended_from": suspended_from,
                    "version": version,
                    "trail_seq": seq,
                    "trail_hash": digest,
                    "updated_at": now,
                    **self.extra_columns(),
                },
            )
            self.conn.execute(
                insert(audit_rows),
                {
                    "case_id": case_id,
                    "seq": seq,
                    "at": body["at"],
                    "actor": actor.username,
                    "role": actor.role,
                    "action": trigger,
                    "from_stage": row.stage,
                    "to_stage": stage,
                    "data": text,
                    "prev_hash": row.trail_hash,
                    "hash": digest,
                },
            )

    def move(self, row: Any, trigger: str) -> tuple[str, str | None]:
        return moved(trigger, row.stage, row.suspended_from)

    def extra_columns(self) -> dict[str, Any]:
        return {}

    @contextmanager
    def counted(self) -> Iterator[None]:
        with counting_sqlalchemy(self.engine, self.count):
            yield

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def actor_community(case_id: int) -> int:
    """The community of a seeded case (``seed_rows``), so the actor is one of its own."""
    return 1 + case_id % COMMUNITIES


RAW_LOCK = """
SELECT community_id, stage, suspended_from, version, trail_seq, trail_hash,
       EXISTS (SELECT 1 FROM mandates WHERE representative_id = {p} AND confirmed_at IS NOT NULL
               AND valid_from <= {p} AND valid_until >= {p}
               AND (revoked_on IS NULL OR revoked_on > {p}))
FROM cases WHERE id = {p}{lock}"""
RAW_NOTE = """INSERT INTO case_notes (case_id, kind, text, suspended_from, recorded_at, recorded_by)
VALUES ({p}, {p}, {p}, {p}, {p}, {p}){returning}"""
RAW_UPDATE = """UPDATE cases SET stage = {p}, suspended_from = {p}, version = {p}, trail_seq = {p},
trail_hash = {p}, updated_at = {p} WHERE id = {p}"""
RAW_AUDIT = """INSERT INTO audit_rows (case_id, seq, at, actor, role, action, from_stage, to_stage,
data, prev_hash, hash) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"""


class RawDriver(System):
    """The four statements on the driver itself: sqlite3 or psycopg 3, no SQLAlchemy."""

    key, label, kind = "raw", "the same statements on the raw driver", "floor"

    def __init__(self, url: str, seed: Seed) -> None:
        super().__init__()
        engine = peer_engine(url)
        create_and_seed(engine, seed)
        engine.dispose()
        self.actors = seed.actors
        self.case_ids = [row["id"] for row in seed.cases]
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self.conn: Any
        if self.sqlite:
            assert parsed.database is not None
            self.conn = sqlite3.connect(parsed.database, isolation_level=None)
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
                self.conn.execute(f"PRAGMA {pragma}")
            p, lock, returning = "?", "", ""
        else:
            import psycopg

            self.conn = psycopg.connect(
                parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            )
            p, lock, returning = "%s", " FOR UPDATE", " RETURNING id"
        self.sql = {
            name: text.format(p=p, lock=lock, returning=returning)
            for name, text in (
                ("lock", RAW_LOCK), ("note", RAW_NOTE), ("update", RAW_UPDATE),
                ("audit", RAW_AUDIT),
            )
        }  # fmt: skip

    def _time(self, value: Any) -> Any:
        """sqlite3 binds text, as SQLAlchemy's SQLite types store dates and times."""
        if not self.sqlite or value is None:
            return value
        return value.isoformat(" ") if isinstance(value, datetime) else value.isoformat()

    def _run(self, cursor: Any, name: str, params: tuple[Any, ...]) -> None:
        if self.counting:
            self.count(self.sql[name])
        cursor.execute(self.sql[name], params)

    def act(self, case_id: int, trigger: str) -> None:
        actor = self.actors[actor_community(case_id)]
        conn, today = self.conn, self._time(date.today())
        cursor = conn.cursor()
        if self.sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        try:
            self._run(cursor, "lock", (actor.representative_id, today, today, today, case_id))
            community_id, old, suspended, version, seq, prev, mandated = cursor.fetchone()
            check_actor(actor, community_id)
            if not mandated:
                raise Refused("no mandate in force")
            stage, suspended_from = moved(trigger, old, suspended)
            now = naive_now()
            version, seq = version + 1, seq + 1
            self._run(
                cursor,
                "note",
                (case_id, trigger, NOTE["text"], suspended_from, self._time(now), actor.username),
            )
            note_id = cursor.lastrowid if self.sqlite else cursor.fetchone()[0]
            at = stamp(now)
            body = event_body(case_id, seq, at, actor, trigger, old, stage, version, note_id)
            text, digest = link(prev, body)
            self._run(
                cursor,
                "update",
                (stage, suspended_from, version, seq, digest, self._time(now), case_id),
            )
            self._run(
                cursor,
                "audit",
                (case_id, seq, body["at"], actor.username, actor.role, trigger, old, stage, text,
                 prev, digest),
            )  # fmt: skip
        except BaseException:
            cursor.execute("ROLLBACK") if self.sqlite else conn.rollback()
            raise
        if self.sqlite:
            cursor.execute("COMMIT")
        else:
            conn.commit()
        cursor.close()

    def close(self) -> None:
        self.conn.close()
