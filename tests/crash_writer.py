"""A writer for the crash-safety test: asks questions on one case as fast as it can and prints
an acknowledgement after each action commits, until it is killed.

Run as ``python -m tests.crash_writer URL CASE_ID ISO_TIME``.
"""

from __future__ import annotations

import sys
from datetime import datetime

from fpic.storage.db import Database
from fpic.storage.models import Case
from fpic.workflow.clock import FrozenClock
from fpic.workflow.engine import Busy, Engine, user_actor
from fpic.workflow.errors import StaleCase


def main(url: str, case_id: int, at: str) -> None:
    db = Database(url)
    engine = Engine(db, FrozenClock(datetime.fromisoformat(at)))
    with db.read_session() as session:
        liaison = user_actor(session, "liaison")
    number = 0
    while True:
        with db.read_session() as session:
            case = session.get(Case, case_id)
            assert case is not None
            version = case.version
        number += 1
        question = {"text": f"Pregunta {number} sobre el agua del puquio", "language": "es"}
        try:
            result = engine.advance(case_id, "ask_question", liaison, question, version)
        except (StaleCase, Busy):
            continue
        # the line is printed only after the commit: each one is an acknowledged action
        print(f"ACK {result.version} {result.records['question_id']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
