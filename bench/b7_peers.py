"""B7: fpic against its peers, the same unit of work in each, on SQLite and PostgreSQL.

A representative suspends or resumes one of 1,000 cases of their community: the role and the
community, one guard that reads the mandates, the stage, one note, one SHA-256-chained audit
row, commit (bench/peers/__init__.py says it in full). Each system works on its own fresh
database; rounds of N actions go to each system in turn, the order rotated every round, and
each system's median is given as a ratio to the floor (the same four statements in SQLAlchemy
Core) measured in the same rounds on the same database. The peers' packages are the optional
``bench`` extra; a peer whose package is missing is reported as not installed.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Figure, postgres_available, scratch_database
from bench.peers import System, seed_rows


@dataclass(frozen=True)
class Peer:
    key: str
    label: str
    kind: str  #: "engine", "orm", "workflow" or "floor"
    modules: tuple[str, ...]  #: what must be installed
    make: Callable[[str, int], System]


def _fpic(url: str, count: int) -> System:
    from bench.peers.fpic_engine import Fpic

    return Fpic(url, count)


def _django(url: str, count: int) -> System:
    from bench.peers.django_fsm import DjangoFsm

    return DjangoFsm(url, seed_rows(count))


def _transitions(url: str, count: int) -> System:
    from bench.peers.orm import TransitionsOrm

    return TransitionsOrm(url, seed_rows(count))


def _spiff(url: str, count: int) -> System:
    from bench.peers.spiff import Spiff

    return Spiff(url, seed_rows(count))


def _core(url: str, count: int) -> System:
    from bench.peers.sql import CoreFloor

    return CoreFloor(url, seed_rows(count))


def _raw(url: str, count: int) -> System:
    from bench.peers.sql import RawDriver

    return RawDriver(url, seed_rows(count))


PEERS = (
    Peer("fpic", "fpic Engine.advance", "engine", (), _fpic),
    Peer(
        "django",
        "django-fsm-2 + django-fsm-log",
        "orm",
        ("django", "django_fsm", "django_fsm_log"),
        _django,
    ),
    Peer("transitions", "transitions + SQLAlchemy ORM", "orm",
         ("transitions",), _transitions),
    Peer("spiff", "SpiffWorkflow 3, JSON in row", "workflow", ("SpiffWorkflow",),
         _spiff),
    Peer("core", "SQLAlchemy Core (the floor)", "floor", (), _core),
    Peer("raw", "raw driver (sqlite3/psycopg)", "floor", (), _raw),
)  # fmt: skip
FLOOR = "core"
TARGET_FLOOR, TARGET_ORM, TARGET_SPIFF = 0.5, 1.5, 1.0


@dataclass(frozen=True)
class Sizes:
    cases: int
    actions: int  #: per system per round
    rounds: int
    warm: int  #: actions per system before counting and measuring
    counted: int  #: actions per system whose statements are counted


FULL = Sizes(cases=1000, actions=400, rounds=5, warm=50, counted=20)
#: few cases, so that every system suspends and resumes (each case comes round 3 times)
QUICK = Sizes(cases=20, actions=25, rounds=2, warm=5, counted=4)


def installed(peer: Peer) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in peer.modules)


def measure(backend: str, workdir: Path, sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Each installed system's rounds (actions/s) and statements per action on ``backend``."""
    peers = [p for p in PEERS if installed(p)]
    with ExitStack() as stack:
        systems: dict[str, System] = {}
        for peer in peers:
            url = stack.enter_context(scratch_database(backend, workdir, f"b7_{peer.key}"))
            systems[peer.key] = peer.make(url, sizes.cases)
            stack.callback(systems[peer.key].close)
        statements = {}
        for key, system in systems.items():
            system.rate(sizes.warm)
            statements[key] = system.statements_per_action(sizes.counted)
        rounds: dict[str, list[float]] = {key: [] for key in systems}
        keys = list(systems)
        for n in range(sizes.rounds):
            for key in keys[n % len(keys) :] + keys[: n % len(keys)]:
                rounds[key].append(systems[key].rate(sizes.actions))
    return {
        key: {
            "median": statistics.median(rounds[key]),
            "rounds": [round(x, 1) for x in rounds[key]],
            "statements": statements[key],
        }
        for key in systems
    }


def figures(backend: str, results: dict[str, dict[str, Any]], sizes: Sizes) -> list[Figure]:
    floor = results[FLOOR]["median"]
    out = []
    for peer in PEERS:
        if peer.key not in results:
            continue
        found = results[peer.key]
        is_fpic = peer.key == "fpic"
        out.append(
            Figure(
                f"{peer.label} ({backend})",
                found["median"],
                "actions/s",
                floor,
                found["median"] / floor,
                f"ratio >= {TARGET_FLOOR} (to the floor)" if is_fpic else "ratio to the floor",
                found["median"] / floor >= TARGET_FLOOR if is_fpic else True,
                {
                    "system": peer.key,
                    "system_label": peer.label,
                    "kind": peer.kind,
                    "backend": backend,
                    "statements": found["statements"],
                    "rounds": found["rounds"],
                    "baseline_rounds": results[FLOOR]["rounds"],
                    "baseline_is": "the same statements in SQLAlchemy Core",
                    "actions_per_round": sizes.actions,
                    "cases": sizes.cases,
                },
                informational=not is_fpic,
            )
        )
    if "fpic" not in results:
        return out
    fpic = results["fpic"]["median"]
    orms = [p for p in PEERS if p.kind == "orm" and p.key in results]
    if orms:
        fastest = max(orms, key=lambda p: results[p.key]["median"])
        best = results[fastest.key]["median"]
        out.append(
            Figure(
                f"fpic / {fastest.key}, fastest ORM ({backend})",
                fpic,
                "actions/s",
                best,
                fpic / best,
                f"ratio >= {TARGET_ORM}",
                fpic / best >= TARGET_ORM,
                {
                    "backend": backend,
                    "baseline_is": fastest.label,
                    "orm_peers_measured": [p.key for p in orms],
                },
            )
        )
    if "spiff" in results:
        spiff = results["spiff"]["median"]
        out.append(
            Figure(
                f"fpic / SpiffWorkflow ({backend})",
                fpic,
                "actions/s",
                spiff,
                fpic / spiff,
                "ratio > 1 (ahead)",
                fpic / spiff > TARGET_SPIFF,
                {"backend": backend, "baseline_is": "SpiffWorkflow, workflow JSON in the row"},
            )
        )
    return out


def run(workdir: Path, quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    sizes = QUICK if quick else FULL
    checks: dict[str, Any] = {
        "not_installed": [p.label for p in PEERS if not installed(p)],
        "cases": sizes.cases,
    }
    backends = ["sqlite"]
    checks["postgresql_reachable"] = postgres_available()
    if checks["postgresql_reachable"]:
        backends.append("postgresql")
    elif os.environ.get("CI") == "true":
        raise RuntimeError("PostgreSQL is not reachable and CI=true: B7 must measure both")
    out: list[Figure] = []
    for backend in backends:
        results = measure(backend, workdir, sizes)
        checks[f"statements_{backend}"] = {k: v["statements"] for k, v in results.items()}
        out.extend(figures(backend, results, sizes))
    return out, checks
