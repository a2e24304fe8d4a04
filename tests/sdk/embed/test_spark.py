"""The Spark recipe, run on a local Spark when pyspark and Java are installed (skipped otherwise)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from simcse_sdk import Encoder


@pytest.mark.real
@pytest.mark.timeout(300)
def test_predict_batch_udf_matches_encode(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark) - Spark recipe not tested")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime on PATH - Spark recipe not tested")
    from pyspark.sql import SparkSession
    from simcse_sdk.embed.spark import embedding_udf

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # workers need this interpreter's simcse_sdk
    texts = [f"sentence {i} about {['cats', 'rain', 'trains'][i % 3]}" for i in range(40)]
    spark = (SparkSession.builder.master("local[1]").appName("simcse-test")
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], ["id", "text"]).repartition(2)
        rows = df.withColumn("embedding", embedding_udf(tiny_model_dir, batch_size=16, variant="fp32")("text")).collect()
    finally:
        spark.stop()
    got = {r["id"]: np.asarray(r["embedding"], dtype=np.float32) for r in rows}
    want = Encoder(tiny_model_dir, variant="fp32").encode(texts)
    assert sorted(got) == list(range(40))
    np.testing.assert_allclose(np.stack([got[i] for i in range(40)]), want, atol=1e-5)


def test_auto_is_measured_once_on_the_driver_so_every_worker_runs_one_variant(tiny_model_dir: Path, tmp_path,
                                                                                caplog) -> None:
    from simcse_sdk.embed.spark import make_predict_fn  # no pyspark needed to build the function

    fn = make_predict_fn(tiny_model_dir)
    variant = fn.args[2]
    assert variant in Encoder(tiny_model_dir).manifest.variants and variant != "auto"
    predict = fn()  # what a worker runs
    np.testing.assert_allclose(predict(np.array(["a", "b c"], dtype=object)),
                               Encoder(tiny_model_dir, variant=variant).encode(["a", "b c"]), atol=1e-6)
    unseen = make_predict_fn(tmp_path / "only-on-the-executors")
    assert unseen.args[2] == "auto" and "pass variant= to pin one" in caplog.text


def test_embedding_udf_without_pyspark_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simcse_sdk.errors import MissingExtraError
    from simcse_sdk.spark import embedding_udf

    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        monkeypatch.delitem(sys.modules, name)  # imported by a test before: its submodules would still import
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now fails, as where it is not installed
    with pytest.raises(MissingExtraError, match=r"embedding_udf needs pyspark >= 3.4 with pandas and pyarrow, and "
                       r"pyspark is not installed: pip install 'simcse-sdk\[spark\]'"):
        embedding_udf(tmp_path / "no-model-needed")  # was a bare ModuleNotFoundError
