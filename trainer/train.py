"""The training loop, top to bottom: data, model, optimizer, then one contrastive step at a time.

Example:
    >>> from trainer.config import resolve
    >>> from trainer.train import train
    >>> cfg = resolve("unsup", {"base": "path/to/model", "steps": 100, "out": "runs/demo"})  # doctest: +SKIP
    >>> result = train(cfg)                                                                  # doctest: +SKIP
    >>> result.best_dev["stsb"]                                                               # doctest: +SKIP
    84.1
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import resource
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import distributed
from .checkpoint import build_meta, find_resume_dir, load_training_state, read_meta, save_checkpoint
from .config import TrainConfig
from .data import BatchOrder, load_training_data, mask_tokens, resolve_data_file, tokenize
from .errors import ConfigError, DataError, NonFiniteLossError
from .evaluate import check_eval_available, dev_scores
from .gradcache import grad_cache_backward
from .loss import at_least_fp32, simcse_loss
from .model import SimCSEModel, load_base, make_encode
from .rng import rng_state, seed_everything, set_rng_state
from .runlog import RunLog

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished run reports (also written as the log's ``end`` record)."""

    run_dir: Path  # holds best/, last/ and log.jsonl
    steps: int  # optimizer steps done in total
    best_dev: dict[str, Any] | None  # dev scores of best/ (None without evaluation)
    last_loss: float  # loss of the last step
    wall_s: float  # seconds this process ran (this session, after a resume)
    it_per_s: float  # training steps a second, evaluation and saving excluded
    peak_memory_bytes: int  # torch.cuda.max_memory_allocated on CUDA, else the process's peak RSS


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total`` (HF's linear schedule)."""

    def f(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, SimCSEModel], None] | None = None,
) -> TrainResult:
    """Run (or, with ``resume``, continue) the training run ``cfg`` describes; see the module docstring.

    ``on_step(step, model)`` is called after each optimizer step (1-based step), e.g. to stop a test run.

    Raises:
        TrainerError (ConfigError, DataError, BaseModelError): before any training step;
        NonFiniteLossError: the loss became NaN/inf (checkpoints already written are kept).
    """
    cfg.validate()
    dist = distributed.setup(cfg.device)
    try:
        return _train(cfg, dist, resume=resume, progress=progress, on_step=on_step)
    finally:
        distributed.teardown()


def _train(
    cfg: TrainConfig,
    dist: distributed.DistInfo,
    *,
    resume: bool,
    progress: bool,
    on_step: Callable[[int, SimCSEModel], None] | None,
) -> TrainResult:
    t_start = time.perf_counter()
    device, main = dist.device, dist.is_main

    # ---- 1. the run directory, and on resume the saved config and state ----
    default_out = Path("runs") / f"{cfg.objective}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.out) if cfg.out else Path(str(distributed.broadcast_object(default_out)))
    state: dict[str, Any] | None = None
    if resume:
        state_dir = find_resume_dir(run_dir)
        if state_dir is None:
            raise ConfigError(f"--resume: no saved state in {run_dir}/last (nothing to resume)")
        cfg = TrainConfig.from_dict(read_meta(state_dir)["config"])
        state = load_training_state(state_dir)
    elif (run_dir / "last").exists() or (run_dir / "log.jsonl").exists():
        raise ConfigError(f"run directory {run_dir} already holds a run: pass --resume, or another --out")

    # ---- 2. data: every check before the model is loaded ----
    data_path = resolve_data_file(cfg.data, cfg.data_dir)
    data = load_training_data(data_path, cfg.objective, cfg.batch_size)
    if state is not None and state["data_sha256"] != data.sha256:
        raise DataError(f"{data_path} changed since the run started (sha256 differs); cannot resume")
    if cfg.batch_size % dist.world_size:
        raise ConfigError(
            f"--batch-size {cfg.batch_size} must be divisible by the {dist.world_size} processes"
        )
    local_bs = cfg.batch_size // dist.world_size
    order = BatchOrder(len(data.examples), cfg.batch_size, cfg.seed)
    total_steps = cfg.steps or cfg.epochs * order.steps_per_epoch
    cfg = dataclasses.replace(cfg, steps=total_steps, out=str(run_dir))
    if cfg.eval_steps and main:
        check_eval_available(cfg.data_dir)
    if cfg.amp != "no" and device.type != "cuda" and cfg.amp != "bf16":
        raise ConfigError(f"--amp {cfg.amp} needs CUDA (on CPU only bf16 autocast exists)")

    # ---- 3. model, optimizer, schedule (identical start on every process) ----
    seed_everything(cfg.seed)
    base = str(state_dir) if state is not None else cfg.base
    model, tokenizer = load_base(
        base,
        pooler=cfg.pooler,
        dropout=cfg.dropout,
        do_mlm=cfg.do_mlm,
        seed=cfg.seed,
        mlp_init="base" if state is not None else cfg.mlp_init,
    )
    model.to(device)
    distributed.broadcast_params(model)
    seed_everything(cfg.seed + dist.rank)  # different dropout masks on each process
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.warmup_steps, total_steps))
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16" and device.type == "cuda")
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(cfg.amp)
    autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else nullcontext
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        if cfg.tf32:
            torch.set_float32_matmul_precision("high")  # TF32 matmuls on Ampere and newer

    step, best, train_s = 0, None, 0.0
    if state is not None:
        step, best, train_s = state["step"], state["best_dev"], state["train_seconds"]
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if model.mlm_head is not None:
            model.mlm_head.load_state_dict(state["mlm_head"])
        set_rng_state(state["rng"][dist.rank])
    start_step = step

    log = RunLog(run_dir / "log.jsonl", keep_until_step=step if resume else None) if main else None
    where = {"device": str(device), "world_size": dist.world_size, "amp": cfg.amp}
    about = {"data": str(data.path), "data_sha256": data.sha256, "examples": len(data.examples), **where}
    if log is not None:
        log.write(
            "resume" if resume else "start", step=step, config=cfg.to_dict(), skipped=data.skipped, **about
        )
    logger.info(
        "%s: %d examples (%d skipped); %d steps of %d on %s",
        data.path,
        len(data.examples),
        data.skipped,
        total_steps,
        cfg.batch_size,
        where,
    )
    encode = make_encode(
        model,
        tokenizer,
        pooler=cfg.inference_pooler,
        max_len=cfg.max_len,
        batch_size=cfg.eval_batch_size,
        autocast=autocast,
    )

    def meta(at_step: int, dev: dict[str, Any]) -> dict[str, Any]:
        return build_meta(
            cfg_dict=cfg.to_dict(), data_path=str(data.path), data_sha256=data.sha256, step=at_step, dev=dev
        )

    def evaluate(at_step: int) -> dict[str, Any]:
        """Dev scores on rank 0; a new best STS-B dev Spearman is saved to best/."""
        nonlocal best
        scores: dict[str, Any] = {}
        if main:
            scores = dev_scores(encode, cfg.data_dir)
            is_best = best is None or scores["stsb"] > best["stsb"]
            assert log is not None
            log.write("eval", step=at_step, **scores, best=is_best)
            if is_best:
                best = {**scores, "step": at_step}
                save_checkpoint(run_dir / "best", model, tokenizer, meta(at_step, scores))
        distributed.barrier()
        return scores

    def save_last(at_step: int, last_dev: dict[str, Any]) -> None:
        """The resumable state in last/ (RNG of every process gathered to rank 0)."""
        rngs = distributed.gather_objects(rng_state())
        if main:
            training_state = {
                "step": at_step,
                "epoch": order.epoch_of(max(at_step - 1, 0)),
                "batch_in_epoch": at_step % order.steps_per_epoch,
                "best_dev": best,
                "train_seconds": train_s,
                "data_sha256": data.sha256,
                "rng": rngs,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "mlm_head": model.mlm_head.state_dict() if model.mlm_head is not None else None,
            }
            save_checkpoint(run_dir / "last", model, tokenizer, meta(at_step, last_dev), training_state)
        distributed.barrier()

    # ---- 4. the loop ----
    # the contrastive loss of (local_bs, num_sent, hidden) embeddings, over the global batch
    def loss_fn(emb: torch.Tensor) -> torch.Tensor:
        return simcse_loss(emb, temp=cfg.temp, hard_negative_weight=cfg.hard_negative_weight)

    # these rows' share of lambda * (mean MLM loss over the masked tokens of all processes)
    def mlm_term(b: dict[str, torch.Tensor], n_masked: int) -> torch.Tensor:
        mlm_sum = model.mlm_loss_sum(b, b["mlm_input_ids"], b["mlm_labels"])
        return cfg.mlm_weight * mlm_sum / (n_masked * dist.world_size)

    def backward(t: torch.Tensor) -> None:
        scaler.scale(t).backward()  # a no-op scale unless fp16

    model.train()
    num_sent = data.num_sent
    bar = tqdm(total=total_steps, initial=step, disable=not (progress and main), dynamic_ncols=True)
    loss_value, last_dev = float("nan"), dict[str, Any]()
    while step < total_steps:
        t0 = time.perf_counter()
        rows = order.indices(step)[dist.rank * local_bs : (dist.rank + 1) * local_bs]  # this process's slice
        # (local_bs * num_sent, seq), example-major
        batch = tokenize(tokenizer, [data.examples[i] for i in rows], cfg.max_len)
        if cfg.do_mlm:
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 1_009 + dist.rank)
            batch["mlm_input_ids"], batch["mlm_labels"] = mask_tokens(
                batch["input_ids"], tokenizer, cfg.mlm_probability, g
            )
        batch = {k: v.to(device) for k, v in batch.items()}
        n_masked = int((batch["mlm_labels"] != -100).sum().clamp(min=1)) if cfg.do_mlm else 1
        extra = functools.partial(mlm_term, n_masked=n_masked) if cfg.do_mlm else None

        optimizer.zero_grad(set_to_none=True)
        if cfg.grad_cache:
            loss = grad_cache_backward(
                model,
                batch,
                num_sent=num_sent,
                chunk=cfg.grad_cache_chunk,
                loss_fn=loss_fn,
                backward=backward,
                autocast=autocast,
                chunk_extra=extra,
            )
        else:
            with autocast():
                emb = model.embed(batch).view(local_bs, num_sent, -1)  # (local_bs, num_sent, hidden)
                mlm = extra(batch) if extra is not None else 0.0
            loss = loss_fn(at_least_fp32(emb))  # in fp32, outside autocast
            total = loss + mlm
            if torch.isfinite(loss):
                backward(total)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(step + 1, loss_value)
        distributed.allreduce_grads(params)  # sum: each process holds its share of the global-batch gradient
        scaler.unscale_(optimizer)
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        lr = scheduler.get_last_lr()[0]
        scheduler.step()
        step += 1
        step_s = time.perf_counter() - t0
        train_s += step_s

        if log is not None:
            log.write(
                "step",
                step=step,
                loss=loss_value,
                lr=lr,
                epoch=order.epoch_of(step - 1),
                step_s=round(step_s, 4),
            )
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", dev=last_dev.get("stsb", "-"))
        if cfg.eval_steps and (step % cfg.eval_steps == 0 or step == total_steps):
            last_dev = evaluate(step)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", dev=f"{last_dev.get('stsb', 0):.2f}")
        if step == total_steps or (cfg.save_steps and step % cfg.save_steps == 0):
            save_last(step, last_dev)
        if on_step is not None:
            on_step(step, model)
    bar.close()

    # ---- 5. the summary ----
    steps_run = step - start_step
    result = TrainResult(
        run_dir=run_dir,
        steps=step,
        best_dev=best,
        last_loss=loss_value,
        wall_s=time.perf_counter() - t_start,
        it_per_s=steps_run / train_s if train_s > 0 else 0.0,
        peak_memory_bytes=_peak_memory(device),
    )
    if log is not None:
        log.write(
            "end",
            step=step,
            steps_this_session=steps_run,
            wall_s=round(result.wall_s, 2),
            train_s=round(train_s, 2),
            it_per_s=round(result.it_per_s, 3),
            peak_memory_bytes=result.peak_memory_bytes,
            best_dev=best,
            **where,
        )
        log.close()
    kind = "torch.cuda.max_memory_allocated" if device.type == "cuda" else "peak RSS"
    logger.info(
        "done: %d steps, %.1f s wall, %.2f it/s (training only), peak memory %.1f MiB (%s)",
        step,
        result.wall_s,
        result.it_per_s,
        result.peak_memory_bytes / 2**20,
        kind,
    )
    return result
