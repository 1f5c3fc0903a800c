"""B6: peak memory of ``fpic audit verify`` and ``fpic audit export`` over the whole trail.

Each command runs as its own process; its peak resident set size comes from the kernel when
it ends (wait4's rusage), so nothing in this process is counted. The same commands on the
small dataset show what a process of fpic weighs before the data counts.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import Figure
from bench.generate import Dataset

LIMIT_MB = 150.0


#: runs the command as its own child and reports that child's peak RSS (in KiB) and exit code.
#: A small launcher, because Linux counts a forked child's memory from before exec in its peak:
#: forked straight from this (large) process, every command would weigh at least as much.
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
    "stderr=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n"
)


def peak(command: list[str]) -> tuple[float, float, int]:
    """Peak RSS in MB, wall seconds and exit code of one command."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]) / 1024, time.perf_counter() - start, int(out[1])


def commands(url: str, export: Path) -> dict[str, list[str]]:
    fpic = [sys.executable, "-m", "fpic.cli", "--database-url", url]
    return {
        "verify the database": [*fpic, "audit", "verify"],
        "export JSON Lines": [*fpic, "audit", "export", "--format", "jsonl", "-o", str(export)],
        "verify the export file": [*fpic, "audit", "verify", str(export)],
    }


def run(small: Dataset, large: Dataset, workdir: Path) -> tuple[list[Figure], dict[str, bool]]:
    figures, checks = [], {}
    few = commands(small.url, workdir / "small-export.jsonl")
    many = commands(large.url, workdir / "large-export.jsonl")
    for name, command in many.items():
        floor, _, _ = peak(few[name])
        megabytes, seconds, code = peak(command)
        checks[f"{name}: exit 0"] = code == 0
        figures.append(
            Figure(
                f"{name} ({large.events:,} events)",
                megabytes,
                "MB peak RSS",
                None,
                None,
                f"< {LIMIT_MB:.0f} MB",
                megabytes < LIMIT_MB and code == 0,
                {
                    "seconds": round(seconds, 1),
                    f"same command, {small.events:,} events": round(floor, 1),
                },
            )
        )
    for path in (workdir / "small-export.jsonl", workdir / "large-export.jsonl"):
        path.unlink(missing_ok=True)
    return figures, checks
