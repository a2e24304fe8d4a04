"""The embedding job's errors; each derives :class:`simcse_sdk.errors.SimcseError` and a builtin.

Every message names the file (or setting) at fault and how to fix it.

Example:
    >>> from simcse_sdk.embed.errors import CorpusInputError
    >>> from simcse_sdk.errors import SimcseError
    >>> issubclass(CorpusInputError, SimcseError) and issubclass(CorpusInputError, ValueError)
    True
"""

from __future__ import annotations

from ..errors import MissingExtraError, SimcseError


class CorpusFileNotFoundError(SimcseError, FileNotFoundError):
    """An input path does not exist, or a glob or directory matches no input file."""


class CorpusInputError(SimcseError, ValueError):
    """An input file cannot be read as asked: empty, not UTF-8, a missing column, an unknown format."""


class EmbedConfigError(SimcseError, ValueError):
    """A job setting is out of range (shard rows, bad-row mode, engine name...)."""


class OutputDirError(SimcseError, FileExistsError):
    """The output folder holds another job's files: a different model, inputs or settings, or files that are not
    this job's (a Parquet reader of the folder would read them too)."""


class OutputPathError(SimcseError, OSError):
    """The output folder cannot be made or written: a file stands where it should be, no permission, read-only."""


class ShardError(SimcseError, RuntimeError):
    """A written shard does not match the job's plan (rows, index), or cannot be read: the folder was changed by
    hand, or a file was damaged."""


# A message either entry point can cause names the flag and its Python spelling: simcse-embed's users read the one,
# embed_corpus's the other.
PYTHON_SPELLING = {
    "--overwrite": "EmbedConfig(overwrite=True)",
    "--out": "out_dir",
    "--text-column": "text_column=",
    "--id-column": "id_column=",
    "--text-column/--id-column": "text_column=/id_column=",
    "--quoting none": "quoting='none'",
    "--format": "format=",
    "--format text": "format='text'",
    "--engine ray": "engine='ray'",
    "--no-header": "header=False",
    "--address": "ray_address=",
    "--actors": "actors=",
    "--cpus-per-actor": "cpus_per_actor=",
    "--gpus-per-actor 0": "gpus_per_actor=0",
    "--output int8": "output='int8'",
}


def flag(cli: str) -> str:
    """``cli`` (a flag of :data:`PYTHON_SPELLING`) followed by its Python spelling in parentheses.

    Example:
        >>> flag("--overwrite")
        '--overwrite (EmbedConfig(overwrite=True))'
    """
    return f"{cli} ({PYTHON_SPELLING[cli]})"


ExtraMissingError = MissingExtraError  # the SDK's one class for a missing extra, under the name this package had


def require(module: str, extra: str, what: str) -> None:
    """Raise :class:`~simcse_sdk.errors.MissingExtraError` naming ``extra`` when ``module`` cannot be imported."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{what} needs {module}, which is not installed: pip install 'simcse-sdk[{extra}]'"
        ) from e
