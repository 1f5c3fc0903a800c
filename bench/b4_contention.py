"""B4: 16 clients acting on one case, against the same 16 clients each on a case of its own.

Every client posts the action form with the version it last saw. One wins each version; the
others get 409 with the fresh version and what changed, and try again with it, as a person
would. The figure is answered requests per second (an action done or a stale version
explained). Afterwards the database must agree with the clients: the case gained exactly as
many versions and done events as clients saw 302s, one refused event per 409, no 5xx, and the
chain verifies.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.common import Figure, interleaved, ratio_figure
from bench.generate import Dataset
from bench.web_load import Checks, act_round, targets
from fpic.storage.db import Database

TARGET = 0.5
CLIENTS = 16


def run(port: int, db: Database, dataset: Dataset, quick: bool) -> tuple[Figure, dict[str, Any]]:
    seconds, rounds = (2.0, 1) if quick else (10.0, 3)
    cases = targets(db, dataset, CLIENTS)
    contended, apart = Checks(), Checks()

    def one_case() -> float:
        summed = act_round(port, db, seconds, [cases[0]] * CLIENTS, contended)
        return (summed.done + summed.stale) / seconds

    def own_cases() -> float:
        summed = act_round(port, db, seconds, cases, apart)
        return (summed.done + summed.stale) / seconds

    ours, theirs, all_ours, all_theirs = interleaved(one_case, own_cases, rounds)
    figure = ratio_figure(
        "16 clients on one case",
        ours,
        theirs,
        "requests/s",
        minimum=TARGET,
        baseline_is="16 clients, a case each, requests/s",
        seconds_per_round=seconds,
        rounds=[round(x, 1) for x in all_ours],
        baseline_rounds=[round(x, 1) for x in all_theirs],
        actions_done_per_s=round(contended.actions_done / (seconds * rounds), 1),
    )
    figure.passed = figure.passed and contended.clean and apart.clean
    return figure, {**asdict(contended), "uncontended": asdict(apart)}
