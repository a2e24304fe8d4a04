"""Result files read as runs, each written as markdown: a paragraph (hardware, date, command), then tables.

A run is one JSON file from ``benchmarks/results/``; its kind (latency, serving, bulk, first start, int8 on
CPU kinds, evaluation) is recognised by the top-level keys its script writes. Every number is the file's.

    from pathlib import Path
    from benchmarks.report_tables import load_run, page
    run = load_run(Path("benchmarks/results/latency-cpu.json"))
    print(page(run, figures=[]))
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Kind(NamedTuple):
    command: str  # what writes such a file: how to rerun it
    what: str
    keys: frozenset[str]  # the top-level keys that identify it


KINDS: dict[str, Kind] = {
    "latency": Kind("`python benchmarks/latency.py`", "latency and throughput by system",
                    frozenset({"machine", "floor", "args", "results"})),
    "serving": Kind("`python benchmarks/serving.py`", "embedding servers under load",
                    frozenset({"machine", "load_generator", "offline", "rows"})),
    "bulk": Kind("`python benchmarks/bulk.py`", "embedding a corpus (bulk job)",
                 frozenset({"machine", "results", "throughput_vs_loop"})),
    "first-start": Kind("`python benchmarks/first_start.py`", "Encoder start times",
                        frozenset({"runs", "explicit_start_s", "variants"})),
    "int8-cpu-kinds": Kind("`python benchmarks/int8_cpu_kinds.py`", "int8 accuracy on x86 CPU kinds",
                           frozenset({"meta", "rows"})),
    "evaluation": Kind("`python -m simcse_sdk.evaluation MODEL_DIR --json OUT`", "model evaluation",
                       frozenset({"model", "tasks", "machine"})),
    "ablations": Kind("`python benchmarks/ablations.py --publish`", "the SimCSE paper's ablations, rerun",
                      frozenset({"machine", "grid", "base", "runs"})),
    "matryoshka": Kind("`python benchmarks/matryoshka.py`", "Matryoshka training against a plain run, by vector size",
                       frozenset({"machine", "setup", "models"})),
    "matryoshka-linear": Kind("`python benchmarks/matryoshka_linear.py`", "linear views of a model's small sizes "
                              "(a bound for Matryoshka gains)", frozenset({"machine", "linear_views"})),
}


class ReportError(Exception):
    """A result file the report cannot read; the message names the file and the fix."""


@dataclass(frozen=True)
class Run:
    """One result file: its kind, its data, and the hardware, date and command it was measured with."""

    path: Path
    kind: str
    data: dict
    hardware: str
    date: str
    command: str

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def what(self) -> str:
        return KINDS[self.kind].what

    @property
    def source(self) -> str:
        """The file as the page names it: relative to the repository when inside it."""
        path = self.path.resolve()
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def cpu_text(model: str, flags: list[str] | None, cores: int | None = None,
             threads: int | None = None) -> str:
    """``AMD EPYC (int8 flags: avx2, fma), 2 cores, 2 threads``; ``flags=None``: the file has none."""
    text = f"{model} (int8 flags: {', '.join(flags) or 'none'})" if flags is not None else \
        f"{model} (int8 flags not recorded)"
    return text + (f", {cores} cores" if cores else "") + (f", {threads} threads" if threads else "")


def hardware(kind: str, data: dict) -> str:
    if kind == "first-start":
        return cpu_text(data["cpu"] or "CPU not recorded", None, data.get("cores"))
    if kind == "int8-cpu-kinds":
        return cpu_text(data["meta"]["cpu"]["model"], data["meta"]["cpu"]["int8_flags"])
    m = data["machine"]
    if kind == "evaluation":
        m = {**m, "device": data["model"].get("device")}
    cpu = cpu_text(m["model"], m["int8_flags"], m.get("cores"), m.get("threads"))
    return f"CUDA GPU (model not recorded in the file); host CPU {cpu}" if m.get("device") == "cuda" else cpu


def detect_kind(data: object) -> str | None:
    if not isinstance(data, dict):
        return None
    return next((name for name, kind in KINDS.items() if kind.keys <= data.keys()), None)


def load_run(path: Path) -> Run:
    """Read one result file; ReportError when it is not JSON, of no known kind, or lacks date or command."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: not a readable JSON file ({e}); rerun the benchmark that wrote it") from e
    kind = detect_kind(data)
    if kind is None:
        keys = ", ".join(data) if isinstance(data, dict) else f"none, a JSON {type(data).__name__}"
        known = "; ".join(f"{name} ({', '.join(sorted(k.keys))})" for name, k in KINDS.items())
        raise ReportError(f"{path}: unknown kind of result file (top-level keys: {keys}). Known kinds and "
                          f"the keys that identify them: {known}. Move the file out of the results folder, "
                          "or teach benchmarks/report_tables.py its kind (KINDS and PAGES)")
    meta = data["meta"] if kind == "int8-cpu-kinds" else data
    missing = " and ".join(repr(k) for k in ("date", "command") if not meta.get(k))
    if missing:
        raise ReportError(f"{path}: no {missing} recorded; rerun {KINDS[kind].command} (it records both), or "
                          f"add them to the file: \"date\" (YYYY-MM-DD of the run, e.g. `git log -1 "
                          f"--format=%cs -- {path}`) and \"command\" (its command line)")
    try:
        return Run(path, kind, data, hardware(kind, data), meta["date"], meta["command"])
    except (KeyError, TypeError) as e:
        raise ReportError(f"{path}: a {kind} result without {e} in its machine description; rerun "
                          f"{KINDS[kind].command}") from e


# -- number formats ------------------------------------------------------------------------------------------
def count(x: float) -> str:
    """Rates, rows, MB: whole numbers with thousands separators."""
    return f"{x:,.0f}"


def ms(x: float) -> str:
    """Milliseconds and seconds: two decimals under 10, one under 100, then whole numbers."""
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}" if abs(x) < 100 else f"{x:,.0f}"


def rate(x: float) -> str:
    """A rate that may be small: one decimal under 100, else whole numbers with separators."""
    return f"{x:.1f}" if abs(x) < 100 else count(x)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


# -- one body per kind ---------------------------------------------------------------------------------------
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


def serving_body(run: Run) -> list[str]:
    d, rows = run.data, run.data["rows"]
    ceiling = d["offline"]["sent_per_s"]
    systems = list(dict.fromkeys(r["system"] for r in rows))
    sizes, levels = sorted({r["size"] for r in rows}), sorted({r["concurrency"] for r in rows})
    blocks = [f"Load generator: {d['load_generator']}; {d['duration_s']} s per cell; requests of "
              f"{' or '.join(map(str, sizes))} STS-B test sentences; "
              f"{plural(d['machine']['threads'], 'inference thread')}. The SDK's offline bulk "
              f"`Encoder.encode` on the same {count(d['offline']['sentences'])} sentences: "
              f"**{count(ceiling)} sentences/s**."]
    cell = {(r["system"], r["size"], r["concurrency"]): r for r in rows}
    for size in sizes:
        blocks += [f"**{plural(size, 'sentence')} a request**: sentences/s (p99 ms)", table(
            ["system", *(f"c={c}" for c in levels)],
            [[s, *(f"{count(r['sent_per_s'])} ({ms(r['p99_ms'])})" if (r := cell.get((s, size, c))) else "-"
                   for c in levels)] for s in systems if any(k[:2] == (s, size) for k in cell)])]
    failed = [f"{r['system']} size {r['size']} c={r['concurrency']}: {r['errors']}"
              for r in rows if r["errors"]]
    blocks.append("Errors: " + ("; ".join(failed) if failed else "none in any cell") + ".")
    blocks += ["**Every cell:**", table(
        ["system", "sentences/request", "concurrency", "sentences/s", "% of offline", "requests/s", "p50 ms",
         "p95 ms", "p99 ms", "errors", "RSS MB", "start-up s"],
        [[r["system"], str(r["size"]), str(r["concurrency"]), count(r["sent_per_s"]),
          f"{100 * r['sent_per_s'] / ceiling:.0f}%", count(r["req_per_s"]), ms(r["p50_ms"]), ms(r["p95_ms"]),
          ms(r["p99_ms"]), str(r["errors"]), count(r["rss_mb"]), ms(r["startup_s"])] for r in rows])]
    if acc := [(r, r["account"]) for r in rows if "account" in r]:
        blocks += ["**Where the SDK server's time went** (its metrics and per-thread CPU):", table(
            ["system", "size", "concurrency", "queue ms", "round ms", "inputs/round", "batch size",
             "event loop cores", "inference cores"],
            [[r["system"], str(r["size"]), str(r["concurrency"]), ms(a["queue_ms_mean"]), ms(a["round_ms_mean"]),
              f"{a.get('round_inputs_mean', float('nan')):.1f}", f"{a['batch_size_mean']:.1f}",
              f"{a['event_loop_cores']:.2f}", f"{a['inference_cores']:.2f}"] for r, a in acc])]
        if split := [(r, a) for r, a in acc if "cpu_us_per_request" in a]:
            parts = ["event_loop", "tokenize", "inference", "load_generator"]
            blocks += ["**CPU a request, µs** (event loop: the server's main thread, HTTP and JSON; tokenisation: "
                       "counted by the server; inference: the server's other threads, and the rounds of a lone "
                       "input that the main thread runs, counted by the server; load generator: wrk's own CPU on "
                       "the same cores), and the cores busy in all:", table(
                ["system", "size", "concurrency", "event loop", "tokenisation", "inference", "load generator",
                 "total", "cores busy"],
                [[r["system"], str(r["size"]), str(r["concurrency"]),
                  *(count(a["cpu_us_per_request"][k]) for k in parts),
                  count(sum(a["cpu_us_per_request"][k] for k in parts)), f"{a['cores_busy']:.2f}"]
                 for r, a in split])]
        one = d["offline"].get("one_p50_ms")
        if one is not None and (c1 := [r for r in rows if r["size"] == 1 and r["concurrency"] == 1]):
            blocks.append("One client, one sentence a request: HTTP round trip p50 "
                          + ", ".join(f"{ms(r['p50_ms'])} ms ({r['system']})" for r in c1)
                          + f" against {ms(one)} ms for `Encoder.encode` of one sentence in-process: "
                          + ", ".join(f"{r['p50_ms'] / one:.2f}x" for r in c1) + ".")
    if s := d.get("soak"):
        blocks.append(f"Soak: {s['seconds']} s of mixed requests, {count(s['requests'])} requests, "
                      f"{s['errors']} errors; server RSS max {count(s['rss_first_quarter_mb'])} MB in the "
                      f"first quarter, {count(s['rss_last_quarter_mb'])} MB in the last, "
                      f"{count(s['rss_max_mb'])} MB overall.")
    return blocks


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


def int8_body(run: Run) -> list[str]:
    meta = run.data["meta"]
    return [f"int8 against fp32 on {count(meta['sentences'])} STS-B dev sentences "
            f"({count(meta['pairs'])} pairs).",
            table(["model dir", "variant", "recipe", "weight bits", "CPU", "min cos", "mean cos", "STS-B dev",
                   "fp32 STS-B dev", "Δ vs fp32"],
                  [[Path(r["model_dir"]).name, r["variant"], r["recipe"], str(r["weight_bits"]), r["cpu"],
                    f"{r['min_cos']:.4f}", f"{r['mean_cos']:.5f}", f"{r['stsb_dev']:.2f}",
                    f"{r['stsb_dev_fp32']:.2f}", f"{r['stsb_dev_delta']:+.2f}"] for r in run.data["rows"]])]


def scores_row(tasks: dict, key: str, avg: float) -> str:
    """The paper's row: one column a task, then Avg."""
    return table([*tasks, "Avg."], [[*(f"{t[key]:.2f}" for t in tasks.values()), f"{avg:.2f}"]])


def evaluation_body(run: Run) -> list[str]:
    d, model = run.data, run.data["model"]
    blocks = [f"`{model.get('model_dir', model)}`, variant {model.get('variant', '?')} on "
              f"{model.get('device', '?')}; task groups: {', '.join(d['tasks'])}."]
    if sts := d.get("sts"):
        blocks += [f"**STS** ({sts['metric']}; {count(sts['unique_sentences'])} unique sentences, "
                   f"{ms(sts['wall_s'])} s):", scores_row(sts["tasks"], "spearman", sts["avg"]),
                   table(["task", "all", "mean", "wmean", "pairs"],
                         [[k, f"{t['spearman']:.2f}", *(f"{t[a]:.2f}" if a in t else "-"
                                                         for a in ("mean", "wmean")), count(t["pairs"])]
                          for k, t in sts["tasks"].items()])]
    if dev := d.get("dev"):
        blocks += [f"**Dev** (Spearman x100, {ms(dev['wall_s'])} s):", table(
            ["STS-B dev", "SICK-R dev", "Avg."],
            [[f"{dev[k]:.2f}" for k in ("stsb_dev", "sickr_dev", "avg")]])]
    if au := d.get("align"):
        blocks.append(f"**Alignment** {au['alignment']:.4f}, **uniformity** {au['uniformity']:.4f} (STS-B "
                      f"{au['split']}, {count(au['positive_pairs'])} positive pairs, "
                      f"{count(au['sentences'])} sentences).")
    if tr := d.get("transfer"):
        blocks += [f"**Transfer** ({tr['metric']}; seed {tr['seed']}, {ms(tr['wall_s'])} s):",
                   scores_row(tr["tasks"], "accuracy", tr["avg"])]
    return blocks


def ablations_body(run: Run) -> list[str]:
    from benchmarks.report_ablations import body  # it builds on this module

    return body(run)


def matryoshka_body(run: Run) -> list[str]:
    from benchmarks.report_matryoshka import body  # it builds on this module

    return body(run)


def matryoshka_linear_body(run: Run) -> list[str]:
    from benchmarks.report_matryoshka import linear_body  # it builds on this module

    return linear_body(run)


PAGES: dict[str, Callable[[Run], list[str]]] = {
    "latency": latency_body, "serving": serving_body, "bulk": bulk_body, "first-start": first_start_body,
    "int8-cpu-kinds": int8_body, "evaluation": evaluation_body, "ablations": ablations_body,
    "matryoshka": matryoshka_body, "matryoshka-linear": matryoshka_linear_body,
}


def page(run: Run, figures: list[tuple[str, str]]) -> str:
    """The markdown of one run: a first paragraph with the hardware, date and command, then the tables.

    No heading and no image links: other docs pages include this file (pymdownx.snippets) under their own
    headings, from another folder. ``figures`` (file name, caption) are named in the last line; the index
    page shows them.
    """
    try:
        body = PAGES[run.kind](run)
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(f"{run.path}: a {run.kind} result file without the field {e} (or with a bad "
                          f"value); rerun {KINDS[run.kind].command}, or fix the file") from e
    head = (f"**{'Hardware' if 'GPU' in run.hardware else 'CPU'}**: {run.hardware}. **Date**: {run.date}. "
            f"**Command**: `{run.command}`. **Source**: `{run.source}` ({run.what}; this text is generated "
            "by `python benchmarks/report.py`, do not edit it by hand).")
    named = "; ".join(f"`{name}` ({caption.lower()})" for name, caption in figures)
    tail = [f"Figures (docs/results/): {named}."] if figures else []
    return "\n\n".join([head, *body, *tail]) + "\n"


def index(runs: list[Run], figures: dict[str, list[tuple[str, str]]]) -> str:
    """docs/results/index.md: one line a page, as links; then each run's figures (stem -> (file, caption))."""
    lines = ["# Benchmark results", "",
             "Generated by `python benchmarks/report.py` from the JSON files in `benchmarks/results/`; do "
             "not edit by hand. Each page starts with the hardware, the date and the command of its run.", ""]
    lines += [f"- [{r.stem}]({r.stem}.md): {r.what}; {r.hardware}; {r.date}" for r in runs]
    for r in (r for r in runs if figures.get(r.stem)):
        lines += ["", f"## {r.stem}", "", f"{r.what}; {r.hardware}; {r.date}; [the tables]({r.stem}.md).", ""]
        lines += [f"![{caption}]({name})\n" for name, caption in figures[r.stem]]
    return "\n".join(lines).rstrip("\n") + "\n"
