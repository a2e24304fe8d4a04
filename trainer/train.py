"""The training loop, top to bottom: data, model, optimizer, then one contrastive step at a time.

Dev evaluation and the ``best/`` / ``last/`` checkpoints are :mod:`trainer.keeper`'s; the summary is
:mod:`trainer.result`'s. Any ``AutoModel`` encoder trains (see :mod:`trainer.encoder`).

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
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import distributed
from .config import TrainConfig, warn_ineffective, with_absolute_paths
from .data import BatchOrder, load_run_data, mask_tokens, tokenize
from .encoder import position_limit
from .errors import ConfigError, NonFiniteLossError
from .evaluate import check_eval_available
from .gradcache import grad_cache_backward
from .keeper import Keeper, OptimState
from .loss import at_least_fp32, simcse_loss
from .matryoshka import check_sizes
from .model import SimCSEModel, check_for_run, load_base, make_encode
from .result import TrainResult, finish, peak_memory
from .rng import seed_everything, set_rng_state
from .rundir import open_run, saved_device
from .runlog import RunLog
from .serving_length import serving_length
from .stopping import StopRequest

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "lr_lambda", "train"]


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total`` (HF's linear schedule)."""

    def f(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, SimCSEModel], None] | None = None,
    stop: StopRequest | None = None,
) -> TrainResult:
    """Run (or, with ``resume``, continue) the training run ``cfg`` describes; see the module docstring.

    ``on_step(step, model)`` is called after each optimizer step (1-based step), e.g. to stop a test run.
    ``stop``: once set (the command line sets it on SIGTERM and Ctrl-C), the run saves ``last/`` after the step
    and raises :class:`~trainer.errors.Stopped`.

    Raises:
        TrainerError (ConfigError, DataError, BaseModelError): before any training step;
        NonFiniteLossError: the loss became NaN/inf (checkpoints already written are kept).
    """
    cfg.validate()
    # a resume runs on the device the run was started with (its config here holds only --out)
    dist = distributed.setup((saved_device(Path(cfg.out)) if resume and cfg.out else None) or cfg.device)
    try:
        return _train(cfg, dist, resume=resume, progress=progress, on_step=on_step, stop=stop)
    finally:
        distributed.teardown()


def _train(
    cfg: TrainConfig,
    dist: distributed.DistInfo,
    *,
    resume: bool,
    progress: bool,
    on_step: Callable[[int, SimCSEModel], None] | None,
    stop: StopRequest | None,
) -> TrainResult:
    t_start = time.perf_counter()
    device, main = dist.device, dist.is_main

    # ---- 1. the run directory, and on resume the saved config and state ----
    default_out = Path("runs") / f"{cfg.objective}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.out) if cfg.out else Path(str(distributed.broadcast_object(default_out)))
    state_dir, saved_config, state = open_run(run_dir, resume=resume, main=main)  # all None for a new run
    if saved_config is not None:  # a resumed run: its own config, with the data where it now is (if given)
        moved = {k: getattr(cfg, k) for k in ("data", "data_dir") if getattr(cfg, k) != getattr(TrainConfig(), k)}
        cfg = with_absolute_paths(TrainConfig.from_dict({**saved_config, **moved}))

    # ---- 2. data: every check before the model is loaded ----
    data = load_run_data(cfg, run_dir, state)  # on resume: the very data the run started with
    warn_ineffective(cfg, num_sent=data.num_sent)  # e.g. a hard-negative weight on pairs
    if cfg.batch_size % dist.world_size:
        raise ConfigError(
            f"--batch-size {cfg.batch_size} must be divisible by the {dist.world_size} processes"
        )
    local_bs = cfg.batch_size // dist.world_size
    order = BatchOrder(len(data.examples), cfg.batch_size, cfg.seed)
    total_steps = cfg.steps or cfg.epochs * order.steps_per_epoch
    cfg = dataclasses.replace(cfg, steps=total_steps, out=str(run_dir))
    if cfg.warmup_steps > total_steps:
        logger.warning("--warmup-steps %d is more than the %d steps of the run: the learning rate never reaches --lr "
                       "%g; lower --warmup-steps", cfg.warmup_steps, total_steps, cfg.lr)
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
    check_for_run(model, cfg.objective, cfg.max_len)
    # the serving length, read once (the base may be gone by a resume; last/'s simcse.json keeps it): saved in every
    # checkpoint, and the length the dev sets are scored at, as the checkpoint will be used
    served, served_from = serving_length(base, model.encoder.config)
    served = min(served, position_limit(model.encoder) or served)
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
    start_step, start_train_s = step, train_s  # the it/s of this session: its steps over its own training time

    log = RunLog(run_dir / "log.jsonl", keep_until_step=step if resume else None) if main else None
    where = {"device": str(device), "world_size": dist.world_size, "amp": cfg.amp}
    about = {"data": str(data.path), "data_sha256": data.sha256, "examples": len(data.examples),
             "max_seq_length": served, **where}
    if log is not None:
        log.write(
            "resume" if resume else "start", step=step, config=cfg.to_dict(), skipped=data.skipped, **about
        )
    logger.info("%s: %d examples (%d skipped); %d steps of %d on %s; served max length %d (%s)", data.path,
                len(data.examples), data.skipped, total_steps, cfg.batch_size, where, served, served_from)
    encode = make_encode(
        model,
        tokenizer,
        pooler=cfg.inference_pooler,
        max_len=served,
        batch_size=cfg.eval_batch_size,
        autocast=autocast,
    )

    check_sizes(cfg, encode)  # Matryoshka sizes fit the model (before any step)
    keeper = Keeper(run_dir, cfg, data, order, model, tokenizer, encode, log,
                    OptimState(optimizer, scheduler, scaler), best, max_seq_length=served)

    # ---- 4. the loop ----
    # the contrastive loss of (local_bs, num_sent, hidden) embeddings, over the global batch
    def loss_fn(emb: torch.Tensor) -> torch.Tensor:
        return simcse_loss(emb, temp=cfg.temp, hard_negative_weight=cfg.hard_negative_weight,
                           dims=cfg.matryoshka_dims, weights=cfg.matryoshka_weights)

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
                emb = model.embed_views(batch, num_sent, same_mask=cfg.same_dropout_mask)  # (local_bs, num_sent, hidden)
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
            last_dev = keeper.evaluate(step)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", dev=f"{last_dev.get('stsb', 0):.2f}")
        saved = step == total_steps or bool(cfg.save_steps and step % cfg.save_steps == 0)
        if saved:
            keeper.save_last(step, last_dev, train_s)
        if on_step is not None:
            on_step(step, model)
        if stop is not None and step < total_steps and stop.agreed():
            bar.close()
            keeper.stop(step, total_steps, last_dev, train_s, saved, stop.reason)  # raises Stopped
    bar.close()

    # ---- 5. the summary ----
    steps_run, session_s = step - start_step, train_s - start_train_s
    result = TrainResult(
        run_dir=run_dir,
        steps=step,
        best_dev=keeper.best,
        last_loss=loss_value,
        wall_s=time.perf_counter() - t_start,
        it_per_s=steps_run / session_s if session_s > 0 else 0.0,
        peak_memory_bytes=peak_memory(device),
    )
    finish(result, log, steps_run, session_s, where, train_s_all_sessions=train_s)
    return result
