"""benchmarks/ablations.py: the grid, its runs (a failure is reported, a rerun resumes), and its page."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from benchmarks import ablations
from benchmarks.ablation_grid import QUICK, Sizes, build_grid
from benchmarks.report import main as report_main
from benchmarks.report_ablations import render_outputs


def grid(parts: list[str], seeds: list[int], quick: bool = False):
    return build_grid(parts, Sizes(), seeds=seeds, base="B", data_dir="D", runs_dir="R", quick=quick)


def test_grid_runs_every_point_once_and_the_claims_pairs_at_every_seed() -> None:
    specs = grid(["dropout", "hard-negatives", "temperature"], [1, 2, 3])
    first = [s for s in specs if s.seed == 1]
    assert len(first) == 13 and all(s.full_sts for s in first)  # 6 dropout + 4 sup + 3 temperatures
    repeats = sorted(s.point.id for s in specs if s.seed == 3)
    assert repeats == ["sup-hard-negatives", "sup-no-hard-negatives", "unsup-dropout-0", "unsup-dropout-0.1",
                       "unsup-same-mask"]
    assert not any(s.full_sts for s in specs if s.seed != 1)
    assert [s.point.key for s in specs] == sorted((s.point.key for s in specs), reverse=True)  # claims first
    by = {s.id: s.trainer_args for s in first}
    assert "--same-dropout-mask" in by["unsup-same-mask-seed1"]
    assert "--no-hard-negatives" in by["sup-no-hard-negatives-seed1"]
    assert by["sup-hard-negatives-seed1"][:3] == ["--sup", "nli", "--mlp-only-train"]  # raw [CLS] at inference
    steps = by["unsup-dropout-0.1-seed1"][by["unsup-dropout-0.1-seed1"].index("--steps") + 1]
    assert steps == str(Sizes().unsup_steps)
    # the temperature part alone still holds its 0.05 row: the SimCSE run itself
    assert {s.point.id for s in grid(["temperature"], [1])} == {"unsup-dropout-0.1", "unsup-temp-0.01",
                                                                "unsup-temp-0.1", "unsup-temp-1"}


def test_bad_grid_options_name_the_value() -> None:
    with pytest.raises(ValueError, match="unknown part.*'dropuot'.*choose from dropout"):
        grid(["dropuot"], [1])
    with pytest.raises(ValueError, match="repeated seed"):
        grid(["dropout"], [1, 1])
    with pytest.raises(ValueError, match="--unsup-steps must be a whole number >= 1, not 0"):
        build_grid(["dropout"], Sizes(unsup_steps=0), seeds=[1], base="B", data_dir="D", runs_dir="R")


def test_quick_grid_reports_a_failed_run_finishes_the_other_and_a_rerun_resumes(
        tiny_bert_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    real_build = ablations.build_grid

    def poisoned(*args, **kwargs):
        specs = real_build(*args, **kwargs)
        specs[1].trainer_args.extend(["--temp", "-1"])  # the supervised run: refused by the trainer
        return specs

    argv = ["--quick", "--base", str(tiny_bert_dir), "--data-dir", str(data_dir), "--out", str(tmp_path)]
    monkeypatch.setattr(ablations, "build_grid", poisoned)
    assert ablations.main(argv) == 1
    err = capsys.readouterr().err
    assert "failed: sup-hard-negatives-seed42: exit status 2" in err and "--temp must be positive" in err
    results = tmp_path / "results"
    good = results / f"{QUICK[0]}-seed42.json"
    assert good.is_file() and (results / "base.json").is_file()
    assert not (results / f"{QUICK[1]}-seed42.json").exists()  # a failed run leaves no result: it is retried
    run = json.loads(good.read_text())
    assert [t["step"] for t in run["trajectory"]] == [1, 2]  # dev scores every step (quick: eval every 1)
    assert run["steps"] == 2 and run["it_per_s"] > 0 and 0 <= run["dev"]["alignment"] <= 4
    assert run["command"].startswith("python -m trainer --unsup wiki --base ")
    assert not (tmp_path / "runs" / run["id"] / "last").exists()  # checkpoints are not kept by default
    summary = json.loads((tmp_path / "ablations.json").read_text())
    assert [f["id"] for f in summary["failed"]] == ["sup-hard-negatives-seed42"]
    assert "**Failed**: `sup-hard-negatives-seed42`" in (tmp_path / "ablations.md").read_text()

    monkeypatch.setattr(ablations, "build_grid", real_build)
    before = good.stat().st_mtime_ns
    assert ablations.main(argv) == 0
    out = capsys.readouterr().out
    assert f"[{QUICK[0]}-seed42] skipped (result exists)" in out and "[1/1] sup-hard-negatives-seed42" in out
    assert good.stat().st_mtime_ns == before
    page = (tmp_path / "ablations.md").read_text()
    assert "| hard-negatives | hard negatives, weight 1 (SimCSE) |" in page and "Failed" not in page
    assert (tmp_path / "ablations-align-uniform.png").stat().st_size > 1000


def run(point: str, seed: int, stsb: float, *, alignment: float = 0.2, uniformity: float = -2.5) -> dict:
    r = {"id": f"{point}-seed{seed}", "point": point, "seed": seed, "it_per_s": 0.5, "elapsed_s": 60.0,
         "load_average_before": [1.0], "load_average_after": [1.2],
         "dev": {"stsb": stsb, "sickr": 70.0, "alignment": alignment, "uniformity": uniformity},
         "trajectory": [{"step": 4, "stsb": stsb, "sickr": 70.0, "alignment": alignment, "uniformity": uniformity}]}
    return {**r, "sts": {"tasks": {}, "avg": stsb - 5}} if seed == 1 else r


POINTS = {"unsup-dropout-0.1": ("dropout 0.1 (SimCSE)", "dropout", 82.5, "unsup-dropout-0.1"),
          "unsup-dropout-0": ("no dropout (p = 0)", "dropout", 71.1, "unsup-dropout-0.1"),
          "unsup-same-mask": ("same mask for both views (fixed 0.1)", "dropout", 43.6, "unsup-dropout-0.1"),
          "sup-hard-negatives": ("hard negatives, weight 1 (SimCSE)", "hard-negatives", 86.2, "sup-hard-negatives"),
          "sup-no-hard-negatives": ("no hard negatives (pairs only)", "hard-negatives", 84.9, "sup-hard-negatives")}
SUMMARY = {
    "date": "2031-04-05", "command": "python benchmarks/ablations.py --seeds 1,2,3",
    "machine": {"model": "Test CPU 9000", "machine": "x86_64", "int8_flags": ["avx2"], "cores": 2, "threads": 2,
                "device": "cpu"},
    "grid": {"parts": ["dropout", "hard-negatives"], "seeds": [1, 2, 3], "quick": False, "unsup_steps": 16,
             "sup_steps": 10, "batch_size": 64, "eval_every": 4, "base": "/models/base", "note": "",
             "points": {k: {"label": v[0], "part": v[1], "paper": v[2], "reference": v[3], "flags": []}
                        for k, v in POINTS.items()}},
    "base": {"model": "/models/base", "dev": {"stsb": 79.6, "sickr": 70.0, "alignment": 0.15, "uniformity": -2.0},
             "sts": {"tasks": {}, "avg": 73.0}, "elapsed_s": 100.0},
    "runs": [run("unsup-dropout-0.1", s, v, uniformity=-2.4 - s / 100) for s, v in ((1, 82.0), (2, 82.2), (3, 82.1))]
    + [run("unsup-dropout-0", s, v) for s, v in ((1, 80.0), (2, 80.5), (3, 80.2))]
    + [run("unsup-same-mask", s, v) for s, v in ((1, 81.9), (2, 82.3), (3, 82.0))]
    + [run("sup-hard-negatives", s, v, alignment=0.1) for s, v in ((1, 85.0), (2, 85.1))]
    + [run("sup-no-hard-negatives", s, v) for s, v in ((1, 85.3), (2, 85.4))],
    "failed": [],
}


def test_page_puts_the_paper_beside_ours_and_the_verdict_follows_the_numbers(tmp_path: Path) -> None:
    path = tmp_path / "ablations-test.json"
    path.write_text(json.dumps(SUMMARY))
    written = render_outputs(path, tmp_path)
    lines = (tmp_path / "ablations-test.md").read_text().splitlines()
    assert "Test CPU 9000" in lines[0] and "2031-04-05" in lines[0] and SUMMARY["command"] in lines[0]
    assert ("| dropout 0.1 beats no dropout (STS-B dev) | 82.10 ± 0.10 (3 seeds) vs 80.23 ± 0.25 (3 seeds): +1.87, "
            "seed range 0.50 | 82.5 vs 71.1 | reproduced |") in lines
    assert any(x.startswith("| dropout 0.1 beats the same mask") and x.endswith(
        "| 82.5 vs 43.6 | same direction, within the seed spread |") for x in lines)
    assert any(x.startswith("| hard negatives >= pairs only") and x.endswith("| **not reproduced** |") for x in lines)
    assert any(x.startswith("| unsupervised training makes the space more uniform") and "| reproduced |" in x
               for x in lines)
    assert "| dropout | no dropout (p = 0) | 80.23 ± 0.25 (3 seeds) | -1.87 | 71.1 | -11.4 | 75.00 | 0.200 |" \
        " -2.500 | 0.50 | 60 |" in lines
    assert "| base | the base model, before training | 79.60 |  |  |  | 73.00 | 0.150 | -2.000 |  |  |" in lines
    assert "| no dropout (p = 0) | 1: 80.00, 2: 80.50, 3: 80.20 | 80.23 ± 0.25 (3 seeds) | 0.50 |" in lines
    assert all(p.stat().st_size > 1000 for p in written if p.suffix == ".png")
    partial = {**SUMMARY, "missing": ["unsup-same-mask-seed4"]}
    path.write_text(json.dumps(partial))
    render_outputs(path, tmp_path)
    assert "**Partial grid**: 13 of 14 runs have results; not run yet or failed: `unsup-same-mask-seed4`." in \
        (tmp_path / "ablations-test.md").read_text()


def test_report_renders_the_ablation_file_and_checks_it(tmp_path: Path, capsys) -> None:
    results, out = tmp_path / "results", tmp_path / "out"
    results.mkdir()
    (results / "ablations-cpu.json").write_text(json.dumps(SUMMARY))
    assert report_main(["--results", str(results), "--out", str(out)]) == 0
    assert (out / "ablations-cpu-align-uniform.png").is_file() and (out / "ablations-cpu-sts-deltas.png").is_file()
    assert "[ablations-cpu](ablations-cpu.md): the SimCSE paper's ablations, rerun" in (out / "index.md").read_text()
    changed = copy.deepcopy(SUMMARY)
    changed["runs"][0]["dev"]["stsb"] = 90.0
    (results / "ablations-cpu.json").write_text(json.dumps(changed))
    assert report_main(["--results", str(results), "--out", str(out), "--check"]) == 1
    assert "ablations-cpu.md: differs" in capsys.readouterr().err
