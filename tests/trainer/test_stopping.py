"""Stopping early loses nothing: SIGTERM or Ctrl-C saves the step in last/, and --resume finishes the same run;
a run that failed before saving, or a save cut short, does not block or litter the run directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.processes import module_env, sigterm_once
from trainer.checkpoint import read_meta
from trainer.config import TrainConfig, resolve
from trainer.errors import ConfigError, Stopped
from trainer.runlog import read_log
from trainer.stopping import StopRequest
from trainer.train import train


def config(base: Path, data: Path, out: Path, **over) -> TrainConfig:
    return resolve("unsup", {"base": str(base), "data": str(data), "out": str(out), "batch_size": 8, "steps": 6,
                             "eval_steps": 0, "save_steps": 4, **over})


def losses(run: Path) -> list[float]:
    return [r["loss"] for r in read_log(run / "log.jsonl") if r["type"] == "step"]


def test_a_stop_request_saves_its_step_and_resume_finishes_the_same_run(tiny_bert_dir, tiny_txt, tmp_path):
    full = train(config(tiny_bert_dir, tiny_txt, tmp_path / "full"), progress=False)
    stop = StopRequest()

    def sigterm_at_3(step: int, model: object) -> None:
        if step == 3:
            stop.set("SIGTERM")

    with pytest.raises(Stopped, match=r"stopped by SIGTERM at step 3 of 6.*--resume --out .*cut"):
        train(config(tiny_bert_dir, tiny_txt, tmp_path / "cut"), progress=False, on_step=sigterm_at_3, stop=stop)
    assert read_meta(tmp_path / "cut" / "last")["step"] == 3  # --save-steps 4 alone would have kept nothing
    assert [r["type"] for r in read_log(tmp_path / "cut" / "log.jsonl")][-1] == "stopped"
    assert not list((tmp_path / "cut").glob(".*"))

    resumed = train(TrainConfig(out=str(tmp_path / "cut")), resume=True, progress=False, stop=StopRequest())
    assert resumed.steps == full.steps == 6
    assert losses(tmp_path / "cut") == pytest.approx(losses(tmp_path / "full"), rel=1e-6)
    a, b = (load_file(tmp_path / run / "last" / "model.safetensors") for run in ("cut", "full"))
    assert all(torch.allclose(a[k], b[k], atol=1e-7) for k in a)
    with pytest.raises(ConfigError, match=r"complete \(6 of 6 steps\); nothing to resume"):
        train(TrainConfig(out=str(tmp_path / "cut")), resume=True, progress=False)


def test_a_run_that_failed_before_saving_does_not_block_its_retry(tiny_bert_dir, tiny_txt, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="768 is larger than this model's embedding size 32"):
        train(config(tiny_bert_dir, tiny_txt, out, pooler="avg", matryoshka_dims=[768, 16]), progress=False)
    (out / ".last.tmp-999999999").mkdir()  # a save cut short by a kill (no such process)
    result = train(config(tiny_bert_dir, tiny_txt, out, pooler="avg", matryoshka_dims=[32, 16]), progress=False)
    assert result.steps == 6 and not (out / ".last.tmp-999999999").exists()
    assert [r["type"] for r in read_log(out / "log.jsonl")].count("start") == 1
    assert oct((out / "last" / "model.safetensors").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(ConfigError, match="already holds a run"):
        train(config(tiny_bert_dir, tiny_txt, out), progress=False)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match=r"--out .*afile/run: cannot make the run directory \(a file stands"):
        train(config(tiny_bert_dir, tiny_txt, a_file / "run"), progress=False)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_sigterm_to_the_command_line_saves_and_says_how_to_resume(tiny_bert_dir, tiny_txt, tmp_path):
    out = tmp_path / "run"
    args = ["trainer", "--unsup", str(tiny_txt), "--base", str(tiny_bert_dir), "--out", str(out),
            "--batch-size", "8", "--steps", "100000", "--save-steps", "100000", "--eval-steps", "0", "--no-progress",
            "--threads", "1", "--pooler", "avg"]
    code, err = sigterm_once(args, ready=lambda: (out / "log.jsonl").exists() and len(losses(out)) >= 3,
                             env=module_env(OMP_NUM_THREADS="1"), cwd=tmp_path)
    assert code == 143, err[-2000:]
    step = read_meta(out / "last")["step"]
    assert step >= 3 and f"stopped by SIGTERM at step {step} of 100000" in err
    assert f"python -m trainer --resume --out {out}" in err and "Traceback" not in err


class Killed(BaseException):
    pass


def test_a_save_cut_short_between_its_renames_leaves_no_old_copy(tiny_bert_dir, tiny_txt, tmp_path, monkeypatch):
    out = tmp_path / "run"

    def kill_at_5(step: int, model: object) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train(config(tiny_bert_dir, tiny_txt, out), progress=False, on_step=kill_at_5)
    # a process killed between the two renames of its save of last/ (the process is gone: no such pid)
    (out / "last").rename(out / ".last.old-999999999")
    resumed = train(TrainConfig(out=str(out)), resume=True, progress=False)  # continues from that copy
    assert resumed.steps == 6 and read_meta(out / "last")["step"] == 6
    assert not list(out.glob(".*"))  # the copy it resumed from was left there for good

    # interrupted in this process between the renames: the previous last/ goes back in place
    import trainer.checkpoint as checkpoint

    rename = os.rename

    def interrupted(src, dst):
        if Path(src).name.startswith(".last.tmp-"):
            raise KeyboardInterrupt
        rename(src, dst)

    monkeypatch.setattr(checkpoint.os, "rename", interrupted)
    model_dir = out / "last"
    from trainer.model import load_base

    model, tok = load_base(str(model_dir), pooler="avg")
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(model_dir, model, tok, {**read_meta(model_dir), "step": 7})
    assert read_meta(model_dir)["step"] == 6 and not list(out.glob(".*"))


def test_old_copies_a_killed_process_left_are_cleared_when_a_run_starts(tmp_path):
    from trainer.checkpoint import STATE_FILE
    from trainer.rundir import prepare_run_dir

    run = tmp_path / "run"
    for name in ("last", ".last.old-999999999", ".best.old-999999999", ".best.old-999999998"):
        (run / name).mkdir(parents=True)
        (run / name / "simcse.json").write_text("{}")
    (run / "last" / STATE_FILE).write_bytes(b"x")
    (run / ".best.old-999999998" / "simcse.json").unlink()  # not a checkpoint: removed, not put back
    prepare_run_dir(run, fresh=False)
    assert sorted(p.name for p in run.iterdir()) == ["best", "last"]  # best/ put back, the stale copies gone
    assert (run / "best" / "simcse.json").is_file()
