"""B2: web requests per second that advance a case, against a trivial route of the same server.

gunicorn runs the real app with 2 workers (4 threads each, as ``fpic serve``). Each client
process signs in as a representative and posts the action form of its own case again and again
(suspend, resume: a stage change each time), with the CSRF token and the case version, as the
browser form does. The baseline is the same number of clients fetching ``/bench/ping`` from the
same server. Both sides share the two cores with the clients, alike.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.common import Figure, interleaved, ratio_figure
from bench.generate import Dataset
from bench.web_load import Checks, act_round, fire, targets, total
from fpic.storage.db import Database

TARGET = 0.4
CLIENTS = 4


def run(port: int, db: Database, dataset: Dataset, quick: bool) -> tuple[Figure, dict[str, Any]]:
    seconds, rounds = (2.0, 1) if quick else (10.0, 3)
    cases = targets(db, dataset, CLIENTS)
    checks = Checks()
    ping_errors = 0

    def advance() -> float:
        return act_round(port, db, seconds, cases, checks).done / seconds

    def ping() -> float:
        nonlocal ping_errors
        summed = total(fire(port, "ping", seconds, [None] * CLIENTS))
        ping_errors += summed.server_errors
        return summed.done / seconds

    fire(port, "ping", 1.0, [None] * CLIENTS)  # both workers up and warm
    ours, theirs, all_ours, all_theirs = interleaved(advance, ping, rounds)
    figure = ratio_figure(
        "web actions/s (gunicorn, 2 workers)",
        ours,
        theirs,
        "requests/s",
        minimum=TARGET,
        baseline_is="trivial route requests/s",
        clients=CLIENTS,
        seconds_per_round=seconds,
        rounds=[round(x, 1) for x in all_ours],
        baseline_rounds=[round(x, 1) for x in all_theirs],
    )
    figure.passed = figure.passed and checks.clean and ping_errors == 0
    return figure, {**asdict(checks), "baseline_server_errors": ping_errors}
