"""What training and export need to know about a Hugging Face encoder, read from the model itself.

Any model ``transformers.AutoModel`` loads whose ``forward`` takes ``input_ids`` and
``attention_mask`` and returns ``last_hidden_state`` is an encoder here. What differs between
architectures is found from the loaded module and its config, never from the model's name:

- the inputs it accepts: ``inspect.signature(model.forward)`` (``token_type_ids`` or not);
- whether it has a pretrained pooler layer (dense + tanh over the first token, BERT-style): the
  ``pooler`` sub-module; for the ``cls`` pooler an encoder without one gets a fresh :class:`MLPHead`,
  saved next to the checkpoint as ``mlp_head.safetensors``;
- how many tokens its positions allow: ``max_position_embeddings``, less the offset when the position
  embedding has a padding index (positions counted from the pad id, RoBERTa-style).

Example:
    >>> from transformers import AutoModel                       # doctest: +SKIP
    >>> enc = AutoModel.from_pretrained("path/to/mpnet")        # doctest: +SKIP
    >>> forward_inputs(enc), has_pooler(enc), position_limit(enc)  # doctest: +SKIP
    (('input_ids', 'attention_mask'), True, 512)
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what the tokenizer may produce
HEAD_FILE = "mlp_head.safetensors"  # the cls pooler's MLP head of an encoder without a pooler layer


class NotAnEncoderError(TypeError):
    """The model's forward does not take input_ids and attention_mask."""


def forward_inputs(encoder: nn.Module) -> tuple[str, ...]:
    """The token inputs ``encoder.forward`` accepts, in :data:`TOKEN_INPUTS` order.

    Raises:
        NotAnEncoderError: ``input_ids`` or ``attention_mask`` is not a parameter of its forward.
    """
    params = inspect.signature(encoder.forward).parameters
    accepted = tuple(name for name in TOKEN_INPUTS if name in params)
    missing = [name for name in ("input_ids", "attention_mask") if name not in accepted]
    if missing:
        raise NotAnEncoderError(
            f"{type(encoder).__name__}.forward takes no {' or '.join(missing)}: only encoders whose forward takes "
            "input_ids and attention_mask and returns hidden states can be trained or exported"
        )
    return accepted


def has_pooler(encoder: nn.Module) -> bool:
    """Whether the encoder carries its own pooler layer (its ``pooler_output`` is the MLP head over [CLS])."""
    return isinstance(getattr(encoder, "pooler", None), nn.Module)


def pooler_dense(encoder: nn.Module) -> nn.Linear | None:
    """The linear layer of the encoder's own pooler (``pooler.dense``, or ``pooler`` itself when it is one)."""
    pooler = getattr(encoder, "pooler", None)
    if isinstance(pooler, nn.Linear):
        return pooler
    dense = getattr(pooler, "dense", None)
    return dense if isinstance(dense, nn.Linear) else None


def position_limit(encoder: nn.Module) -> int | None:
    """Tokens the encoder's positions allow, or None when it has no position limit in its config.

    A position embedding with a padding index numbers positions from ``padding_idx + 1`` (RoBERTa,
    XLM-R, MPNet): ``padding_idx + 1`` of its rows are never a real token's position.
    """
    total = getattr(encoder.config, "max_position_embeddings", None)
    if total is None:
        return None
    offset = 0
    for module in encoder.modules():
        table = getattr(module, "position_embeddings", None)
        if isinstance(table, nn.Embedding) and table.num_embeddings == total:
            offset = 0 if table.padding_idx is None else int(table.padding_idx) + 1
            break
    return int(total) - offset


class MLPHead(nn.Module):
    """SimCSE's ``MLPLayer``: dense + tanh over the first token's vector, (batch, hidden) -> (batch, hidden)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(first_token))  # (batch, hidden)

    def reset(self, std: float, seed: int) -> None:
        """Fresh weights as the reference initialises its MLP: N(0, std), bias 0."""
        init_dense(self.dense, std, seed)

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(directory / HEAD_FILE))

    @classmethod
    def load(cls, directory: Path) -> MLPHead | None:
        """The head saved in ``directory``, or None when there is none."""
        path = Path(directory) / HEAD_FILE
        if not path.is_file():
            return None
        from safetensors.torch import load_file

        state = load_file(str(path))
        head = cls(int(state["dense.weight"].shape[1]))
        head.load_state_dict(state)
        return head


def init_dense(dense: nn.Linear, std: float, seed: int) -> None:
    """Re-initialise ``dense`` as a fresh MLP head: weights N(0, std) from ``seed``, bias 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        dense.weight.copy_(torch.randn(dense.weight.shape, generator=g) * std)
        if dense.bias is not None:
            dense.bias.zero_()


def encoder_outputs(
    encoder: Any, inputs: tuple[str, ...], batch: dict[str, torch.Tensor], output_hidden_states: bool
) -> Any:
    """Run ``encoder`` on the entries of ``batch`` its forward accepts (keyword arguments only)."""
    return encoder(
        **{k: batch[k] for k in inputs if k in batch}, output_hidden_states=output_hidden_states, return_dict=True
    )
