"""B5: page latency with 100,000 cases and 1,000,000 events, against the same pages with 100.

The real Flask app (test client, in this process) on each dataset, signed in as a liaison
officer (who sees every case): the case list, one case page, and the trail filtered to one case
(which also verifies that case's chain) and to one person. What is shown is chosen alike in both
datasets, so that only the size of the tables differs: the case is at the disclosure stage with
a trail nearest 24 events, the person is the one whose events number nearest 750 (a full page of
50 rows and a similar count to make in both). Requests alternate between the two datasets.

A filter that matches a fixed share of a growing trail (everything the busiest liaison officer
ever did: 15% of it) must count more as the trail grows to say how many pages there are; it is
measured too, for information, not held to the target.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass

from flask.testing import FlaskClient
from sqlalchemy import String, cast, func, literal, select

from bench.common import PASSWORD, Figure, ratio_figure
from bench.generate import Dataset
from fpic.storage.db import Database
from fpic.storage.models import Case, ChainHead, TrailEvent
from fpic.trail import audit
from web import create_app

TARGET = 1.5
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
CASE_EVENTS = 24
PERSON_EVENTS = 750
INFORMATION = "trail, busiest person"


@dataclass(frozen=True)
class Site:
    """One dataset served by the app, and the pages to time on it."""

    client: FlaskClient
    pages: dict[str, str]


def site(dataset: Dataset) -> Site:
    app = create_app({"DATABASE_URL": dataset.url, "SECRET_KEY": "bench"})
    client = app.test_client()
    liaison = dataset.directory.liaisons[0].username
    login = client.get("/login").text
    match = CSRF.search(login)
    assert match, "the sign-in page has no CSRF token"
    signed = client.post(
        "/login",
        data={
            "username": liaison,
            "password": PASSWORD,
            "csrf_token": match.group(1) or match.group(2),
        },
    )
    assert signed.status_code == 302, signed.status_code
    case_id, person, busiest = chosen(dataset.url)
    return Site(
        client,
        {
            "case list": "/cases/",
            "case page": f"/cases/{case_id}",
            "trail, one case": f"/audit/?case={case_id}",
            "trail, one person": f"/audit/?person={person}",
            INFORMATION: f"/audit/?person={busiest}",
        },
    )


def chosen(url: str) -> tuple[int, str, str]:
    """The typical case, the person with a typical number of events, and the busiest person."""
    db = Database(url)
    try:
        with db.read_session() as session:
            case_id = session.scalar(
                select(Case.id)
                .join(
                    ChainHead, ChainHead.chain == literal("case:", String) + cast(Case.id, String)
                )
                .where(Case.stage == "disclosure")
                .order_by(func.abs(ChainHead.seq - CASE_EVENTS), Case.id)
                .limit(1)
            )
            events = func.count().label("events")
            people = (
                select(TrailEvent.actor, events)
                .where(TrailEvent.chain != audit.SYSTEM_CHAIN)
                .group_by(TrailEvent.actor)
                .subquery()
            )
            person = session.scalar(
                select(people.c.actor).order_by(func.abs(people.c.events - PERSON_EVENTS)).limit(1)
            )
            busiest = session.scalar(
                select(people.c.actor).order_by(people.c.events.desc()).limit(1)
            )
    finally:
        db.dispose()
    assert case_id is not None, "the dataset has no case at the disclosure stage"
    assert person is not None, "the dataset has no trail"
    assert busiest is not None, "the dataset has no trail"
    return int(case_id), str(person), str(busiest)


def latency_ms(client: FlaskClient, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed


def run(small: Dataset, large: Dataset, quick: bool) -> list[Figure]:
    repeats = 5 if quick else 30
    few, many = site(small), site(large)
    figures = []
    for page, url in many.pages.items():
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(3):  # warm caches, templates and the connection pool
            latency_ms(few.client, few.pages[page]), latency_ms(many.client, url)
        for _ in range(repeats):
            theirs.append(latency_ms(few.client, few.pages[page]))
            ours.append(latency_ms(many.client, url))
        figures.append(
            ratio_figure(
                f"{page} ({large.cases:,} cases)",
                statistics.median(ours),
                statistics.median(theirs),
                "ms",
                maximum=TARGET,
                baseline_is=f"same page, {small.cases} cases",
                url=url,
                p90_ms=round(sorted(ours)[int(0.9 * (len(ours) - 1))], 1),
            )
        )
        figures[-1].informational = page == INFORMATION
    return figures
