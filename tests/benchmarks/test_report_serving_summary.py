"""benchmarks/report_serving_summary.py: the serving runs side by side, from their files (docs/serving.md)."""

import copy
import json
from pathlib import Path

from benchmarks.report import main

ROOT = Path(__file__).resolve().parents[2]
REAL = json.loads((ROOT / "benchmarks" / "results" / "serving-cpu-amd-avx2.json").read_text())


def run_with(date: str, model: str, best: float, shares: dict[tuple[str, int], float],
             pairs: list[tuple[float, float]], best_turn: float | None = None) -> dict:
    """A real serving file with made-up numbers: the best offline pass (at the start and end passes, or at a cell's
    turn when ``best_turn`` is given), 64-client rates, one-client pairs."""
    data = copy.deepcopy(REAL)
    data["date"], data["machine"]["model"] = date, model
    data["offline"]["sent_per_s"] = best
    for turn in data["offline"]["turns"]:
        turn["sent_per_s"] = best / 2
    if best_turn is not None:
        data["offline"]["turns"][-1]["sent_per_s"] = best_turn
    for row in data["rows"]:
        if row["concurrency"] == 64 and (row["system"], row["size"]) in shares:
            row["sent_per_s"] = shares[(row["system"], row["size"])]
    data["offline"]["one_pairs"] = [{"system": "sdk", "p50_ms": s, "in_process_p50_ms": i} for s, i in pairs]
    data["offline"].pop("offline_pairs", None)  # runs before them; a test adds its own
    return data


def summary(tmp_path: Path, files: dict[str, dict]) -> list[list[str]]:
    """The table's rows, each as its cells."""
    results, out = tmp_path / "results", tmp_path / "out"
    results.mkdir()
    for name, data in files.items():
        (results / name).write_text(json.dumps(data))
    assert main(["--results", str(results), "--out", str(out), "--no-plots"]) == 0
    path = out / "serving-summary.md"
    lines = path.read_text().splitlines()[2:] if path.exists() else []
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_each_cpu_kinds_newest_run_beside_the_route_is_a_row_of_its_own_numbers_newest_first(tmp_path):
    shares = {("sdk", 1): 650.0, ("sdk-workers", 1): 700.0, ("naive", 1): 300.0, ("infinity", 1): 100.0,
              ("sdk", 32): 900.0, ("naive", 32): 800.0}
    mid = run_with("2031-02-02", "Mid CPU", 1000.0, shares, [(2.2, 2.0), (2.4, 2.0), (2.6, 2.0)])
    new = run_with("2031-03-03", "New CPU", 1000.0, {("sdk", 1): 1500.0}, [(1.0, 1.0)], best_turn=2000.0)
    old = run_with("2031-01-01", "Old CPU", 1000.0, {}, [])
    stale = run_with("2030-12-12", "Mid CPU", 1000.0, {("sdk", 1): 100.0}, [(9.0, 1.0)])  # Mid CPU's older run
    rows = summary(tmp_path, {"serving-a.json": mid, "serving-b.json": new, "serving-c.json": old,
                              "serving-d.json": stale})
    assert [r[0].split(" (")[0] for r in rows] == ["New CPU", "Mid CPU", "Old CPU"]  # newest first, one a CPU kind
    assert rows[1][1:4] == ["2031-02-02", "`serving-a`", "1,000"]
    assert rows[1][4:10] == ["65% (650)", "70% (700)", "30% (300)", "10% (100)", "90% (900)", "80% (800)"]
    assert rows[1][10] == "1.20x (3 pairs)"  # the median of 1.1, 1.2, 1.3
    assert rows[0][3:5] == ["2,000", "75% (1,500)"]  # a cell's turn faster than the start and end passes: the best
    assert rows[0][10] == "1.00x (1 pair)"


def test_a_run_without_pairs_gives_its_cell_and_a_ratio_near_the_bound_shows_which_side(tmp_path):
    data = run_with("2031-01-01", "Test CPU", 1000.0, {}, [])
    cell = next(r for r in data["rows"] if (r["system"], r["size"], r["concurrency"]) == ("sdk", 1, 1))
    data["offline"]["one_p50_ms"] = cell["p50_ms"] / 1.30004  # 1.30x to two places, but over the bound
    data["rows"] = [r for r in data["rows"] if not (r["system"] == "infinity" and r["concurrency"] == 64)]
    [row] = summary(tmp_path, {"serving-test.json": data})
    assert row[10] == "1.30004x (the cell)"
    assert row[7] == "-"  # no infinity cell at 64 clients


def test_a_cell_with_pairs_against_in_process_passes_gives_their_median_share_beside_it(tmp_path):
    """The aims are judged on the pairs where a run has them: the summary gives their median beside the cell's share
    of the best pass (a slow spell's cell read 65 % where its pairs read 91 %); cells without pairs give the share."""
    data = run_with("2031-01-01", "Test CPU", 1000.0, {("sdk", 32): 650.0}, [])
    data["offline"]["offline_pairs"] = [
        {"system": "sdk", "size": 32, "concurrency": 64, "seconds": 8, "sent_per_s": s, "offline_sent_per_s": 800.0}
        for s in (728.0, 640.0, 760.0)]  # 91 %, 80 %, 95 %
    [row] = summary(tmp_path, {"serving-test.json": data})
    assert row[8] == "65% (650); pairs 91%"
    assert ";" not in row[4] and ";" not in row[9]  # the server's one-sentence cell and the route's: no pairs


def test_runs_without_the_route_are_left_out_and_none_left_writes_no_page(tmp_path):
    sweep = copy.deepcopy(REAL)
    sweep["rows"] = [r for r in sweep["rows"] if r["system"] != "naive"]  # a --workers sweep has no route
    assert summary(tmp_path, {"serving-workers.json": sweep}) == []
