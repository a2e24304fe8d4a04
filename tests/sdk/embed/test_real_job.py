"""The local engine on real sentences and the real model: equal to Encoder.encode; killed, then resumed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from simcse_sdk import Encoder
from simcse_sdk.embed import EmbedConfig, embed_corpus

pytestmark = [pytest.mark.real, pytest.mark.timeout(600)]


def test_real_sentences_equal_encode_by_id(tmp_path: Path, minilm_model_dir: Path, real_sentences: list[str], by_id,
                                           rows_match) -> None:
    txt, jsonl = tmp_path / "sts.txt", tmp_path / "wiki.jsonl"
    txt.write_text("\n".join(real_sentences[:1500]) + "\n", encoding="utf-8")
    jsonl.write_text("".join(json.dumps({"doc": f"w{i}", "text": t}) + "\n" for i, t in enumerate(real_sentences[1500:])),
                     encoding="utf-8")
    out = tmp_path / "out"
    summary = embed_corpus(minilm_model_dir, [txt, jsonl], out, EmbedConfig(id_column="doc", shard_rows=700))
    assert (summary.rows, summary.bad_rows, summary.shards) == (3000, 0, 6)  # 3 shards per file (700+700+100)
    got = by_id(out)
    want_ids = [f"{txt}:{i + 1}" for i in range(1500)] + [f"w{i}" for i in range(1500)]
    assert sorted(got) == sorted(want_ids)
    enc = Encoder(minilm_model_dir)
    want = enc.encode(real_sentences)  # (3000, 384)
    emb = np.stack([got[k] for k in want_ids])
    assert emb.dtype == np.float32 and emb.shape == (3000, enc.dim) == (3000, 384)
    rows_match(emb, want, minilm_model_dir, enc.variant)
    assert json.loads((out / "_manifest.json").read_text())["model"]["variant"] == enc.variant


def test_killed_job_resumes_without_redoing_shards_or_duplicating_rows(
        tmp_path: Path, minilm_model_dir: Path, real_sentences: list[str], by_id, rows_match) -> None:
    path, out = tmp_path / "corpus.txt", tmp_path / "out"
    path.write_text("\n".join(real_sentences) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "simcse_sdk.embed", str(minilm_model_dir), str(path), "--out", str(out),
           "--shard-rows", "100", "--no-progress", "-q"]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 300
    while len(list(out.glob("part-*.parquet"))) < 3:
        assert proc.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, "no shard written in time"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    done = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    assert 3 <= len(done) < 30
    assert pq.read_table(out).num_rows == 100 * len(done)  # only complete shards are visible after the kill
    assert json.loads((out / "_manifest.json").read_text())["status"] == "running"

    rerun = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300, check=True)
    summary = json.loads(rerun.stdout)
    assert (summary["shards_skipped"], summary["rows"], summary["rows_embedded"]) == (len(done), 3000, 3000 - 100 * len(done))
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    assert {k: after[k] for k in done} == done, "the rerun rewrote a complete shard"
    assert len(after) == 30 and not list(out.glob(".*.tmp"))
    got = by_id(out)  # checks no duplicate ids
    assert sorted(got) == sorted(f"{path}:{i + 1}" for i in range(3000))
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["status"] == "complete"
    # Both processes ran the variant the first one pinned in the manifest; compare with that graph (a fresh
    # variant="auto" here may measure another winner on this CPU, and int8 and ov-int8 differ by ~1e-3).
    variant = manifest["model"]["variant"]
    want = Encoder(minilm_model_dir, variant=variant).encode(real_sentences)
    rows_match(np.stack([got[f"{path}:{i + 1}"] for i in range(3000)]), want, minilm_model_dir, variant)
