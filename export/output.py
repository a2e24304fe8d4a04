"""The output folder: checked before any work, and the finished build renamed into place.

The export builds in a hidden temporary folder beside ``--out`` and renames it to ``--out`` only when complete.
``--force`` replaces only what an export can own: an earlier export (a folder holding the export's
``manifest.json``) or an empty folder. Any other folder, a file or a link is refused; an earlier export is replaced
whole, files put into it since included. The check runs again just before the rename, in case something was
written there meanwhile.

Example:
    >>> check_output(Path("models/unsup"), force=False)   # doctest: +SKIP
    PosixPath('models/unsup')
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from simcse_sdk.model.manifest import MANIFEST_NAME

from . import stopping

logger = logging.getLogger(__name__)


def check_output(out: Path, force: bool) -> Path:
    """``out``, with its parent folder made, once it is known the export may write there.

    Raises:
        FileExistsError: ``out`` exists without ``force``, or is not something ``force`` replaces.
        ValueError: its parent folder cannot be made.
    """
    check_replaceable(out)  # first: a folder --force would refuse too is named as such, not sent to --force
    if out.exists() and not force:
        raise FileExistsError(f"Output directory {str(out)!r} exists; pass --force to replace it, or choose another --out.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        what = "a file stands where it (or a folder above it) should be" if isinstance(
            e, (FileExistsError, NotADirectoryError)) else (e.strerror or type(e).__name__)
        raise ValueError(f"--out {str(out)!r}: cannot make its folder {str(out.parent)!r} ({what}); choose another "
                         "--out.") from e
    return out


def check_replaceable(out: Path) -> None:
    """Nothing is at ``out``, or an earlier export, or an empty folder: what ``--force`` may replace.

    Raises:
        FileExistsError: anything else at ``out``, naming a file in it.
    """
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink():
        entries = sorted(p.name for p in out.iterdir())
        if not entries or is_export_manifest(out / MANIFEST_NAME):
            return
        more = f" and {len(entries) - 1} other(s)" if len(entries) > 1 else ""
        what = f"a folder that is not an earlier export (no export {MANIFEST_NAME}; it holds {entries[0]!r}{more})"
    else:
        what = "a link" if out.is_symlink() else "a file"
    raise FileExistsError(f"--out {str(out)!r} is {what}: --force replaces only an earlier export or an empty "
                          "folder. Choose another --out, or delete it by hand.")


def is_export_manifest(path: Path) -> bool:
    """``path`` is a manifest.json as the export writes it, not any file of that name."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and "format_version" in raw and "variants" in raw


def publish(tmp: Path, out: Path) -> None:
    """Move the finished build ``tmp`` to ``out`` (replacing an earlier export only after the new one is complete).

    Raises:
        FileExistsError: something other than an earlier export appeared at ``out`` during the export.
    """
    stopping.check()  # a SIGTERM or Ctrl-C whose raise was lost on the way: still nothing published
    check_replaceable(out)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    tmp.chmod(0o755)  # mkdtemp makes it private
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("published %s", out)
