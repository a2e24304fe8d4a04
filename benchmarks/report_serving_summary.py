"""One table over the serving runs: the latest run on each CPU kind, side by side (docs/serving.md includes it).

Of the serving result files that ran this project's server beside the FastAPI route (``sdk`` and ``naive`` in their
rows; the ``--workers`` sweep, which has no route, is left out), the newest of each CPU kind (model, int8 flags,
cores, as the file records them) makes a row: the shares of the run's best offline pass that its servers reached at
64 clients (and the median share of the server's pairs with in-process bulk passes at that cell, which the aims are
judged on, where the run has them) and the one-client ratio of its pairs. Every number is the file's.

    from benchmarks.report_serving_summary import serving_summary
    text = serving_summary([run for run in runs if run.kind == "serving"])   # "" when no run compares
"""

from __future__ import annotations

from statistics import median

from benchmarks.report_format import count, plural, table
from benchmarks.report_serving_aims import ONE_CLIENT_RATIO, best_offline, offline_ratios, pair_ratios, times
from benchmarks.report_tables import Run, cpu_text

NAME = "serving-summary.md"
# the columns: (system, sentences a request) at 64 clients, as a share of the run's best offline pass
SHARES = [("sdk", 1), ("sdk-workers", 1), ("naive", 1), ("infinity", 1), ("sdk", 32), ("naive", 32)]
LABELS = {"sdk": "server", "sdk-workers": "2 workers", "naive": "FastAPI route", "infinity": "infinity"}


def compares(run: Run) -> bool:
    """Whether the run has this project's server and the FastAPI route."""
    return {"sdk", "naive"} <= {r["system"] for r in run.data["rows"]}


def row_at(run: Run, system: str, size: int, concurrency: int) -> dict | None:
    """The system's cell of that many sentences a request and clients, if the run has it."""
    cell = (system, size, concurrency)
    return next((r for r in run.data["rows"] if (r["system"], r["size"], r["concurrency"]) == cell), None)


def share(run: Run, system: str, size: int, ceiling: float) -> str:
    """The cell at 64 clients as a share of the best pass (sentences/s), and its pairs' median share where it has pairs
    with in-process bulk passes."""
    row = row_at(run, system, size, 64)
    if row is None:
        return "-"
    text = f"{100 * row['sent_per_s'] / ceiling:.0f}% ({count(row['sent_per_s'])})"
    ratios = offline_ratios(run.data, system, size, 64)
    return text + (f"; pairs {100 * median(ratios):.0f}%" if ratios else "")


def one_client(run: Run) -> str:
    """The server's one-client p50 over in-process ``encode``'s: the median of its pairs, else the cell's."""
    if ratios := pair_ratios(run.data["offline"].get("one_pairs", []), "sdk"):
        return f"{times(median(ratios), ONE_CLIENT_RATIO)} ({plural(len(ratios), 'pair')})"
    one = run.data["offline"].get("one_p50_ms")
    row = row_at(run, "sdk", 1, 1)
    return f"{times(row['p50_ms'] / one, ONE_CLIENT_RATIO)} (the cell)" if one and row else "-"


def serving_summary(runs: list[Run]) -> str:
    """The markdown table, newest run first; "" when no run has the server beside the route."""
    latest: dict[tuple[str, tuple[str, ...] | None, int], Run] = {}
    for run in sorted(filter(compares, runs), key=lambda r: (r.data["date"], r.stem)):
        m = run.data["machine"]
        flags = m.get("int8_flags")
        latest[(m["model"], None if flags is None else tuple(flags), m["cores"])] = run  # a later date replaces
    rows = []
    for run in sorted(latest.values(), key=lambda r: (r.data["date"], r.stem), reverse=True):
        d, ceiling = run.data, best_offline(run.data)
        m = d["machine"]
        rows.append([f"{cpu_text(m['model'], m.get('int8_flags'))}, {m['cores']} cores", d["date"],
                     f"`{run.stem}`", count(ceiling),
                     *(share(run, s, size, ceiling) for s, size in SHARES), one_client(run)])
    if not rows:
        return ""
    head = ["CPU", "date", "results page", "bulk `encode`, sentences/s",
            *(f"{LABELS[s]}, {size} sentence{'s' if size > 1 else ''} x 64 clients" for s, size in SHARES),
            "one client: server / in-process p50"]
    return table(head, rows) + "\n"
