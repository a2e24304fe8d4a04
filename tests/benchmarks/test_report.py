"""benchmarks/report.py: the docs' result pages are the JSON's, and a file it cannot read is named, not skipped."""

import copy
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.report import main

ROOT = Path(__file__).resolve().parents[2]

# The structure of benchmarks/results/latency-cpu.json, with made-up numbers.
LATENCY = {
    "date": "2031-04-05",
    "command": "python benchmarks/latency.py --threads 3 --batch-sizes 16 8",
    "machine": {"model": "Test CPU 9000", "machine": "x86_64", "int8_flags": ["avx2", "avx512_vnni"], "cores": 3,
                "threads": 3, "device": "cpu", "versions": {"python": "3.99.1"},
                "fingerprint": "Test CPU 9000|avx2,avx512_vnni|3|cpu"},
    "floor": {"flops_per_sentence": 1e8, "mean_tokens": 12.5, "fp32_gflops": 100.0, "int8_gops": 400.0,
              "fp32_floor_sent_per_s": 1000.0, "int8_floor_sent_per_s": 4000.0},
    "args": {"model_dir": "models/test", "device": "cpu", "threads": 3, "batch_sizes": [16, 8], "repeats": 2,
             "single_calls": 40},
    "results": [
        {"system": "alpha", "single_ms": {"p50": 1.234, "p95": 2.5, "p99": 3.75},
         "throughput": {"16": {"median": 4321.0, "min": 4000.0, "max": 4400.0},
                        "8": {"median": 3210.0, "min": 3100.0, "max": 3300.0}},
         "long_texts_per_s": 55.4, "stsb_test_by_batch": {"16": 81.2345, "8": 81.2345}, "stsb_test": 81.2345,
         "peak_rss_mb": 512.4},
        {"system": "beta", "single_ms": {"p50": 12.345, "p95": 20.0, "p99": 30.0},
         "throughput": {"16": {"median": 900.0, "min": 850.0, "max": 950.0},
                        "8": {"median": 987.0, "min": 980.0, "max": 990.0}},
         "long_texts_per_s": 7.0, "stsb_test_by_batch": {"16": 79.5012, "8": 79.6123}, "stsb_test": 79.5012,
         "peak_rss_mb": 2048.0},
        {"system": "gamma", "error": "no interpreter at '/nowhere'"},
    ],
}


def write(folder: Path, name: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data, indent=2))
    return path


def test_committed_pages_match_their_result_files():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_synthetic_run_gives_exactly_its_numbers_cpu_date_and_command(tmp_path, capsys):
    results, out = tmp_path / "results", tmp_path / "out"
    path = write(results, "latency-cpu-test.json", LATENCY)
    assert main(["--results", str(results), "--out", str(out)]) == 0
    text = (out / "latency-cpu-test.md").read_text()
    first = text.splitlines()[0]
    assert "Test CPU 9000 (int8 flags: avx2, avx512_vnni), 3 cores, 3 threads" in first
    assert "**Date**: 2031-04-05" in first and f"`{LATENCY['command']}`" in first
    lines = text.splitlines()
    assert "| alpha | 1.23 ms | 4,321 (batch 16) | 81.23 |" in lines
    assert "| beta | 12.3 ms | 987 (batch 8) | 79.50-79.61 by batch size |" in lines
    assert "| gamma | error: no interpreter at '/nowhere' |  |  |" in lines
    # every figure: p50/p95/p99, per batch size median (min-max), long texts/s, RSS, STS-B, GFLOP/s at best
    assert "| alpha | 1.23 | 2.50 | 3.75 | 4,321 (4,000-4,400) | 3,210 (3,100-3,300) | 55.4 | 512 | 81.23 | 432 |" \
        in lines
    assert "fp32 100 GFLOP/s, int8 400 GOP/s, so at most 1,000 sentences/s in fp32 and 4,000 in int8" in text
    index = (out / "index.md").read_text()
    assert "[latency-cpu-test](latency-cpu-test.md)" in index and "Test CPU 9000" in index and "2031-04-05" in index
    for png in ("latency-cpu-test-throughput.png", "latency-cpu-test-batch.png"):
        assert (out / png).stat().st_size > 1000

    assert main(["--results", str(results), "--out", str(out), "--check"]) == 0
    changed = copy.deepcopy(LATENCY)
    changed["results"][0]["single_ms"]["p50"] = 1.5
    path.write_text(json.dumps(changed, indent=2))
    capsys.readouterr()
    assert main(["--results", str(results), "--out", str(out), "--check"]) == 1
    assert "latency-cpu-test.md: differs" in capsys.readouterr().err


def test_unknown_kind_of_result_file_is_an_error_naming_it(tmp_path, capsys):
    results = tmp_path / "results"
    write(results, "latency-cpu-test.json", LATENCY)
    write(results, "mystery.json", {"foo": 1, "bar": [2]})
    assert main(["--results", str(results), "--out", str(tmp_path / "out"), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "mystery.json: unknown kind of result file (top-level keys: foo, bar)" in err
    assert "latency-cpu-test" not in err and not (tmp_path / "out").exists()  # nothing half-written


def test_result_file_without_date_says_how_to_add_it(tmp_path, capsys):
    results = tmp_path / "results"
    write(results, "latency-old.json", {k: v for k, v in LATENCY.items() if k != "date"})
    assert main(["--results", str(results), "--out", str(tmp_path / "out"), "--check"]) == 2
    err = capsys.readouterr().err
    assert "latency-old.json: no 'date' recorded; rerun `python benchmarks/latency.py`" in err
    assert "git log -1 --format=%cs" in err


def test_head_of_line_run_gives_each_servers_big_request_and_small_waits(tmp_path):
    results, out = tmp_path / "results", tmp_path / "out"
    run = {"date": "2031-04-05", "command": "python benchmarks/head_of_line.py --small-size 32",
           "machine": LATENCY["machine"], "big": 1000, "words": 200, "small_size": 32, "after_s": 1.0,
           "every_s": 0.5,
           "rows": [{"system": "sdk", "big_s": 12.345, "small_s": [0.05, 0.1234], "small_median_s": 0.0867,
                     "small_max_s": 0.1234, "small_first_s": 0.05},
                    {"system": "sdk-baseline", "pass": 2, "big_s": 11.7, "small_s": [], "small_median_s": None,
                     "small_max_s": None, "small_first_s": None}]}
    write(results, "head-of-line-test.json", run)
    assert main(["--results", str(results), "--out", str(out), "--no-plots"]) == 0
    text = (out / "head-of-line-test.md").read_text()
    assert "Test CPU 9000 (int8 flags: avx2, avx512_vnni), 3 cores, 3 threads" in text.splitlines()[0]
    assert "One request of 1,000 texts of 200 words, and from 1 s on, requests of 32 sentences" in text
    assert "| sdk | 1 | 12.3 | 2 | 0.09 | 0.12 | 0.05 |" in text.splitlines()  # a file from before passes: one
    assert "| sdk-baseline | 2 | 11.7 | 0 | - | - | - |" in text.splitlines()


def test_a_serving_cell_with_no_request_answered_says_so_rather_than_zero(tmp_path):
    """wrk counts answers only: a server that answered nothing within the cell read '0 (0.00)' with 0 errors."""
    data = json.loads((ROOT / "benchmarks" / "results" / "serving-cpu.json").read_text())
    row = next(r for r in data["rows"] if r["system"] == "naive" and r["size"] == 32)
    row.update(requests=0, req_per_s=0.0, sent_per_s=0.0, p50_ms=0.0, p95_ms=0.0, p99_ms=0.0, errors=0)
    results, out = tmp_path / "results", tmp_path / "out"
    write(results, "serving-test.json", data)
    assert main(["--results", str(results), "--out", str(out), "--no-plots"]) == 0
    text = (out / "serving-test.md").read_text()
    cell = f"naive size 32 c={row['concurrency']}"
    assert "No request answered within the cell" in text and f"{cell} in {data['duration_s']} s" in text
    lines = [line for line in text.splitlines() if line.startswith(f"| naive | 32 | {row['concurrency']} |")]
    assert lines and "| 0 | - | - | - | 0 |" in lines[0]  # requests/s 0, no latency, no errors
