"""The trainer's errors: each one is reported by the CLI as one clear line, before training starts
where the problem can be seen early (data, base model, configuration).

Example:
    >>> from trainer.errors import DataError, TrainerError
    >>> issubclass(DataError, TrainerError) and issubclass(DataError, ValueError)
    True
"""

from __future__ import annotations


class TrainerError(Exception):
    """Base class of every error the trainer raises on purpose."""


class ConfigError(TrainerError, ValueError):
    """An option is out of range or contradicts another one."""


class DataError(TrainerError, ValueError):
    """The training data file is missing, malformed, or too small for the batch."""


class BaseModelError(TrainerError, OSError):
    """The base model (``--base``) is not a model directory, or a hub id that is not available."""


class NonFiniteLossError(TrainerError, FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept as it was."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(
            f"non-finite loss {loss} at step {step}: training stopped; the last good checkpoint "
            "(best/ and last/ in the run directory) is left untouched. Try a lower --lr, or --amp no."
        )
        self.step = step
        self.loss = loss


class Stopped(TrainerError, InterruptedError):
    """Training was asked to stop (SIGTERM, Ctrl-C) and stopped after a step, with that step saved in ``last/``."""

    def __init__(self, step: int, total: int, run_dir: str, reason: str) -> None:
        super().__init__(
            f"stopped by {reason} at step {step} of {total}; last/ holds that step: continue with "
            f"python -m trainer --resume --out {run_dir}"
        )
        self.step = step
        self.reason = reason
