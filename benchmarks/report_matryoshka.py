"""The Matryoshka benchmark's page and figure, from ``benchmarks/results/matryoshka-cpu.json``.

The table: every (size, output) pair with its bytes a vector, STS-B test and the seven-task average of the plain
and the Matryoshka model, and the Matryoshka run's gain; then each model's training (steps, best step, dev) and
the export gate at each trained size. The figure: STS-B test against bytes a vector (log scale), one line per
model and output type, so the cost of a size can be read off against its quality.
"""

from __future__ import annotations

from typing import Any

from benchmarks.report_format import table
from benchmarks.report_plots import Figure, style, title
from benchmarks.report_tables import Run

MODELS = ("plain", "matryoshka")


def pairs(run: Run) -> list[tuple[str, dict[str, Any]]]:
    """(``size/output`` key, the plain model's entry) in the order they were scored."""
    return list(run.data["models"]["plain"]["sizes"].items())


def weights_text(setup: dict[str, Any]) -> str:
    """`` with the weights 1, 1, 1, 4, 4`` when the run weighted its sizes unequally, else nothing."""
    weights = setup.get("matryoshka_weights")
    if not weights or len(set(weights)) == 1:
        return ""
    return " with the weights " + ", ".join(f"{w:g}" for w in weights)


def body(run: Run) -> list[str]:
    d, setup = run.data, run.data["setup"]
    matr = d["models"]["matryoshka"]["sizes"]
    intro = (f"Both models start from {setup['base']} and train {setup['steps']} steps ({setup['objective']}, "
             f"`{setup['data']}`, {setup.get('pooler', 'cls')} pooling, batch {setup['batch_size']}, seed {setup['seed']}); the Matryoshka run sums the "
             f"loss over the sizes {', '.join(map(str, setup['matryoshka_dims']))}{weights_text(setup)}. Scores: Spearman ×100 of the "
             f"{setup['variant']} variant on {setup['tasks']}, each vector cut to the size and renormalised, then "
             "shaped as `encode(..., output=)` shapes it.")
    rows = []
    for key, p in pairs(run):
        m = matr[key]
        rows.append([str(p["dimensions"]), p["output"], f"{p['bytes_per_vector']:,}", f"{p['sts']['STS-B']:.2f}",
                     f"{m['sts']['STS-B']:.2f}", f"{m['sts']['STS-B'] - p['sts']['STS-B']:+.2f}",
                     f"{p['sts']['Avg.']:.2f}", f"{m['sts']['Avg.']:.2f}"])
    sizes = table(["size", "output", "bytes / vector", "STS-B plain", "STS-B Matryoshka", "Δ", "Avg. plain",
                   "Avg. Matryoshka"], rows)
    train_rows = []
    for name in MODELS:
        r = d["models"][name]
        gate = "; ".join(f"{v}: {'passed' if g['passed'] else 'REFUSED'}" + (
            " (min cos at " + ", ".join(f"{s} {x['min_cos']:.4f}" for s, x in g["by_dim"].items()) + ")"
            if g["by_dim"] else "") for v, g in r["gate"].items())
        train_rows.append([name, f"{r.get('train_s', 'n/a')}", str(r["best_step"]), f"{r['dev']['stsb']:.2f}", gate])
    runs = table(["model", "train s", "best step", "STS-B dev", "export gate"], train_rows)
    return [intro, sizes, runs]


def linear_body(run: Run) -> list[str]:
    """``benchmarks/matryoshka_linear.py``'s table: STS-B test of each linear view at each size."""
    d = run.data["linear_views"]
    intro = (f"Model `{d['model']}` (fp32, {d['full_dim']} dimensions: STS-B test {d['stsb_full']:.2f} at full "
             f"size). Each view is fitted on the first {d['fit_sentences']:,} Wikipedia training lines and scored "
             "on STS-B test (Spearman ×100), renormalised at its size: *cut* the first dimensions (what "
             "`dimensions=` serves), *pca* the top principal directions, *energy* the rotation keeping most of "
             f"each unit vector in front, *fitted* a similarity-preserving map ({d['steps']} Adam steps, lr "
             f"{d['lr']:g}, seed {d['seed']}).")
    views = list(d["rows"][0]["stsb"]) if d["rows"] else []
    rows = [[str(r["dimensions"]), *(f"{r['stsb'][v]:.2f}" for v in views),
             f"{max(r['stsb'][v] for v in views if v != 'cut') - r['stsb']['cut']:+.2f}"] for r in d["rows"]]
    return [intro, table(["size", *views, "best view − cut"], rows)]


def figures(run: Run) -> list[Figure]:
    data = run.data["models"]

    def render(fig: Any) -> None:
        ax = fig.subplots()
        outputs = list(dict.fromkeys(p["output"] for _, p in pairs(run)))
        i = 0
        for name in MODELS:
            for out in outputs:
                pts = sorted((p["bytes_per_vector"], p["sts"]["STS-B"], p["dimensions"])
                             for p in data[name]["sizes"].values() if p["output"] == out)
                ax.plot([x for x, _, _ in pts], [y for _, y, _ in pts], label=f"{name}, {out}", **style(i))
                if name == "matryoshka":
                    for x, y, dim in pts:
                        ax.annotate(str(dim), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
                i += 1
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bytes per vector (log scale); points labelled with their size")
        ax.set_ylabel("STS-B test Spearman x100")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(title("What does each byte of a vector buy? STS-B test by bytes per vector", run), fontsize=9)

    return [Figure(f"{run.stem}-bytes.png", "STS-B test against bytes per vector, by model and output type",
                   render, (8.0, 5.0))]
