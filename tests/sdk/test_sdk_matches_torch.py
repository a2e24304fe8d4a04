"""On the real all-MiniLM-L6-v2: the SDK reproduces the torch model on STS-B dev sentences.

Every third of them by length, and the longest: the export gate compares every one with the exporter's own torch
module; this test compares with Hugging Face's model and a mean pooling written here, independently."""

import numpy as np
import pytest
from simcse_sdk import Encoder
from simcse_sdk.evaluation.data.senteval import load_stsb

pytestmark = pytest.mark.real


def test_sdk_fp32_matches_torch_mean_pooling_on_stsb_dev(minilm_model_dir, minilm_dir, data_dir):
    import torch
    from transformers import AutoModel, AutoTokenizer

    dev = load_stsb(data_dir, "dev")
    by_length = sorted(set(dev.first) | set(dev.second), key=lambda s: (len(s), s))  # torch's batches pad little
    sentences = by_length[::3] + by_length[-1:]
    enc = Encoder(minilm_model_dir, device="cpu", variant="fp32")
    assert enc.manifest.pooling == "avg" and enc.manifest.normalized
    ours = enc.encode(sentences, batch_size=64)

    tok = AutoTokenizer.from_pretrained(minilm_dir)
    model = AutoModel.from_pretrained(minilm_dir).eval()
    ref = []
    with torch.no_grad():
        for i in range(0, len(sentences), 64):
            batch = tok(sentences[i : i + 64], padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**batch).last_hidden_state  # (batch, seq, hidden)
            mask = batch["attention_mask"].unsqueeze(-1).float()
            ref.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    ref = np.concatenate(ref)
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert len(sentences) > 900
    assert cos.min() >= 0.99999, f"min cosine {cos.min():.7f}"


@pytest.mark.parametrize("variant", ["fp16", "int8"])
def test_a_normalized_models_rows_are_unit_length_in_every_variant(minilm_model_dir, data_dir, variant):
    # the manifest says normalized: the rows are unit length as float32 holds it, whatever the graph's precision
    # (fp16's own rows were 0.9996-1.0004 long: a self dot product of 1.0008 for users' own inner products)
    test = load_stsb(data_dir, "test")
    emb = Encoder(minilm_model_dir, device="cpu", variant=variant).encode(list(test.first[:200]))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
