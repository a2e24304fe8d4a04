"""The embedding job: inputs -> plan -> engine -> verified shards, manifest and summary.

Example:
    >>> from simcse_sdk.embed import EmbedConfig, embed_corpus
    >>> summary = embed_corpus("models/minilm", ["corpus/*.jsonl"], "embeddings/",
    ...                        EmbedConfig(text_column="text", id_column="id"))   # doctest: +SKIP
    >>> summary.rows, summary.bad_rows                                             # doctest: +SKIP
    (1000000, 3)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ..encoder import Encoder
from .config import EmbedConfig
from .errors import EmbedConfigError, OutputDirError, OutputPathError, ShardError, flag
from .io import manifest
from .io.inputs import resolve_inputs
from .io.shards import (
    complete_shards,
    duplicate_ids,
    other_files,
    readable_shards,
    remove_temporaries,
    shard_info,
)
from .plan import ShardSpec, plan_shards
from .summary import Progress, Summary

logger = logging.getLogger(__name__)

MAX_ID_CHECK = 20_000_000  # ids counted for repeats at the end of a job (about 1 GB of strings at most)


def embed_corpus(model_dir: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]],
                 out_dir: str | os.PathLike[str], config: EmbedConfig | None = None,
                 ray_udf: type[Any] | None = None) -> Summary:
    """Embed every row of ``inputs`` into Parquet shards in ``out_dir``; resumes an earlier run of the same job.

    ``ray_udf``: with ``engine="ray"``, the actor class (default
    :class:`~simcse_sdk.embed.engines.ray.ShardUDF`; a subclass can wrap each shard's work).
    Raises the :mod:`simcse_sdk.embed.errors` classes for bad inputs, settings or output folders,
    before any work where it can.
    """
    config = (config or EmbedConfig()).validated()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]  # one path, glob or folder
    if not isinstance(out_dir, (str, os.PathLike)):
        raise EmbedConfigError(f"out_dir must be a folder path (str or os.PathLike), got {type(out_dir).__name__}: "
                               "pass the folder the Parquet shards go to, e.g. 'embeddings/'.")
    files = resolve_inputs(inputs, config.format, exclude=out_dir)  # not the job's own shards, on a rerun
    shards = plan_shards(files, config)
    out = Path(out_dir)
    created = _make_folder(out)
    try:
        return _embed(model_dir, files, shards, out, config, ray_udf)
    except BaseException:
        if created and not any(out.iterdir()):  # refused before anything was written: leave no empty folder
            out.rmdir()
        raise


def _embed(model_dir: str | os.PathLike[str], files: list[Any], shards: list[ShardSpec], out: Path,
           config: EmbedConfig, ray_udf: type[Any] | None) -> Summary:
    with _locked(out):
        saved = None if config.overwrite else manifest.load(out)  # --overwrite: the earlier job is not resumed
        if not config.overwrite and saved is None and complete_shards(out):
            raise OutputDirError(f"{str(out)!r} holds part-*.parquet files but no {manifest.NAME}: they are not this "
                                 f"job's. Use another {flag('--out')}, or {flag('--overwrite')} to delete them.")
        foreign = other_files(out)
        if foreign:
            raise OutputDirError(f"{str(out)!r} holds {foreign[0]!r}, which is not this job's: a Parquet reader of "
                                 f"the folder (pyarrow.parquet.read_table) would read it too. Use an empty or new "
                                 f"{flag('--out')}.")
        variant = saved["model"]["variant"] if saved and config.variant == "auto" else config.variant  # pinned
        started_ray = False
        encoder = None
        try:
            if config.engine == "ray":
                from .engines import ray as ray_engine

                started_ray = ray_engine.connect(config)
                variant = ray_engine.resolve_variant(model_dir, config.with_(variant=variant))
            else:
                encoder = Encoder(model_dir, device=config.device, variant=variant, threads=config.threads,
                                  batch_size=config.batch_size, max_tokens=config.max_tokens)
                variant = encoder.variant
            model = manifest.model_description(model_dir, variant, config)
            ident = manifest.identity(model, files, config)
            if saved is not None:
                manifest.check_resumable(saved, ident, out)
            if config.overwrite:  # every check passed: only now is the earlier job deleted
                _clear(out)
            return _run(model_dir, out, config, shards, model, ident, files, encoder, ray_udf)
        finally:
            if started_ray:
                import ray

                ray.shutdown()


def _run(model_dir: str | os.PathLike[str], out: Path, config: EmbedConfig, shards: list[ShardSpec],
         model: dict[str, Any], ident: dict[str, Any], files: list[Any], encoder: Encoder | None,
         ray_udf: type[Any] | None) -> Summary:
    remove_temporaries(out)
    written = complete_shards(out)
    stray = sorted(set(written) - set(range(len(shards))))
    if stray:
        raise ShardError(f"{str(out)!r} holds shard {stray[0]}, beyond this job's {len(shards)} shards: "
                         f"the folder was changed by hand; pass {flag('--overwrite')} to start over.")
    done, damaged = readable_shards(written)
    for path, why in damaged:  # never hidden: named, then replaced by a new file when its shard is rebuilt
        logger.warning("%s is not a readable Parquet shard (%s): this run rebuilds it", path, why)
    pending = [s for s in shards if s.index not in done]
    planned = sum(s.rows for s in shards)
    inputs = [dict(f.to_dict(), rows=sum(s.rows for s in shards if s.path == f.path)) for f in files]
    record = {"status": "running", "model": model, "identity": ident, "config": config.to_dict(), "inputs": inputs,
              "shards": len(shards), "planned_rows": planned, "versions": _versions(config.engine)}
    manifest.save(out, record)
    logger.info("%d shards planned, %d already complete, %d to embed", len(shards), len(done), len(pending))
    progress = Progress(planned, sum(shards[i].rows for i in done), config.progress)
    embedded = 0

    def on_done(result: dict[str, Any]) -> None:
        nonlocal embedded
        embedded += int(result["rows"])
        progress.update(shards[int(result["index"])].rows)

    start = time.perf_counter()
    try:
        if config.engine == "ray":
            from .engines.ray import ShardUDF, run_ray

            run_ray(model_dir, pending, config, out, model, on_done, udf=ray_udf or ShardUDF)
        else:
            from .engines.local import run_local

            assert encoder is not None
            run_local(encoder, pending, config, out, model, on_done)
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    rows, bad = _verify(out, shards, model)
    repeated, examples = _repeated_ids(out, config, rows)
    summary = Summary(rows=rows, bad_rows=len(bad), shards=len(shards), shards_skipped=len(done),
                      seconds=seconds, rows_embedded=embedded, duplicate_ids=repeated)
    manifest.save_bad_rows(out, bad)
    manifest.save(out, dict(record, status="complete", rows=rows, bad_rows=len(bad), summary=summary.to_dict()))
    for row in bad[:10]:
        logger.warning("bad row %s line %s: %s (%s)", row["file"], row["line"], row["reason"],
                       "embedded as empty text" if row.get("embedded") else "not written")
    if repeated:  # None: not counted
        logger.warning("%d rows repeat an id of another row (%s): a store keyed on %r keeps one vector of each",
                       repeated, ", ".join(map(repr, examples)), config.id_column)
    if bad:
        logger.warning("%d bad rows in all; every one is listed in %s", len(bad), out / manifest.BAD_ROWS_NAME)
    return summary


def _repeated_ids(out: Path, config: EmbedConfig, rows: int) -> tuple[int | None, list[str]]:
    """(rows repeating another row's id, some such ids) over all the job's shards (a rerun with nothing left to
    write counts them as the first run did) when the job has an id column and at most :data:`MAX_ID_CHECK` rows
    (the ids are read into memory); (None, []) otherwise."""
    if not config.id_column:
        return None, []
    if rows > MAX_ID_CHECK:
        logger.info("repeated ids not counted: %d rows are more than the %d checked in memory", rows, MAX_ID_CHECK)
        return None, []
    return duplicate_ids(list(complete_shards(out).values()))


def _verify(out: Path, shards: list[ShardSpec], model: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Check every planned shard exists and was made by this model for this plan; (rows, bad rows)."""
    files = complete_shards(out)
    rows, bad = 0, []
    for spec in shards:
        if spec.index not in files:
            raise ShardError(f"shard {spec.index} ({spec.path} from line {spec.first_line}) was not written; "
                             "rerun the same command to finish the job.")
        info = shard_info(files[spec.index])
        if (info.get("index"), info.get("planned_rows"), info.get("variant")) != (spec.index, spec.rows, model["variant"]):
            raise ShardError(f"{files[spec.index]} does not match the plan (index, rows or model differ): "
                             f"pass {flag('--overwrite')} to start over.")
        rows += info["rows"]
        bad += info["bad_rows"]
    return rows, bad


def _clear(out: Path) -> None:
    for p in complete_shards(out).values():
        p.unlink()
    for name in (manifest.NAME, manifest.BAD_ROWS_NAME):
        (out / name).unlink(missing_ok=True)
    remove_temporaries(out)


def _make_folder(out: Path) -> bool:
    """Make the output folder (and its parents) and check it can be written; whether it was made now."""
    existed = out.is_dir()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".simcse-write-check.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        what = e.strerror or type(e).__name__
        if isinstance(e, (FileExistsError, NotADirectoryError)):
            what = "a file stands where the folder (or one of its parents) should be"
        raise OutputPathError(f"Cannot write the output folder {str(out)!r}: {what}. Pass {flag('--out')} a folder "
                              "you can write to (it is made if missing).") from e
    return not existed


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output folder: one job per folder at a time."""
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputDirError(f"another embedding job is writing to {str(out)!r}: wait for it, or use another "
                                 f"{flag('--out')}.") from None
        yield
    finally:
        os.close(fd)


def _versions(engine: str) -> dict[str, str]:
    names = ["simcse-sdk", "onnxruntime", "pyarrow"] + (["ray"] if engine == "ray" else [])
    out = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out
