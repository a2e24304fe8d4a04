"""The result pages of the speed benchmarks: latency by system, servers under load, the bulk job, first starts.

Each body takes a :class:`~benchmarks.report_tables.Run` and gives its markdown blocks (paragraphs and tables);
``benchmarks/report_tables.py`` puts the page around them.

    from benchmarks.report_speed import serving_body
    blocks = serving_body(load_run(Path("benchmarks/results/serving-cpu.json")))
"""

from __future__ import annotations

from benchmarks.report_format import count, ms, plural, rate, table
from benchmarks.report_tables import Run


def best(result: dict) -> tuple[str, float]:
    """(batch size, median sentences/s) of a latency result's fastest batch size."""
    bs, v = max(result["throughput"].items(), key=lambda kv: kv[1]["median"])
    return bs, v["median"]


def stsb_cell(result: dict) -> str:
    scores = sorted({round(v, 2) for v in result.get("stsb_test_by_batch", {}).values()})
    if len(scores) > 1:
        return f"{scores[0]:.2f}-{scores[-1]:.2f} by batch size"
    return f"{result['stsb_test']:.2f}"


def spread(t: dict) -> str:
    """``median (min-max)`` of repeated runs; the median alone when they round alike (one repeat)."""
    low, high = count(t["min"]), count(t["max"])
    return count(t["median"]) + (f" ({low}-{high})" if low != high else "")


def own_versions(d: dict) -> str | None:
    """The systems that ran with other library versions than the run's own environment, and which."""
    base = {k.replace("_", "-"): v for k, v in d["machine"].get("versions", {}).items()}
    groups: dict[str, list[str]] = {}
    for r in d["results"]:
        diff = [f"{k} {v}" for k, v in r.get("versions", {}).items() if base.get(k.replace("_", "-")) != v]
        if diff:
            groups.setdefault(", ".join(diff), []).append(r["system"])
    if not base:
        return None
    text = "Libraries: " + ", ".join(f"{k} {v}" for k, v in base.items())
    own = "".join(f"; {', '.join(s)} in {'its' if len(s) == 1 else 'their'} own environment: {v}"
                  for v, s in groups.items())
    return text + own + "."


def latency_body(run: Run) -> list[str]:
    d, args, floor = run.data, run.data["args"], run.data["floor"]
    ok = [r for r in d["results"] if "error" not in r]
    sizes = [str(b) for b in args["batch_sizes"]]
    blocks = [f"STS-B test sentences, {floor['mean_tokens']:.1f} real tokens each on average; device "
              f"{args['device']}, {plural(args['threads'], 'thread')}; batch sizes {', '.join(sizes)} (the "
              f"first scores STS-B); {plural(args['repeats'], 'repeat')} of each, "
              f"{plural(args['single_calls'], 'single-sentence call')}; each system in its own process."]
    blocks.append(table(["system", "1 sentence p50", "sent/s, best batch", "STS-B test"], [
        [r["system"], f"{ms(r['single_ms']['p50'])} ms", f"{count(best(r)[1])} (batch {best(r)[0]})",
         stsb_cell(r)] for r in ok]
        + [[r["system"], f"error: {r['error']}", "", ""] for r in d["results"] if "error" in r]))
    blocks += [f"`{r['system']}` chose: {r['choice']}" for r in ok if r.get("choice")]
    where = "of the host CPU, not the GPU's" if args["device"] == "cuda" else "measured in the run"
    blocks.append(f"Compute floor: {floor['flops_per_sentence'] / 1e6:.1f} MFLOP a sentence; peak GEMM "
                  f"{where}: fp32 {count(floor['fp32_gflops'])} GFLOP/s, int8 {count(floor['int8_gops'])} "
                  f"GOP/s, so at most {count(floor['fp32_floor_sent_per_s'])} sentences/s in fp32 and "
                  f"{count(floor['int8_floor_sent_per_s'])} in int8.")
    blocks += [v for v in [own_versions(d)] if v]
    head = ["system", "p50 ms", "p95 ms", "p99 ms", *(f"sent/s batch {b}" for b in sizes), "long texts/s",
            "peak RSS MB", "STS-B test", "GFLOP/s at best batch"]
    rows = [[r["system"], *(ms(r["single_ms"][q]) for q in ("p50", "p95", "p99")),
             *(spread(r["throughput"][b]) for b in sizes), rate(r["long_texts_per_s"]),
             count(r["peak_rss_mb"]), f"{r['stsb_test']:.2f}",
             count(floor["flops_per_sentence"] * best(r)[1] / 1e9)] for r in ok]
    return blocks + ["**Every figure of the run** (sentences/s: median of the repeats, and min-max):",
                     table(head, rows)]


def bulk_body(run: Run) -> list[str]:
    d, ratio = run.data, run.data["throughput_vs_loop"]
    blocks = [f"{count(d['rows'])} rows: {count(d['unique_sentences'])} unique real sentences, repeated; "
              f"shards of {count(d['shard_rows'])} rows; model `{d['model_dir']}`; each system in its own "
              "process.",
              table(["system", "variant", "rows", "rows/s", "vs plain loop", "work s", "wall incl. start-up",
                     "peak RSS (process tree)"],
                    [[r["system"], r["variant"], count(r["rows"]), count(r["rows_per_s"]),
                      f"{ratio[r['system']]:.3f}" if r["system"] in ratio else "-", ms(r["work_s"]),
                      f"{ms(r['total_s'])} s", f"{count(r['peak_rss_mib'])} MiB"] for r in d["results"]])]
    if d.get("ray_overhead"):
        blocks.append(f"Ray overhead (plain loop rows/s ÷ ray rows/s): {d['ray_overhead']:.3f}.")
    return blocks


def first_start_body(run: Run) -> list[str]:
    d = run.data
    rows = [[str(r["run"]), ms(f["start_s"]), ms(f["import_s"]), ms(f["measuring_s"]), str(f["candidates"]),
             f["variant"], ", ".join(f["left_out"]) or "none", ms(c["start_s"]), c["reason"]]
            for r in d["runs"] for f, c in [(r["first"], r["cached"])]]
    return [f"`Encoder(path)` with `variant=\"auto\"` on `{d['model_dir']}` ({len(d['variants'])} variants: "
            f"{', '.join(d['variants'])}), each start in a fresh process; first starts with an empty cache.",
            table(["run", "first start s", "import s", "of which measuring s", "candidates", "chose",
                   "left out after a partial measurement", "cached start s", "cached reason"], rows),
            "Explicit variant: " + ", ".join(f"{n} {ms(s)} s" for n, s in d["explicit_start_s"].items())
            + ".",
            f"First start median {ms(d['first_start_median_s'])} s (max {ms(d['first_start_max_s'])} s); "
            f"cached start median {ms(d['cached_start_median_s'])} s."]
