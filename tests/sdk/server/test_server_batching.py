"""RequestBatcher's rounds: the next round starts as soon as a thread is free, never beyond the threads there are."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import numpy as np
import pytest
from simcse_sdk import Encoder

pytest.importorskip("uvicorn", reason="the server tests need the serve extra: pip install -e '.[serve]'")

from server_harness import thread_server  # noqa: E402
from simcse_sdk.server.api.api_error import ApiError  # noqa: E402
from simcse_sdk.server.batching import LONE_ROUNDS, RequestBatcher  # noqa: E402
from simcse_sdk.server.job import TooLong  # noqa: E402
from simcse_sdk.server.metrics import Metrics  # noqa: E402


class Rounds:
    """Stands in for ``Encoder.encode_ids``: records each round's inputs; round k (from 0) waits for ``release[k]``,
    after saying it is in its tail (``on_idle``) when ``tail[k]``."""

    def __init__(self, dim: int, tail: list[bool]) -> None:
        self.dim, self.tail = dim, tail
        self.sizes: list[int] = []
        self.shared: list[bool] = []  # each call's share_cpu
        self.pooled: list[bool] = []  # each call's pooled
        self.release = [threading.Event() for _ in tail]

    def __call__(self, ids, batch_size, max_tokens, on_batch, on_idle,  # type: ignore[no-untyped-def]
                 check_ids=True, share_cpu=True, pooled=True):
        self.shared.append(share_cpu)
        self.pooled.append(pooled)
        if not ids:  # as Encoder.encode_ids: nothing to run, no batch, no tail
            return np.zeros((0, self.dim), dtype=np.float32)
        k = len(self.sizes)
        self.sizes.append(len(ids))
        if k < len(self.tail):
            if self.tail[k]:
                on_idle()
            assert self.release[k].wait(10), f"round {k} never released"
        return np.full((len(ids), self.dim), k, dtype=np.float32)


@pytest.fixture
def encoder(tiny_model_dir):
    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)
    assert enc.parallelism == 2
    return enc


# Every request holds two inputs: a lone input while the server holds no other runs on the event loop itself.
def serve(encoder: Encoder, rounds: Rounds, scenario, batch_size: int = 32,  # type: ignore[no-untyped-def]
          lone_spin: bool = True, max_queue: int = 100) -> None:
    encoder.encode_ids = rounds  # type: ignore[method-assign]

    async def main() -> None:
        batcher = RequestBatcher(encoder, batch_size=batch_size, max_batch_tokens=8192, max_queue=max_queue,
                                 lone_spin=lone_spin)
        batcher.start()
        try:
            await scenario(batcher)
        finally:
            for r in rounds.release:
                r.set()
            await batcher.stop()

    asyncio.run(main())


def test_a_round_starts_while_the_last_batch_of_the_one_before_runs(encoder):
    rounds = Rounds(encoder.dim, tail=[True])

    async def scenario(batcher: RequestBatcher) -> None:
        first = batcher.submit(["a b", "c d"], None, True)
        while not rounds.sizes:
            await asyncio.sleep(0.01)
        second = batcher.submit(["e f", "x y"], None, True)
        result = await asyncio.wait_for(second.future, 10)  # answered while the first round is held
        assert not first.future.done()
        assert result.embeddings.shape == (2, encoder.dim) and result.embeddings[0, 0] == 1  # round 1's rows
        rounds.release[0].set()
        assert (await asyncio.wait_for(first.future, 10)).embeddings[:, 0].tolist() == [0, 0]

    serve(encoder, rounds, scenario)
    assert rounds.sizes == [2, 2]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_lone_input_may_take_every_thread_only_after_a_run_of_lone_rounds(encoder, workers):
    """One client's request may run on all threads (spinning, where that is faster); with more clients their
    requests need the other core meanwhile: 4 and 8 clients lost 10-15 % when every lone input spun. With --workers
    none spins: each process would, on every core at once."""
    rounds = Rounds(encoder.dim, tail=[])

    async def scenario(batcher: RequestBatcher) -> None:
        for _ in range(LONE_ROUNDS + 2):
            await asyncio.wait_for(batcher.submit(["a b"], None, True).future, 10)  # one client, one at a time
        await asyncio.wait_for(batcher.submit(["c d", "e f"], None, True).future, 10)  # a round on a thread
        for _ in range(2):
            await asyncio.wait_for(batcher.submit(["a b"], None, True).future, 10)

    serve(encoder, rounds, scenario, lone_spin=workers == 1)
    spun = [False, False] if workers == 1 else [True, True]
    assert rounds.shared == [True] * LONE_ROUNDS + spun + [True] + [True, True]


def test_no_round_starts_while_every_thread_is_busy(encoder):
    rounds = Rounds(encoder.dim, tail=[False, True, True])

    async def scenario(batcher: RequestBatcher) -> None:
        jobs = [batcher.submit(["a b", "c d"], None, True)]
        while not rounds.sizes:
            await asyncio.sleep(0.01)
        jobs.append(batcher.submit(["e f", "x y"], None, True))
        await asyncio.sleep(0.3)
        assert rounds.sizes == [2]  # round 0 may need both threads: the new input waits
        rounds.release[0].set()
        await asyncio.wait_for(jobs[0].future, 10)
        while len(rounds.sizes) < 2:
            await asyncio.sleep(0.01)
        jobs.append(batcher.submit(["g h", "x y"], None, True))  # round 1 is in its tail: round 2 starts beside it
        while len(rounds.sizes) < 3:
            await asyncio.sleep(0.01)
        jobs.append(batcher.submit(["i j", "x y"], None, True))
        await asyncio.sleep(0.3)
        assert rounds.sizes == [2, 2, 2]  # two rounds run (one a thread): the third waits, though both are in tails
        rounds.release[1].set()
        rounds.release[2].set()
        results = [await asyncio.wait_for(j.future, 10) for j in jobs]
        assert [r.embeddings[0, 0] for r in results] == [0, 1, 2, 3]

    serve(encoder, rounds, scenario)
    assert rounds.sizes == [2, 2, 2, 2]


def test_a_full_batch_starts_its_round_beside_a_busy_one(encoder):
    """Requests of a full batch (here 2 inputs) do not wait for the running round's tail: their round shares the
    threads at once; beyond ``parallelism`` rounds the next one waits."""
    rounds = Rounds(encoder.dim, tail=[False, False])

    async def scenario(batcher: RequestBatcher) -> None:
        jobs = [batcher.submit(["a b", "c d"], None, True)]
        while not rounds.sizes:
            await asyncio.sleep(0.01)
        jobs.append(batcher.submit(["e f", "x y"], None, True))  # a full batch: starts though round 0 is not in its tail
        while len(rounds.sizes) < 2:
            await asyncio.sleep(0.01)
        jobs.append(batcher.submit(["g h", "x y"], None, True))
        await asyncio.sleep(0.3)
        assert rounds.sizes == [2, 2]  # two rounds run, one a thread: the third waits
        rounds.release[1].set()
        assert (await asyncio.wait_for(jobs[1].future, 10)).embeddings[0, 0] == 1  # answered while round 0 is held
        assert not jobs[0].future.done()
        rounds.release[0].set()
        results = [await asyncio.wait_for(j.future, 10) for j in jobs]
        assert [r.embeddings[0, 0] for r in results] == [0, 1, 2]

    serve(encoder, rounds, scenario, batch_size=2)
    assert rounds.sizes == [2, 2, 2]


def test_a_round_with_nothing_to_run_leaves_the_running_round_alone(encoder):
    """A round whose every input is refused (too long, truncation off) ends at once. Rounds compared by value, it
    removed the running round from the list: that round's end then raised, its request was never answered, and a
    phantom round held the threads (a 422 or a client gone during a big request stopped the server for good)."""
    class LateTail(Rounds):  # round 0 reaches its tail only after the refused round has ended
        def __call__(self, ids, batch_size, max_tokens, on_batch, on_idle, **options):  # type: ignore[no-untyped-def]
            out = super().__call__(ids, batch_size, max_tokens, on_batch, None)
            if len(ids) and on_idle is not None:
                on_idle()
            return out

    rounds = LateTail(encoder.dim, tail=[False])
    too_long = " ".join(["word"] * (2 * encoder.manifest.max_seq_length))

    async def scenario(batcher: RequestBatcher) -> None:
        first = batcher.submit(["a b", "c d"], None, True)
        assert "c d" not in repr(first)  # the error logged for a round printed every text of its requests
        while not rounds.sizes:
            await asyncio.sleep(0.01)
        refused = batcher.submit([too_long, "x y"], None, False)  # a full batch: its round starts beside round 0
        with pytest.raises(Exception, match="TooLong|\\(0, "):
            await asyncio.wait_for(refused.future, 10)
        rounds.release[0].set()
        assert (await asyncio.wait_for(first.future, 10)).embeddings.shape == (2, encoder.dim)
        later = batcher.submit(["e f"], None, True)  # the server goes on: no phantom round left
        assert (await asyncio.wait_for(later.future, 10)).embeddings.shape == (1, encoder.dim)
        assert batcher.queued == 0 and not batcher._rounds

    serve(encoder, rounds, scenario, batch_size=2)



@pytest.mark.parametrize("stops", [1, 2, 0])
def test_a_round_a_stop_ends_logs_one_line_and_a_failure_its_traceback(encoder, caplog, stops):
    """A drain that timed out, or a forced stop, or both one after the other, end running rounds with their 503 on
    purpose: that was logged as 'inference failed' at ERROR with a full traceback. A real failure still is. The queue
    gauge stays at zero once the stop has answered every request (the round that ended counted its inputs down
    again: simcse_queue_inputs read -2)."""
    entered, go, ended = threading.Event(), threading.Event(), threading.Event()
    metrics = Metrics()
    real = encoder.encode_ids

    def held(ids, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        assert go.wait(10)
        try:
            if not stops:
                raise RuntimeError("onnxruntime ran out of memory")
            return real(ids, **kwargs)  # its first batch meets the stop
        finally:
            ended.set()

    encoder.encode_ids = held

    async def main() -> None:
        batcher = RequestBatcher(encoder, batch_size=32, max_batch_tokens=8192, max_queue=100, metrics=metrics)
        batcher.start()
        try:
            job = batcher.submit(["a b", "c d"], None, True)
            while not entered.is_set():
                await asyncio.sleep(0.01)
            if stops:  # a drain that timed out
                assert batcher.abandon(ApiError(503, "The server is shutting down: retry it.", "shutting_down")) == 1
            go.set()
            if stops == 2:  # then Ctrl+C, after the round ended on the first stop and before the loop heard of it
                assert ended.wait(10)
                batcher.abandon(ApiError(503, "The server is stopping now: retry it.", "shutting_down"))
            with pytest.raises(ApiError if stops else RuntimeError):
                await asyncio.wait_for(job.future, 10)
            while batcher._rounds:
                await asyncio.sleep(0.01)
        finally:
            go.set()
            await batcher.stop()

    with caplog.at_level(logging.INFO, logger="simcse_sdk.server.batching"):
        asyncio.run(main())
    logged = [(r.levelno, r.exc_info is not None, r.getMessage()) for r in caplog.records
              if r.name == "simcse_sdk.server.batching"]
    assert metrics.registry.get_sample_value("simcse_queue_inputs") == 0
    if stops:
        assert logged == [(logging.INFO, False, "a round of 1 pieces stopped after its batch: the server is stopping")]
    else:
        assert logged == [(logging.ERROR, True, "inference failed for a round of 1 pieces")]


def test_a_gone_clients_waiting_inputs_leave_the_queue_at_once(encoder):
    """A client that disconnects while its inputs wait (every thread busy) gives their room under --max-queue back
    then, not when a round gets to them: live clients were refused with 429 meanwhile."""
    rounds = Rounds(encoder.dim, tail=[False])

    async def scenario(batcher: RequestBatcher) -> None:
        running = batcher.submit(["a b", "c d"], None, True)
        while not rounds.sizes:
            await asyncio.sleep(0.01)
        gone = batcher.submit(["e f", "g h"], None, True)  # waits: a round runs and no full batch waits
        assert batcher.queued == 4 and not rounds.release[0].is_set()
        batcher.cancel(gone)  # what the route does when the client disconnects
        assert batcher.queued == 2
        live = batcher.submit(["i j", "k l"], None, True)  # was Overloaded: 4 + 2 > max_queue
        rounds.release[0].set()
        assert (await asyncio.wait_for(live.future, 10)).embeddings.shape == (2, encoder.dim)
        await asyncio.wait_for(running.future, 10)
        assert batcher.queued == 0

    serve(encoder, rounds, scenario, max_queue=4)
    assert rounds.sizes == [2, 2]  # the gone client's inputs never ran


def test_a_small_request_that_comes_while_big_ones_hold_every_thread_runs_beside_them(encoder):
    """A query sent 1 s into a request of 1,000 long texts waited 10.8-12.7 s for all of it (first in, first taken),
    then 1.8-2.8 s for a round to end (a piece a thread of each request a round); now a round of small requests
    starts beside rounds of big ones, as the FastAPI route's thread a request does (0.06 s). Its batches run on its
    own thread, not queued on the worker pool behind the big rounds' (32 short sentences there: 0.72 s against 0.19 s,
    2-core AMD EPYC, AVX2)."""
    rounds = Rounds(encoder.dim, tail=[False, False])

    async def scenario(batcher: RequestBatcher) -> None:
        big = batcher.submit([f"text {i}" for i in range(100)], None, True)  # 50 pieces of 2
        while len(rounds.sizes) < 2:  # two rounds at once (a full batch waits): a piece a thread each
            await asyncio.sleep(0.01)
        small = batcher.submit(["a query"], None, True)
        answer = await asyncio.wait_for(small.future, 10)  # while both of the big one's rounds still run
        assert answer.embeddings[0, 0] == 2 and not big.future.done()
        rounds.release[0].set()
        rounds.release[1].set()
        assert (await asyncio.wait_for(big.future, 10)).embeddings.shape == (100, encoder.dim)

    serve(encoder, rounds, scenario, batch_size=2, max_queue=200)
    assert rounds.sizes[:3] == [4, 4, 1]  # the big one's two pieces, again, then the query alone
    assert rounds.pooled[:3] == [True, True, False]  # the query's round is not queued behind the big ones' batches


class Held:
    """Stands in for ``Encoder.encode_ids``: pooled rounds (a big request's) wait until released; the others (small
    requests beside them) run at once. Each row holds its round's number of inputs."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.calls: list[tuple[int, bool]] = []  # (inputs, pooled) of each round
        self.release = [threading.Event()]

    def __call__(self, ids, batch_size, max_tokens, on_batch, on_idle, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append((len(ids), kwargs["pooled"]))
        if kwargs["pooled"]:
            assert self.release[0].wait(10), "the big request's round was never released"
        return np.full((len(ids), self.dim), len(ids), dtype=np.float32)


def test_a_small_request_does_not_wait_for_a_big_ones_last_round_running_alone(encoder):
    """With no more of a big request waiting, its last round runs alone, on every thread, and not in its tail: a query
    that came then waited for that round (0.37 s at the end of a request of 1,000 long texts, 2-core AMD EPYC, AVX2);
    it runs beside it now, as beside rounds that fill every thread."""
    held = Held(encoder.dim)

    async def scenario(batcher: RequestBatcher) -> None:
        big = batcher.submit(["a b", "c d", "e f"], None, True)  # 2 pieces, both in one round
        while not held.calls:
            await asyncio.sleep(0.01)
        small = batcher.submit(["a query"], None, True)
        answer = await asyncio.wait_for(small.future, 5)  # while the big one's only round is held
        assert answer.embeddings[0, 0] == 1 and not big.future.done()
        held.release[0].set()
        assert (await asyncio.wait_for(big.future, 10)).embeddings.shape == (3, encoder.dim)

    serve(encoder, held, scenario, batch_size=2)  # type: ignore[arg-type]
    assert held.calls == [(3, True), (1, False)]


def test_a_full_batch_of_small_requests_is_not_queued_behind_a_big_ones_last_round(encoder):
    """Small requests that fill a batch start a round of their own turn while a big request's last round runs; its
    batches run at once on its own thread, not queued on the worker pool behind the big round's."""
    held = Held(encoder.dim)

    async def scenario(batcher: RequestBatcher) -> None:
        big = batcher.submit(["a b", "c d", "e f"], None, True)  # 2 pieces, both in one round
        while not held.calls:
            await asyncio.sleep(0.01)
        small = batcher.submit(["a query", "another"], None, True)  # a full batch (2), one piece
        answer = await asyncio.wait_for(small.future, 5)  # while the big one's only round is held
        assert answer.embeddings[0, 0] == 2 and not big.future.done()
        held.release[0].set()
        await asyncio.wait_for(big.future, 10)

    serve(encoder, held, scenario, batch_size=2)  # type: ignore[arg-type]
    assert held.calls == [(3, True), (2, False)]


def test_a_small_request_taken_in_turn_with_a_big_ones_pieces_runs_apart_while_a_big_round_runs(encoder):
    """A query waiting while a big round runs, when the next round takes turns, would ride in that round with a big
    request's pieces to its end (a query waited 2.79 s during a request of 1,000 long texts, 2-core AMD EPYC, AVX2);
    it runs in a round of its own beside them, on its own thread; and so when no big round runs."""
    held = Held(encoder.dim)

    async def scenario(batcher: RequestBatcher) -> None:
        first = batcher.submit(["a b", "c d", "e f"], None, True)  # 2 pieces, both in one round, held
        while not held.calls:
            await asyncio.sleep(0.01)
        second = batcher.submit(["g h", "i j", "k l", "m n"], None, True)  # 2 pieces
        small = batcher.submit(["a query"], None, True)  # the next round's turns: second, small, second
        answer = await asyncio.wait_for(small.future, 5)  # while both big rounds are held
        assert answer.embeddings[0, 0] == 1 and not first.future.done() and not second.future.done()
        held.release[0].set()
        await asyncio.wait_for(asyncio.gather(first.future, second.future), 10)  # their rounds ended before
        mixed = [batcher.submit(["o p", "q r", "s t"], None, True), batcher.submit(["a query"], None, True)]
        await asyncio.wait_for(asyncio.gather(*(j.future for j in mixed)), 10)  # no big round runs

    serve(encoder, held, scenario, batch_size=2)  # type: ignore[arg-type]
    assert held.calls[0] == (3, True) and sorted(held.calls[1:3]) == [(1, False), (4, True)]
    assert sorted(held.calls[3:]) == [(1, False), (3, True)]


def test_a_big_requests_inputs_run_sorted_by_length_and_come_back_in_its_order(encoder):
    """A request of several pieces is cut into pieces of similar lengths: a round holds at most a piece a thread of
    it, and unsorted that cost a big request its rate (2,000 STS-B sentences in one request: 1,363 against 1,585
    sentences/s with a piece a round); sorted, 1,529 against 1,541 with a piece a thread."""
    seen: list[list[int]] = []

    def lengths(ids, **kwargs):  # type: ignore[no-untyped-def]
        seen.append([len(x) for x in ids])
        return np.array([[len(x)] * encoder.dim for x in ids], dtype=np.float32)

    encoder.encode_ids = lengths
    texts = [" ".join(["word"] * k) for k in (9, 1, 7, 3, 5, 2, 8, 4)]  # 4 pieces of 2

    async def main() -> np.ndarray:
        batcher = RequestBatcher(encoder, batch_size=2, max_batch_tokens=8192, max_queue=100)
        batcher.start()
        try:
            return (await asyncio.wait_for(batcher.submit(texts, None, True).future, 10)).embeddings
        finally:
            await batcher.stop()

    rows = asyncio.run(main())
    assert rows[:, 0].tolist() == [len(ids) for ids in encoder.tokenizer.encode(texts)]  # the request's own order
    # two rounds of a piece a thread (side by side: a full batch waits), each of neighbouring lengths ([CLS] ... [SEP])
    assert sorted(seen) == [[3, 4, 5, 6], [7, 9, 10, 11]]


def test_an_input_too_long_is_named_by_its_place_in_the_request_whatever_its_piece(encoder):
    long_text = " ".join(["word"] * (3 * encoder.manifest.max_seq_length))
    texts = ["b", long_text, "c c", "d d d", "e e e e"]  # the longest runs last: the 5th input a piece takes

    async def main() -> None:
        batcher = RequestBatcher(encoder, batch_size=2, max_batch_tokens=8192, max_queue=100)
        batcher.start()
        try:
            with pytest.raises(TooLong) as e:
                await asyncio.wait_for(batcher.submit(texts, None, False).future, 10)
            assert (e.value.index, e.value.tokens) == (1, 3 * encoder.manifest.max_seq_length + 2)  # [CLS] [SEP]
        finally:
            await batcher.stop()

    asyncio.run(main())


def test_a_request_in_several_pieces_is_timed_once_a_round(encoder):
    """x-inference-time-ms: a request of several pieces in one round took that round's time, not the round's time
    once a piece (a 128-input request read 4x its real time, more than its x-total-time-ms)."""
    def slow(ids, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        return np.zeros((len(ids), encoder.dim), dtype=np.float32)

    encoder.encode_ids = slow

    async def main() -> float:
        batcher = RequestBatcher(encoder, batch_size=2, max_batch_tokens=8192, max_queue=100)
        batcher.start()
        try:
            job = batcher.submit(["a", "b", "c", "d"], None, True)  # two pieces, one round (a piece a thread)
            assert job.pending == 2
            return (await asyncio.wait_for(job.future, 10)).inference_s
        finally:
            await batcher.stop()

    assert 0.2 <= asyncio.run(main()) < 0.4


@pytest.mark.parametrize("kind", ["text", "model ids"])
def test_a_huge_lone_input_runs_on_a_round_thread_while_health_answers(tiny_model_dir, kind):
    """A lone input ran on the event loop whatever its size: a 7 MB text (tokenised whole before it is cut) held
    /health and every other request for 4-6 s. A short one still runs there (one client's latency)."""
    with thread_server(tiny_model_dir) as running:
        encoder = running.state.encoder
        max_len, real = encoder.manifest.max_seq_length, encoder.encode_ids
        ran_on: list[str] = []
        entered, release = threading.Event(), threading.Event()

        def held(ids, **kwargs):  # type: ignore[no-untyped-def]
            ran_on.append(threading.current_thread().name)
            if len(ids[0]) == max_len:  # the huge input, cut to the model's length: held until /health answered
                entered.set()
                assert release.wait(30)
            return real(ids, **kwargs)

        encoder.encode_ids = held
        huge = "word " * 200_000 if kind == "text" else [101] + [2773] * 20 * max_len + [102]  # 1 MB; 2,560 ids
        with running.client() as http, ThreadPoolExecutor(1) as pool:
            assert http.post("/v1/embeddings", json={"input": "a short query"}).status_code == 200
            big = pool.submit(http.post, "/v1/embeddings", json={"input": huge})
            try:
                assert entered.wait(30)  # its round is in inference
                health = httpx.get(f"{running.url}/health", timeout=10)  # generous: it took 4-6 s on the loop
                assert health.status_code == 200 and not big.done()
            finally:
                release.set()
            assert big.result(60).status_code == 200
    assert not ran_on[0].startswith("simcse-round") and ran_on[1].startswith("simcse-round"), ran_on


def test_a_big_body_is_checked_off_the_event_loop_while_health_answers(tiny_model_dir, monkeypatch):
    """Checking and decoding the 1.4 million OpenAI token ids of an 8 MB body held the event loop, /health and every
    other request, for about 1 s. A big body is now parsed on a thread; a small one still on the loop."""
    import simcse_sdk.server.embeddings as route

    real, parsed_on = route.parse_request, []
    entered, release = threading.Event(), threading.Event()

    def held(raw, *args):  # type: ignore[no-untyped-def]
        parsed_on.append(threading.current_thread().name)
        if isinstance(raw["input"], list) and len(raw["input"]) > 1000:  # the big body: held until /health answered
            entered.set()
            assert release.wait(30)
        return real(raw, *args)

    monkeypatch.setattr(route, "parse_request", held)
    with thread_server(tiny_model_dir) as running, running.client() as http, ThreadPoolExecutor(1) as pool:
        assert http.post("/v1/embeddings", json={"input": "a short query"}).status_code == 200
        big = pool.submit(http.post, "/v1/embeddings", json={"input": [101] + [2773] * 20_000 + [102]})  # 120 kB
        try:
            assert entered.wait(30)
            health = httpx.get(f"{running.url}/health", timeout=10)
            assert health.status_code == 200 and not big.done()
        finally:
            release.set()
        assert big.result(60).status_code == 200
    assert len(parsed_on) == 2 and parsed_on[0] != parsed_on[1], parsed_on  # the short one on the loop's thread


def test_one_round_of_small_requests_at_a_time_runs_off_the_worker_pool(tiny_model_dir):
    """A round off the worker pool runs its batches at once on its own thread; a second one beside it would put more
    inference threads than cores to work. With three threads, a full batch of small requests that comes while a big
    round and such a round run takes its turn on the pool instead."""
    encoder = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=3)
    assert encoder.parallelism == 3

    class HeldApart(Held):  # rounds off the pool wait too, for release[1]
        def __call__(self, ids, batch_size, max_tokens, on_batch, on_idle, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs["pooled"]:
                return super().__call__(ids, batch_size, max_tokens, on_batch, on_idle, **kwargs)
            self.calls.append((len(ids), False))
            assert self.release[1].wait(10), "the round off the pool was never released"
            return np.full((len(ids), self.dim), len(ids), dtype=np.float32)

    held = HeldApart(encoder.dim)
    held.release.append(threading.Event())

    async def calls(n: int) -> None:
        while len(held.calls) < n:
            await asyncio.sleep(0.01)

    async def scenario(batcher: RequestBatcher) -> None:
        big = batcher.submit(["a b", "c d", "e f"], None, True)  # 2 pieces, both in one round, held
        await asyncio.wait_for(calls(1), 10)
        query = batcher.submit(["a query"], None, True)  # beside the big round, off the pool, held
        await asyncio.wait_for(calls(2), 10)
        full = batcher.submit(["g h", "i j"], None, True)  # a full batch (2): its own turn
        await asyncio.wait_for(calls(3), 10)
        held.release[1].set()
        assert (await asyncio.wait_for(query.future, 10)).embeddings[0, 0] == 1
        held.release[0].set()
        await asyncio.wait_for(asyncio.gather(big.future, full.future), 10)

    serve(encoder, held, scenario, batch_size=2)  # type: ignore[arg-type]
    assert held.calls == [(3, True), (1, False), (2, True)]  # the full batch on the pool, not a second round apart
