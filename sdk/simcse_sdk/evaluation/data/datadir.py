"""Where the evaluation and training data live.

The data directory holds the SentEval layout (``senteval/downstream/STS/...``) and the
training files (``train/wiki1m_prefix.txt``...). It comes from an explicit argument
(``--data-dir``), else from the ``SIMCSE_DATA_DIR`` environment variable.

Example:
    >>> import os
    >>> from simcse_sdk.evaluation.data.datadir import resolve_data_dir
    >>> os.environ["SIMCSE_DATA_DIR"] = "/tmp"
    >>> str(resolve_data_dir(None))
    '/tmp'
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import DataDirError

ENV_VAR = "SIMCSE_DATA_DIR"

LAYOUT_HINT = (
    "Expected layout: <data-dir>/senteval/downstream/{STS,SICK,MR,...} (SentEval's senteval.tar, "
    "as released by SentEval / SimCSE's data/download scripts) and <data-dir>/train/ with "
    "wiki1m_for_simcse.txt or nli_for_simcse.csv (SimCSE's data releases)."
)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory: ``data_dir`` if given, else ``$SIMCSE_DATA_DIR``.

    Raises:
        DataDirError: neither is set, or the directory does not exist.
    """
    if data_dir is None:
        env = os.environ.get(ENV_VAR)
        if not env:
            raise DataDirError(
                f"No data directory given: pass --data-dir DIR or set {ENV_VAR}=DIR. {LAYOUT_HINT}"
            )
        data_dir = env
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataDirError(f"Data directory {str(path)!r} does not exist. {LAYOUT_HINT}")
    return path


def senteval_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return ``<data-dir>/senteval/downstream``, checking that it exists."""
    root = resolve_data_dir(data_dir)
    path = root / "senteval" / "downstream"
    if not path.is_dir():
        raise DataDirError(f"SentEval folder not found: looked for {str(path)!r}. {LAYOUT_HINT}")
    return path
