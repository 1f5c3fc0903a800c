"""The JSON of ``bench/run.py --json FILE`` as the Markdown table of docs/performance.md.

``python bench/report.py FILE`` prints the run's date and load, then one row a figure, so the
published table is the measured one, not one typed again by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

HEADER = (
    "| # | measure | value | baseline | ratio | target | result |",
    "|---|---|---:|---:|---:|---|---|",
)
UNITS = {"requests/s": "/s", "actions/s": "/s", "events/s": "/s", "ms": " ms", "MB/s": " MB/s"}


def amount(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit.startswith("MB peak"):
        return f"{value:,.1f} MB"
    return f"{value:,.1f}{UNITS.get(unit, ' ' + unit)}"


def verdict(figure: dict[str, Any]) -> str:
    if figure.get("informational"):
        return "information"
    return "pass" if figure.get("passed") else "**missed**"


def rows(results: dict[str, Any]) -> list[str]:
    lines = list(HEADER)
    for key in sorted(k for k in results if k.startswith("B")):
        bench = results[key]
        if bench.get("error"):
            lines.append(f"| {key} | {bench['title']} | – | – | – | – | error: {bench['error']} |")
        for figure in bench.get("figures", []):
            ratio = figure.get("ratio")
            lines.append(
                f"| {key} | {figure['label']} | {amount(figure.get('value'), figure['unit'])} "
                f"| {amount(figure.get('baseline'), figure['unit'])} "
                f"| {'–' if ratio is None else f'{ratio:.2f}'} | {figure['target']} "
                f"| {verdict(figure)} |"
            )
    return lines


PEER_HEADER = (
    "| system | SQLite actions/s | ratio to floor | PostgreSQL actions/s | ratio to floor "
    "| statements per action |",
    "|---|---:|---:|---:|---:|---|",
)


def peer_rows(b7: dict[str, Any]) -> list[str]:
    """B7 as one row a system, both databases side by side, then its targets."""
    systems: dict[str, dict[str, dict[str, Any]]] = {}
    labels: dict[str, str] = {}
    targets = []
    for figure in b7.get("figures", []):
        details = figure.get("details", {})
        if "system" in details:
            labels[details["system"]] = details["system_label"]
            systems.setdefault(details["system"], {})[details["backend"]] = figure
        else:
            targets.append(figure)
    lines = list(PEER_HEADER)
    for key, label in labels.items():
        cells, counts = [], []
        for backend in ("sqlite", "postgresql"):
            figure = systems[key].get(backend)
            if figure is None:
                cells += ["not measured", "–"]
                continue
            cells += [amount(figure["value"], "actions/s"), f"{figure['ratio']:.2f}"]
            counts.append(f"{figure['details']['statements']:g}")
        lines.append(f"| {label} | {' | '.join(cells)} | {' / '.join(dict.fromkeys(counts))} |")
    for label in b7.get("invariants", {}).get("not_installed", []):
        lines.append(f"| {label} | not installed | – | not installed | – | – |")
    lines += ["", "| target | fpic | against | ratio | result |", "|---|---:|---:|---:|---|"]
    for figure in [f for f in b7.get("figures", []) if not f.get("informational")]:
        lines.append(
            f"| {figure['label']}: {figure['target']} | {amount(figure['value'], 'actions/s')} "
            f"| {amount(figure['baseline'], 'actions/s')} | {figure['ratio']:.2f} "
            f"| {verdict(figure)} |"
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    machine = results.get("machine", {})
    when = str(machine.get("date", "")).replace("T", " ")[:19]
    heading = (
        f"One {results.get('mode', 'full')} run on {results.get('backend', 'sqlite')}, "
        f"{when} UTC; load average {machine.get('load_average_start')} at the start, "
        f"{machine.get('load_average_end')} at the end."
    )
    peers = ["", *peer_rows(results["B7"])] if results.get("B7", {}).get("figures") else []
    return "\n".join([heading, "", *rows(results), *peers]) + "\n"


@click.command()
@click.argument("json_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def main(json_file: Path) -> None:
    """Print the results in JSON_FILE as a Markdown table."""
    try:
        results = json.loads(json_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as bad:
        raise click.ClickException(f"{json_file} is not the JSON of bench/run.py: {bad}") from None
    if not isinstance(results, dict) or not any(k.startswith("B") for k in results):
        raise click.ClickException(f"{json_file} holds no benchmark results (B1...B10)")
    sys.stdout.write(markdown(results))


if __name__ == "__main__":
    main()
