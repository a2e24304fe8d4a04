"""Ray Data building blocks: embed a column of a Ray Dataset with one :class:`Encoder` per actor.

Needs the ``ray`` extra (``pip install 'simcse-sdk[ray]'``). The model travels as a path: each actor
loads its own Encoder from the model directory (which every node must see), with onnxruntime threads
set to the CPUs Ray gave the actor, and CUDA when it was given a GPU.

Example:
    >>> import ray
    >>> from simcse_sdk.ray import embed_dataset
    >>> ds = ray.data.read_parquet("corpus/")                                      # doctest: +SKIP
    >>> embed_dataset(ds, "models/minilm", text_column="text").write_parquet("embeddings/")   # doctest: +SKIP

Or by hand, with the callable class and the actor-pool arguments for this Ray version:
    >>> ds.map_batches(EncoderUDF, fn_constructor_kwargs={"model_dir": "models/minilm"},
    ...                batch_size=256, batch_format="pyarrow", **actor_pool(1))   # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any

import numpy as np

from ..encoder import Encoder
from ..errors import MissingExtraError
from .errors import EmbedConfigError

logger = logging.getLogger(__name__)

__all__ = ["EncoderUDF", "actor_pool", "default_actors", "actor_cpu_share", "ray_version", "resolve_variant",
           "embed_dataset"]


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise MissingExtraError("Ray Data is not installed: pip install 'simcse-sdk[ray]' (ray[data]).") from e
    return ray


def actor_pool(actors: int, cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0) -> dict[str, Any]:
    """Keyword arguments for ``Dataset.map_batches`` that run a fixed pool of ``actors`` actors.

    Ray Data named the pool size ``compute=ActorPoolStrategy(...)`` before Ray 2.9, ``concurrency=``
    from 2.9 (``compute=`` deprecated), and ``compute=ActorPoolStrategy(size=...)`` again from 2.51
    (``concurrency=`` deprecated); this gives the spelling the installed Ray expects.
    """
    ray = _ray()
    kwargs: dict[str, Any] = {"num_cpus": cpus_per_actor}
    if gpus_per_actor:
        kwargs["num_gpus"] = gpus_per_actor
    version = ray_version()
    if version >= (2, 51) or "concurrency" not in inspect.signature(ray.data.Dataset.map_batches).parameters:
        kwargs["compute"] = ray.data.ActorPoolStrategy(min_size=actors, max_size=actors)
    else:  # Ray 2.9 - 2.50
        kwargs["concurrency"] = actors
    return kwargs


def ray_version() -> tuple[int, int]:
    """(major, minor) of the installed Ray."""
    ray = _ray()
    major, minor = (ray.__version__.split(".") + ["0"])[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def default_actors(cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0, reserve_cpus: float = 0.0) -> int:
    """Actors that fit the connected cluster: its CPUs less ``reserve_cpus``, // cpus_per_actor (and GPUs //
    gpus_per_actor); at least 1."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init()
    res = ray.cluster_resources()
    n = int((res.get("CPU", 1) - reserve_cpus) // cpus_per_actor)
    if gpus_per_actor:
        n = min(n, int(res.get("GPU", 0) // gpus_per_actor))
    return max(1, n)


def _lacks(res: dict[str, float], actors: int, cpus_per_actor: float, gpus_per_actor: float) -> str | None:
    """What a cluster of resources ``res`` lacks to run ``actors`` actors of these resources at once, or None when
    they fit. Ray itself waits without end for resources it does not have."""
    for kind, unit, per_actor in (("GPU", "GPU", gpus_per_actor), ("CPU", "CPUs", cpus_per_actor)):
        have = res.get(kind, 0.0)
        if per_actor and have < actors * per_actor:
            if actors == 1:
                return f"an actor asks for {per_actor} {unit} and the cluster has {have:g}"
            return f"{actors} actors x {per_actor:g} {unit} ask for {actors * per_actor:g} and the cluster has {have:g}"
    return None


def check_room(actors: int, cpus_per_actor: float, gpus_per_actor: float, refusal: str,
               reserve_cpus: float = 0.0) -> None:
    """Refuse actors the cluster has no room for when nothing will add it; else warn that the job waits.

    Raises :class:`~simcse_sdk.embed.EmbedConfigError` (``refusal`` with ``{lack}`` filled in: what is missing)
    when the actors do not fit a local Ray this process started (:func:`started_locally`), which cannot grow: Ray
    would wait for them forever. On a cluster joined by address, which an autoscaler may grow, and where the actors
    fit but leave fewer than ``reserve_cpus`` CPUs for Ray Data's read tasks, a warning says what is missing."""
    res = _ray().cluster_resources()
    lack = _lacks(res, actors, cpus_per_actor, gpus_per_actor)
    if lack and started_locally():
        raise EmbedConfigError(refusal.replace("{lack}", lack))
    cpus = res.get("CPU", 0.0)
    if not lack and reserve_cpus and actors * cpus_per_actor > cpus - reserve_cpus:
        lack = (f"{actors} actors x {cpus_per_actor} CPUs take all {cpus:g} CPUs of the cluster, leaving none for "
                "Ray Data's read tasks")
    if lack:
        logger.warning("%s; the job waits until the cluster has them (an autoscaling cluster may add them): pass "
                       "fewer actors or resources per actor, or add nodes", lack)


def started_locally() -> bool:
    """Whether the Ray this process is connected to was started by it (``ray.init()`` with no cluster to join, as
    ``ray.data`` does on first use): a cluster of this one machine, which nothing will add CPUs or GPUs to. False for
    a cluster joined by address (``ray start``, ``RAY_ADDRESS``, ``ray://``), which an autoscaler may grow."""
    ray = _ray()
    try:
        node = ray._private.worker._global_node  # private: the node this process started or joined
    except AttributeError:  # another Ray version: say "may grow" (a warning), never refuse a job that could run
        return False
    return bool(ray.is_initialized() and getattr(node, "head", False))


def actor_cpu_share() -> int | None:
    """Whole CPUs Ray assigned to the calling actor (at least 1), or None outside Ray."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    return max(1, int(cpus)) if cpus else None


def _actor_has_gpu() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized() and bool(ray.get_gpu_ids())


class EncoderUDF:
    """A callable class for ``Dataset.map_batches``: adds an embedding column to each batch.

    Args:
        model_dir: the exported model directory, a path every node can read.
        text_column: the column holding the texts (strings).
        output_column: the column to add: ``fixed_size_list<float32>[dim]`` for pyarrow batches,
            a (rows, dim) float32 array for numpy batches, one array per row for pandas.
        variant: as for :class:`~simcse_sdk.Encoder`. With ``variant="auto"`` each actor measures on its own,
            and actors measuring at once on a busy node can choose differently: pass the variant
            :func:`resolve_variant` gives (``embed_dataset`` does), so that every row comes from the same graph.
        normalize: as for ``Encoder.encode``.
        batch_size: as for ``Encoder.encode``.
        max_tokens: as for ``Encoder.encode``.
        device: ``cpu`` or ``cuda``; default ``cuda`` when Ray gave this actor a GPU, else ``cpu``.
        threads: onnxruntime threads; default the CPUs Ray gave this actor.

    Example:
        >>> ds.map_batches(EncoderUDF, fn_constructor_kwargs={"model_dir": "models/minilm"},
        ...                batch_format="pyarrow", batch_size=256, **actor_pool(2))   # doctest: +SKIP
    """

    def __init__(self, model_dir: str | os.PathLike[str], text_column: str = "text", output_column: str = "embedding",
                 variant: str = "auto", normalize: bool = False, batch_size: int = 64, max_tokens: int = 8192,
                 device: str | None = None, threads: int | None = None) -> None:
        self.text_column, self.output_column, self.normalize = text_column, output_column, normalize
        self.encoder = Encoder(model_dir, device=device or ("cuda" if _actor_has_gpu() else "cpu"), variant=variant,
                               threads=threads or actor_cpu_share(), batch_size=batch_size, max_tokens=max_tokens)

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32 embeddings."""
        return self.encoder.encode(texts, normalize=self.normalize)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        if isinstance(batch, pa.Table):
            from .io.shards import embedding_array

            emb = self.embed(batch.column(self.text_column).to_pylist())  # (rows, dim)
            return batch.append_column(self.output_column, embedding_array(emb))
        if isinstance(batch, dict):  # batch_format="numpy"
            out = dict(batch)
            out[self.output_column] = self.embed([str(t) if isinstance(t, np.str_) else t for t in batch[self.text_column]])
            return out
        out = batch.copy()  # pandas
        out[self.output_column] = list(self.embed(batch[self.text_column].tolist()))
        return out


def resolve_variant(model_dir: str | os.PathLike[str], cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0,
                    **udf_kwargs: Any) -> str:
    """The variant an :class:`EncoderUDF` actor with these resources and arguments runs: ``variant="auto"``
    measured once, in one Ray task with an actor's resources (and cached, see :mod:`simcse_sdk.autotune`);
    a named variant as it is.

    Example:
        >>> resolve_variant("models/minilm", cpus_per_actor=2)   # doctest: +SKIP
        'int8'
    """
    if udf_kwargs.get("variant", "auto") != "auto":
        return str(udf_kwargs["variant"])
    ray = _ray()

    def probe(path: str, kwargs: dict[str, Any]) -> str:
        return EncoderUDF(path, **kwargs).encoder.variant

    task = ray.remote(num_cpus=cpus_per_actor, num_gpus=gpus_per_actor)(probe)
    return str(ray.get(task.remote(str(model_dir), udf_kwargs)))


def embed_dataset(ds: Any, model_dir: str | os.PathLike[str], text_column: str = "text",
                  output_column: str = "embedding", actors: int | None = None, cpus_per_actor: float = 1.0,
                  gpus_per_actor: float = 0.0, batch_size: int = 512, **udf_kwargs: Any) -> Any:
    """``ds`` with ``output_column`` added by a pool of :class:`EncoderUDF` actors (a lazy Dataset).

    ``actors``: how many encoder actors (each loads one Encoder, with ``cpus_per_actor`` CPUs as its threads)
    embed at once; default what fits the cluster, less one CPU for Ray Data's read tasks. More actors than a local
    Ray started by this process has CPUs (or GPUs) for are refused with :class:`~simcse_sdk.embed.EmbedConfigError`
    (Ray would wait for them forever); on a cluster joined by address, which may grow, a warning says the job waits.
    ``batch_size`` rows go to one ``encode`` call.
    ``variant="auto"`` (the default) is resolved once, before the actors start (:func:`resolve_variant`),
    so that all of them run the same variant.
    """
    ray = _ray()
    if not ray.is_initialized():
        ray.init()  # as Ray Data does on first use: a cluster this process starts unless one is found to join
    n = actors or default_actors(cpus_per_actor, gpus_per_actor, reserve_cpus=1.0)  # one CPU reads the data
    check_room(n, cpus_per_actor, gpus_per_actor, reserve_cpus=1.0, refusal=(
        "embed_dataset: {lack}, and this is a local Ray that this process started, which cannot grow: Ray would wait "
        "for them forever. Leave actors out (it defaults to what the cluster fits), pass fewer actors or resources "
        "per actor, or ray.init(address=...) a cluster that has them before embed_dataset."))
    udf_kwargs["variant"] = resolve_variant(model_dir, cpus_per_actor, gpus_per_actor, **udf_kwargs)
    logger.info("embed_dataset: every actor runs variant %r of %s", udf_kwargs["variant"], model_dir)
    return ds.map_batches(
        EncoderUDF, batch_size=batch_size, batch_format="pyarrow",
        fn_constructor_kwargs={"model_dir": str(model_dir), "text_column": text_column,
                               "output_column": output_column, **udf_kwargs},
        **actor_pool(n, cpus_per_actor, gpus_per_actor),
    )
