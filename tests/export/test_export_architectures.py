"""Every encoder architecture through ``python -m export`` -> ``Encoder``, against the torch module.

Tiny random-weight models of each architecture (tests/tiny_encoders.py) with tokenizers trained in
the fixture. fp32 must equal torch (min cosine >= 0.99999) for every pooler, on a batch with
padding; int8 (static-smooth) and fp16 are published and pass the export's default gate, or are
refused with the reason (what a quantised graph computes can depend on the CPU). fp16 is gated
where onnxruntime runs it: on CUDA when present, else on this CPU when its build has the kernels
(as export.build does). The figures go to the session's architecture table.
"""

import json

import numpy as np
import onnx
import pytest
from simcse_sdk import Encoder

from export.__main__ import main as export_main
from export.build import ExportOptions, build
from export.gate import Thresholds
from export.source import SourceError
from tests.tiny_encoders import ARCHS, CORPUS
from trainer.pooling import needs_hidden_states, pool

# Different lengths in one batch: the shorter rows are padded.
SENTENCES = ["hello there", "a much longer sentence than the first one, with a comma", "x",
             "two dogs are running through a field of tall grass near the river"]
FP32_ONLY = Thresholds(min_cos={"fp32": 0.99999}, max_sts_drop={})


def torch_embeddings(ckpt, pooler: str, sentences: list[str]) -> np.ndarray:
    """The reference: plain transformers (AutoModel + AutoTokenizer, padded batch) and the trainer's poolers."""
    import inspect

    import torch
    from transformers import AutoModel, AutoTokenizer

    from trainer.encoder import MLPHead

    model = AutoModel.from_pretrained(ckpt, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(ckpt)
    batch = tok(sentences, padding=True, return_tensors="pt")
    accepted = inspect.signature(model.forward).parameters
    assert int(batch["attention_mask"].sum()) < batch["attention_mask"].numel()  # the batch is padded
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k in accepted},
                    output_hidden_states=needs_hidden_states(pooler), return_dict=True)
        head = MLPHead.load(ckpt)
        mlp = head(out.last_hidden_state[:, 0]) if head is not None else getattr(out, "pooler_output", None)
        return pool(pooler, batch["attention_mask"], last_hidden=out.last_hidden_state, pooler_output=mlp,
                    hidden_states=out.hidden_states).numpy()


def min_cos(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    path = tmp_path_factory.mktemp("arch_calibration") / "sentences.txt"
    path.write_text("\n".join(CORPUS), encoding="utf-8")
    return path


@pytest.mark.parametrize("arch", list(ARCHS))
def test_export_fp32_int8_fp16(arch, tiny_encoder, tmp_path, calibration, arch_table, capsys):
    ckpt = tiny_encoder(arch)
    out = tmp_path / "m"
    code = export_main(["--ckpt", str(ckpt), "--out", str(out), "--pooler", "avg", "--int8", "--fp16",
                        "--calibration", str(calibration)])  # the default gate: fp32 0.99999, int8 0.95, fp16 0.999
    printed = capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    report = (out / "report.md").read_text()
    # What the gate promises, on any CPU: each variant is published and as close to torch as its threshold, or
    # refused (exit 1) with the reason in the output and the report, and its file is not there.
    assert code == (0 if {"fp16", "int8"} <= set(manifest["variants"]) else 1), printed.out + printed.err
    ref = torch_embeddings(ckpt, "avg", SENTENCES)
    cos = {name: min_cos(Encoder(out, device="cpu", variant=name).encode(SENTENCES, batch_size=4), ref)
           for name in ("fp32", "int8") if name in manifest["variants"]}
    assert cos["fp32"] >= 0.99999, cos

    fused = manifest["variants"]["fp32"]["fused_ops"]
    if "int8" in manifest["variants"]:
        int8 = manifest["variants"]["int8"]
        assert int8["gate"]["passed"] and int8["gate"]["min_cos"] >= int8["gate"]["threshold_min_cos"] == 0.95
        assert int8["quantization"]["quantized_nodes"] > 0 and int8["quantization"]["weight_bits"] == 7
        assert int8["fused_ops"].get("MatMulIntegerToFloat", 0) > 0  # the MatMuls, fused attention or not
        assert int8["fused_ops"].get("QAttention", 0) == fused.get("Attention", 0)  # QAttention only where fused
        assert int8["quantization"]["qattention_nodes"] == fused.get("Attention", 0)
        int8_row = f"pass ({int8['gate']['min_cos']:.5f}; {cos['int8']:.5f} on the batch)"
    else:
        assert not (out / "model.int8.onnx").exists() and "gate failed for int8" in printed.err
        # On a random-weight model either check can refuse int8 (min cosine, or an STS-B dev drop of its ~34 score;
        # the CPU decides): the reasons the manifest records are the ones the report states.
        reasons = manifest["refused"]["int8"]
        assert reasons and all(f"**int8 failed the gate**: {r}" in report for r in reasons), (reasons, report)
        assert "| int8 | REFUSED |" in report
        int8_row = "refused: " + "; ".join(reasons)
    assert manifest["max_seq_length"] == 128  # 128 positions, or 130 counted from the pad id (RoBERTa-style)
    graph = onnx.load(str(out / "model.fp16.onnx")) if (out / "model.fp16.onnx").exists() else None
    if graph is not None:
        assert graph.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O kept
        assert onnx.TensorProto.FLOAT16 in {i.data_type for i in graph.graph.initializer}
    fp16 = manifest["variants"].get("fp16")
    gated = fp16 is not None and fp16["gate"]["probe_set"] != "none"
    if gated:
        assert fp16["gate"]["passed"] and fp16["gate"]["min_cos"] >= 0.999
    elif fp16 is None:
        assert "**fp16 failed the gate**" in report and graph is None
    assert ("attention fused" in report) == bool(fused.get("Attention"))

    arch_table.record(arch, "export ok", "yes")
    arch_table.record(arch, "fused ops", ", ".join(f"{k}×{v}" for k, v in fused.items()
                                                   if k != "LayerNormalization") or "none")
    arch_table.record(arch, "fp32 min cos", round(cos["fp32"], 7))
    arch_table.record(arch, "int8 gate", int8_row)
    arch_table.record(arch, "fp16 gate", f"pass on {fp16['gate']['checked_on']} ({fp16['gate']['min_cos']:.6f})"
                      if gated else "refused" if fp16 is None else "structure only (no fp16 kernels here)")


def test_a_variant_the_gate_refuses_is_left_out_with_its_reason(tiny_encoder, tmp_path, calibration, capsys):
    out = tmp_path / "m"
    code = export_main(["--ckpt", str(tiny_encoder("bert")), "--out", str(out), "--pooler", "avg", "--int8",
                        "--calibration", str(calibration), "--min-cos-int8", "0.9999999"])  # no int8 gets that close
    printed = capsys.readouterr()
    assert code == 1 and "gate failed for int8 (not published)" in printed.err
    assert "int8" not in json.loads((out / "manifest.json").read_text())["variants"]
    assert not (out / "model.int8.onnx").exists()
    report = (out / "report.md").read_text()
    assert "| int8 | REFUSED |" in report and "**int8 failed the gate**: min cosine" in report and "< 0.9999999" in report
    assert Encoder(out, device="cpu").variant == "fp32"  # what was published still serves


@pytest.mark.parametrize("pooler", ["cls", "cls_before_pooler", "avg_first_last", "avg_top2"])  # avg: above
@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_pooler_matches_torch(arch, pooler, tiny_encoder, tmp_path, arch_table):
    import torch
    from transformers import AutoModel

    ckpt = tiny_encoder(arch)
    opts = ExportOptions(ckpt=str(ckpt), out=str(tmp_path / "m"), pooler=pooler, thresholds=FP32_ONLY)
    has_pooler = isinstance(getattr(AutoModel.from_pretrained(ckpt), "pooler", None), torch.nn.Module)
    if pooler == "cls" and not has_pooler:  # no MLP head: refused with the poolers that work
        with pytest.raises(SourceError, match="no pooler layer and no mlp_head.safetensors.*cls_before_pooler"):
            build(opts)
        assert not (tmp_path / "m").exists()
        return
    outcome = build(opts)
    assert outcome.published == ["fp32"], outcome
    emb = Encoder(tmp_path / "m", device="cpu", variant="fp32").encode(SENTENCES, batch_size=4)
    cos = min_cos(emb, torch_embeddings(ckpt, pooler, SENTENCES))
    assert cos >= 0.99999, (arch, pooler, cos)
    arch_table.record(arch, "fp32 min cos", round(cos, 7))


def test_dynamic_int8_quantises_the_matmuls_of_unfused_attention(tiny_encoder, tmp_path):
    """MPNet's attention is not fused by onnxruntime: the dynamic recipe quantises its plain MatMuls instead."""
    out = tmp_path / "m"
    outcome = build(ExportOptions(ckpt=str(tiny_encoder("mpnet")), out=str(out), pooler="avg", int8=True,
                                  int8_recipe="per-channel"))
    assert "int8" in outcome.published, outcome
    manifest = json.loads((out / "manifest.json").read_text())
    assert "Attention" not in manifest["variants"]["fp32"]["fused_ops"]
    ops = manifest["variants"]["int8"]["fused_ops"]
    assert "QAttention" not in ops and ops.get("DynamicQuantizeMatMul", 0) + ops.get("MatMulInteger", 0) >= 8
    assert "attention not fused" in (out / "report.md").read_text()


def test_fusion_that_fails_publishes_the_unfused_graph(tiny_encoder, tmp_path, calibration, monkeypatch):
    """When onnxruntime's optimizer fails on a graph, the generic-optimised graph is published and gated."""
    import onnxruntime.transformers.optimizer as ort_optimizer

    def fails(*args, **kwargs):
        raise AttributeError("pattern matcher met an unknown graph")

    monkeypatch.setattr(ort_optimizer, "optimize_model", fails)
    out = tmp_path / "m"
    outcome = build(ExportOptions(ckpt=str(tiny_encoder("bert")), out=str(out), pooler="avg", int8=True,
                                  calibration=str(calibration)))
    assert outcome.published == ["fp32", "int8"] and outcome.results["fp32"].min_cos >= 0.99999
    manifest = json.loads((out / "manifest.json").read_text())
    assert not {"Attention", "EmbedLayerNormalization", "BiasGelu"} & set(manifest["variants"]["fp32"]["fused_ops"])
    assert manifest["variants"]["int8"]["quantization"]["qattention_nodes"] == 0
    assert manifest["variants"]["int8"]["quantization"]["matmul_nodes"] >= 12  # Q, K, V, output, 2 FFN a layer
    assert "attention not fused" in (out / "report.md").read_text()


def test_a_fused_graph_that_computes_something_else_is_not_kept(tiny_encoder, tmp_path):
    import torch

    from export.graph import EmbeddingModule, export_onnx
    from export.optimize import same_outputs
    from export.source import Source

    module = EmbeddingModule.load(Source.read(tiny_encoder("bert"), pooler="avg"))
    export_onnx(module, tmp_path / "a.onnx")
    export_onnx(module, tmp_path / "b.onnx")
    assert same_outputs(tmp_path / "a.onnx", tmp_path / "b.onnx")
    with torch.no_grad():
        module.encoder.encoder.layer[1].output.dense.weight.mul_(1.5)  # a different computation
    export_onnx(module, tmp_path / "c.onnx")
    assert not same_outputs(tmp_path / "a.onnx", tmp_path / "c.onnx")


@pytest.mark.parametrize("arch", list(ARCHS))
def test_openvino_variants_cover_every_architecture(arch, tiny_encoder, tmp_path, arch_table):
    """Where the OpenVINO variants exist (``--openvino``, the openvino extra), they pass the gate for every arch."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    if "openvino" not in ExportOptions.__dataclass_fields__:
        pytest.skip("this export has no OpenVINO variants")
    out = tmp_path / "m"
    outcome = build(ExportOptions(ckpt=str(tiny_encoder(arch)), out=str(out), pooler="avg", openvino=True))
    ov = sorted(n for n in outcome.results if n.startswith("ov-"))
    assert ov and set(ov) <= set(outcome.published) and not outcome.refused, outcome
    ref = torch_embeddings(tiny_encoder(arch), "avg", SENTENCES)
    cos = min_cos(Encoder(out, device="cpu", variant="ov-fp32").encode(SENTENCES, batch_size=4), ref)
    assert cos >= 0.99999, cos
    arch_table.record(arch, "openvino gate", ", ".join(f"{n} {outcome.results[n].min_cos:.5f}" for n in ov))
