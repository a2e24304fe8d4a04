"""The ablation grid's page and figures, from its ``ablations.json`` (``python benchmarks/ablations.py``).

The claims table puts each of the paper's claims beside ours with a verdict the numbers give: a difference
in the paper's direction larger than the seed-to-seed spread (the range over seeds of either side)
"reproduced", in the direction but within the spread "same direction, within the seed spread", else "not
reproduced". Then the grid (ours beside the paper's STS-B dev, BERT-base), the seeds, and two figures: the
alignment/uniformity trajectories from the base model's point, and each setting's change of STS-B dev
against its reference run beside the paper's. ``benchmarks/report.py`` renders the same page into the docs.

    from benchmarks.report_ablations import render_outputs
    render_outputs(Path("runs/ablations/ablations.json"), Path("runs/ablations"))
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.ablation_run import write_text
from benchmarks.report_format import rate, table
from benchmarks.report_plots import Figure, style, title
from benchmarks.report_tables import Run, load_run, page

UNSUP_REF, SUP_REF = "unsup-dropout-0.1", "sup-hard-negatives"


def by_point(run: Run) -> dict[str, list[dict[str, Any]]]:
    """Point id -> its runs, first seed first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in run.data["runs"]:
        out.setdefault(r["point"], []).append(r)
    return out


def values(runs: list[dict[str, Any]], key: str = "stsb") -> list[float]:
    return [float(r["dev"][key]) for r in runs]


def mean_sd(xs: list[float], digits: int = 2) -> str:
    """``82.61 ± 0.12 (3 seeds)``, or the value alone for one seed."""
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f} ({len(xs)} seeds)"


def spread(xs: list[float]) -> float:
    return max(xs) - min(xs) if len(xs) > 1 else 0.0


def verdict(diff: float, noise: float, seeds: int) -> str:
    """The claim's verdict: ``diff`` > 0 is the paper's direction; ``noise`` the seed spread."""
    if diff <= 0:
        return "**not reproduced**"
    if seeds < 2:
        return "same direction (one seed: spread not measured)"
    return "reproduced" if diff > noise else "same direction, within the seed spread"


def claims(run: Run) -> list[list[str]]:
    """One row a claim whose runs are in the file: claim, ours, paper, verdict."""
    pts, base, rows = by_point(run), run.data["base"], []
    ref = pts.get(UNSUP_REF)
    for other, name, paper in (("unsup-dropout-0", "no dropout", "82.5 vs 71.1"),
                               ("unsup-same-mask", "the same mask for both views", "82.5 vs 43.6")):
        if ref and pts.get(other):
            a, b = values(ref), values(pts[other])
            diff = statistics.mean(a) - statistics.mean(b)
            noise = max(spread(a), spread(b))
            rows.append([f"dropout 0.1 beats {name} (STS-B dev)",
                         f"{mean_sd(a)} vs {mean_sd(b)}: {diff:+.2f}, seed range {noise:.2f}", paper,
                         verdict(diff, noise, min(len(a), len(b)))])
    if pts.get(SUP_REF) and pts.get("sup-no-hard-negatives"):
        a, b = values(pts[SUP_REF]), values(pts["sup-no-hard-negatives"])
        diff, noise = statistics.mean(a) - statistics.mean(b), max(spread(a), spread(b))
        rows.append(["hard negatives >= pairs only (STS-B dev)",
                     f"{mean_sd(a)} vs {mean_sd(b)}: {diff:+.2f}, seed range {noise:.2f}", "86.2 vs 84.9",
                     verdict(diff, noise, min(len(a), len(b)))])
    rates = [p for p in ("unsup-dropout-0", "unsup-dropout-0.05", UNSUP_REF, "unsup-dropout-0.15",
                         "unsup-dropout-0.2") if pts.get(p)]
    if len(rates) > 2:
        top = max(rates, key=lambda p: values(pts[p])[0])
        rows.append(["dropout 0.1 is the best rate (first seed)", f"best: {run.data['grid']['points'][top]['label']}",
                     "0.1 (82.5)", "reproduced" if top == UNSUP_REF else "**not reproduced**"])
    temps = [p for p in ("unsup-temp-0.01", UNSUP_REF, "unsup-temp-0.1", "unsup-temp-1") if pts.get(p)]
    if len(temps) > 2:
        top = max(temps, key=lambda p: values(pts[p])[0])
        label = "temperature 0.05" if top == UNSUP_REF else run.data["grid"]["points"][top]["label"]
        rows.append(["temperature 0.05 is the best (first seed)", f"best: {label}",
                     "0.05 best", "reproduced" if top == UNSUP_REF else "**not reproduced**"])
    if base and ref:
        u = values(ref, "uniformity")
        diff = base["dev"]["uniformity"] - statistics.mean(u)
        rows.append(["unsupervised training makes the space more uniform (uniformity, lower is better)",
                     f"base {base['dev']['uniformity']:.3f} -> {mean_sd(u, 3)}", "lower after training",
                     verdict(diff, spread(u), len(u))])
    if ref and pts.get(SUP_REF):
        a, s = values(ref, "alignment"), values(pts[SUP_REF], "alignment")
        diff = statistics.mean(a) - statistics.mean(s)
        rows.append(["supervision aligns positive pairs better (alignment, lower is better)",
                     f"unsup {mean_sd(a, 3)} vs sup {mean_sd(s, 3)}", "lower with supervision",
                     verdict(diff, max(spread(a), spread(s)), min(len(a), len(s)))])
    return rows


def grid_rows(run: Run) -> list[list[str]]:
    pts, meta, base = by_point(run), run.data["grid"]["points"], run.data["base"]
    rows = []
    if base:
        avg = f"{base['sts']['avg']:.2f}" if "sts" in base else "-"
        rows.append(["base", "the base model, before training", f"{base['dev']['stsb']:.2f}", "", "", "", avg,
                     f"{base['dev']['alignment']:.3f}", f"{base['dev']['uniformity']:.3f}", "", ""])
    for pid, info in meta.items():
        runs = pts.get(pid)
        if not runs:
            continue
        first, ref = runs[0], pts.get(info["reference"])
        ours = values(runs)
        delta = f"{statistics.mean(ours) - statistics.mean(values(ref)):+.2f}" if ref and pid != info["reference"] else ""
        paper, ref_paper = info["paper"], meta.get(info["reference"], {}).get("paper")
        paper_delta = f"{paper - ref_paper:+.1f}" if paper is not None and ref_paper is not None and delta else ""
        rows.append([info["part"], info["label"], mean_sd(ours), delta, "-" if paper is None else f"{paper:.1f}",
                     paper_delta, f"{first['sts']['avg']:.2f}" if "sts" in first else "-",
                     f"{first['dev']['alignment']:.3f}", f"{first['dev']['uniformity']:.3f}",
                     f"{first['it_per_s']:.2f}", f"{first['elapsed_s']:.0f}"])
    return rows


def body(run: Run) -> list[str]:
    d, g = run.data, run.data["grid"]
    runs = d["runs"]
    total = sum(r["elapsed_s"] for r in runs) + (d["base"] or {}).get("elapsed_s", 0)
    loads = [x for r in runs for x in (r["load_average_before"][0], r["load_average_after"][0])]
    busy = max(loads, default=0) > d["machine"]["cores"] + 0.5
    note = g.get("note", "").strip()
    blocks = [f"Base `{'/'.join(Path(g['base']).parts[-2:])}`, its raw [CLS] vector (`cls_before_pooler`) at max "
              f"length 32; {g['unsup_steps']} unsupervised / {g['sup_steps']} supervised steps of "
              f"{g['batch_size']} examples, seeds {', '.join(map(str, g['seeds']))} (the claims' pairs at "
              f"each, the others at the first), each run in its own process; scores at the end of each run with "
              f"the SDK's evaluation (`simcse_sdk.evaluation`). The paper's figures are BERT-base trained on 1M "
              f"Wikipedia sentences / 275k NLI triplets (Gao et al., 2021, Tables 3 and 4); compare directions, "
              f"not levels. {len(runs)} runs in {total / 60:.1f} min of wall time, "
              f"{rate(statistics.mean(r['it_per_s'] for r in runs)) if runs else '-'} training steps/s on "
              f"average." + (" Other work shared the CPU during the grid (load average up to "
                             f"{max(loads):.1f} on {d['machine']['cores']} cores): wall times overstate."
                             if busy else "") + (f" Note: {note.rstrip('.')}." if note else "")]
    rows = claims(run)
    if rows:
        blocks += ["**The paper's claims**:", table(["claim", "ours", "paper (BERT-base)", "verdict"], rows)]
    blocks += ["**Every run** (STS-B dev Spearman x100; Δ against the part's reference run: dropout 0.1, "
               "temperature 0.05 for the unsupervised parts, hard negatives at weight 1 for the supervised one; "
               "7-task average, alignment, uniformity, steps/s and seconds of the first seed's run):",
               table(["part", "setting", "STS-B dev", "Δ", "paper", "paper Δ", "7-task avg", "alignment",
                      "uniformity", "steps/s", "s"], grid_rows(run))]
    seeded = [(pid, rs) for pid, rs in by_point(run).items() if len(rs) > 1]
    if seeded:
        blocks += ["**Seed to seed** (STS-B dev):", table(["setting", "by seed", "mean ± sd", "range"], [
            [g["points"][pid]["label"], ", ".join(f"{r['seed']}: {r['dev']['stsb']:.2f}" for r in rs),
             mean_sd(values(rs)), f"{spread(values(rs)):.2f}"] for pid, rs in seeded])]
    blocks += [f"**Failed**: `{f['id']}`: {f['error']}" for f in d.get("failed", [])]
    if missing := d.get("missing"):
        blocks.insert(0, f"**Partial grid**: {len(runs)} of {len(runs) + len(missing)} runs have results; "
                         f"not run yet or failed: {', '.join(f'`{m}`' for m in missing)}.")
    return blocks


def figures(run: Run) -> list[Figure]:
    pts, meta, base = by_point(run), run.data["grid"]["points"], run.data["base"]

    def trajectories(fig: Any) -> None:
        ax = fig.subplots()
        start = (base["dev"]["alignment"], base["dev"]["uniformity"]) if base else None
        if start:
            ax.scatter(*start, marker="*", s=160, color="black", zorder=3, label="base model")
        for i, (pid, runs) in enumerate(pts.items()):
            r = runs[0]
            path = [(t["alignment"], t["uniformity"]) for t in r["trajectory"]]
            end = (r["dev"]["alignment"], r["dev"]["uniformity"])
            st = style(i)
            if path:
                xs, ys = zip(*([start] if start else []) + path, strict=True)
                ax.plot(xs, ys, color=st["color"], linewidth=1, alpha=0.7)
                ax.scatter(*zip(*path, strict=True), color=st["color"], s=14)
            ax.scatter(*end, color=st["color"], marker=st["marker"], s=40, label=meta[pid]["label"], zorder=3)
        ax.set_xlabel("alignment (lower: positive pairs closer)")
        ax.set_ylabel("uniformity (lower: more uniform)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        every = run.data["grid"]["eval_every"]
        ax.set_title(title(f"Alignment and uniformity on STS-B dev from the base model (every {every} steps; "
                           "end of each run; first seed)", run), fontsize=9)

    def deltas(fig: Any) -> None:
        ax = fig.subplots()
        rows = [(pid, info) for pid, info in meta.items() if pid != info["reference"] and pts.get(pid)
                and pts.get(info["reference"])]
        ys = range(len(rows))
        ours = [statistics.mean(values(pts[p])) - statistics.mean(values(pts[i["reference"]])) for p, i in rows]
        paper = [i["paper"] - meta[i["reference"]]["paper"] if i["paper"] is not None else 0.0 for _, i in rows]
        ax.barh([y + 0.2 for y in ys], ours, height=0.4, color=style(0)["color"], label="ours")
        ax.barh([y - 0.2 for y in ys], paper, height=0.4, color=style(1)["color"], label="paper (BERT-base)")
        ax.set_yticks(list(ys), [i["label"] for _, i in rows], fontsize=8)
        ax.set_xscale("symlog", linthresh=1)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_xlabel("STS-B dev change against the reference run (points; symmetric log scale; paper 0: not reported)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        ax.set_title(title("Each setting against its reference run: ours and the paper's", run), fontsize=9)

    n = sum(1 for pid, info in meta.items() if pid != info["reference"])
    return [Figure(f"{run.stem}-align-uniform.png", "Alignment and uniformity, from the base model", trajectories,
                   (9, 5.5)),
            Figure(f"{run.stem}-sts-deltas.png", "STS-B dev against the reference run, ours and the paper's",
                   deltas, (9, 1.8 + 0.35 * n))]


def render_outputs(summary: Path, out: Path) -> list[Path]:
    """Write ``<stem>.md`` and the figures of the summary file into ``out``; the paths written."""
    run = load_run(summary)
    figs = figures(run)
    md = out / f"{run.stem}.md"
    write_text(md, page(run, [(f.name, f.caption) for f in figs]))
    return [md, *(f.draw(out) for f in figs)]
