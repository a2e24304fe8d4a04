"""The torch side of the export: the embedding module and its ONNX graph.

:class:`EmbeddingModule` wraps the encoder so the graph takes tokens and returns pooled
(optionally L2-normalised) sentence embeddings — pooling runs inside the graph, with the
attention mask respected. It is also the torch reference the accuracy gate compares with.

The graph is exported with the TorchScript exporter (``dynamo=False``) from a model loaded
with ``attn_implementation="eager"``: that is the form onnxruntime's transformer optimizer
recognises and fuses (Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization).

Example:
    >>> module = EmbeddingModule.load(source)                    # doctest: +SKIP
    >>> export_onnx(module, "model.onnx")                        # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import torch

from trainer.pooling import needs_hidden_states, pool

from .source import Source

logger = logging.getLogger(__name__)

OPSET = 17
INPUT_NAMES = ["input_ids", "attention_mask"]
OUTPUT_NAME = "sentence_embedding"


class EmbeddingModule(torch.nn.Module):
    """Encoder + pooler (+ L2 normalisation): (batch, seq) tokens -> (batch, hidden) embeddings."""

    def __init__(self, encoder: torch.nn.Module, pooler: str, normalize: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooler = pooler
        self.normalize = normalize

    @classmethod
    def load(cls, source: Source) -> EmbeddingModule:
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(source.path, attn_implementation="eager")
        if source.pooler == "cls" and getattr(encoder, "pooler", None) is None:
            raise ValueError(f"pooler 'cls' needs the MLP head in the model's pooler weights; {source.path} has none")
        return cls(encoder, source.pooler, source.normalize).eval()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # Keyword arguments: transformers 5 changed BertModel.forward's positional order.
        out = self.encoder(
            input_ids=input_ids,  # (batch, seq)
            attention_mask=attention_mask,  # (batch, seq)
            token_type_ids=torch.zeros_like(input_ids),
            output_hidden_states=needs_hidden_states(self.pooler),
            return_dict=True,
        )
        emb = pool(
            self.pooler,
            attention_mask,
            last_hidden=out.last_hidden_state,  # (batch, seq, hidden)
            pooler_output=getattr(out, "pooler_output", None),  # (batch, hidden)
            hidden_states=out.hidden_states,
        )  # (batch, hidden)
        if self.normalize:
            emb = torch.nn.functional.normalize(emb, p=2.0, dim=-1)
        return emb

    @torch.no_grad()
    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Reference embeddings (batch, hidden) float32 for one padded numpy batch."""
        return self(torch.from_numpy(input_ids), torch.from_numpy(attention_mask)).float().numpy()


def export_onnx(module: EmbeddingModule, path: str | os.PathLike[str]) -> None:
    """Write ``module`` as an fp32 ONNX graph with dynamic batch and sequence axes."""
    pad = int(getattr(module.encoder.config, "pad_token_id", None) or 0)
    real = [i for i in range(2, 8) if i != pad][:4]  # small ids exist in every vocabulary
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
