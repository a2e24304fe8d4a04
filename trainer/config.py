"""The training configuration: one dataclass, two named presets (the paper's recipes).

Every run saves its *resolved* configuration (preset + overrides + derived values such as
the step count and the run directory) into each checkpoint's ``simcse.json`` and the run log.

Example:
    >>> from trainer.config import PRESETS, resolve
    >>> cfg = resolve("unsup", {"batch_size": 32, "steps": 100})
    >>> cfg.lr, cfg.batch_size, cfg.inference_pooler
    (3e-05, 32, 'cls_before_pooler')
    >>> PRESETS["sup"].inference_pooler
    'cls'
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcse_sdk.evaluation.data.datadir import ENV_VAR as DATA_DIR_ENV

from .errors import ConfigError
from .pooling import POOLERS, warn_base_pooling

logger = logging.getLogger(__name__)

OBJECTIVES = ("unsup", "sup")
AMP_MODES = ("no", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda")
MLP_INITS = ("fresh", "base")


@dataclass
class TrainConfig:
    """All the knobs of one training run; the defaults are the unsupervised recipe."""

    # --- what to train on, from what ---
    objective: str = (
        "unsup"  # "unsup": each sentence twice, dropout makes the pair; "sup": (sent0, sent1, hard_neg) rows
    )
    data: str = "wiki"  # training file: "wiki" / "nli" (names looked up in <data-dir>/train/) or a path
    data_dir: str | None = (
        None  # data directory (training names and the STS-B / SICK-R dev sets); None: $SIMCSE_DATA_DIR
    )
    base: str = (
        "bert-base-uncased"  # starting model: a local model directory, or a hub id already in the local cache
    )
    out: str | None = None  # run directory (checkpoints, log.jsonl); None: runs/<objective>-<date>-<time>

    # --- how long ---
    epochs: int = 1  # passes over the data; ignored when steps is set
    steps: int | None = (
        None  # optimizer steps in total; the resolved config always holds the number actually run
    )

    # --- optimisation (plain AdamW, linear decay to 0, as the reference's HF Trainer defaults) ---
    batch_size: int = (
        64  # GLOBAL batch in examples (all processes together); the negatives come from all of it
    )
    lr: float = 3e-5  # peak learning rate
    warmup_steps: int = 0  # linear warm-up steps before the linear decay (the reference uses 0)
    weight_decay: float = 0.0  # AdamW weight decay (HF Trainer default 0)
    max_grad_norm: float = 1.0  # gradient clipping by global norm (HF Trainer default 1.0); 0 disables it

    # --- the SimCSE model and loss ---
    max_len: int = 32  # tokens a sentence (special tokens included); longer ones are truncated
    temp: float = 0.05  # temperature tau: logits are cos(h_i, h_j) / tau
    pooler: str = "cls"  # training pooler, one of trainer.pooling.POOLERS ("cls" = MLP head over [CLS])
    mlp_only_train: bool = (
        True  # with pooler "cls": drop the MLP at inference ("cls_before_pooler"), as --mlp_only_train
    )
    mlp_init: str = "fresh"  # "fresh": new MLP head, normal(0, initializer_range), as the reference; "base": keep base's pooler
    hard_negative_weight: float = (
        1.0  # alpha: the row's own hard negative enters the softmax as alpha * exp(logit) (sup)
    )
    matryoshka_dims: list[int] | None = (
        None  # Matryoshka: the loss is summed over these leading sizes (descending, each renormalised); None: full only
    )
    matryoshka_weights: list[float] | None = None  # weight of each Matryoshka size's loss; None: 1 each
    select_dim: int | None = (
        None  # the size whose STS-B dev picks best/ (one of matryoshka_dims); None: the largest trained size
    )
    dropout: float | None = (
        None  # sets every dropout probability of the encoder config; None keeps the base's (0.1 for BERT)
    )
    same_dropout_mask: bool = False  # one dropout mask shared by an example's views (the paper's "fixed 0.1" ablation)
    hard_negatives: bool = True  # sup: use the CSV's hard_neg column; False: (sent0, sent1) pairs, the column dropped
    do_mlm: bool = False  # add the auxiliary masked-language-model loss
    mlm_weight: float = 0.1  # lambda of the MLM loss (reference default 0.1)
    mlm_probability: float = 0.15  # fraction of tokens masked for MLM (80% [MASK], 10% random, 10% kept)

    # --- memory and speed ---
    grad_cache: bool = (
        False  # GradCache: embed the batch without graph, loss on the full batch, backprop in chunks
    )
    grad_cache_chunk: int = 32  # examples per chunk with grad_cache (each is 2 or 3 sentences)
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    amp: str = "no"  # "no"; "fp16": float16 autocast with loss scaling (CUDA only); "bf16": bfloat16 autocast (CUDA or CPU)
    tf32: bool = True  # allow TF32 matmuls on CUDA (Ampere and newer)

    # --- evaluation, checkpoints, reproducibility ---
    seed: int = 42  # seeds data order, MLP init, dropout (process r uses seed + r for dropout)
    eval_steps: int = 125  # evaluate STS-B dev (+ SICK-R trial) every N steps and at the end; 0: never
    eval_batch_size: int = 128  # sentences a batch when encoding the dev sets
    save_steps: int = 125  # save the resumable state (last/) every N steps; 0: only at the end

    @property
    def inference_pooler(self) -> str:
        """The pooler recorded in the checkpoint: ``cls_before_pooler`` when the MLP is train-only."""
        if self.pooler == "cls" and self.mlp_only_train:
            return "cls_before_pooler"
        return self.pooler

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field, plus the derived ``inference_pooler``."""
        d = dataclasses.asdict(self)
        d["inference_pooler"] = self.inference_pooler
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys, such as derived ones, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range (checked before anything is loaded)."""
        checks = [
            (self.objective in OBJECTIVES, f"objective must be one of {OBJECTIVES}, not {self.objective!r}"),
            (self.pooler in POOLERS, f"--pooler must be one of {', '.join(POOLERS)}, not {self.pooler!r}"),
            (self.amp in AMP_MODES, f"--amp must be one of {AMP_MODES}, not {self.amp!r}"),
            (self.device in DEVICES, f"--device must be one of {DEVICES}, not {self.device!r}"),
            (self.mlp_init in MLP_INITS, f"--mlp-init must be one of {MLP_INITS}, not {self.mlp_init!r}"),
            (
                self.batch_size >= 2,
                f"--batch-size must be at least 2 (in-batch negatives), not {self.batch_size}",
            ),
            (self.epochs >= 1, f"--epochs must be at least 1, not {self.epochs}"),
            (self.steps is None or self.steps >= 1, f"--steps must be at least 1, not {self.steps}"),
            (self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, not {self.lr}"),
            (self.warmup_steps >= 0, "--warmup-steps must be >= 0"),
            (self.max_grad_norm >= 0, "--max-grad-norm must be >= 0"),
            (self.max_len >= 3, f"--max-len must be at least 3 tokens, not {self.max_len}"),
            (self.temp > 0, f"--temp must be positive, not {self.temp}"),
            (
                self.hard_negative_weight >= 0,
                "--hard-negative-weight must be >= 0 (1 = plain, 0 = drop own hard negative)",
            ),
            (
                self.dropout is None or 0.0 <= self.dropout < 1.0,
                f"--dropout must be in [0, 1), not {self.dropout}",
            ),
            (
                not (self.same_dropout_mask and self.grad_cache),
                "--same-dropout-mask does not combine with --grad-cache (chunks are embedded apart); drop one of them",
            ),
            (
                self.hard_negatives or self.objective == "sup",
                "--no-hard-negatives applies to --sup only (unsupervised data has no hard negatives); remove it",
            ),
            (
                self.hard_negatives or self.hard_negative_weight == 1.0,
                f"--hard-negative-weight {self.hard_negative_weight} weighs hard negatives, but --no-hard-negatives "
                "drops them: remove one of the two flags",
            ),
            *self._matryoshka_checks(),
            (0.0 < self.mlm_probability < 1.0, "--mlm-probability must be in (0, 1)"),
            (self.mlm_weight >= 0, "--mlm-weight must be >= 0"),
            (self.grad_cache_chunk >= 1, "--grad-cache-chunk must be at least 1"),
            (self.eval_steps >= 0 and self.save_steps >= 0, "--eval-steps and --save-steps must be >= 0"),
            (self.eval_batch_size >= 1, "--eval-batch-size must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def _matryoshka_checks(self) -> list[tuple[bool, str]]:
        dims, weights = self.matryoshka_dims, self.matryoshka_weights
        if dims is None:
            return [(weights is None and self.select_dim is None,
                     "--matryoshka-weights and --select-dim need --matryoshka-dims")]
        shown = ",".join(map(str, dims))
        return [
            (len(dims) >= 1 and all(isinstance(d, int) and d >= 1 for d in dims),
             f"--matryoshka-dims must be sizes >= 1, e.g. 384,256,128,64; got {shown!r}"),
            (all(a > b for a, b in zip(dims, dims[1:], strict=False)),
             f"--matryoshka-dims must be strictly descending (largest first), e.g. 384,256,128,64; got {shown!r}"),
            (weights is None or (len(weights) == len(dims) and all(w > 0 and math.isfinite(w) for w in weights)),
             f"--matryoshka-weights needs one positive weight per size ({len(dims)} for {shown}): give one weight "
             f"per size, each a positive number; got {weights}"),
            (self.select_dim is None or self.select_dim in dims,
             f"--select-dim {self.select_dim} is not one of --matryoshka-dims {shown}"),
            (not (self.pooler == "cls" and self.mlp_only_train),
             f"--matryoshka-dims {shown} trains prefixes of the training vector (the MLP head's output), but with "
             "--mlp-only-train the model serves the raw [CLS] vector, whose prefixes would not be trained: add "
             "--no-mlp-only-train, or train the served vector with --pooler cls_before_pooler or --pooler avg"),
        ]

    @property
    def selection_dim(self) -> int | None:
        """The size whose STS-B dev picks ``best/``; None: the full vector (no Matryoshka)."""
        if not self.matryoshka_dims:
            return None
        return self.select_dim if self.select_dim is not None else self.matryoshka_dims[0]


# The paper's recipes (SimCSE, Gao et al. 2021, Table/Appendix A; run_unsup_example.sh, run_sup_example.sh).
PRESETS: dict[str, TrainConfig] = {
    "unsup": TrainConfig(
        objective="unsup",
        data="wiki",
        epochs=1,
        batch_size=64,
        lr=3e-5,
        max_len=32,
        temp=0.05,
        pooler="cls",
        mlp_only_train=True,
    ),
    "sup": TrainConfig(
        objective="sup",
        data="nli",
        epochs=3,
        batch_size=512,
        lr=5e-5,
        max_len=32,
        temp=0.05,
        pooler="cls",
        mlp_only_train=False,
        hard_negative_weight=1.0,
    ),
}


def float_list(text: str) -> list[float]:
    """``"1,0.5"`` -> [1.0, 0.5] (argparse type of list-of-number options such as --matryoshka-weights)."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of numbers, e.g. 1,1,0.5; got {text!r}") from None


def resolve(preset: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The preset ``preset`` with ``overrides`` (field name -> value) applied, validated.

    Raises:
        ConfigError: unknown preset or field, or a value out of range.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    unknown = sorted(set(overrides or {}) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
    cfg = dataclasses.replace(PRESETS[preset], **(overrides or {}))
    cfg.validate()
    warn_ineffective(cfg, set(overrides or {}))
    if "pooler" not in (overrides or {}):  # the recipe's pooler, not the user's: say if the base pools otherwise
        warn_base_pooling(cfg.base, cfg.pooler, f"--{preset}")
    return with_absolute_paths(cfg)


def warn_ineffective(cfg: TrainConfig, given: set[str] | None = None,
                     num_sent: int | None = None) -> list[tuple[str, str]]:
    """Warn of each setting given that this run does not use (it was saved, silently unused), and return them as
    (flag, why); with ``num_sent`` (sentences an example of the loaded data), of those its columns leave unused.
    ``given`` None: the values that are not the preset's (a saved config does not say which flags were given)."""
    given = {k for k, v in vars(PRESETS[cfg.objective]).items() if getattr(cfg, k) != v} if given is None else given
    rules = [
        ("hard_negative_weight", cfg.objective == "unsup", "unsupervised data has no hard negatives"),
        ("grad_cache_chunk", not cfg.grad_cache, "it sets --grad-cache's chunks; add --grad-cache"),
        ("mlm_weight", not cfg.do_mlm, "it weighs the MLM loss; add --mlm"),
        ("mlm_probability", not cfg.do_mlm, "it sets the MLM masking; add --mlm"),
        ("mlp_only_train", cfg.pooler != "cls", "it applies to --pooler cls (the MLP head) only"),
        ("mlp_init", cfg.pooler != "cls", "it sets the MLP head of --pooler cls only"),
        ("select_dim", cfg.eval_steps == 0, "it picks best/ by STS-B dev, which --eval-steps 0 never evaluates"),
    ] if num_sent is None else [  # once the data's columns are known
        ("hard_negative_weight", cfg.objective == "sup" and num_sent < 3,
         "the data has no hard_neg column (sent0,sent1 pairs): there is no hard negative to weigh"),
    ]
    unused = [("--" + name.replace("_", "-"), why) for name, off, why in rules if name in given and off]
    for flag, why in unused:
        logger.warning("%s has no effect here: %s", flag, why)
    return unused


def with_absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with a local --base, a --data file and the data directory ($SIMCSE_DATA_DIR included) made absolute:
    the saved config then means the same files when the run is resumed from another directory or shell (a
    relative base read from elsewhere gave another serving length; an unset variable, no data)."""
    base = str(Path(cfg.base).resolve()) if Path(cfg.base).is_dir() else cfg.base
    data = str(Path(cfg.data).resolve()) if Path(cfg.data).is_file() else cfg.data
    data_dir = cfg.data_dir or os.environ.get(DATA_DIR_ENV) or None
    data_dir = str(Path(data_dir).resolve()) if data_dir and Path(data_dir).is_dir() else data_dir
    return dataclasses.replace(cfg, base=base, data=data, data_dir=data_dir)
