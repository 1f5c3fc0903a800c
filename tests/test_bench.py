"""The benchmarks' smoke test: ``bench/run.py --quick`` runs every benchmark end to end on
small data and writes its JSON (B7 with or without the optional bench extra). No timing is
asserted (the figures depend on the machine); the invariants are: no lost update, no server
error, every chain verifies."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import _postgres_available

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11")


def test_the_quick_benchmark_run_measures_all_eleven_and_keeps_every_invariant(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out),
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {"cpu", "cores", "python", "sqlite", "date"} <= set(report["machine"])
    for key in KEYS:
        bench = report[key]
        assert bench["error"] is None, (key, bench["error"])
        assert bench["figures"], key
        for figure in bench["figures"]:
            assert isinstance(figure["value"], int | float), (key, figure)
            assert figure["value"] > 0, (key, figure)
            if figure["baseline"] is not None:
                assert figure["ratio"] == figure["value"] / figure["baseline"], (key, figure)
    backends = {f["label"] for f in report["B1"]["figures"]}
    assert any("sqlite" in label for label in backends)
    assert any("postgresql" in label for label in backends) == _postgres_available()
    for key in ("B2", "B4"):
        checks = report[key]["invariants"]
        assert checks["server_errors"] == 0, (key, checks)
        assert checks["lost_updates"] == 0, (key, checks)
        assert checks["unlogged_refusals"] == 0, (key, checks)
        assert checks["chains_intact"], (key, checks)
        assert checks["actions_done"] > 0, (key, checks)
    assert report["B4"]["invariants"]["stale_answers"] > 0  # the 16 clients did contend
    # every 409 page showed the version that won, not the one the client had sent
    assert report["B4"]["invariants"]["stale_pages_not_fresh"] == 0
    assert report["B3"]["invariants"]["chains_intact"]
    assert report["B3"]["invariants"]["events_verified"] >= 5000
    assert all(report["B6"]["invariants"].values()), report["B6"]["invariants"]
    _check_b7(report["B7"])
    _check_b8(report["B8"])
    _check_b9(report["B9"])
    _check_b10(report["B10"])
    _check_b11(report["B11"])
    assert "B1" in result.stdout  # the table
    markdown = _report(out)
    assert markdown.returncode == 0, markdown.stderr
    figures = sum(len(report[key]["figures"]) for key in KEYS)
    assert len([line for line in markdown.stdout.splitlines() if line.startswith("| B")]) == figures


def _check_b7(b7: dict) -> None:
    """fpic, the floor and the transitions peer are always measured; a peer whose package (the
    optional bench extra) is missing is reported as not installed, never as a failure."""
    measured = {f["details"]["system"] for f in b7["figures"] if "system" in f["details"]}
    assert {"fpic", "core", "raw", "transitions"} <= measured
    for peer, module in (("django", "django_fsm_log"), ("spiff", "SpiffWorkflow")):
        present = importlib.util.find_spec(module) is not None
        assert (peer in measured) == present, (peer, b7["invariants"]["not_installed"])
    backends = ["sqlite", "postgresql"] if _postgres_available() else ["sqlite"]
    for backend in backends:
        counts = b7["invariants"][f"statements_{backend}"]
        assert counts["core"] == counts["raw"] == 4, counts
        assert set(counts) == measured, counts
    targets = [f for f in b7["figures"] if not f["informational"]]
    assert len(targets) == len(backends) * (3 if "spiff" in measured else 2)


def _check_b8(b8: dict) -> None:
    """The file went through the form, the trail, the bundle and both checks on every database
    there is; each step has its rate against the copy, and the peak memory is measured."""
    checks = b8["invariants"]
    assert checks["postgresql_reachable"] == _postgres_available()
    backends = ["sqlite", "postgresql"] if _postgres_available() else ["sqlite"]
    for backend in backends:
        for check in ("upload_redirected", "trail_lists_the_file", "bundle_holds_the_file",
                      "bundle_intact", "stored_file_intact"):  # fmt: skip
            assert checks[f"{backend}: {check}"] is True, (backend, check, checks)
        labels = [f["label"] for f in b8["figures"] if f["label"].endswith(f", {backend}")]
        assert len(labels) == 7, labels  # four steps, two floors, the peak memory
    assert len(b8["figures"]) == 7 * len(backends)
    for figure in b8["figures"]:
        if figure["unit"] == "MB/s":
            assert figure["details"]["file_mb"] == 8, figure  # --quick
        else:
            assert figure["unit"] == "MB peak RSS", figure
            assert figure["details"]["rss_before_upload_mb"] > 0, figure


def _check_b9(b9: dict) -> None:
    """Every database there is imported the 2,000 areas of --quick and its screenings found
    what a brute force finds, the same every round; cold and warm are each measured."""
    checks = b9["invariants"]
    backends = ["sqlite", "postgresql"] if _postgres_available() else ["sqlite"]
    for backend in backends:
        assert checks[f"{backend}: areas imported"] == checks["areas"] == 2000, checks
        assert checks[f"{backend}: findings match the brute force"] is True, checks
        assert checks[f"{backend}: every round found the same"] is True, checks
        labels = [f["label"] for f in b9["figures"] if f["label"].endswith(f", {backend}")]
        assert len(labels) == 5, labels  # cold, warm, the import, two peaks
    assert checks["expected_findings"] > 0


def _check_b10(b10: dict) -> None:
    """The seal's share and the proof time are measured on every database there is, and every
    proof verified against the log's root (the run raises otherwise)."""
    backends = ["sqlite", "postgresql"] if _postgres_available() else ["sqlite"]
    labels = [f["label"] for f in b10["figures"]]
    assert len(labels) == 2 * len(backends), labels
    for backend in backends:
        assert f"Merkle append's share of an action ({backend})" in labels
        assert f"inclusion proof in a log of 20,000 events ({backend})" in labels
        assert b10["invariants"][f"log_built_seconds_{backend}"] >= 0


def _check_b11(b11: dict) -> None:
    """Search is timed on every database there is, every answer checked (the run raises
    otherwise), against the 500 cases of --quick; the index's upkeep against the same database
    without its triggers (all eleven of them dropped)."""
    backends = ["sqlite", "postgresql"] if _postgres_available() else ["sqlite"]
    labels = [f["label"] for f in b11["figures"]]
    assert len(labels) == 2 * len(backends), labels
    for backend in backends:
        assert f"search at 500 cases, median of the mix ({backend})" in labels
        assert f"actions/s with the search index's triggers ({backend})" in labels
        assert b11["invariants"][f"{backend}: every answer checked"] > 0
        assert b11["invariants"][f"{backend}: triggers dropped for the baseline"] == 11


def _report(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "report.py"), str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_the_report_refuses_a_file_that_is_not_a_benchmark_run(tmp_path):
    for name, content in [("broken.json", '{"B1": '), ("other.json", '{"name": "fpic"}')]:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        result = _report(path)
        assert result.returncode == 1
        assert "Error:" in result.stderr
        assert str(path) in result.stderr
        assert "Traceback" not in result.stderr
