import numpy as np
import pytest
from simcse_sdk.inputs.batching import plan_batches


def _ids(lengths):
    return [np.arange(1, n + 1) for n in lengths]


def test_every_input_once_and_padding_only_to_batch_longest():
    lengths = [5, 40, 3, 3, 17, 9, 2, 33, 12]
    batches = list(plan_batches(_ids(lengths), batch_size=3, max_tokens=10_000, pad_id=0))
    seen = np.concatenate([b.indices for b in batches])
    assert sorted(seen.tolist()) == list(range(len(lengths)))
    for b in batches:
        assert b.input_ids.shape[1] == max(lengths[i] for i in b.indices)
        for row, i in enumerate(b.indices):
            assert b.attention_mask[row].sum() == lengths[i]
            assert (b.input_ids[row, : lengths[i]] == np.arange(1, lengths[i] + 1)).all()
            assert (b.input_ids[row, lengths[i] :] == 0).all()


def test_token_budget_isolates_a_long_text():
    lengths = [4] * 10 + [200]
    batches = list(plan_batches(_ids(lengths), batch_size=64, max_tokens=256, pad_id=0))
    assert all(b.padded_tokens <= 256 for b in batches)
    long_batch = [b for b in batches if 10 in b.indices][0]
    assert long_batch.indices.tolist() == [10]
    assert sum(b.padded_tokens for b in batches) == 4 * 10 + 200


def test_one_text_longer_than_budget_still_gets_a_batch():
    batches = list(plan_batches(_ids([300, 2]), batch_size=8, max_tokens=100, pad_id=0))
    assert sorted(np.concatenate([b.indices for b in batches]).tolist()) == [0, 1]


@pytest.mark.parametrize("kw", [{"batch_size": 0, "max_tokens": 10}, {"batch_size": 2, "max_tokens": 0}])
def test_bad_caps(kw):
    with pytest.raises(ValueError, match="must be >= 1"):
        list(plan_batches(_ids([3]), pad_id=0, **kw))


def test_max_padding_cuts_a_few_scattered_lengths_into_tight_batches():
    # A server's round: a few sentences of scattered lengths. Without the rule they make one batch padded to 40.
    lengths = [8, 9, 10, 11, 12, 13, 14, 15, 30, 34, 38, 40]
    plain = list(plan_batches(_ids(lengths), batch_size=32, max_tokens=512, pad_id=0))
    tight = list(plan_batches(_ids(lengths), batch_size=32, max_tokens=512, pad_id=0, max_padding=0.1))
    assert [len(b.indices) for b in plain] == [12]
    assert sorted(np.concatenate([b.indices for b in tight]).tolist()) == list(range(len(lengths)))
    real = sum(lengths)
    assert sum(b.padded_tokens for b in tight) < 0.8 * sum(b.padded_tokens for b in plain)
    assert sum(b.padded_tokens for b in tight) <= 1.15 * real
    for b in tight:  # each batch: little padding, or still below the size where it may grow regardless
        used = sum(lengths[i] for i in b.indices)
        assert b.padded_tokens - used <= 0.1 * b.padded_tokens or b.padded_tokens - b.input_ids.shape[1] <= 64


def test_max_padding_leaves_many_equal_lengths_as_they_were():
    lengths = [12] * 100 + [13] * 100
    plain = [b.indices.tolist() for b in plan_batches(_ids(lengths), 32, 512, 0)]
    tight = [b.indices.tolist() for b in plan_batches(_ids(lengths), 32, 512, 0, max_padding=0.1)]
    assert plain == tight
