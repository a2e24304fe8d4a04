"""The systems the latency benchmark compares, each behind one ``make_encoder`` call.

Each system is measured in its own process (torch and onnxruntime thread pools slow each
other down when they share one). A system is a function ``sentences -> (N, D) array``
with a batch size; how it batches is part of what is measured:

- ``transformers``: torch fp32 eager + hand-written mean pooling, batches in input order
  padded to the batch's longest (what people write by hand);
- ``sentence-transformers``: ``SentenceTransformer.encode`` (sorts by length internally);
- ``ort-fixed32``: an onnxruntime fp32 session on this project's graph, fed fixed-length
  (32) padded batches in input order — the plain way to serve an ONNX export;
- ``sdk-fp32`` / ``sdk-int8`` / ``sdk-fp16`` / ``sdk-ov-bf16``...: ``simcse_sdk.Encoder`` with that variant;
- ``sdk-auto``: ``simcse_sdk.Encoder(variant="auto")``, measuring its choice at start (fresh cache);
- ``openvino``: OpenVINO on this project's plain (standard-op) graph, ``model.ov.xml``, compiled as
  sentence-transformers' OpenVINO backend (optimum-intel) compiles it: ``PERFORMANCE_HINT=LATENCY``,
  the CPU's default precision (bf16 where it has AMX/AVX512-BF16), one synchronous request, batches
  sorted by length and padded to their longest; ``openvino-int8``: the same on the NNCF int8 IR;
- ``openvino-throughput``: the same graph tuned by hand: ``PERFORMANCE_HINT=THROUGHPUT`` (one stream
  per core) and an ``AsyncInferQueue`` keeping every stream busy;
- ``st-openvino``: sentence-transformers' own OpenVINO backend (``backend="openvino"``, its own export);
- ``fastembed``: fastembed's ``TextEmbedding`` on the same model from a local folder (a plain ONNX export
  with ``last_hidden_state`` output; fastembed mean-pools and normalises). ``st-openvino`` and
  ``fastembed`` run in their own environment (``benchmarks/cpu_peers_env.sh``).
- ``st-onnx-int8``: sentence-transformers' own ONNX backend with its own dynamic int8 export
  (``export_dynamic_quantized_onnx_model`` with the config for this CPU's instruction set). It
  needs an older transformers than this project, so it runs in a separate environment
  (``benchmarks/st_onnx_env.sh``); its export is kept beside the model directory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

Embed = Callable[[list[str], int], np.ndarray]

SYSTEMS = ("transformers", "sentence-transformers", "st-onnx-int8", "st-openvino", "fastembed", "openvino",
           "openvino-int8", "openvino-throughput", "ort-fixed32", "sdk-fp32", "sdk-int8", "sdk-fp16", "sdk-ov-fp32",
           "sdk-ov-bf16", "sdk-ov-int8", "sdk-auto")
PEER_ENV_SYSTEMS = ("st-openvino", "fastembed")  # run by the interpreter of benchmarks/cpu_peers_env.sh


def make_encoder(system: str, base: Path, model_dir: Path, device: str, threads: int) -> Embed:
    """An embed(sentences, batch_size) function for ``system``."""
    if system in ("transformers", "sentence-transformers"):
        import torch

        torch.set_num_threads(threads)
    if system == "transformers":
        return _transformers(base, device)
    if system == "sentence-transformers":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(base), device=device)
        return lambda s, bs: model.encode(s, batch_size=bs, convert_to_numpy=True, show_progress_bar=False)
    if system == "st-onnx-int8":
        tag = hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:8]  # one cached export per base model
        return _st_onnx_int8(base, model_dir.parent / f"{model_dir.name}-st-onnx-{tag}", threads)
    if system == "ort-fixed32":
        return _ort_fixed(model_dir, threads, length=32)
    if system in ("openvino", "openvino-int8", "openvino-throughput"):
        from . import peers

        xml = "model.ov-int8.xml" if system == "openvino-int8" else "model.ov.xml"
        return peers.openvino(model_dir / xml, model_dir / "tokenizer.json", threads, system == "openvino-throughput")
    if system == "st-openvino":
        from . import peers

        tag = hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:8]
        return peers.st_openvino(base, model_dir.parent / f"{model_dir.name}-st-openvino-{tag}", threads)
    if system == "fastembed":
        from . import peers

        return peers.fastembed(base, fastembed_folder(base, model_dir), threads)
    if system == "sdk-auto":
        import tempfile

        from simcse_sdk import Encoder

        enc = Encoder(model_dir, device=device, threads=threads, cache_dir=tempfile.mkdtemp(prefix="simcse-bench-"))
        print("CHOICE " + enc.describe(), flush=True)
        return lambda s, bs: enc.encode(s, batch_size=bs)
    if system.startswith("sdk-"):
        from simcse_sdk import Encoder

        enc = Encoder(model_dir, device=device, variant=system[4:], threads=threads)
        return lambda s, bs: enc.encode(s, batch_size=bs)
    raise ValueError(f"unknown system {system!r}; choose from {SYSTEMS}")


def fastembed_folder(base: Path, model_dir: Path) -> Path:
    """Where fastembed's local copy of ``base`` lives (exported once, by this project's environment)."""
    tag = hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:8]
    return model_dir.parent / f"{model_dir.name}-fastembed-{tag}"


def _transformers(base: Path, device: str) -> Embed:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModel.from_pretrained(base).to(device).eval()

    @torch.inference_mode()
    def embed(sentences: list[str], batch_size: int) -> np.ndarray:
        out = []
        for i in range(0, len(sentences), batch_size):
            batch = tok(sentences[i : i + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items()}
            hidden = model(**batch).last_hidden_state  # (batch, seq, hidden)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
            emb = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.concatenate(out)

    return embed


def _st_onnx_int8(base: Path, folder: Path, threads: int) -> Embed:
    import os
    import shutil

    import onnxruntime as ort
    import torch
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
    from simcse_sdk.runtimes.machine import cpu_description

    torch.set_num_threads(threads)
    flags = set(cpu_description()["int8_flags"])
    config = "avx512_vnni" if "avx512_vnni" in flags else "avx512" if "avx512f" in flags else "avx2"
    file_name = f"onnx/model_qint8_{config}.onnx"
    if not (folder / file_name).is_file():  # sentence-transformers' documented export, done once
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(base, tmp)
        model = SentenceTransformer(str(tmp), backend="onnx", device="cpu")  # exports onnx/model.onnx
        model.save_pretrained(str(tmp))
        export_dynamic_quantized_onnx_model(model, config, str(tmp))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    model = SentenceTransformer(str(folder), backend="onnx", device="cpu", model_kwargs={
        "file_name": file_name, "provider": "CPUExecutionProvider", "session_options": opts})
    return lambda s, bs: model.encode(s, batch_size=bs, convert_to_numpy=True, show_progress_bar=False)


def _ort_fixed(model_dir: Path, threads: int, length: int) -> Embed:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=length)
    tok.enable_padding(length=length, pad_id=0)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])

    def embed(sentences: list[str], batch_size: int) -> np.ndarray:
        out = []
        for i in range(0, len(sentences), batch_size):
            enc = tok.encode_batch(sentences[i : i + batch_size])
            ids = np.array([e.ids for e in enc], dtype=np.int64)  # (batch, 32)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            out.append(sess.run(None, {"input_ids": ids, "attention_mask": mask})[0])
        return np.concatenate(out)

    return embed
