"""The SimCSE model: a Hugging Face encoder (any ``AutoModel`` encoder), a pooler, and optionally an MLM head.

The ``cls`` pooler's MLP head (dense + tanh over [CLS], SimCSE's ``MLPLayer``) *is* the
encoder's own ``pooler`` module where it has one (BertPooler / RobertaPooler / MPNetPooler compute
exactly that), so a saved checkpoint loads with plain ``AutoModel.from_pretrained`` and its
``pooler_output`` is the head. An encoder without a pooler layer (DistilBERT, DeBERTa-v2,
ModernBERT, ELECTRA) gets a new :class:`~trainer.encoder.MLPHead`, saved beside the encoder as
``mlp_head.safetensors`` (keys ``dense.weight``, ``dense.bias``). By default the head is freshly
initialised, as the reference creates a new ``MLPLayer`` (normal(0, initializer_range) weights,
zero bias); ``mlp_init="base"`` keeps the base model's pooler (or saved head) weights instead.
The inputs passed to the encoder are those its ``forward`` accepts (``token_type_ids`` or not).

Example:
    >>> model, tok = load_base("path/to/bert", pooler="avg")        # doctest: +SKIP
    >>> batch = tok(["a cat", "a dog"], padding=True, return_tensors="pt")  # doctest: +SKIP
    >>> model.embed(dict(batch)).shape                                # doctest: +SKIP
    torch.Size([2, 768])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import check_base, check_tokenizer, fp32_kwargs, from_pretrained
from .encoder import MLPHead, encoder_outputs, forward_inputs, has_pooler, init_dense, pooler_dense
from .errors import BaseModelError, ConfigError
from .loss import at_least_fp32
from .pooling import needs_hidden_states, pool

logger = logging.getLogger(__name__)

# Config attributes that hold dropout probabilities, across encoder families (checked by presence).
DROPOUT_ATTRS = (
    "hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout", "embedding_dropout",
    "mlp_dropout",
)


class SimCSEModel(nn.Module):
    """Encoder + training pooler (+ MLM head). ``embed`` maps a tokenized batch to (rows, hidden)."""

    encoder: Any  # a transformers PreTrainedModel (BertModel, MPNetModel, ModernBertModel, ...)

    def __init__(
        self, encoder: nn.Module, pooler: str, mlm_head: nn.Module | None = None, head: MLPHead | None = None
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooler = pooler
        self.mlm_head = mlm_head
        self.head = head  # the cls MLP head of an encoder without a pooler layer (else None: its pooler is the head)
        self.inputs = forward_inputs(encoder)  # the tokenizer outputs its forward accepts

    def embed(self, batch: dict[str, torch.Tensor], pooler: str | None = None) -> torch.Tensor:
        """Sentence vectors of a tokenized batch: (rows, hidden), with ``pooler`` (default: the training one)."""
        pooler = pooler or self.pooler
        out = encoder_outputs(self.encoder, self.inputs, batch, needs_hidden_states(pooler))
        if self.head is not None and pooler == "cls":
            mlp = self.head(out.last_hidden_state[:, 0])  # (rows, hidden)
        else:
            mlp = getattr(out, "pooler_output", None)  # (rows, hidden), the encoder's own pooler
        return pool(
            pooler,
            batch["attention_mask"],
            last_hidden=out.last_hidden_state,  # (rows, seq, hidden)
            pooler_output=mlp,
            hidden_states=out.hidden_states,
        )

    def embed_views(
        self, batch: dict[str, torch.Tensor], num_sent: int, *, same_mask: bool = False
    ) -> torch.Tensor:
        """Embed an example-major batch (rows * num_sent, seq) as views: returns (rows, num_sent, hidden).

        By default the whole batch goes through the encoder at once, so every sentence gets its own dropout
        mask (unsupervised SimCSE's positives are the two masks of one sentence). ``same_mask=True`` embeds
        each view ``j`` (sentence j of every example) in its own pass from the same RNG state, so all views
        see one dropout mask: identical inputs give identical vectors (the paper's "fixed 0.1" ablation).
        In eval mode there is no dropout and both ways agree.
        """
        if not same_mask or not self.training:
            return self.embed(batch).view(-1, num_sent, self.encoder.config.hidden_size)
        device = batch["input_ids"].device
        cuda = [device] if device.type == "cuda" else []
        start_cpu = torch.get_rng_state()
        start_cuda = torch.cuda.get_rng_state(device) if cuda else None
        views = []
        for j in range(num_sent):
            torch.set_rng_state(start_cpu)  # every view draws the same masks (same shapes, same order of draws)
            if start_cuda is not None:
                torch.cuda.set_rng_state(start_cuda, device)
            view = {k: v[j::num_sent] for k, v in batch.items()}  # (rows, seq): padded alike, so masks align
            views.append(self.embed(view))  # (rows, hidden)
        return torch.stack(views, dim=1)  # (rows, num_sent, hidden)

    def mlm_loss_sum(
        self, batch: dict[str, torch.Tensor], mlm_input_ids: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Summed cross-entropy over the masked tokens (labels != -100): a separate encoder pass, as the reference."""
        if self.mlm_head is None:
            raise ConfigError("the MLM loss needs the model built with do_mlm=True")
        inputs = {k: batch[k] for k in self.inputs if k in batch and k != "input_ids"}
        hidden = self.encoder(
            input_ids=mlm_input_ids, **inputs, return_dict=True
        ).last_hidden_state  # (rows, seq, hidden)
        logits = self.mlm_head(hidden)  # (rows, seq, vocab)
        return F.cross_entropy(
            at_least_fp32(logits.flatten(0, 1)), labels.flatten(), ignore_index=-100, reduction="sum"
        )


def init_mlp_head(encoder: Any, seed: int) -> None:
    """Re-initialise the encoder's pooler dense layer as a fresh MLP head: N(0, initializer_range), bias 0."""
    dense = pooler_dense(encoder)
    if dense is None:
        raise ConfigError(f"{type(encoder).__name__} has no pooler dense layer to re-initialise")
    init_dense(dense, float(getattr(encoder.config, "initializer_range", 0.02)), seed)


def cls_head(encoder: Any, base: str, mlp_init: str, seed: int) -> MLPHead | None:
    """The MLP head for the ``cls`` pooler: None when the encoder's own pooler is it, else a new or saved head."""
    std = float(getattr(encoder.config, "initializer_range", 0.02))
    if has_pooler(encoder):
        if pooler_dense(encoder) is None:
            raise ConfigError(
                f"pooler 'cls': {base!r} ({type(encoder).__name__}) has a pooler without a dense layer; choose "
                "another --pooler"
            )
        if mlp_init == "fresh":
            init_mlp_head(encoder, seed)
        return None
    head = MLPHead.load(Path(base)) if mlp_init == "base" and Path(base).is_dir() else None
    if head is None:
        if mlp_init == "base":
            logger.info("%s has no pooler layer and no saved MLP head: the cls head starts fresh", base)
        head = MLPHead(int(encoder.config.hidden_size))
        head.reset(std, seed)
    return head


def load_base(
    base: str,
    *,
    pooler: str,
    dropout: float | None = None,
    mlp_init: str = "fresh",
    do_mlm: bool = False,
    seed: int = 42,
) -> tuple[SimCSEModel, Any]:
    """Load the encoder and tokenizer of ``base`` and build the SimCSE model for training with ``pooler``.

    Raises:
        BaseModelError: ``base`` is not a model directory, or a hub id that cannot be loaded offline.
        ConfigError: ``pooler="cls"`` on a pooler without a dense layer, or ``dropout`` on a config without dropout fields.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer

    name, local_only = check_base(base)
    config = from_pretrained(AutoConfig, name, local_only)
    if dropout is not None:
        present = [a for a in DROPOUT_ATTRS if isinstance(getattr(config, a, None), float)]
        if not present:
            raise ConfigError(
                f"--dropout: the config of {base!r} has none of the fields {', '.join(DROPOUT_ATTRS)}"
            )
        for attr in present:
            setattr(config, attr, dropout)
    encoder = from_pretrained(AutoModel, name, local_only, config=config, **fp32_kwargs())
    tokenizer = from_pretrained(AutoTokenizer, name, local_only)
    check_tokenizer(tokenizer, base)
    try:
        forward_inputs(encoder)
    except TypeError as e:
        raise BaseModelError(f"--base {base!r}: {e}") from e
    head = cls_head(encoder, name, mlp_init, seed) if pooler == "cls" else None
    mlm_head = None
    if do_mlm:
        # The MLM head of the base's masked-LM model (fresh if the base ships none), as the reference loads
        # BertForPreTraining's cls.predictions; the head is every child that is not the base encoder.
        mlm_model = from_pretrained(AutoModelForMaskedLM, name, local_only, config=config, **fp32_kwargs())
        heads = [m for n, m in mlm_model.named_children() if n != mlm_model.base_model_prefix]
        if len(heads) != 1:
            raise ConfigError(f"--do-mlm: cannot find the masked-LM head of {base!r}")
        mlm_head = heads[0]
    return SimCSEModel(encoder, pooler, mlm_head, head), tokenizer


def make_encode(
    model: SimCSEModel,
    tokenizer: Any,
    *,
    pooler: str,
    max_len: int,
    batch_size: int = 128,
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> Callable[[list[str]], np.ndarray]:
    """An ``encode(sentences) -> (N, hidden) float32 array`` for evaluation: eval mode, no grad, inference ``pooler``.

    Sentences are sorted by length and encoded in batches of ``batch_size`` (less padding), then put
    back in their order. The model's train/eval mode is restored afterwards.
    """
    device = next(model.parameters()).device

    def batches(order: list[int], sentences: list[str]) -> Iterator[list[int]]:
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]

    def encode(sentences: list[str]) -> np.ndarray:
        was_training = model.training
        model.eval()
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out = np.zeros((len(sentences), model.encoder.config.hidden_size), dtype=np.float32)
        try:
            with torch.no_grad():
                for idx in batches(order, sentences):
                    enc = tokenizer(
                        [sentences[i] for i in idx],
                        padding="longest",
                        truncation=True,
                        max_length=max_len,
                        return_tensors="pt",
                    )
                    batch = {k: v.to(device) for k, v in enc.items()}
                    with autocast():
                        vectors = model.embed(batch, pooler=pooler)  # (batch, hidden)
                    out[idx] = vectors.float().cpu().numpy()
        finally:
            model.train(was_training)
        return out

    return encode


def check_for_run(model: SimCSEModel, objective: str, max_len: int) -> None:
    """Before the first step: ``--max-len`` within the encoder's positions (it failed mid-run, at the first long
    sentence, with nothing saved), and a warning without dropout (unsupervised positives differ only by it)."""
    from .encoder import position_limit  # beside the check, not in the long import line above

    limit = position_limit(model.encoder)
    if limit is not None and max_len > limit:
        raise ConfigError(f"--max-len {max_len} is more than the {limit} positions of this base model "
                          f"({type(model.encoder).__name__}): pass --max-len {limit} or less")
    config = model.encoder.config
    values = [getattr(config, a) for a in DROPOUT_ATTRS if isinstance(getattr(config, a, None), float)]
    if objective == "unsup" and values and not any(values):
        logger.warning("every dropout probability of %s is 0: unsupervised SimCSE needs dropout noise for its "
                       "positives; pass --dropout 0.1", type(model.encoder).__name__)
