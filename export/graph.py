"""The torch side of the export: the embedding module and its ONNX graph.

:class:`EmbeddingModule` wraps the encoder so the graph takes tokens and returns pooled
(optionally L2-normalised) sentence embeddings — pooling runs inside the graph, with the
attention mask respected. It is also the torch reference the accuracy gate compares with.

The graph is exported with the TorchScript exporter (``dynamo=False``) from a model loaded
with ``attn_implementation="eager"``: that is the form onnxruntime's transformer optimizer
recognises and fuses (Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization)
where it knows the architecture.

Any ``AutoModel`` encoder works: the inputs passed are those its ``forward`` accepts
(``token_type_ids`` as zeros only where it takes them), the ``cls`` pooler uses the encoder's own
pooler layer or the trainer's saved ``mlp_head.safetensors``, and the max length is capped by what
its position embeddings allow (:func:`fit_length`). A model whose first token does not see the
others (causal attention: a decoder) is refused.

Example:
    >>> module = EmbeddingModule.load(source)                    # doctest: +SKIP
    >>> export_onnx(module, "model.onnx")                        # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings

import numpy as np
import torch

from trainer.encoder import MLPHead, encoder_outputs, forward_inputs, has_pooler, position_limit
from trainer.pooling import needs_hidden_states, pool

from .source import Source, SourceError

logger = logging.getLogger(__name__)

OPSET = 17
INPUT_NAMES = ["input_ids", "attention_mask"]
OUTPUT_NAME = "sentence_embedding"


class EmbeddingModule(torch.nn.Module):
    """Encoder + pooler (+ L2 normalisation): (batch, seq) tokens -> (batch, hidden) embeddings."""

    def __init__(self, encoder: torch.nn.Module, pooler: str, normalize: bool, head: MLPHead | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooler = pooler
        self.normalize = normalize
        self.head = head  # the cls MLP head of an encoder without a pooler layer
        self.inputs = forward_inputs(encoder)  # what its forward accepts: token_type_ids or not

    @classmethod
    def load(cls, source: Source) -> EmbeddingModule:
        from transformers import AutoModel

        try:
            encoder = AutoModel.from_pretrained(source.path, attn_implementation="eager").float()
            forward_inputs(encoder)
        except (TypeError, ValueError) as e:
            raise SourceError(f"{str(source.path)!r} ({source.model_type!r}) cannot be exported as an encoder: {e}") from e
        head = None
        if source.pooler == "cls" and not has_pooler(encoder):
            head = MLPHead.load(source.path)
            if head is None:
                raise SourceError(
                    f"pooler 'cls' needs the MLP head over [CLS]: {str(source.path)!r} ({type(encoder).__name__}) has "
                    "no pooler layer and no mlp_head.safetensors (written by `python -m trainer` with --pooler cls). "
                    "Choose --pooler cls_before_pooler, avg, avg_first_last or avg_top2."
                )
        module = cls(encoder, source.pooler, source.normalize, head).eval()
        _check_bidirectional(module, source)
        return module

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # Keyword arguments: transformers 5 changed BertModel.forward's positional order.
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}  # (batch, seq) each
        if "token_type_ids" in self.inputs:
            batch["token_type_ids"] = torch.zeros_like(input_ids)
        out = encoder_outputs(self.encoder, self.inputs, batch, needs_hidden_states(self.pooler))
        if self.head is not None and self.pooler == "cls":
            mlp = self.head(out.last_hidden_state[:, 0])  # (batch, hidden)
        else:
            mlp = getattr(out, "pooler_output", None)  # (batch, hidden), the encoder's own pooler
        emb = pool(
            self.pooler,
            attention_mask,
            last_hidden=out.last_hidden_state,  # (batch, seq, hidden)
            pooler_output=mlp,
            hidden_states=out.hidden_states,
        )  # (batch, hidden)
        if self.normalize:
            emb = torch.nn.functional.normalize(emb, p=2.0, dim=-1)
        return emb

    @torch.no_grad()
    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Reference embeddings (batch, hidden) float32 for one padded numpy batch."""
        return self(torch.from_numpy(input_ids), torch.from_numpy(attention_mask)).float().numpy()


def _probe_ids(module: EmbeddingModule, n: int) -> list[int]:
    """``n`` token ids that are not the pad id (small ids exist in every vocabulary)."""
    pad = int(getattr(module.encoder.config, "pad_token_id", None) or 0)
    return [i for i in range(2, 2 + n + 1) if i != pad][:n]


@torch.no_grad()
def _check_bidirectional(module: EmbeddingModule, source: Source) -> None:
    """Refuse a causal model: change the last token; an encoder's first-token state changes, a decoder's does not."""
    ids = torch.tensor([_probe_ids(module, 4)], dtype=torch.long)  # (1, 4)
    other = ids.clone()
    other[0, -1] = ids[0, 0]
    mask = torch.ones_like(ids)
    states = [module.encoder(**_batch(module, t, mask), return_dict=True).last_hidden_state[0, 0] for t in (ids, other)]
    if torch.equal(states[0], states[1]):
        raise SourceError(
            f"{str(source.path)!r} ({source.model_type!r}) attends causally (its first token does not see the "
            "others): a decoder. The export takes bidirectional encoders; decoder-only embedding models "
            "(last-token pooling) are not supported."
        )


def _batch(module: EmbeddingModule, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    batch = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in module.inputs:
        batch["token_type_ids"] = torch.zeros_like(ids)
    return batch


@torch.no_grad()
def fit_length(source: Source, module: EmbeddingModule) -> Source:
    """``source`` with its max length capped by the encoder's positions, checked by running that length.

    Raises:
        SourceError: the encoder fails on a sequence of that length (pass a smaller ``--max-len``).
    """
    limit = position_limit(module.encoder)
    length = source.max_seq_length if limit is None else min(source.max_seq_length, limit)
    if length < source.max_seq_length and source.length_from == "--max-len":  # asked for: say it is not what it gets
        logger.warning("--max-len %d asked, %d used: the encoder's position embeddings allow %d tokens",
                       source.max_seq_length, length, limit)
    elif length < source.max_seq_length:
        logger.info("max length %d capped to %d: the encoder's position embeddings allow %d tokens",
                    source.max_seq_length, length, limit)
    ids = torch.tensor([(_probe_ids(module, 3) * length)[:length]], dtype=torch.long)  # (1, length)
    try:
        module.encoder(**_batch(module, ids, torch.ones_like(ids)), return_dict=True)
    except (IndexError, RuntimeError) as e:
        raise SourceError(
            f"{str(source.path)!r} fails on a sequence of {length} tokens ({str(e).splitlines()[0]}): pass a smaller "
            "--max-len."
        ) from e
    return dataclasses.replace(source, max_seq_length=length)


def export_onnx(module: EmbeddingModule, path: str | os.PathLike[str]) -> None:
    """Write ``module`` as an fp32 ONNX graph with dynamic batch and sequence axes."""
    pad = int(getattr(module.encoder.config, "pad_token_id", None) or 0)
    real = _probe_ids(module, 4)
    dummy_ids = torch.tensor([real, real[:3] + [pad]], dtype=torch.long)  # (2, 4), the second row padded
    dummy_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long)
    dynamic = {"batch": 0, "seq": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript tracer warns about every Python branch it sees
        torch.onnx.export(
            module,
            (dummy_ids, dummy_mask),
            str(path),
            input_names=INPUT_NAMES,
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                "input_ids": {v: k for k, v in dynamic.items()},
                "attention_mask": {v: k for k, v in dynamic.items()},
                OUTPUT_NAME: {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    logger.info("exported fp32 graph to %s", path)
