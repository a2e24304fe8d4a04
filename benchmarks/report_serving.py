"""The serving benchmark's page: servers under load, where the SDK server's CPU went, and issue 23's aims.

The aims are read off the result file, against two offline references: the best bulk pass of the run (the
ceiling: at the start, the end, or a cell's turn), and the pass the in-process probe took as its turn at each
cell, between the systems' (the CPU's speed drifts by 20-50 % within minutes on these machines; the
neighbouring pass is what a cell ran beside). An aim is met only when it holds against both.

    from benchmarks.report_serving import serving_body
    blocks = serving_body(load_run(Path("benchmarks/results/serving-cpu.json")))
"""

from __future__ import annotations

from statistics import median

from benchmarks.report_format import count, ms, plural, table
from benchmarks.report_tables import Run

# issue 23's aims: one-sentence requests from 64 clients at this share of offline on every CPU kind, and at the
# second where the CPU is as fast as the 2-core Xeon (the page shows the offline rate to read that off); 32-sentence
# requests from 16 clients on at this share; one client's p50 at most this many times in-process encode; p99 at 64
# clients within this many rounds at the offline rate
ONE_SENTENCE_SHARE_ANY, ONE_SENTENCE_SHARE = 0.60, 0.70
BATCH_SHARE, ONE_CLIENT_RATIO, P99_ROUNDS = 0.85, 1.3, 4


def best_offline(d: dict) -> float:
    """The run's best offline rate: its best pass at the start and the end, or a cell's turn if that was faster."""
    return max([d["offline"]["sent_per_s"], *offline_at_turn(d).values()])


def offline_at_turn(d: dict) -> dict[tuple[int, int], float]:
    """{(sentences a request, clients): the offline rate of the probe's turn at that cell} (empty in older runs)."""
    return {(t["size"], t["concurrency"]): t["sent_per_s"] for t in d["offline"].get("turns", [])}


def speed(r: dict) -> str:
    """A cell as the size tables give it: sentences/s (p99 ms), or that no request was answered in it."""
    return f"{count(r['sent_per_s'])} ({ms(r['p99_ms'])})" if r["requests"] else "none answered"


def windows(d: dict) -> str:
    """How long the cells lasted: ``--duration``, and the cells that ``--cell-answers`` made longer."""
    longer = {(r["size"], r["concurrency"]): r["seconds"] for r in d["rows"] if r.get("seconds", 0) > d["duration_s"]}
    if not longer:
        return f"{d['duration_s']} s per cell"
    return (f"{d['duration_s']} s per cell, longer where each client would get fewer than {d['cell_answers']} "
            "answers at the first offline pass's rate (a latency beyond the window is never seen): "
            + ", ".join(f"{plural(size, 'sentence')} x {c} clients {s} s" for (size, c), s in sorted(longer.items())))


def serving_body(run: Run) -> list[str]:
    d, rows = run.data, run.data["rows"]
    ceiling, near = best_offline(d), offline_at_turn(d)
    systems = list(dict.fromkeys(r["system"] for r in rows))
    sizes, levels = sorted({r["size"] for r in rows}), sorted({r["concurrency"] for r in rows})
    blocks = [f"Load generator: {d['load_generator']}; {windows(d)}; requests of "
              f"{' or '.join(map(str, sizes))} STS-B test sentences; "
              f"{plural(d['machine']['threads'], 'inference thread')}. The SDK's offline bulk "
              f"`Encoder.encode` on the same {count(d['offline']['sentences'])} sentences: "
              f"**{count(ceiling)} sentences/s** (the run's best: of its passes at the start and the end, and its turns at the cells)"
              + (f"; the passes it took as its turn at each cell, between the systems' (their mean at each cell): "
                 f"{count(min(near.values()))}-{count(max(near.values()))} sentences/s." if near else ".")]
    cell = {(r["system"], r["size"], r["concurrency"]): r for r in rows}
    for size in sizes:
        blocks += [f"**{plural(size, 'sentence')} a request**: sentences/s (p99 ms)", table(
            ["system", *(f"c={c}" for c in levels)],
            [[s, *(speed(r) if (r := cell.get((s, size, c))) else "-" for c in levels)]
             for s in systems if any(k[:2] == (s, size) for k in cell)])]
    failed = [f"{r['system']} size {r['size']} c={r['concurrency']}: {r['errors']}"
              for r in rows if r["errors"]]
    blocks.append("Errors: " + ("; ".join(failed) if failed else "none in any cell") + ".")
    if silent := [f"{r['system']} size {r['size']} c={r['concurrency']} in {r.get('seconds', d['duration_s'])} s"
                  for r in rows if not r["requests"]]:
        blocks.append("No request answered within the cell (the load generator counts answers; requests still "
                      "running when it stops are neither answers nor errors): " + "; ".join(silent) + ".")
    blocks += ["**Every cell:**", table(
        ["system", "sentences/request", "concurrency", "sentences/s", "% of offline (best pass)",
         "% of offline (its turn)", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors", "RSS MB", "start-up s"],
        [[r["system"], str(r["size"]), str(r["concurrency"]), count(r["sent_per_s"]),
          f"{100 * r['sent_per_s'] / ceiling:.0f}%",
          f"{100 * r['sent_per_s'] / near[k]:.0f}%" if (k := (r["size"], r["concurrency"])) in near else "-",
          count(r["req_per_s"]), *(ms(r[k]) if r["requests"] else "-" for k in ("p50_ms", "p95_ms", "p99_ms")),
          str(r["errors"]), count(r["rss_mb"]), ms(r["startup_s"])] for r in rows])]
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
    if pairs := d["offline"].get("one_pairs"):
        blocks += ["**One client, pairs of neighbouring short turns** (after the one-client cell, for each SDK server: "
                   "one sentence a call in-process and the server under `wrk -c1`, in-process first in odd-numbered "
                   "pairs; p50 ms and the server's ratio to the in-process p50 beside it):", table(
            ["system", "pair", "in-process", "server", "ratio"],
            [[p["system"], str(i + 1), ms(p["in_process_p50_ms"]), ms(p["p50_ms"]),
              f"{p['p50_ms'] / p['in_process_p50_ms']:.2f}x"]
             for system in dict.fromkeys(p["system"] for p in pairs)
             for i, p in enumerate(p for p in pairs if p["system"] == system)]
            + [[system, "median", "", "", times(median(pair_ratios(pairs, system)), ONE_CLIENT_RATIO)]
               for system in dict.fromkeys(p["system"] for p in pairs)])]
    if route := d["offline"].get("route_pairs"):
        cells = list(dict.fromkeys((p["system"], p["size"], p["concurrency"]) for p in route))
        turns = any("seconds" in p for p in route)  # runs before the turn's length followed the cell's rate
        blocks += ["**Against the FastAPI route below 16 clients, pairs of neighbouring short turns** (after each such "
                   "cell, for each SDK server: the server and the route under the same load, the server first in "
                   "odd-numbered pairs; sentences/s and the server's ratio to the route beside it"
                   + ("; a turn's seconds: long enough for about `--pair-requests` answers a client" if turns else "")
                   + "):", table(
            ["system", "sentences/request", "concurrency", "pair", *(["turn s"] if turns else []), "server",
             "FastAPI route", "ratio"],
            [[p["system"], str(p["size"]), str(p["concurrency"]), str(i + 1), *([str(p["seconds"])] if turns else []),
              count(p["sent_per_s"]), count(p["naive_sent_per_s"]), f"{p['sent_per_s'] / p['naive_sent_per_s']:.2f}x"]
             for key in cells for i, p in enumerate(p for p in route if (p["system"], p["size"], p["concurrency"]) == key)]
            + [[system, str(size), str(c), "median", *([""] if turns else []), "", "",
                times(median(route_ratios(route, system, size, c)))] for system, size, c in cells])]
    blocks += aims(d, rows)
    if s := d.get("soak"):
        blocks.append(f"Soak: {s['seconds']} s of mixed requests, {count(s['requests'])} requests, "
                      f"{s['errors']} errors; server RSS max {count(s['rss_first_quarter_mb'])} MB in the "
                      f"first quarter, {count(s['rss_last_quarter_mb'])} MB in the last, "
                      f"{count(s['rss_max_mb'])} MB overall.")
    return blocks


def aims(d: dict, rows: list[dict]) -> list[str]:
    """Issue 23's aims for each SDK server of the run: the figure against each offline reference, and whether
    it is met against both, against the neighbouring pass only, or not."""
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

        def verdict(pair: tuple[float, float | None], aim: float) -> str:
            return verdict_of(pair[0] >= aim, None if pair[1] is None else pair[1] >= aim)

        def pct(pair: tuple[float, float | None]) -> str:
            return f"{100 * pair[0]:.0f}%" + (f" ({100 * pair[1]:.0f}% of its turn)" if pair[1] is not None else "")

        c64 = [r for r in mine if r["size"] == 1 and r["concurrency"] == 64]
        big = [r for r in mine if r["size"] == 32 and r["concurrency"] >= 16]
        c1 = [r for r in mine if r["size"] == 1 and r["concurrency"] == 1]
        few = [r for r in mine if r["concurrency"] < 16 and (r["size"], r["concurrency"]) in naive]
        judged: dict[str, tuple[str, str] | None] = {  # aim: (this run, verdict), None where not measured
            f"64 clients x 1 sentence, >= {ONE_SENTENCE_SHARE_ANY:.0%} of offline (every CPU kind)":
                (pct(pair := shares(c64)), verdict(pair, ONE_SENTENCE_SHARE_ANY)) if c64 else None,
            f"64 clients x 1 sentence, >= {ONE_SENTENCE_SHARE:.0%} of offline (a CPU as fast as the 2-core Xeon)":
                (pct(pair := shares(c64)), verdict(pair, ONE_SENTENCE_SHARE)) if c64 else None,
            f"32 sentences from 16 clients on, >= {BATCH_SHARE:.0%} (its lowest cell against each reference)":
                (pct(pair := shares(big)), verdict(pair, BATCH_SHARE)) if big else None,
            f"one client's p50, <= {ONE_CLIENT_RATIO}x in-process": one_client(d, system, c1, one),
            "below 16 clients, at least the FastAPI route's rate":
                against_route(d, system, few, naive) if few else None,
            f"p99 at 64 clients x 1 sentence, <= {P99_ROUNDS} rounds at the offline rate":
                p99_within(c64[0]["p99_ms"], ceiling, near.get((1, 64))) if c64 else None,
        }
        rows_out = [[aim, *(got or ("not measured in this run", "-"))] for aim, got in judged.items()]
        errors = sum(r["errors"] for r in mine)
        rows_out.append(["no errors", f"{errors} errors", "met" if errors == 0 else "not met"])
        out += [f"**Issue 23's aims, `{system}`** (computed from this file):", table(["aim", "this run", "verdict"],
                                                                                     rows_out)]
    return out


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
    return [p["sent_per_s"] / p["naive_sent_per_s"] for p in route
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


def head_of_line_body(run: Run) -> list[str]:
    """benchmarks/head_of_line.py: each server's big request, and the waits of the small requests sent during it."""
    d = run.data
    sentences = plural(d["small_size"], "sentence")
    head = (f"One request of {count(d['big'])} texts of {d['words']} words, and from {d['after_s']:g} s on, requests of "
            f"{sentences}, one after another with {d['every_s']:g} s between an answer and the next request, until "
            "the big request is answered. Seconds; a small request's wait is its round trip.")
    rows = [[r["system"], str(r.get("pass", 1)), ms(r["big_s"]), count(len(r["small_s"])),
             *(ms(r[k]) if r["small_s"] else "-" for k in ("small_median_s", "small_max_s", "small_first_s"))]
            for r in d["rows"]]
    return [head, table(["system", "pass", "big request", "small requests", "small: median", "small: max",
                         "small: first"], rows)]
