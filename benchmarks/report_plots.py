"""The figures of a benchmark run, one question each, drawn with matplotlib (Agg) from the run's JSON.

``plan(run)`` names a run's figures without drawing (the pages name them); ``Figure.draw(folder)`` writes
one PNG. Latency: sentences/s by system (sorted bars, STS-B on each bar) and time by batch size (lines, one
a system); serving: sentences/s by concurrency, one figure a request size; bulk: rows/s by system. Every
title names the hardware and the date of the run; legends sit outside the plot.

    from pathlib import Path
    from benchmarks.report_plots import plan
    from benchmarks.report_tables import load_run
    for figure in plan(load_run(Path("benchmarks/results/serving-cpu.json"))):
        figure.draw(Path("docs/results"))
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report_format import count, plural
from benchmarks.report_speed import best
from benchmarks.report_tables import Run

DPI = 100


@dataclass(frozen=True)
class Figure:
    name: str  # file name: <stem>-<what>.png
    caption: str
    render: Callable[[Any], None]  # draws on a fresh matplotlib Figure
    size: tuple[float, float]

    def draw(self, folder: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure as MplFigure

        fig = MplFigure(figsize=self.size, layout="constrained")
        self.render(fig)
        path = folder / self.name
        fig.savefig(path, dpi=DPI)
        return path


def title(question: str, run: Run) -> str:
    """The question, then the hardware and the date, wrapped to the figure's width."""
    return question + "\n" + "\n".join(textwrap.wrap(f"{run.hardware}; {run.date}", 105))


def style(i: int) -> dict[str, Any]:
    """Line style of the i-th system: ten colours, then the same colours dashed with other markers."""
    from matplotlib import colormaps

    return {"color": colormaps["tab10"](i % 10), "linestyle": ("-", "--", ":")[i // 10 % 3],
            "marker": ("o", "s", "^")[i // 10 % 3], "markersize": 4}


def bars(fig: Any, labels: list[str], values: list[float], notes: list[str], unit: str, head: str) -> None:
    """Sorted horizontal bars, the fastest on top: the value at each bar's end, a note (STS-B) on the bar
    (or after the value when the bar is too short to hold it)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ax = fig.subplots()
    top = max(values)
    ax.barh([labels[i] for i in order], [values[i] for i in order], color="#4c72b0")
    for y, i in enumerate(order):
        inside = bool(notes[i]) and values[i] > top * 0.3
        after = count(values[i]) + (f"   {notes[i]}" if notes[i] and not inside else "")
        ax.text(values[i] + top * 0.01, y, after, va="center", fontsize=8)
        if inside:
            ax.text(top * 0.01, y, notes[i], va="center", fontsize=7.5, color="white")
    ax.set_xlim(0, top * 1.25)
    ax.xaxis.set_major_formatter(lambda v, _: count(v))
    ax.set_xlabel(unit)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(head, fontsize=9)


def latency_figures(run: Run) -> list[Figure]:
    ok = [r for r in run.data["results"] if "error" not in r]
    if not ok:
        return []

    def throughput(fig: Any) -> None:
        question = "Sentences/s by system (best batch size; STS-B test Spearman x100 on each bar)"
        bars(fig, [r["system"] for r in ok], [best(r)[1] for r in ok],
             [f"STS-B {r['stsb_test']:.2f}" for r in ok], "sentences/s", title(question, run))

    def by_batch(fig: Any) -> None:
        from matplotlib.ticker import LogLocator, NullFormatter

        ax = fig.subplots()
        for i, r in enumerate(sorted(ok, key=lambda r: -best(r)[1])):  # legend in the order of speed
            sizes = sorted(int(b) for b in r["throughput"])
            ys = [r["single_ms"]["p50"], *(1000 * b / r["throughput"][str(b)]["median"] for b in sizes)]
            ax.plot([1, *sizes], ys, label=r["system"], **style(i))
        ticks = sorted({1, *(int(b) for r in ok for b in r["throughput"])})
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(b) for b in ticks])
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("batch size (1: single-sentence calls)")
        ax.set_ylabel("ms a batch (1: p50; others: batch size / median sent/s)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        ax.set_title(title("Time to embed one batch, by batch size", run), fontsize=9)

    height = 1.2 + 0.32 * len(ok)
    return [Figure(f"{run.stem}-throughput.png", "Sentences/s by system", throughput, (8.5, height)),
            Figure(f"{run.stem}-batch.png", "Time to embed one batch, by batch size", by_batch, (9, 5))]


def serving_figures(run: Run) -> list[Figure]:
    rows, ceiling = run.data["rows"], run.data["offline"]["sent_per_s"]

    def one(size: int) -> Callable[[Any], None]:
        def render(fig: Any) -> None:
            ax = fig.subplots()
            for i, system in enumerate(dict.fromkeys(r["system"] for r in rows)):
                pts = sorted((r["concurrency"], r["sent_per_s"]) for r in rows
                             if r["system"] == system and r["size"] == size)
                if pts:
                    ax.plot(*zip(*pts, strict=True), label=system, **style(i))
            ax.axhline(ceiling, color="grey", linestyle="--", label=f"offline encode ({count(ceiling)})")
            levels = sorted({r["concurrency"] for r in rows if r["size"] == size})
            ax.set_xscale("log", base=2)
            ax.set_xticks(levels, [str(c) for c in levels])
            ax.set_ylim(0, ceiling * 1.08)
            ax.yaxis.set_major_formatter(lambda v, _: count(v))
            ax.set_xlabel("concurrent clients")
            ax.set_ylabel("sentences/s")
            ax.grid(alpha=0.3)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
            question = f"Sentences/s by concurrency, {plural(size, 'sentence')} a request"
            ax.set_title(title(question, run), fontsize=9)
        return render

    sizes = sorted({r["size"] for r in rows})
    return [Figure(f"{run.stem}-size{s}.png", f"Sentences/s by concurrency, {plural(s, 'sentence')} a "
                   "request", one(s), (9, 4.5)) for s in sizes]


def bulk_figures(run: Run) -> list[Figure]:
    results = run.data["results"]

    def render(fig: Any) -> None:
        bars(fig, [r["system"] for r in results], [r["rows_per_s"] for r in results],
             [f"{count(r['peak_rss_mib'])} MiB peak" for r in results], "rows/s",
             title("Rows/s by system (peak RSS of the process tree on each bar)", run))

    return [Figure(f"{run.stem}-throughput.png", "Rows/s by system", render, (8.5, 1.2 + 0.4 * len(results)))]


def ablation_figures(run: Run) -> list[Figure]:
    from benchmarks.report_ablations import figures  # it builds on this module

    return figures(run)


def matryoshka_figures(run: Run) -> list[Figure]:
    from benchmarks.report_matryoshka import figures  # it builds on this module

    return figures(run)


PLANS: dict[str, Callable[[Run], list[Figure]]] = {
    "latency": latency_figures, "serving": serving_figures, "bulk": bulk_figures, "ablations": ablation_figures,
    "matryoshka": matryoshka_figures,
}


def plan(run: Run) -> list[Figure]:
    """The run's figures, not yet drawn (first start and int8 pages are tables only)."""
    return PLANS.get(run.kind, lambda _: [])(run)
