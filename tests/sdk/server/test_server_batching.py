"""RequestBatcher's rounds: the next round starts as soon as a thread is free, never beyond the threads there are."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from simcse_sdk import Encoder

pytest.importorskip("uvicorn", reason="the server tests need the serve extra: pip install -e '.[serve]'")

from simcse_sdk.server.batching import RequestBatcher  # noqa: E402


class Rounds:
    """Stands in for ``Encoder.encode_ids``: records each round's inputs; round k (from 0) waits for ``release[k]``,
    after saying it is in its tail (``on_idle``) when ``tail[k]``."""

    def __init__(self, dim: int, tail: list[bool]) -> None:
        self.dim, self.tail = dim, tail
        self.sizes: list[int] = []
        self.release = [threading.Event() for _ in tail]

    def __call__(self, ids, batch_size, max_tokens, on_batch, on_idle):  # type: ignore[no-untyped-def]
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
def serve(encoder: Encoder, rounds: Rounds, scenario, batch_size: int = 32) -> None:  # type: ignore[no-untyped-def]
    encoder.encode_ids = rounds  # type: ignore[method-assign]

    async def main() -> None:
        batcher = RequestBatcher(encoder, batch_size=batch_size, max_batch_tokens=8192, max_queue=100)
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
        def __call__(self, ids, batch_size, max_tokens, on_batch, on_idle):  # type: ignore[no-untyped-def]
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

