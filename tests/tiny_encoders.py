"""Tiny random-weight encoders of many architectures, each with a tokenizer trained here (no download).

``build(arch, out)`` writes a ``save_pretrained`` directory (config.json, model.safetensors and a fast
tokenizer) of a 2-layer model of architecture ``arch`` (one of :data:`ARCHS`), or raises
``pytest.skip`` when the installed transformers lacks it. The tokenizer is the kind the
architecture ships with (WordPiece, byte-level BPE, Unigram), trained on :data:`CORPUS`, with the
architecture's special tokens; its pad id is the config's ``pad_token_id``.

Example:
    >>> path = build("mpnet", tmp_path / "mpnet")        # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CORPUS = [
    "hello there",
    "a much longer sentence than the first one",
    "the quick brown fox jumps over the lazy dog",
    "a man is playing a guitar on the street",
    "someone is playing music outdoors",
    "the stock market fell sharply on tuesday",
    "two dogs are running through a field of tall grass",
    "please restart the server before applying the update",
    "sentence number about topic cat dog bird fish tree river stone cloud house road light",
] * 10

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0-4
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0-4
SPM_SPECIALS = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]  # ALBERT / DeBERTa-v2 order: pad 0, unk 1, cls 2, sep 3


@dataclass(frozen=True)
class Arch:
    """How to build one tiny architecture."""

    config: str  # transformers config class
    model: str  # transformers model class
    tokenizer: str  # wordpiece | bpe | unigram
    specials: list[str]  # special tokens, in id order from 0
    pad: str  # the padding token
    cls: str  # first token of a sequence
    sep: str  # last token of a sequence
    unk: str
    mask: str
    kwargs: dict[str, Any] = field(default_factory=dict)  # config fields beyond the shared small sizes


# initializer_range 0.2 (10x the usual): with 0.02 a random 2-layer model's output is nearly its embeddings'
# LayerNorm, so errors inside attention or the FFN would hardly show in the embedding.
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
         "initializer_range": 0.2}

ARCHS: dict[str, Arch] = {
    "bert": Arch("BertConfig", "BertModel", "wordpiece", BERT_SPECIALS, "[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]",
                 {**SMALL, "max_position_embeddings": 128}),
    "roberta": Arch("RobertaConfig", "RobertaModel", "bpe", ROBERTA_SPECIALS, "<pad>", "<s>", "</s>", "<unk>", "<mask>",
                    {**SMALL, "max_position_embeddings": 130, "type_vocab_size": 1}),
    "xlm-roberta": Arch("XLMRobertaConfig", "XLMRobertaModel", "unigram", ROBERTA_SPECIALS, "<pad>", "<s>", "</s>",
                        "<unk>", "<mask>", {**SMALL, "max_position_embeddings": 130, "type_vocab_size": 1}),
    "distilbert": Arch("DistilBertConfig", "DistilBertModel", "wordpiece", BERT_SPECIALS, "[PAD]", "[CLS]", "[SEP]",
                       "[UNK]", "[MASK]",
                       {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64, "max_position_embeddings": 128,
                        "initializer_range": 0.2}),
    "mpnet": Arch("MPNetConfig", "MPNetModel", "wordpiece", ROBERTA_SPECIALS, "<pad>", "<s>", "</s>", "<unk>", "<mask>",
                  {**SMALL, "max_position_embeddings": 130}),
    "deberta-v2": Arch("DebertaV2Config", "DebertaV2Model", "unigram", SPM_SPECIALS, "<pad>", "[CLS]", "[SEP]", "<unk>",
                       "[MASK]", {**SMALL, "max_position_embeddings": 128, "relative_attention": True,
                                  "position_buckets": 16, "pos_att_type": ["p2c", "c2p"], "position_biased_input": False,
                                  "norm_rel_ebd": "layer_norm", "share_att_key": True, "type_vocab_size": 0}),
    "modernbert": Arch("ModernBertConfig", "ModernBertModel", "bpe", BERT_SPECIALS, "[PAD]", "[CLS]", "[SEP]", "[UNK]",
                       "[MASK]", {**SMALL, "max_position_embeddings": 128, "global_attn_every_n_layers": 2,
                                  "local_attention": 16}),
    "electra": Arch("ElectraConfig", "ElectraModel", "wordpiece", BERT_SPECIALS, "[PAD]", "[CLS]", "[SEP]", "[UNK]",
                    "[MASK]", {**SMALL, "embedding_size": 16, "max_position_embeddings": 128}),
    "albert": Arch("AlbertConfig", "AlbertModel", "unigram", SPM_SPECIALS, "<pad>", "[CLS]", "[SEP]", "<unk>", "[MASK]",
                   {**SMALL, "embedding_size": 16, "max_position_embeddings": 128}),
}


def _tokenizer(arch: Arch) -> Any:
    """A fast tokenizer of the architecture's kind, trained on CORPUS, with its special tokens."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if arch.tokenizer == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=arch.unk))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=arch.specials)
    elif arch.tokenizer == "bpe":
        tok = Tokenizer(models.BPE(unk_token=arch.unk))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=arch.specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=150, special_tokens=arch.specials, unk_token=arch.unk)
    tok.train_from_iterator(CORPUS, trainer)
    cls_id, sep_id = tok.token_to_id(arch.cls), tok.token_to_id(arch.sep)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{arch.cls} $A {arch.sep}", pair=f"{arch.cls} $A {arch.sep} $B:1 {arch.sep}:1",
        special_tokens=[(arch.cls, cls_id), (arch.sep, sep_id)],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=arch.pad, unk_token=arch.unk, cls_token=arch.cls,
                                   sep_token=arch.sep, mask_token=arch.mask, bos_token=arch.cls, eos_token=arch.sep)


def build(name: str, out: Path, seed: int = 0) -> Path:
    """Write the tiny random ``name`` model and its tokenizer to ``out``; skip if transformers lacks it."""
    import torch
    import transformers

    arch = ARCHS[name]
    if not hasattr(transformers, arch.config) or not hasattr(transformers, arch.model):
        pytest.skip(f"transformers {transformers.__version__} has no {arch.model}: {name} not tested")
    tokenizer = _tokenizer(arch)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (arch.pad, arch.cls, arch.sep)}
    config = getattr(transformers, arch.config)(
        vocab_size=len(tokenizer), pad_token_id=ids[arch.pad], bos_token_id=ids[arch.cls], eos_token_id=ids[arch.sep],
        cls_token_id=ids[arch.cls], sep_token_id=ids[arch.sep], **arch.kwargs,
    )
    torch.manual_seed(seed)
    model = getattr(transformers, arch.model)(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


class ArchTable:
    """Per-architecture figures the tests measure, written as JSON and printed as a markdown table at the end."""

    COLUMNS = ("export ok", "fused ops", "fp32 min cos", "int8 gate", "fp16 gate", "trains", "openvino gate")

    def __init__(self, path: Path) -> None:
        self.path = path  # the JSON file written at the end of the session
        self.rows: dict[str, dict[str, Any]] = {}

    def record(self, arch: str, column: str, value: Any) -> None:
        """Set one cell; ``fp32 min cos`` keeps the lowest value seen (one a pooler)."""
        row = self.rows.setdefault(arch, {})
        if column == "fp32 min cos" and column in row:
            value = min(row[column], value)
        row[column] = value

    def write(self) -> str:
        """Write the JSON file (merged with one already there) and return the markdown table."""
        import json

        old = json.loads(self.path.read_text()) if self.path.is_file() else {}
        for arch, row in self.rows.items():
            old.setdefault(arch, {}).update(row)
        self.path.write_text(json.dumps(old, indent=2, default=str))
        lines = ["| architecture | " + " | ".join(self.COLUMNS) + " |", "|---" * (len(self.COLUMNS) + 1) + "|"]
        for arch in [a for a in ARCHS if a in old]:
            lines.append(f"| {arch} | " + " | ".join(str(old[arch].get(c, "-")) for c in self.COLUMNS) + " |")
        return "\n".join(lines)
