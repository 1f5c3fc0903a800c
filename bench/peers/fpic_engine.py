"""fpic itself: ``Engine.advance`` on the general template, on a database that
``bench/generate.py`` filled with ``count`` cases just opened (at screening, from which the
community may suspend the process), each of a community with three mandated representatives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from bench.generate import generate
from bench.peers import ACTIVE, NOTE, System, counting_sqlalchemy
from fpic.storage.db import Database
from fpic.storage.models import Case
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine, user_actor


class Fpic(System):
    key, label, kind = "fpic", "fpic Engine.advance", "engine"

    def __init__(self, url: str, count: int) -> None:
        super().__init__()
        dataset = generate(url, cases=count, events=count, progress=False)
        self.db = Database(url)
        self.engine = Engine(self.db)
        self.versions: dict[int, int] = {}
        self.actors: dict[int, Actor] = {}
        with self.db.read_session() as session:
            by_community = {
                place.id: user_actor(session, place.reps[0].username)
                for place in dataset.directory.places
            }
            for case in session.scalars(
                select(Case).where(Case.stage.in_(ACTIVE)).order_by(Case.id).limit(count)
            ):
                self.case_ids.append(case.id)
                self.versions[case.id] = case.version
                self.actors[case.id] = by_community[case.community_id]
        assert len(self.case_ids) == count, "the dataset has too few cases to suspend"

    def act(self, case_id: int, trigger: str) -> None:
        result = self.engine.advance(
            case_id, trigger, self.actors[case_id], NOTE, self.versions[case_id]
        )
        self.versions[case_id] = result.version

    @contextmanager
    def counted(self) -> Iterator[None]:
        with counting_sqlalchemy(self.db.engine, self.count):
            yield

    def close(self) -> None:
        self.db.dispose()
