"""What every benchmark shares: results, the machine, scratch databases and timing rounds."""

from __future__ import annotations

import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from fpic.storage.db import reachable, scratch_postgres

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "FPIC_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "correct horse battery"
#: accounts are seeded by the thousand; sign-in cost is part of nothing measured here
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Figure:
    """One measured figure against its baseline from the same run."""

    label: str
    value: float
    unit: str
    baseline: float | None
    ratio: float | None
    target: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    #: shown for understanding, not held to a target
    informational: bool = False


@dataclass
class Benchmark:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    invariants: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(f.passed or f.informational for f in self.figures)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "passed": self.passed,
            "figures": [asdict(f) for f in self.figures],
            "invariants": self.invariants,
            "seconds": round(self.seconds, 1),
            "error": self.error,
        }


def ratio_figure(
    label: str,
    value: float,
    baseline: float,
    unit: str,
    minimum: float | None = None,
    maximum: float | None = None,
    **details: Any,
) -> Figure:
    """A figure judged by its ratio to the baseline: at least ``minimum`` or at most ``maximum``."""
    ratio = value / baseline if baseline else float("inf")
    if minimum is not None:
        target, passed = f"ratio >= {minimum}", ratio >= minimum
    else:
        assert maximum is not None
        target, passed = f"ratio <= {maximum}", ratio <= maximum
    return Figure(label, value, unit, baseline, ratio, target, passed, details)


def interleaved(
    measured: Callable[[], float], baseline: Callable[[], float], rounds: int
) -> tuple[float, float, list[float], list[float]]:
    """Medians of alternating rounds, so a machine that gets busier hurts both sides alike."""
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        theirs.append(baseline())
        ours.append(measured())
    return statistics.median(ours), statistics.median(theirs), ours, theirs


# --- scratch databases ---------------------------------------------------------------------


@contextmanager
def scratch_database(backend: str, workdir: Path, name: str) -> Iterator[str]:
    """A new empty database (SQLite file or PostgreSQL database), removed afterwards."""
    if backend == "sqlite":
        path = workdir / f"{name}.sqlite3"
        remove_sqlite(path)
        try:
            yield f"sqlite:///{path}"
        finally:
            remove_sqlite(path)
        return
    with scratch_postgres(PG_ADMIN_URL, f"fpic_bench_{name}") as url:
        yield url


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def postgres_available() -> bool:
    return reachable(PG_ADMIN_URL)


# --- the machine ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on; ratios travel between machines, raw rates do not."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(_ram_bytes() / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(),
        "disk": _disk_of(ROOT),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def _postgres_version() -> str | None:
    if not postgres_available():
        return None
    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            return str(conn.scalar(text("SHOW server_version")))
    finally:
        engine.dispose()


def _disk_of(path: Path) -> str:
    found = shutil.which("df")
    if not found:
        return "unknown"
    out = subprocess.run([found, "-T", str(path)], capture_output=True, text=True).stdout
    lines = out.strip().splitlines()
    return re.sub(r"\s+", " ", lines[-1]).split(" ")[1] if len(lines) > 1 else "unknown"


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


# --- what B8 and B9 share: their measuring processes ------------------------------------------

#: how a step is timed: plainly, or under the profiler (``profiled``)
Timer = Callable[[str, Callable[[], Any]], tuple[Any, float]]


def stopwatch(_step: str, action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = action()
    return value, time.perf_counter() - start


def profiled(top: int) -> Timer:
    """A timer that runs each step under cProfile and prints the ``top`` functions it spends
    most in (tottime)."""
    import cProfile
    import pstats

    def timer(step: str, action: Callable[[], Any]) -> tuple[Any, float]:
        profiler = cProfile.Profile()
        value, seconds = profiler.runcall(stopwatch, step, action)
        print(f"\n=== {step}: {seconds:.2f} s")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(top)
        return value, seconds

    return timer


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """The resident set size now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def cheap_sign_in() -> None:
    """Before fpic.accounts.sessions is imported: it hashes a dummy password at import with
    argon2id's real cost, which is the cost of signing in, not of what is measured."""
    from fpic.accounts import passwords

    passwords._hasher = CHEAP_HASHER


def backends() -> list[str]:
    """The databases a benchmark that always measures both can reach."""
    return ["sqlite", "postgresql"] if postgres_available() else ["sqlite"]
