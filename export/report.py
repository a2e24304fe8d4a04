"""The human-readable export report (``report.md`` in the model directory)."""

from __future__ import annotations

from simcse_sdk.model.manifest import Manifest


def _fmt(x: object, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def fusion_summary(manifest: Manifest, failed: dict[str, dict[str, object]]) -> str:
    """One line: whether onnxruntime's optimizer fused attention in the fp32 graph, and what else it fused."""
    ops = manifest.variants["fp32"].fused_ops if "fp32" in manifest.variants else failed.get("fp32", {}).get("ops", {})
    assert isinstance(ops, dict)
    others = ", ".join(f"{k}×{v}" for k, v in ops.items() if k not in ("Attention", "LayerNormalization")) or "nothing"
    if ops.get("Attention"):
        return f"attention fused (Attention×{ops['Attention']}); also fused: {others}"
    return (f"attention not fused (onnxruntime's optimizer does not recognise this architecture's attention; "
            f"the graph runs the plain ops, int8 quantises its MatMuls without QAttention); fused: {others}")


def render(manifest: Manifest, failed: dict[str, dict[str, object]]) -> str:
    """Markdown: one row a variant (published or refused) with size, fused ops and gate numbers."""
    lines = [
        "# Export report",
        "",
        f"- source: `{manifest.source.get('checkpoint')}` ({manifest.source.get('model_type')})",
        f"- pooling: `{manifest.pooling}` (from {manifest.source.get('pooler_from')}), "
        f"normalised in graph: {manifest.normalized}, max length {manifest.max_seq_length}, dim {manifest.embedding_dim}",
        f"- export CPU: {manifest.export_cpu.get('model')} ({', '.join(manifest.export_cpu.get('int8_flags', []))})",
        f"- fusion: {fusion_summary(manifest, failed)}",
        f"- trained sizes: {', '.join(map(str, [manifest.embedding_dim, *manifest.trained_dims]))}"
        + (" (Matryoshka: every variant gated at each)" if manifest.trained_dims else ""),
        f"- prompts: {', '.join(f'`{k}` = {v!r}' for k, v in manifest.prompts.items()) or 'none'}"
        + (f" (default `{manifest.default_prompt_name}`)" if manifest.default_prompt_name else ""),
        f"- int8 output scales from {manifest.source.get('output_scales_from', 'n/a')}",
        "",
        "| variant | status | file MB | fused / quantised ops | min cos | mean cos | STS-B dev torch | Δ points "
        "| checked on | 1 sentence ms | batch 32 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(n, v.gate, v.fused_ops, v.gate.get("size_mb")) for n, v in manifest.variants.items()]
    rows += [(n, g, g.get("ops", {}), g.get("size_mb")) for n, g in failed.items()]
    for name, gate, ops, size in rows:
        status = "published" if gate.get("passed") else ("kept (FAILED)" if name in manifest.variants else "REFUSED")
        lat = gate.get("latency_ms") or {}
        ops_text = ", ".join(f"{k}×{v}" for k, v in ops.items())
        precision = (manifest.variants[name].runtime_options.get("precision") if name in manifest.variants
                     else None)
        if precision:
            ops_text += f" (OpenVINO, inference precision {precision})"
        lines.append(
            f"| {name} | {status} | {_fmt(size, '.1f')} | {ops_text} | {_fmt(gate.get('min_cos'), '.6f')} "
            f"| {_fmt(gate.get('mean_cos'), '.6f')} | {_fmt(gate.get('stsb_dev_torch'), '.2f')} "
            f"| {_fmt(gate.get('stsb_dev_delta'), '+.2f')} | {gate.get('checked_on')} "
            f"| {_fmt(lat.get('one_sentence'), '.2f')} | {_fmt(lat.get('batch_32'), '.2f')} |"
        )
    if manifest.trained_dims:
        lines += ["", "| variant | size | min cos | mean cos | STS-B dev | Δ points |", "|---|---|---|---|---|---|"]
        for name, gate, _, _ in rows:
            for size, g in (gate.get("by_dim") or {}).items():
                lines.append(f"| {name} | {size} | {_fmt(g.get('min_cos'), '.6f')} | {_fmt(g.get('mean_cos'), '.6f')} "
                             f"| {_fmt(g.get('stsb_dev_variant'), '.2f')} | {_fmt(g.get('stsb_dev_delta'), '+.2f')} |")
    for name, gate in [(n, v.gate) for n, v in manifest.variants.items()] + list(failed.items()):
        for failure in gate.get("failures", []):
            lines.append(f"\n- **{name} failed the gate**: {failure}")
    quant = [(n, v.quantization) for n, v in manifest.variants.items() if v.quantization]
    for name, q in quant:
        lines.append(f"\n- {name} recipe: `{q.get('name')}`, {recipe_detail(q)}")
    return "\n".join(lines) + "\n"


def recipe_detail(q: dict[str, object]) -> str:
    """One line on how a variant was quantised, from what its manifest entry records."""
    bits = f"{q['weight_bits']}-bit weights" if q.get("weight_bits") else "8-bit weights"
    if q.get("tool"):  # NNCF (ov-int8)
        return (f"{q['tool']} post-training quantisation, activation ranges calibrated on "
                f"{q.get('calibration_sentences')} sentences (`{q.get('calibration_file') or 'unrecorded file'}`), "
                f"overflow fix {q.get('overflow_fix', 'first layer only')} ({bits})")
    if q.get("static"):
        return (f"activation scales calibrated on {q.get('calibration_sentences')} sentences "
                f"(`{q.get('calibration_file')}`), {q.get('smoothed_nodes', 0)} of {q.get('quantized_nodes')} "
                f"MatMul/Attention inputs smoothed (alpha {q.get('smooth_alpha')}); {q.get('matmul_nodes')} "
                f"MatMul(s) and {q.get('qattention_nodes')} QAttention, {bits}")
    return (f"dynamic activation scales, {len(q.get('excluded_nodes', []) or [])} MatMul(s) kept float32, "  # type: ignore[arg-type]
            f"{bits}")
