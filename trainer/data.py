"""Training data: finding the file, reading and checking it, ordering it, and tokenizing batches.

Formats are the paper's: unsupervised data is one sentence a line (``wiki1m_for_simcse.txt``);
supervised data is a CSV with the header ``sent0,sent1,hard_neg`` (``nli_for_simcse.csv``),
or ``sent0,sent1`` for pairs without hard negatives. Each training *example* is a tuple of
sentences: ``(s, s)`` unsupervised (one sentence, encoded twice), ``(s0, s1, hard_neg)`` supervised.

Batches are addressed by step: the data is shuffled once per epoch with a generator seeded by
``(seed, epoch)``, so step ``k``'s batch is known without replaying the run (resume needs nothing
else), and every process of a multi-process run sees the same global batch.

Example:
    >>> examples = [("a",), ("b",), ("c",), ("d",), ("e",)]
    >>> order = BatchOrder(n=5, batch_size=2, seed=0)
    >>> order.steps_per_epoch, len(order.indices(step=3))
    (2, 2)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from simcse_sdk.model.manifest import sha256_file  # the same hash the export checks against

from .datafile import CSV_COLUMNS, read_csv_rows, read_sentences, refuse_compressed
from .errors import DataError

logger = logging.getLogger(__name__)

# Short names for the paper's data files, looked up in <data-dir>/train/, first existing wins.
DATA_NAMES: dict[str, tuple[str, ...]] = {
    "wiki": ("wiki1m_for_simcse.txt", "wiki1m_prefix.txt"),
    "nli": ("nli_for_simcse.csv", "nli_snli_devtest_triplets.csv"),
}


@dataclass
class TrainData:
    """The loaded training set."""

    path: Path  # the file read
    sha256: str  # of the file's bytes, recorded in every checkpoint
    examples: list[tuple[str, ...]]  # (s, s) unsup, (s0, s1[, hard_neg]) sup
    skipped: int  # lines left out (empty, a missing/extra field, an empty field used), counted
    repeated: int = 0  # examples equal to an earlier one (kept, and warned about)

    @property
    def num_sent(self) -> int:
        """Sentences an example: 2 (pairs) or 3 (with a hard negative)."""
        return len(self.examples[0])


def resolve_data_file(data: str, data_dir: str | os.PathLike[str] | None) -> Path:
    """Path of the training file named ``data``: an existing path, or ``wiki``/``nli``, or a file under the data dir.

    Raises:
        DataError: nothing found; the message lists every place looked at.
    """
    as_path = Path(data).expanduser()
    if as_path.is_file():
        return as_path
    from simcse_sdk.evaluation.data.datadir import resolve_data_dir  # the data-dir rule shared with the SDK

    if data in DATA_NAMES:
        root = resolve_data_dir(data_dir)
        candidates = [root / "train" / name for name in DATA_NAMES[data]]
        for path in candidates:
            if path.is_file():
                logger.info("data %r -> %s", data, path)
                return path
        looked = ", ".join(str(p) for p in candidates)
        raise DataError(f"training data {data!r} not found: looked for {looked}")
    looked_at = [str(as_path)]
    if data_dir is not None or os.environ.get("SIMCSE_DATA_DIR"):
        root = resolve_data_dir(data_dir)
        for path in (root / data, root / "train" / data):
            looked_at.append(str(path))
            if path.is_file():
                return path
    raise DataError(
        f"training data file {data!r} not found (looked at {', '.join(looked_at)}); "
        f"pass a path, or one of {', '.join(DATA_NAMES)} with --data-dir"
    )


def load_training_data(path: Path, objective: str, batch_size: int, *, hard_negatives: bool = True) -> TrainData:
    """Read and check the training file for ``objective``; errors before any model is loaded.

    ``hard_negatives=False`` (supervised) keeps ``(sent0, sent1)`` of each row: the hard-negative column is
    dropped (an empty one does not skip the row), so no hard negative enters the loss.

    Logs a warning naming the lines skipped (by reason) and the examples that repeat an earlier one: two
    identical examples in one batch are each other's in-batch negative (a false negative). They are kept, as
    the paper's recipe keeps them.

    Raises:
        DataError: wrong format for the objective, no usable example, or fewer examples than one batch.
    """
    is_csv = path.suffix.lower() in (".csv", ".tsv")
    examples: list[tuple[str, ...]]
    if objective == "unsup":
        sentences, skips = read_sentences(path)  # refuses a CSV, JSON lines, gzip, ...
        examples = [(s, s) for s in sentences]
        unit = "line(s)"
    else:
        refuse_compressed(path)
        if not is_csv:
            raise DataError(
                f"{path}: the supervised objective reads a CSV (.csv, or .tsv tab-separated) with the header "
                f"{','.join(CSV_COLUMNS)} or sent0,sent1"
            )
        examples, skips = read_csv_rows(path, columns=None if hard_negatives else 2)  # 2: (sent0, sent1)
        unit = "row(s)"
    if skips.total:
        logger.warning("%s: skipped %d %s: %s", path, skips.total, unit, skips.describe())
    if skips.repeats:
        line, earlier = skips.first_repeat
        logger.warning(
            "%s: %d example(s) repeat an earlier one (first: line %d, as line %d); kept, but two identical examples "
            "in one batch are each other's in-batch negative (a false negative): remove the repeats from the file "
            "to train without them", path, skips.repeats, line, earlier,
        )
    if not examples:
        hint = ""
        if objective == "sup" and hard_negatives and read_csv_rows(path, columns=2)[0]:
            hint = ("; every row's hard_neg is empty: pass --no-hard-negatives to train on the (sent0, sent1) "
                    "pairs")
        raise DataError(f"{path}: no usable example (skipped {skips.total} {unit}: {skips.describe() or 'none'})"
                        f"{hint}")
    if batch_size > len(examples):
        raise DataError(
            f"--batch-size {batch_size} is larger than the data ({len(examples)} examples in {path}); "
            "lower --batch-size"
        )
    return TrainData(path=path, sha256=sha256_file(path), examples=examples, skipped=skips.total,
                     repeated=skips.repeats)


def load_run_data(cfg: Any, run_dir: Path, state: dict[str, Any] | None) -> TrainData:
    """The training data of the run ``cfg`` (a TrainConfig); with a resumed run's ``state``, checked to be the very
    data the run started with (same sha256, same number of examples), wherever it now is."""
    from .runlog import started_examples

    where = (f"python -m trainer --resume --out {run_dir} --data-dir DIR (or --{cfg.objective} FILE), naming where "
             "the data is now")
    from simcse_sdk.errors import SimcseError

    try:
        path = resolve_data_file(cfg.data, cfg.data_dir)
    except (DataError, SimcseError) as e:
        if state is None:
            raise
        raise DataError(f"{e} If the data moved since the run started: {where}") from None
    data = load_training_data(path, cfg.objective, cfg.batch_size, hard_negatives=cfg.hard_negatives)
    if state is not None and state["data_sha256"] != data.sha256:
        raise DataError(f"{path} changed since the run started (its sha256 is {data.sha256[:12]}..., the run's "
                        f"{state['data_sha256'][:12]}...); cannot resume on other data: put the original file back, "
                        f"or give its copy ({where}), or start a new run (another --out)")
    started = started_examples(run_dir, state) if state is not None else None
    if started not in (None, len(data.examples)):
        raise DataError(f"{path}: the run read {started} examples from it when it started, "
                        f"this version reads {len(data.examples)} (its rules for skipping rows changed): resuming would "
                        "change the batch order. Start a new run (another --out).")
    return data


class BatchOrder:
    """Which examples form the global batch of each step: a fresh permutation per epoch, last partial batch dropped."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.steps_per_epoch = n // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def epoch_of(self, step: int) -> int:
        """Epoch (from 0) of the 0-based ``step``."""
        return step // self.steps_per_epoch

    def indices(self, step: int) -> list[int]:
        """Example indices of the 0-based ``step``'s global batch."""
        epoch = self.epoch_of(step)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        start = (step % self.steps_per_epoch) * self.batch_size
        return self._perm[start : start + self.batch_size].tolist()


def tokenize(tokenizer: Any, examples: list[tuple[str, ...]], max_len: int) -> dict[str, torch.Tensor]:
    """Tokenize a batch of examples, flattened example-major: row ``i * num_sent + j`` is sentence j of example i.

    Returns tensors (batch * num_sent, seq), padded to the longest sentence of the batch.
    """
    flat = [s for ex in examples for s in ex]
    enc = tokenizer(flat, padding="longest", truncation=True, max_length=max_len, return_tensors="pt")
    return dict(enc)


def mask_tokens(
    input_ids: torch.Tensor, tokenizer: Any, probability: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking as the reference's collator: returns (masked input ids, labels with -100 where not masked).

    Each non-special token is picked with ``probability``; a picked token becomes [MASK] 80% of
    the time, a random token 10%, and stays 10%.
    """
    labels = input_ids.clone()  # (rows, seq)
    special = torch.tensor(
        [
            tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
            for ids in input_ids.tolist()
        ],
        dtype=torch.bool,
    )
    prob = torch.full(labels.shape, probability).masked_fill_(special, 0.0)
    picked = torch.bernoulli(prob, generator=generator).bool()
    labels[~picked] = -100
    masked = input_ids.clone()
    to_mask = torch.bernoulli(torch.full(labels.shape, 0.8), generator=generator).bool() & picked
    masked[to_mask] = tokenizer.convert_tokens_to_ids(tokenizer.mask_token)
    to_random = torch.bernoulli(torch.full(labels.shape, 0.5), generator=generator).bool() & picked & ~to_mask
    random_ids = torch.randint(len(tokenizer), labels.shape, generator=generator, dtype=torch.long)
    masked[to_random] = random_ids[to_random]
    return masked, labels
