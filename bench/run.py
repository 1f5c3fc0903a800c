"""Run every benchmark: ``python bench/run.py [--quick] [--json FILE]``.

Each figure is a ratio to a baseline measured in the same run on the same machine, so the
targets hold on any hardware. ``--quick`` uses small datasets and short rounds (the CI smoke
test); the full run uses the issue's sizes (100,000 cases, 1,000,000 events).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    b1_actions,
    b2_overhead,
    b2_web,
    b3_verify,
    b4_contention,
    b5_pages,
    b6_memory,
    b7_peers,
    b8_evidence,
    b9_screening,
    b10_log,
    b11_search,
)
from bench import (
    report as markdown_report,
)
from bench.common import (
    Benchmark,
    Figure,
    Stopwatch,
    load_average,
    machine,
    postgres_available,
    scratch_database,
)
from bench.generate import Dataset, generate
from bench.server import gunicorn
from bench.web_load import refresh, targets
from fpic.storage.db import Database

TITLES = {
    "B1": "durable case actions per second",
    "B2": "web requests per second that advance a case",
    "B3": "trail events verified per second",
    "B4": "16 clients acting on one case",
    "B5": "page latency at 100,000 cases and 1,000,000 events",
    "B6": "peak memory verifying or exporting the whole trail",
    "B7": "fpic against its peers: the same unit of work",
    "B8": "a 250 MB evidence file: upload, bundle, verify",
    "B9": "screening one project against 100,000 protected areas",
    "B10": "the Merkle log: appending to it, and a proof in 1,000,000 events",
    "B11": "search at 100,000 cases, and what keeping its index costs an action",
}


@dataclass(frozen=True)
class Sizes:
    large: tuple[int, int]  #: cases, events
    small: tuple[int, int]
    web: tuple[int, int]


FULL = Sizes(large=(100_000, 1_000_000), small=(100, 1_000), web=(80, 800))
QUICK = Sizes(large=(200, 5_000), small=(100, 1_000), web=(80, 800))


@dataclass
class Run:
    quick: bool
    backend: str
    workdir: Path
    only: set[str]
    results: dict[str, Benchmark]

    def wants(self, key: str) -> bool:
        return not self.only or key in self.only

    def bench(self, key: str) -> Benchmark:
        return self.results.setdefault(key, Benchmark(key, TITLES[key]))

    @contextmanager
    def timed(self, key: str) -> Iterator[Benchmark]:
        """Time a benchmark; an exception is recorded against it and the run goes on."""
        bench, clock = self.bench(key), Stopwatch()
        try:
            yield bench
        except Exception as exc:
            bench.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            bench.seconds += clock.seconds
            click.echo(f"  {key} done in {clock.seconds:.0f} s", err=True)


def run_b1(run: Run) -> None:
    with run.timed("B1") as bench:
        bench.figures.append(b1_actions.run("sqlite", run.workdir, run.quick))
        bench.invariants["postgresql_reachable"] = postgres_available()
        if bench.invariants["postgresql_reachable"]:
            bench.figures.append(b1_actions.run("postgresql", run.workdir, run.quick))


def run_b7(run: Run) -> None:
    with run.timed("B7") as bench:
        figures, checks = b7_peers.run(run.workdir, run.quick)
        bench.figures.extend(figures)
        bench.invariants.update(checks)


def run_b8(run: Run) -> None:
    """SQLite always, PostgreSQL when it answers, whatever --backend says (as B1 and B7)."""
    with run.timed("B8") as bench:
        figures, checks = b8_evidence.run(run.workdir, run.quick)
        bench.figures.extend(figures)
        bench.invariants.update(checks)


def run_b9(run: Run) -> None:
    """SQLite always, PostgreSQL when it answers, whatever --backend says (as B8)."""
    with run.timed("B9") as bench:
        figures, checks = b9_screening.run(run.workdir, run.quick)
        bench.figures.extend(figures)
        bench.invariants.update(checks)


def run_b10(run: Run) -> None:
    """SQLite always, PostgreSQL when it answers, whatever --backend says (as B9)."""
    with run.timed("B10") as bench:
        figures, checks = b10_log.run(run.workdir, run.quick)
        bench.figures.extend(figures)
        bench.invariants.update(checks)


def run_b11(run: Run) -> None:
    """SQLite always, PostgreSQL when it answers, whatever --backend says (as B10)."""
    with run.timed("B11") as bench:
        figures, checks = b11_search.run(run.workdir, run.quick)
        bench.figures.extend(figures)
        bench.invariants.update(checks)


def run_web(run: Run, sizes: Sizes) -> None:
    """B2 and B4 share one server on one small dataset."""
    keys = [k for k in ("B2", "B4") if run.wants(k)]
    if not keys:
        return
    with scratch_database(run.backend, run.workdir, "web") as url:
        dataset = generate(url, *sizes.web, progress=False)
        db = Database(url)
        modules: dict[str, Any] = {"B2": b2_web, "B4": b4_contention}
        try:
            with gunicorn(url) as port:
                for key in keys:
                    with run.timed(key) as bench:
                        figure, checks = modules[key].run(port, db, dataset, run.quick)
                        bench.figures.append(figure)
                        bench.invariants.update(checks)
            if "B2" in keys:  # in process, once the server is gone
                with run.timed("B2") as bench:
                    target = refresh(db, targets(db, dataset, 1)[0])
                    bench.figures.append(b2_overhead.run(url, target, run.quick))
        finally:
            db.dispose()


def run_data(run: Run, sizes: Sizes, datasets: dict[str, Any]) -> None:
    """B3, B5 and B6 read one large dataset (B5 and B6 also a small one)."""
    if not any(run.wants(k) for k in ("B3", "B5", "B6")):
        return
    with (
        scratch_database(run.backend, run.workdir, "large") as large_url,
        scratch_database(run.backend, run.workdir, "small") as small_url,
    ):
        click.echo(f"Generating {sizes.large[0]:,} cases, {sizes.large[1]:,} events", err=True)
        large = generate(large_url, *sizes.large)
        small = generate(small_url, *sizes.small, progress=False)
        for name, dataset in (("large", large), ("small", small)):
            datasets[name] = _described(dataset)
        if run.wants("B3"):
            with run.timed("B3") as bench:
                figure, checks = b3_verify.run(large.url, run.quick)
                bench.figures.append(figure)
                bench.invariants.update(checks)
        if run.wants("B5"):
            with run.timed("B5") as bench:
                bench.figures.extend(b5_pages.run(small, large, run.quick))
        if run.wants("B6"):
            with run.timed("B6") as bench:
                figures, checks = b6_memory.run(small, large, run.workdir)
                bench.figures.extend(figures)
                bench.invariants.update(checks)


def _described(dataset: Dataset) -> dict[str, Any]:
    return {
        "cases": dataset.cases,
        "events": dataset.events,
        "communities": len(dataset.directory.places),
        "generation_seconds": round(dataset.seconds, 1),
        "events_per_second": round(dataset.events / dataset.seconds),
    }


# --- output --------------------------------------------------------------------------------


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    short = {"requests/s": "/s", "actions/s": "/s", "events/s": "/s", "MB peak RSS": " MB"}
    return f"{value:,.1f}{short.get(unit, ' ' + unit)}"


def table(results: dict[str, Benchmark]) -> list[str]:
    header = (
        f"{'#':<3} {'measure':<44} {'value':>12} {'baseline':>12} {'ratio':>6}  "
        f"{'target':<36} result"
    )
    lines = [header, "-" * len(header)]
    for key in sorted(results):
        bench = results[key]
        for figure in bench.figures:
            lines.append(_row(key, figure))
        if bench.error:
            lines.append(f"{key:<3} ERROR: {bench.error}")
    return lines


def _row(key: str, figure: Figure) -> str:
    ratio = "-" if figure.ratio is None else f"{figure.ratio:.2f}"
    return (
        f"{key:<3} {figure.label[:44]:<44} {_amount(figure.value, figure.unit):>12} "
        f"{_amount(figure.baseline, figure.unit):>12} {ratio:>6}  {figure.target[:36]:<36} "
        f"{'info' if figure.informational else 'pass' if figure.passed else 'MISSED'}"
    )


def report(run: Run, info: dict[str, Any], datasets: dict[str, Any]) -> dict[str, Any]:
    return {
        "mode": "quick" if run.quick else "full",
        "backend": run.backend,
        "machine": info,
        "datasets": datasets,
        **{key: run.results[key].as_json() for key in sorted(run.results)},
    }


@click.command()
@click.option("--quick", is_flag=True, help="Small datasets and short rounds (CI smoke test).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--backend",
    type=click.Choice(["sqlite", "postgresql"]),
    default="sqlite",
    show_default=True,
    help="Database for B2-B6 (B1 and B7 to B11 always measure both).",
)
@click.option("--only", default="", help="Comma-separated subset, e.g. B1,B5.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where scratch SQLite files go (default: a temporary folder).",
)
def main(
    quick: bool, json_file: Path | None, backend: str, only: str, workdir: Path | None
) -> None:
    """Measure what fpic's guarantees cost, as ratios to baselines from the same run."""
    scratch = workdir or Path(tempfile.mkdtemp(prefix="fpic-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    wanted = {k.strip().upper() for k in only.split(",") if k.strip()}
    run = Run(quick, backend, scratch, wanted, {})
    sizes = QUICK if quick else FULL
    info = machine()
    info["load_average_start"] = load_average()
    datasets: dict[str, Any] = {}
    try:
        if run.wants("B1"):
            run_b1(run)
        run_web(run, sizes)
        run_data(run, sizes, datasets)
        if run.wants("B7"):
            run_b7(run)
        if run.wants("B8"):
            run_b8(run)
        if run.wants("B9"):
            run_b9(run)
        if run.wants("B10"):
            run_b10(run)
        if run.wants("B11"):
            run_b11(run)
    finally:
        if workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    info["load_average_end"] = load_average()
    result = report(run, info, datasets)
    click.echo("\n".join(table(run.results)))
    if "B7" in run.results:
        click.echo("\nB7, each system as a ratio to the floor of the same database:\n")
        click.echo("\n".join(markdown_report.peer_rows(result["B7"])))
    click.echo(
        f"\n{info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB; Python {info['python']}, "
        f"SQLite {info['sqlite']}, PostgreSQL {info['postgresql']}; load "
        f"{info['load_average_start']} -> {info['load_average_end']}"
    )
    if json_file is not None:
        json_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if any(bench.error for bench in run.results.values()):
        sys.exit(2)


if __name__ == "__main__":
    main()
