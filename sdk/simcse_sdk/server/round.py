"""A round's work: the texts of its pieces tokenised in one call, every input embedded together, the rows split back
per piece. It runs on a round thread (a lone input's round: on the event loop's), for :mod:`.batching`.

Example:
    >>> outcomes = compute(encoder, Truncation(encoder), pieces, batch_size=32, max_tokens=8192)  # doctest: +SKIP
    >>> rows, tokens, truncated = outcomes[0]                                                  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..encoder import Encoder
from ..inputs.batching import Batch
from .job import Outcome, Piece, TooLong
from .metrics import Metrics
from .truncation import Truncation


def compute(encoder: Encoder, cut: Truncation, pieces: list[Piece], batch_size: int, max_tokens: int,
            metrics: Metrics | None = None, on_batch: Callable[[Batch], None] | None = None,
            on_idle: Callable[[], None] | None = None, share_cpu: bool = True, pooled: bool = True) -> list[Outcome]:
    """Each piece's (rows (n, dim), tokens, inputs truncated), or its :class:`.job.TooLong` when an input is over the
    model's length and its request asked for no truncation. ``on_batch`` sees each batch once it has run;
    ``on_idle`` is called once a thread is free before the round ends (the batcher starts its next round then);
    ``share_cpu=False`` only for a lone input's round on the event loop (nothing else to do meanwhile);
    ``pooled=False`` for a round of small requests beside a big one's, whose batches fill the worker pool."""
    texts = [t for p in pieces if p.job.texts is not None for t in p.inputs(p.job.texts)]
    cpu = time.thread_time()
    tok_ids, tok_cut = encoder.tokenizer.encode_with_truncation(texts) if texts else ([], [])
    if metrics is not None:
        metrics.tokenize_cpu.inc(time.thread_time() - cpu)
    ids: list[np.ndarray] = []
    spans: list[tuple[int, int, int, int] | BaseException] = []  # (start, end, tokens, truncated)
    pos = 0
    for p in pieces:
        n = p.size
        if p.job.texts is not None:
            piece_ids, was_cut = tok_ids[pos : pos + n], tok_cut[pos : pos + n]
            pos += n
        else:
            raw = p.inputs(p.job.token_ids or [])
            piece_ids, was_cut = [cut.ids(t) for t in raw], [len(t) > cut.max_len for t in raw]
        first_cut = next((i for i, c in enumerate(was_cut) if c), None)
        if first_cut is not None and not p.job.truncate:
            i = p.index(first_cut)
            tokens = cut.tokens(p.job.texts[i]) if p.job.texts is not None else len((p.job.token_ids or [])[i])
            spans.append(TooLong(i, cut.max_len, tokens))
            continue
        spans.append((len(ids), len(ids) + n, sum(len(t) for t in piece_ids), sum(was_cut)))
        ids.extend(piece_ids)
    # the ids are checked already: a client's by the route (api/token_ids.py), the others are the tokenizer's own
    emb = encoder.encode_ids(ids, batch_size=batch_size, max_tokens=max_tokens, on_batch=on_batch, on_idle=on_idle,
                             check_ids=False, share_cpu=share_cpu, pooled=pooled)
    return [s if isinstance(s, BaseException) else (emb[s[0] : s[1]], s[2], s[3]) for s in spans]
