"""The CPU peers a user could pick instead of the SDK: OpenVINO by hand, sentence-transformers' OpenVINO
backend, fastembed. Each is an ``embed(sentences, batch_size)`` function, set up as its documentation says.

``st_openvino`` and ``fastembed`` need the environment of ``benchmarks/cpu_peers_env.sh``; their exports
are made once and kept beside the model directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

Embed = Callable[[list[str], int], np.ndarray]


def _sorted_batches(tok, sentences: list[str], batch_size: int):
    """Token batches sorted by length, padded to their longest (as sentence-transformers batches)."""
    enc = tok.encode_batch(sentences)
    order = np.argsort([-len(e.ids) for e in enc], kind="stable")
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        seq = max(len(enc[j].ids) for j in idx)
        ids = np.zeros((len(idx), seq), dtype=np.int64)  # (batch, seq)
        mask = np.zeros_like(ids)
        for row, j in enumerate(idx):
            ids[row, : len(enc[j].ids)] = enc[j].ids
            mask[row, : len(enc[j].ids)] = 1
        yield idx, {"input_ids": ids, "attention_mask": mask}


def openvino(xml: Path, tokenizer: Path, threads: int, throughput: bool) -> Embed:
    """OpenVINO on the plain graph: LATENCY hint, one synchronous request (optimum-intel's default), or
    THROUGHPUT hint with an AsyncInferQueue (tuned by hand)."""
    import openvino as ov
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    core = ov.Core()
    hint = "THROUGHPUT" if throughput else "LATENCY"
    compiled = core.compile_model(core.read_model(str(xml)), "CPU",
                                  {"PERFORMANCE_HINT": hint, "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def embed(sentences: list[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(sentences), compiled.outputs[0].get_partial_shape()[1].get_length()), np.float32)
        if not throughput:
            for idx, feeds in _sorted_batches(tok, sentences, batch_size):
                out[idx] = request.infer(feeds)[0]
            return out

        def done(req, idx):
            out[idx] = req.get_output_tensor(0).data

        queue.set_callback(done)
        for idx, feeds in _sorted_batches(tok, sentences, batch_size):
            queue.start_async(feeds, idx)
        queue.wait_all()
        return out

    return embed


def st_openvino(base: Path, folder: Path, threads: int) -> Embed:
    """sentence-transformers with ``backend="openvino"`` (optimum-intel exports the model on first load)."""
    from sentence_transformers import SentenceTransformer

    if not (folder / "openvino" / "openvino_model.xml").is_file():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(base, tmp)
        SentenceTransformer(str(tmp), backend="openvino", device="cpu").save_pretrained(str(tmp))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    model = SentenceTransformer(str(folder), backend="openvino", device="cpu",
                                model_kwargs={"ov_config": {"INFERENCE_NUM_THREADS": threads}})
    return lambda s, bs: model.encode(s, batch_size=bs, convert_to_numpy=True, show_progress_bar=False)


def fastembed(base: Path, folder: Path, threads: int) -> Embed:
    """fastembed's TextEmbedding on the base model, from a local folder holding a plain ONNX export."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    if not (folder / "onnx" / "model.onnx").is_file():
        raise FileNotFoundError(f"{folder}/onnx/model.onnx is missing: latency.py exports it with this project's "
                                "environment first (export_last_hidden_state)")
    name = f"local/{folder.name}"
    if name not in {m["model"] for m in TextEmbedding.list_supported_models()}:
        TextEmbedding.add_custom_model(model=name, pooling=PoolingType.MEAN, normalization=True,
                                       sources=ModelSource(hf=name), dim=384, model_file="onnx/model.onnx")
    model = TextEmbedding(name, specific_model_path=str(folder), threads=threads)
    return lambda s, bs: np.stack(list(model.embed(s, batch_size=bs)))


def export_last_hidden_state(base: Path, folder: Path) -> None:
    """The base model as ONNX with a ``last_hidden_state`` output (what fastembed's mean pooling reads)."""
    import torch
    from transformers import AutoModel

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "onnx").mkdir(parents=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json", "vocab.txt"):
        if (base / f).is_file():
            shutil.copy(base / f, tmp / f)
    model = AutoModel.from_pretrained(base, attn_implementation="eager").eval()

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # (batch, seq, hidden)

    dummy = torch.ones((1, 8), dtype=torch.long)
    axes = {0: "batch", 1: "seq"}
    torch.onnx.export(Wrapper(), (dummy, dummy, torch.zeros_like(dummy)), str(tmp / "onnx" / "model.onnx"),
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                    "last_hidden_state": axes})
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
