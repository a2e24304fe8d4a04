"""benchmarks/report_serving_summary.py: the serving runs side by side, from their files (docs/serving.md)."""

import copy
import json
from pathlib import Path

from benchmarks.report import main

ROOT = Path(__file__).resolve().parents[2]
REAL = json.loads((ROOT / "benchmarks" / "results" / "serving-cpu-amd-avx2.json").read_text())


def run_with(date: str, model: str, best: float, shares: dict[tuple[str, int], float],
             pairs: list[tuple[float, float]]) -> dict:
    """A real serving file with made-up numbers: the best offline pass, 64-client rates, one-client pairs."""
    data = copy.deepcopy(REAL)
    data["date"], data["machine"]["model"] = date, model
    data["offline"]["sent_per_s"] = best
    for turn in data["offline"]["turns"]:
        turn["sent_per_s"] = best / 2
    for row in data["rows"]:
        if row["concurrency"] == 64 and (row["system"], row["size"]) in shares:
            row["sent_per_s"] = shares[(row["system"], row["size"])]
    data["offline"]["one_pairs"] = [{"system": "sdk", "p50_ms": s, "in_process_p50_ms": i} for s, i in pairs]
    return data


def summary(tmp_path: Path, files: dict[str, dict]) -> list[str]:
    results, out = tmp_path / "results", tmp_path / "out"
    results.mkdir()
    for name, data in files.items():
        (results / name).write_text(json.dumps(data))
    assert main(["--results", str(results), "--out", str(out), "--no-plots"]) == 0
    path = out / "serving-summary.md"
    return path.read_text().splitlines() if path.exists() else []


def test_each_run_beside_the_route_is_a_row_of_its_own_numbers_newest_first(tmp_path):
    old = run_with("2031-01-01", "Old CPU", 1000.0, {("sdk", 1): 650.0, ("naive", 1): 300.0, ("sdk", 32): 900.0},
                   [(2.2, 2.0), (2.4, 2.0), (2.6, 2.0)])
    new = run_with("2031-02-02", "New CPU", 2000.0, {("sdk", 1): 1500.0}, [(1.0, 1.0)])
    lines = summary(tmp_path, {"serving-old.json": old, "serving-new.json": new})
    rows = [line for line in lines if line.startswith("| New CPU") or line.startswith("| Old CPU")]
    assert [r.split(" (")[0] for r in rows] == ["| New CPU", "| Old CPU"]  # newest first
    cells = [c.strip() for c in rows[1].strip("|").split("|")]
    assert cells[1:4] == ["2031-01-01", "`serving-old`", "1,000"]
    assert cells[4] == "65% (650)" and cells[6] == "30% (300)" and cells[8] == "90% (900)"
    assert cells[-1] == "1.20x (3 pairs)"  # the median of 1.1, 1.2, 1.3
    assert [c.strip() for c in rows[0].strip("|").split("|")][4] == "75% (1,500)"


def test_runs_without_the_route_are_left_out_and_none_left_writes_no_page(tmp_path):
    sweep = copy.deepcopy(REAL)
    sweep["rows"] = [r for r in sweep["rows"] if r["system"] != "naive"]  # a --workers sweep has no route
    assert summary(tmp_path, {"serving-workers.json": sweep}) == []
