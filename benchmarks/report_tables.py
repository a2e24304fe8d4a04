"""Result files read as runs, each written as markdown: a paragraph (hardware, date, command), then tables.

A run is one JSON file from ``benchmarks/results/``; its kind (latency, serving, head of line, bulk, first start,
int8 on CPU kinds, evaluation, ...) is recognised by the top-level keys its script writes. Every number is the file's.

    from pathlib import Path
    from benchmarks.report_tables import load_run, page
    run = load_run(Path("benchmarks/results/latency-cpu.json"))
    print(page(run, figures=[]))
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from benchmarks.report_format import count, ms, table

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
    "head-of-line": Kind("`python benchmarks/head_of_line.py`", "small requests beside one big request, by server",
                         frozenset({"machine", "big", "words", "small_size", "rows"})),
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


# -- one body per kind (the speed benchmarks' in benchmarks/report_speed.py) ---------------------------
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


# kind -> (module in benchmarks/, function): each body gives a run's markdown blocks; the modules other than this
# one build on it, so they are imported when a page needs them
PAGES: dict[str, tuple[str, str]] = {
    "latency": ("report_speed", "latency_body"), "serving": ("report_serving", "serving_body"),
    "bulk": ("report_speed", "bulk_body"), "first-start": ("report_speed", "first_start_body"),
    "int8-cpu-kinds": ("report_tables", "int8_body"), "evaluation": ("report_tables", "evaluation_body"),
    "ablations": ("report_ablations", "body"), "matryoshka": ("report_matryoshka", "body"),
    "matryoshka-linear": ("report_matryoshka", "linear_body"),
    "head-of-line": ("report_serving", "head_of_line_body"),
}


def body(run: Run) -> list[str]:
    """The markdown blocks of ``run``, from its kind's body (:data:`PAGES`)."""
    module, name = PAGES[run.kind]
    build: Callable[[Run], list[str]] = getattr(importlib.import_module(f"benchmarks.{module}"), name)
    return build(run)


def page(run: Run, figures: list[tuple[str, str]]) -> str:
    """The markdown of one run: a first paragraph with the hardware, date and command, then the tables.

    No heading and no image links: other docs pages include this file (pymdownx.snippets) under their own
    headings, from another folder. ``figures`` (file name, caption) are named in the last line; the index
    page shows them.
    """
    try:
        blocks = body(run)
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(f"{run.path}: a {run.kind} result file without the field {e} (or with a bad "
                          f"value); rerun {KINDS[run.kind].command}, or fix the file") from e
    head = (f"**{'Hardware' if 'GPU' in run.hardware else 'CPU'}**: {run.hardware}. **Date**: {run.date}. "
            f"**Command**: `{run.command}`. **Source**: `{run.source}` ({run.what}; this text is generated "
            "by `python benchmarks/report.py`, do not edit it by hand).")
    named = "; ".join(f"`{name}` ({caption.lower()})" for name, caption in figures)
    tail = [f"Figures (docs/results/): {named}."] if figures else []
    return "\n\n".join([head, *blocks, *tail]) + "\n"


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
