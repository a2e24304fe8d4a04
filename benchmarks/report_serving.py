"""The serving benchmark's page: servers under load, where the SDK server's CPU went, and issue 23's aims.

Each cell's share of offline is given against two references: the best bulk pass of the run (the ceiling: at the
start, the end, or a cell's turn), and the pass the in-process probe took as its turn at each cell, between the
systems' (the CPU's speed drifts by 20-50 % within minutes on these machines). The aims are judged in
``benchmarks/report_serving_aims.py``: on pairs of neighbouring turns where the run has them, else against both.

    from benchmarks.report_serving import serving_body
    blocks = serving_body(load_run(Path("benchmarks/results/serving-cpu.json")))
"""

from __future__ import annotations

from statistics import median

from benchmarks.report_format import count, ms, plural, table
from benchmarks.report_serving_aims import (
    ONE_CLIENT_RATIO,
    aims,
    best_offline,
    offline_at_turn,
    offline_ratios,
    pair_ratios,
    route_ratios,
    times,
)
from benchmarks.report_tables import Run


def speed(r: dict) -> str:
    """A cell as the size tables give it: sentences/s (p99 ms), or that no request was answered in it."""
    return f"{count(r['sent_per_s'])} ({ms(r['p99_ms'])})" if r["requests"] else "none answered"


def windows(d: dict) -> str:
    """How long the cells lasted: ``--duration``, and the cells that ``--cell-answers`` made longer."""
    longer = {(r["size"], r["concurrency"]): r["seconds"] for r in d["rows"] if r.get("seconds", 0) > d["duration_s"]}
    if not longer:
        return f"{d['duration_s']} s per cell"
    return (f"{d['duration_s']} s per cell, longer where each client would get fewer than {d['cell_answers']} "
            "answers at the offline rate measured at the start (a latency beyond the window is never seen): "
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
    if off := d["offline"].get("offline_pairs"):
        cells = list(dict.fromkeys((p["system"], p["size"], p["concurrency"]) for p in off))
        blocks += ["**Against in-process bulk `encode` where an aim names a share of offline, pairs of neighbouring "
                   "turns** (after each such cell: one bulk pass of the probe and the server under the cell's load "
                   "for the cell's seconds, the probe first in odd-numbered pairs; sentences/s and the server's share "
                   "of the pass beside it):", table(
            ["system", "sentences/request", "concurrency", "pair", "turn s", "server", "in-process", "share", "errors"],
            [[p["system"], str(p["size"]), str(p["concurrency"]), str(i + 1), str(p["seconds"]),
              count(p["sent_per_s"]), count(p["offline_sent_per_s"]),
              f"{100 * p['sent_per_s'] / p['offline_sent_per_s']:.0f}%", str(p.get("errors", 0))]
             for key in cells for i, p in enumerate(p for p in off if (p["system"], p["size"], p["concurrency"]) == key)]
            + [[system, str(size), str(c), "median", "", "", "",
                f"{100 * median(offline_ratios(d, system, size, c)):.1f}%", ""] for system, size, c in cells])]
    blocks += aims(d, rows)
    if s := d.get("soak"):
        blocks.append(f"Soak: {s['seconds']} s of mixed requests, {count(s['requests'])} requests, "
                      f"{s['errors']} errors; server RSS max {count(s['rss_first_quarter_mb'])} MB in the "
                      f"first quarter, {count(s['rss_last_quarter_mb'])} MB in the last, "
                      f"{count(s['rss_max_mb'])} MB overall.")
    return blocks


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
