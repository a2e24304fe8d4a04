"""simcse_sdk.ray without a Ray cluster: the UDF on each batch format, the actor-pool arguments, the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from simcse_sdk import Encoder
from simcse_sdk.embed.errors import ExtraMissingError

TEXTS = ["a man plays a guitar", "someone plays music", "the weather is cold", ""]


@pytest.fixture(scope="module")
def udf(tiny_model_dir: Path):
    from simcse_sdk.embed.ray_data import EncoderUDF

    return EncoderUDF(tiny_model_dir, variant="fp32", output_column="vec")


def test_pyarrow_batches_get_a_fixed_size_list_column(udf, tiny_model_dir: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    out = udf(pa.table({"text": TEXTS, "n": [1, 2, 3, 4]}))
    assert out.column_names == ["text", "n", "vec"]
    kind = out.schema.field("vec").type
    assert pa.types.is_fixed_size_list(kind) and kind.value_type == pa.float32()
    want = Encoder(tiny_model_dir, variant="fp32").encode(TEXTS)
    got = out.column("vec").combine_chunks().flatten().to_numpy().reshape(len(TEXTS), kind.list_size)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_numpy_and_pandas_batches(udf, tiny_model_dir: Path) -> None:
    want = Encoder(tiny_model_dir, variant="fp32").encode(TEXTS)
    out = udf({"text": np.array(TEXTS), "n": np.arange(4)})
    assert out["vec"].shape == want.shape and out["vec"].dtype == np.float32
    np.testing.assert_allclose(out["vec"], want, atol=1e-5)
    pd = pytest.importorskip("pandas")
    df = udf(pd.DataFrame({"text": TEXTS}))
    np.testing.assert_allclose(np.stack(df["vec"].to_list()), want, atol=1e-5)


def test_actor_pool_arguments_follow_the_ray_version(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    from simcse_sdk.embed import ray_data as sdk_ray

    monkeypatch.setattr(ray, "__version__", "2.40.0")
    assert sdk_ray.actor_pool(3, 2, 0) == {"num_cpus": 2, "concurrency": 3}  # 2.9 - 2.50: concurrency=
    monkeypatch.setattr(ray, "__version__", "2.60.0")
    args = sdk_ray.actor_pool(3, 1, 0.5)  # >= 2.51: compute=ActorPoolStrategy
    assert args["num_gpus"] == 0.5 and isinstance(args["compute"], ray.data.ActorPoolStrategy)
    assert (args["compute"].min_size, args["compute"].max_size) == (3, 3)


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from simcse_sdk.embed import ray_data as sdk_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ExtraMissingError, match=r"pip install 'simcse-sdk\[ray\]'"):
        sdk_ray.actor_pool(2)
