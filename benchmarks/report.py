"""Benchmark pages from the result files: docs/results/<stem>.md and PNGs for each benchmarks/results/*.json.

Every table and figure in the docs comes from a result file, never copied by hand. Each page starts with
the hardware (CPU model and int8 flags, or the GPU), the date and the command of its run;
docs/results/index.md lists the pages and shows the figures. The kind of each file (latency, serving,
bulk, first start, int8 on CPU kinds, evaluation) is recognised by its keys; a file of no known kind, or
one without its date and command, stops the report with the file's name and the fix.

    python benchmarks/report.py             # write docs/results/*.md and *.png
    python benchmarks/report.py --check     # exit 1 if a committed page differs from its JSON (CI)
    python benchmarks/report.py --results benchmarks/results --out docs/results --no-plots

--check compares the markdown only (matplotlib's PNG bytes are not stable between versions); it writes
nothing. After a benchmark run, rerun this script and commit the JSON with its pages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.report_plots import Figure, plan  # noqa: E402
from benchmarks.report_serving_summary import NAME as SERVING_SUMMARY  # noqa: E402
from benchmarks.report_serving_summary import serving_summary  # noqa: E402
from benchmarks.report_tables import KINDS, ReportError, Run, index, load_run, page  # noqa: E402

INDEX = "index.md"


def load_runs(results: Path) -> list[Run]:
    """Every result file in the folder, by name; ReportError naming each file that cannot be read."""
    paths = sorted(results.glob("*.json"))
    if not paths:
        raise ReportError(f"{results}: no result files (*.json); pass --results with the folder the "
                          "benchmarks wrote to")
    runs, errors = [], []
    for path in paths:
        try:
            runs.append(load_run(path))
        except ReportError as e:
            errors.append(str(e))
    if errors:
        raise ReportError("\n".join(errors))
    return runs


def figures_of(run: Run) -> list[Figure]:
    try:
        return plan(run)
    except (KeyError, TypeError) as e:
        raise ReportError(f"{run.path}: a {run.kind} result file without the field {e}; rerun "
                          f"{KINDS[run.kind].command}") from e


def render(runs: list[Run]) -> dict[str, str]:
    """File name -> markdown of every page, the index, and the serving runs side by side (docs/serving.md)."""
    figures = {r.stem: [(f.name, f.caption) for f in figures_of(r)] for r in runs}
    pages = {f"{r.stem}.md": page(r, figures[r.stem]) for r in runs}
    summary = serving_summary([r for r in runs if r.kind == "serving"])
    return {**pages, INDEX: index(runs, figures), **({SERVING_SUMMARY: summary} if summary else {})}


def check(pages: dict[str, str], out: Path) -> list[str]:
    """What differs between the generated pages and those in ``out``: one line each, empty when all agree."""
    problems = []
    for name, text in pages.items():
        path = out / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from what its result file gives")
    problems += [f"{p}: no result file makes this page (delete it)" for p in sorted(out.glob("*.md"))
                 if p.name not in pages]
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/report.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                   help="folder of result JSON files (default benchmarks/results)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results",
                   help="folder for the pages and figures (default docs/results)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 listing the pages that differ from what their JSON gives")
    p.add_argument("--no-plots", action="store_true", help="write the pages only, not the PNGs")
    args = p.parse_args(argv)
    try:
        runs = load_runs(args.results)
        pages = render(runs)
    except ReportError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    if args.check:
        problems = check(pages, args.out)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(f"{len(problems)} page(s) out of date: run `python benchmarks/report.py` and commit "
                  "docs/results/", file=sys.stderr)
            return 1
        print(f"{len(pages)} pages in {args.out} match {len(runs)} result files")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (args.out / name).write_text(text, encoding="utf-8")
    drawn = [] if args.no_plots else [f.draw(args.out) for r in runs for f in figures_of(r)]
    print(f"wrote {len(pages)} pages and {len(drawn)} figures to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
