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
    from simcse_sdk.spark import embedding_udf

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
