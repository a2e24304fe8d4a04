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
