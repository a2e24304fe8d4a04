"""Issue 23's aims, judged from a serving run's result file for each SDK server of the run.

Each aim is judged on pairs of neighbouring turns where the run has them (the speed of these shared machines drifts
by 20-50 % within minutes, so only neighbours in time compare fairly), else against two offline references: the
best bulk pass of the run (the ceiling) and the pass the in-process probe took as its turn at the cell, met only
when it holds against both.

    from benchmarks.report_serving_aims import aims
    blocks = aims(run.data, run.data["rows"])   # one table of aims and verdicts for each SDK server
"""

from __future__ import annotations

from statistics import median

from benchmarks.report_format import count, ms, plural, table

# issue 23's aims: one-sentence requests from 64 clients at this share of offline on every CPU kind, and at the
# second where the CPU is as fast as the 2-core Xeon (the page shows the offline rate to read that off); 32-sentence
# requests from 16 clients on at this share; one client's p50 at most this many times in-process encode; p99 at 64
# clients within this many rounds at the offline rate
ONE_SENTENCE_SHARE_ANY, ONE_SENTENCE_SHARE = 0.60, 0.70
BATCH_SHARE, ONE_CLIENT_RATIO, P99_ROUNDS = 0.85, 1.3, 4
# the cells those shares are named for: (sentences a request, clients), and 32-sentence requests from 16 clients on
ONE_SENTENCE_CELL, BATCH_SIZE, BATCH_FROM = (1, 64), 32, 16


def judged_on_offline(size: int, concurrency: int) -> bool:
    """Whether an aim names a share of offline for this cell: 64 clients of one sentence, 32 sentences from 16
    clients on (the cells the benchmark pairs with in-process bulk passes)."""
    return (size, concurrency) == ONE_SENTENCE_CELL or (size == BATCH_SIZE and concurrency >= BATCH_FROM)


def best_offline(d: dict) -> float:
    """The run's best offline rate: its best pass at the start and the end, or a cell's turn if that was faster."""
    return max([d["offline"]["sent_per_s"], *offline_at_turn(d).values()])


def offline_at_turn(d: dict) -> dict[tuple[int, int], float]:
    """{(sentences a request, clients): the offline rate of the probe's turn at that cell} (empty in older runs)."""
    return {(t["size"], t["concurrency"]): t["sent_per_s"] for t in d["offline"].get("turns", [])}


def aims(d: dict, rows: list[dict]) -> list[str]:
    """Issue 23's aims for each SDK server of the run: the figure against each offline reference, and whether
    it is met: on the median of its pairs of neighbouring turns where the run has them, else against both offline
    references, the best pass only, its turn only, or not."""
    ceiling, near, one = best_offline(d), offline_at_turn(d), d["offline"].get("one_p50_ms")
    naive = {(r["size"], r["concurrency"]): r["sent_per_s"] for r in rows if r["system"] == "naive"}
    out = []
    for system in dict.fromkeys(r["system"] for r in rows if r["system"].startswith("sdk")):
        mine = [r for r in rows if r["system"] == system]

        def shares(cells: list[dict]) -> tuple[float, float | None]:
            """The lowest share of offline among ``cells``: (of the ceiling, of the neighbouring passes)."""
            low = min(r["sent_per_s"] / ceiling for r in cells)
            turns = [r["sent_per_s"] / near[(r["size"], r["concurrency"])] for r in cells
                     if (r["size"], r["concurrency"]) in near]
            return low, (min(turns) if len(turns) == len(cells) else None)

        def share_aim(cells: list[dict], aim: float) -> tuple[str, str]:
            """(the lowest share among ``cells``, verdict): on the median of each cell's pairs with in-process bulk
            passes where every cell has them, else against the best pass and the turn."""
            low, turn = shares(cells)
            text = f"{100 * low:.0f}%" + (f" ({100 * turn:.0f}% of its turn)" if turn is not None else "")
            alone = f"{100 * low:.0f}% of the best pass" + (f", {100 * turn:.0f}% of its turn" if turn is not None else "")
            keys = list(dict.fromkeys((r["size"], r["concurrency"]) for r in cells))
            medians = {k: median(x) for k in keys if (x := offline_ratios(d, cells[0]["system"], *k))}
            if len(medians) < len(keys):
                return text, verdict_of(low >= aim, None if turn is None else turn >= aim)
            (size, c), m = min(medians.items(), key=lambda kv: kv[1])
            return (f"{percent(m, aim)} (median of its pairs with in-process bulk passes, lowest at {size} x c={c}; "
                    f"the cells alone: {alone})", "met" if m >= aim else "not met")

        c64 = [r for r in mine if (r["size"], r["concurrency"]) == ONE_SENTENCE_CELL]
        big = [r for r in mine if r["size"] == BATCH_SIZE and judged_on_offline(r["size"], r["concurrency"])]
        c1 = [r for r in mine if r["size"] == 1 and r["concurrency"] == 1]
        few = [r for r in mine if r["concurrency"] < 16 and (r["size"], r["concurrency"]) in naive]
        judged: dict[str, tuple[str, str] | None] = {  # aim: (this run, verdict), None where not measured
            f"64 clients x 1 sentence, >= {ONE_SENTENCE_SHARE_ANY:.0%} of offline (every CPU kind)":
                share_aim(c64, ONE_SENTENCE_SHARE_ANY) if c64 else None,
            f"64 clients x 1 sentence, >= {ONE_SENTENCE_SHARE:.0%} of offline (a CPU as fast as the 2-core Xeon)":
                share_aim(c64, ONE_SENTENCE_SHARE) if c64 else None,
            f"32 sentences from 16 clients on, >= {BATCH_SHARE:.0%} (its lowest cell)":
                share_aim(big, BATCH_SHARE) if big else None,
            f"one client's p50, <= {ONE_CLIENT_RATIO}x in-process": one_client(d, system, c1, one),
            "below 16 clients, at least the FastAPI route's rate":
                against_route(d, system, few, naive) if few else None,
            f"p99 at 64 clients x 1 sentence, <= {P99_ROUNDS} rounds at the offline rate":
                p99_within(c64[0]["p99_ms"], ceiling, near.get((1, 64))) if c64 else None,
        }
        rows_out = [[aim, *(got or ("not measured in this run", "-"))] for aim, got in judged.items()]
        errors = sum(r["errors"] for r in mine) + sum(p.get("errors", 0) for p in d["offline"].get("offline_pairs", [])
                                                      if p["system"] == system)
        rows_out.append(["no errors", f"{errors} errors", "met" if errors == 0 else "not met"])
        out += [f"**Issue 23's aims, `{system}`** (computed from this file):", table(["aim", "this run", "verdict"],
                                                                                     rows_out)]
    return out


def offline_ratios(d: dict, system: str, size: int, concurrency: int) -> list[float]:
    """For each pair of the system at one cell, its rate divided by the in-process bulk pass of the same pair."""
    return cell_ratios(d["offline"].get("offline_pairs", []), system, size, concurrency, "offline_sent_per_s")


def percent(m: float, bound: float) -> str:
    """A share in whole per cent, or with as many more places (up to six) as it takes not to read as ``bound``
    when it is not: 84.6 % read "85%" beside "not met"."""
    places = 0
    while places < 6 and m != bound and f"{100 * m:.{places}f}" == f"{100 * bound:.{places}f}":
        places += 1
    return f"{100 * m:.{places}f}%"


def pair_ratios(pairs: list[dict], system: str) -> list[float]:
    """For each pair of the system, its one-client p50 divided by the in-process p50 of the same pair."""
    return [p["p50_ms"] / p["in_process_p50_ms"] for p in pairs if p["system"] == system]


def one_client(d: dict, system: str, c1: list[dict], one: float | None) -> tuple[str, str] | None:
    """(one client's ratio to in-process encode, verdict): judged on the median ratio of the pairs of short turns
    where the run has them (a ratio of neighbours in time), else on the one-client cell."""
    cell = c1[0]["p50_ms"] / one if one is not None and c1 else None
    if ratios := pair_ratios(d["offline"].get("one_pairs", []), system):
        ratio = median(ratios)
        text = (f"{times(ratio, ONE_CLIENT_RATIO)} (median of {plural(len(ratios), 'pair')}: "
                f"{min(ratios):.2f}-{max(ratios):.2f}x"
                + (f"; the cell {cell:.2f}x)" if cell is not None else ")"))
        return text, "met" if ratio <= ONE_CLIENT_RATIO else "not met"
    if cell is None:
        return None
    return f"{cell:.2f}x", "met" if cell <= ONE_CLIENT_RATIO else "not met"


def route_ratios(route: list[dict], system: str, size: int, concurrency: int) -> list[float]:
    """For each pair of the system at one cell, its rate divided by the FastAPI route's in the same pair."""
    return cell_ratios(route, system, size, concurrency, "naive_sent_per_s")


def cell_ratios(pairs: list[dict], system: str, size: int, concurrency: int, reference: str) -> list[float]:
    """For each pair of the system at one cell, its rate (``sent_per_s``) divided by the pair's ``reference``."""
    return [p["sent_per_s"] / p[reference] for p in pairs
            if (p["system"], p["size"], p["concurrency"]) == (system, size, concurrency)]


def against_route(d: dict, system: str, few: list[dict], naive: dict[tuple[int, int], float]) -> tuple[str, str]:
    """(the server against the FastAPI route below 16 clients, verdict): judged at each cell on the median ratio of
    its pairs of neighbouring turns where the run has them (the cell's own figures given beside), else on the cells."""
    route = d["offline"].get("route_pairs", [])
    medians = {(r["size"], r["concurrency"]): median(x) for r in few
               if (x := route_ratios(route, system, r["size"], r["concurrency"]))}
    if len(medians) < len({(r["size"], r["concurrency"]) for r in few}):  # a cell run twice has one median
        return behind_naive(few, naive)
    cells = "; ".join(f"{size} x c={c}: {times(m)}" for (size, c), m in medians.items())
    behind = behind_naive(few, naive)[0]
    text = f"medians of the pairs {cells} (the cells alone: {behind})"
    return text, "met" if all(m >= 1.0 for m in medians.values()) else "not met"


def times(m: float, bound: float = 1.0) -> str:
    """A ratio to two places, or to as many more (up to six) as it takes not to read as ``bound`` when it is not: a
    median of 0.99993 read "1.00x" beside "not met", hiding which side of the bound decided the verdict."""
    places = 2
    while places < 6 and m != bound and f"{m:.{places}f}" == f"{bound:.{places}f}":
        places += 1
    return f"{m:.{places}f}x"


def behind_naive(few: list[dict], naive: dict[tuple[int, int], float]) -> tuple[str, str]:
    """(the cells where the SDK server was behind the FastAPI route, verdict)."""
    behind = [f"{r['size']} x c={r['concurrency']}: {count(r['sent_per_s'])} against "
              f"{count(naive[(r['size'], r['concurrency'])])}" for r in few
              if r["sent_per_s"] < naive[(r["size"], r["concurrency"])]]
    return ("behind in " + "; ".join(behind), "not met") if behind else (f"ahead in {plural(len(few), 'cell')}", "met")


def p99_within(p99: float, ceiling: float, near: float | None) -> tuple[str, str]:
    """(p99 against the bound of ``P99_ROUNDS`` rounds of 64 sentences at the offline rate, verdict)."""
    bound, at_turn = 1000 * 64 / ceiling * P99_ROUNDS, None if near is None else 1000 * 64 / near * P99_ROUNDS
    text = f"{ms(p99)} ms (bound {ms(bound)} ms" + (f"; {ms(at_turn)} ms at its turn)" if at_turn else ")")
    return text, verdict_of(p99 <= bound, None if at_turn is None else p99 <= at_turn)


def verdict_of(by_best: bool, by_turn: bool | None) -> str:
    """The verdict on an aim, held (or not) against the run's best pass and against the pass at its turn (None:
    the run has no turns): met only when it holds against both."""
    if by_turn is None or by_best == by_turn:
        return "met" if by_best else "not met"
    return "met against the best pass only" if by_best else "met at its turn only"
