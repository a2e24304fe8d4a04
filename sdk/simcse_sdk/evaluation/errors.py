"""The evaluation package's own errors; each derives :class:`simcse_sdk.errors.SimcseError`.

A missing task folder or file raises :class:`simcse_sdk.errors.DataDirError` instead.

Example:
    >>> from simcse_sdk.evaluation.errors import TaskError
    >>> from simcse_sdk.errors import SimcseError
    >>> issubclass(TaskError, SimcseError) and issubclass(TaskError, ValueError)
    True
"""

from __future__ import annotations

from ..errors import SimcseError


class TaskError(SimcseError, ValueError):
    """An unknown task or task group name; the message lists the valid names."""


class DataFormatError(SimcseError, ValueError):
    """A data file parses, but not as expected: a wrong pair count, a bad gold score, a short row."""


class EncodeOutputError(SimcseError, ValueError):
    """The ``encode`` function returned something other than one row per sentence."""
