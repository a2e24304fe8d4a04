"""The Ray engine on a local 2-CPU Ray: equal to Encoder.encode, and complete after an actor dies mid-job."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from simcse_sdk import Encoder
from simcse_sdk.embed import EmbedConfig, embed_corpus
from simcse_sdk.embed import __main__ as cli
from simcse_sdk.model.manifest import Manifest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'simcse-sdk[ray]'")
pytestmark = [pytest.mark.real, pytest.mark.timeout(300)]  # a hang is the usual Ray failure


# The first test of this file: no Ray of this test run is up yet (pytest-xdist keeps a file on one worker, in
# order, and only this file starts one); `--address auto` would find one, even one shutting down.
def test_an_address_without_a_cluster_is_a_clear_error(tmp_path: Path, tiny_model_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    if ray.is_initialized():
        pytest.skip("Ray is running in this process: the address would not be dialled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("one\n", encoding="utf-8")
    out = tmp_path / "out"
    code = cli.main([str(tiny_model_dir), str(tmp_path / "corpus"), "--out", str(out), "--engine", "ray",
                     "--address", "auto", "-q"])
    err = capsys.readouterr().err
    if "error: No Ray cluster answers" not in err and code == 0:
        pytest.skip("a Ray cluster runs on this machine: --address auto found it")
    assert code == 1 and not ray.is_initialized()  # was a raw ConnectionError traceback
    assert err.startswith("error: No Ray cluster answers at --address 'auto' (ray_address='auto') (Could not find "
                          "any running Ray instance")
    assert "Start one with `ray start --head`" in err and "or leave out --address (ray_address=None)" in err
    assert not out.exists()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    started = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]  # its GCS, raylet, ...
    yield
    ray.shutdown()
    # shutdown() returns before those processes exit: a test dialling `--address auto` right after found the dying
    # cluster (LocalRayletDiedError), and the next file's tests would share the cores with it
    _, alive = psutil.wait_procs(started, timeout=30)
    for proc in alive:
        proc.kill()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, real_sentences: list[str]) -> tuple[Path, list[str]]:
    texts = real_sentences[:1200]
    path = tmp_path_factory.mktemp("ray_corpus") / "corpus.jsonl"
    path.write_text("".join(json.dumps({"id": f"s{i}", "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path, texts


def test_ray_output_equals_encode_by_id(local_ray: None, tmp_path: Path, minilm_model_dir: Path, corpus, by_id,
                                       rows_match) -> None:
    path, texts = corpus
    out = tmp_path / "out"
    summary = embed_corpus(minilm_model_dir, [path], out, EmbedConfig(engine="ray", id_column="id", shard_rows=300,
                                                                      progress=False))
    assert (summary.rows, summary.shards, summary.shards_skipped) == (1200, 4, 0)
    got = by_id(out)
    assert sorted(got) == sorted(f"s{i}" for i in range(1200))
    m = json.loads((out / "_manifest.json").read_text())
    want = Encoder(minilm_model_dir, variant=m["model"]["variant"]).encode(texts)  # the variant the job pinned
    rows_match(np.stack([got[f"s{i}"] for i in range(1200)]), want, minilm_model_dir, m["model"]["variant"])
    assert m["status"] == "complete" and m["config"]["engine"] == "ray" and "ray" in m["versions"]


def test_actor_that_dies_mid_job_is_restarted_and_every_row_appears_once(
        local_ray: None, tmp_path: Path, minilm_model_dir: Path, corpus, by_id, rows_match) -> None:
    from simcse_sdk.embed.engines.ray import ShardUDF

    path, texts = corpus
    marker = tmp_path / "crashed-once"

    class CrashOnce(ShardUDF):  # defined here, so Ray ships it by value to the actors
        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            if json.loads(str(batch["spec"][0]))["index"] == 2 and not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)  # the actor's process dies in the middle of the job, its shard unwritten
            return super().__call__(batch)

    out = tmp_path / "out"
    summary = embed_corpus(minilm_model_dir, [path], out,
                           EmbedConfig(engine="ray", id_column="id", shard_rows=150, progress=False), ray_udf=CrashOnce)
    assert marker.exists(), "the actor never crashed: the test did not test recovery"
    assert (summary.rows, summary.shards, summary.shards_skipped) == (1200, 8, 0)
    got = by_id(out)  # no duplicate ids
    assert sorted(got) == sorted(f"s{i}" for i in range(1200))
    variant = json.loads((out / "_manifest.json").read_text())["model"]["variant"]  # the one the job pinned
    want = Encoder(minilm_model_dir, variant=variant).encode(texts)
    rows_match(np.stack([got[f"s{i}"] for i in range(1200)]), want, minilm_model_dir, variant)


def test_embed_dataset_for_users_pipelines(local_ray: None, minilm_model_dir: Path, corpus, differ) -> None:
    from simcse_sdk.embed.ray_data import embed_dataset, resolve_variant

    texts = corpus[1][:300]
    ds = ray.data.from_items([{"text": t, "k": i} for i, t in enumerate(texts)])
    rows = embed_dataset(ds, minilm_model_dir, actors=2, batch_size=64).take_all()
    got = {r["k"]: np.asarray(r["embedding"], dtype=np.float32) for r in rows}
    assert sorted(got) == list(range(300))
    # variant="auto" was measured once for both actors: every row is from one variant. Which one won is timing
    # (int8 and ov-int8 run close here, and a second measurement may pick the other), so find the variant whose
    # embeddings all 300 rows equal; rows from two graphs match none (int8 against ov-int8: cosine down to 0.98).
    emb = np.stack([got[i] for i in range(300)])
    matching = [v for v in Manifest.load(minilm_model_dir).variants
                if differ(emb, Encoder(minilm_model_dir, variant=v).encode(texts), minilm_model_dir, v) is None]
    assert len(matching) >= 1, "rows from more than one variant"
    assert resolve_variant(minilm_model_dir, variant=matching[0]) == matching[0]  # a named variant is kept as is


def test_embed_dataset_leaves_a_cpu_for_reading_by_default(local_ray: None, tmp_path: Path, minilm_model_dir: Path,
                                                           corpus) -> None:
    # Actors on every CPU left Ray Data's read tasks none: read_parquet -> embed_dataset never finished (2 CPUs)
    import pyarrow as pa
    import pyarrow.parquet as pq
    from simcse_sdk.embed.ray_data import default_actors, embed_dataset

    texts = corpus[1][:200]
    pq.write_table(pa.table({"text": texts}), tmp_path / "t.parquet")
    assert default_actors(reserve_cpus=1.0) == 1
    rows = embed_dataset(ray.data.read_parquet(str(tmp_path / "t.parquet")), minilm_model_dir, batch_size=64,
                         variant="fp32").take_all()
    want = Encoder(minilm_model_dir, variant="fp32").encode(texts)
    got = {r["text"]: np.asarray(r["embedding"], dtype=np.float32) for r in rows}
    np.testing.assert_allclose(np.stack([got[t] for t in texts]), want, atol=1e-5)


def test_resources_a_local_ray_does_not_have_are_refused_not_waited_for(local_ray: None, minilm_model_dir: Path) -> None:
    from simcse_sdk.embed import EmbedConfigError
    from simcse_sdk.embed.engines.ray import resolve_variant

    gpu = EmbedConfig(engine="ray", gpus_per_actor=1.0, variant="fp32")
    with pytest.raises(EmbedConfigError, match=r"an actor asks for 1.0 GPU and the cluster has 0 \(a local Ray"):
        resolve_variant(minilm_model_dir, gpu)  # it waited in the variant probe forever


def test_more_actors_than_a_local_ray_has_cpus_are_refused_up_front(local_ray: None, tmp_path: Path,
                                                                    tiny_model_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    # docs/embedding.md's actors=4 on a 2-CPU machine logged that the job waits, then hung: a local Ray cannot grow
    from simcse_sdk.embed import EmbedConfigError, ray_data
    from simcse_sdk.embed.ray_data import embed_dataset

    ds = ray.data.from_items([{"text": "a cat"}])
    with pytest.raises(EmbedConfigError, match=r"embed_dataset: 4 actors x 1 CPUs ask for 4 and the cluster has 2, "
                       r"and this is a local Ray that this process started, which cannot grow.*Leave actors out"):
        embed_dataset(ds, tiny_model_dir, actors=4, variant="fp32")
    corpus = tmp_path / "a.txt"
    corpus.write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(EmbedConfigError, match=r"3 actors x 1 CPUs ask for 3 and the cluster has 2 \(a local Ray "
                       r"that this process started, which cannot grow\): pass fewer --actors \(actors=\)"):
        embed_corpus(tiny_model_dir, [corpus], tmp_path / "out", EmbedConfig(engine="ray", actors=3, progress=False))
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(ray_data, "started_locally", lambda: False)  # a joined cluster, which may grow: it waits
    with caplog.at_level("WARNING"):
        embed_dataset(ds, tiny_model_dir, actors=4, variant="fp32")  # lazy: nothing runs
    assert "4 actors x 1 CPUs ask for 4 and the cluster has 2; the job waits until the cluster has them" in caplog.text


def test_quiet_shows_no_progress_bar_of_ray_either(local_ray: None, tmp_path: Path, tiny_model_dir: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    from simcse_sdk.embed import __main__ as cli

    corpus = tmp_path / "a.txt"
    corpus.write_text("".join(f"sentence {i}\n" for i in range(40)), encoding="utf-8")
    capfd.readouterr()
    assert cli.main([str(tiny_model_dir), str(corpus), "--out", str(tmp_path / "out"), "--engine", "ray",
                     "--shard-rows", "10", "--variant", "fp32", "-q"]) == 0
    err = capfd.readouterr().err
    assert "%|" not in err, err  # the job's bar printed; and without it, Ray Data's own bars came on
