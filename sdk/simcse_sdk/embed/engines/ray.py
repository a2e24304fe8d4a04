"""The Ray engine: the job's shards as a Ray Data pipeline over an actor pool of encoders.

The plan's pending shards become a Dataset of shard descriptors (one block each); ``map_batches``
sends each to an actor of :class:`ShardUDF`, an :class:`~simcse_sdk.ray.EncoderUDF` that reads
its shard from the shared file system, embeds it and writes ``part-<index>.parquet`` atomically.
Only the descriptors and a one-row result per shard travel through Ray; inputs, the model
directory and the output folder must be visible to every node (local disk for a local Ray).
Ray Data restarts an actor that dies and retries its shard; the retry rewrites the same file
name, so the output holds every row once. The shards are written by the job rather than by
``Dataset.write_parquet`` so that their names follow the plan (resume) and appear only when complete.

Example:
    >>> from simcse_sdk.embed import EmbedConfig, embed_corpus
    >>> embed_corpus("models/minilm", ["corpus/"], "embeddings/", EmbedConfig(engine="ray"))   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import EmbedConfig
from ..errors import EmbedConfigError, flag
from ..plan import ShardSpec
from ..ray_data import EncoderUDF, _ray, actor_pool, check_room, default_actors
from .worker import embed_shard

logger = logging.getLogger(__name__)


class ShardUDF(EncoderUDF):
    """An encoder actor that embeds whole shards: a batch of shard descriptors in, their results out."""

    def __init__(self, model_dir: str, config: dict[str, Any], out_dir: str, model: dict[str, Any]) -> None:
        self.config = EmbedConfig(**config)
        self.out_dir, self.model = out_dir, model
        super().__init__(model_dir, variant=model["variant"], normalize=self.config.normalize,
                         batch_size=self.config.batch_size, max_tokens=self.config.max_tokens)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [embed_shard(self.encoder, ShardSpec.from_json(str(s)), self.config, self.out_dir, self.model)
                   for s in batch["spec"]]
        return {k: np.array([r[k] for r in results]) for k in ("index", "rows", "bad", "seconds")}


def connect(config: EmbedConfig) -> bool:
    """Join ``config.ray_address`` or start a local Ray, unless Ray is already up; True when started here.

    An address where no cluster answers is an :class:`EmbedConfigError` naming it and the fix."""
    ray = _ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=config.ray_address, log_to_driver=True)
    except ConnectionError as e:
        if config.ray_address is None:  # ray.init() took the address from the environment
            where, fix = f"RAY_ADDRESS={os.environ.get('RAY_ADDRESS')!r} (set in the environment)", "unset RAY_ADDRESS"
        else:
            where = f"--address {config.ray_address!r} (ray_address={config.ray_address!r})"
            fix = "leave out --address (ray_address=None)"
        raise EmbedConfigError(
            f"No Ray cluster answers at {where} ({str(e).rstrip('.')}). Start one with `ray start --head` (then "
            f"--address auto joins it from that machine), or {fix} to run a local Ray on this machine."
        ) from None
    return True


def resolve_variant(model_dir: str | os.PathLike[str], config: EmbedConfig) -> str:
    """The variant an actor with this job's resources picks for ``config.variant`` (one probe task).

    The actors asked for (``config.actors``, else one) are refused when the cluster lacks their CPUs or GPUs and it
    is a local Ray this process started (:func:`~simcse_sdk.embed.ray_data.started_locally`): nothing will add them,
    and Ray would wait for them forever. On a cluster that was joined, an autoscaler may add them: a warning."""
    ray = _ray()

    def probe(path: str, variant: str, device: str) -> str:
        from simcse_sdk import Encoder

        return Encoder(path, device=device, variant=variant, threads=1, parallel_batches=False).variant

    check_room(config.actors or 1, config.cpus_per_actor, config.gpus_per_actor, refusal=(
        "{lack} (a local Ray that this process started, which cannot grow): pass fewer "
        f"{flag('--actors')} or leave it out (the default is what fits), fewer {flag('--cpus-per-actor')}, "
        f"{flag('--gpus-per-actor 0')}, or {flag('--address')} of a cluster that has them."))
    device = "cuda" if config.gpus_per_actor else "cpu"
    task = ray.remote(num_cpus=config.cpus_per_actor, num_gpus=config.gpus_per_actor)(probe)
    return str(ray.get(task.remote(str(model_dir), config.variant, device)))


def run_ray(model_dir: str | os.PathLike[str], pending: list[ShardSpec], config: EmbedConfig,
            out_dir: str | os.PathLike[str], model: dict[str, Any], on_done: Callable[[dict[str, Any]], None],
            udf: type[ShardUDF] = ShardUDF) -> None:
    """Run ``pending`` through Ray Data; ``on_done`` gets each shard's result in the driver.

    ``udf`` is the actor class (a subclass of :class:`ShardUDF` can wrap the work, e.g. to time it).
    """
    if not pending:
        return
    ray = _ray()
    actors = min(len(pending), config.actors or default_actors(config.cpus_per_actor, config.gpus_per_actor))
    ctx = ray.data.DataContext.get_current()
    bars = ctx.enable_progress_bars
    ctx.enable_progress_bars = False  # the job's own bar counts rows (Ray's would count shards); -q: no bar at all
    try:
        ds = ray.data.from_items([{"spec": s.to_json()} for s in pending], override_num_blocks=len(pending))
        ds = ds.map_batches(
            udf, batch_size=1, batch_format="numpy",
            fn_constructor_kwargs={"model_dir": str(model_dir), "config": config.to_dict(),
                                   "out_dir": str(out_dir), "model": json.loads(json.dumps(model))},
            **actor_pool(actors, config.cpus_per_actor, config.gpus_per_actor),
        )
        logger.info("Ray Data: %d shards on %d actors (%s CPU, %s GPU each)", len(pending), actors,
                    config.cpus_per_actor, config.gpus_per_actor)
        for row in ds.iter_rows():
            on_done({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    finally:
        ctx.enable_progress_bars = bars
