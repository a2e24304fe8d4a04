"""The embedding job's settings: one dataclass, saved resolved in the output's ``_manifest.json``.

Example:
    >>> from simcse_sdk.embed.config import EmbedConfig
    >>> EmbedConfig(text_column="sentence", shard_rows=5000).validated().shard_rows
    5000
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..vectors.dimensions import OUTPUTS
from .errors import EmbedConfigError, flag

BAD_ROW_MODES = ("embed", "skip")
QUOTING = ("minimal", "none")
ENGINES = ("local", "ray")
FORMATS = ("text", "jsonl", "csv", "tsv", "parquet")

# Settings that decide what the shards hold: a resumed job must have the same ones.
IDENTITY_FIELDS = ("text_column", "id_column", "format", "shard_rows", "bad_rows", "normalize", "dimensions", "output",
                   "prompt_name", "quoting", "header")


@dataclass(frozen=True)
class EmbedConfig:
    """How a corpus is read, embedded and written."""

    text_column: str = "text"  # JSONL/CSV/Parquet field holding the text (text files: the whole line)
    id_column: str | None = None  # field holding each row's id; None: "file:line" (Parquet: "file:row")
    format: str | None = None  # text | jsonl | csv | tsv | parquet; None: from each file's extension
    quoting: str = "minimal"  # CSV/TSV: "minimal": fields may be quoted (as csv and pandas write them); "none": quotes are text
    header: bool = True  # CSV/TSV: the first line names the columns; False: every line is a record, and text_column /
    #                      id_column are 0-based column numbers ("5")
    shard_rows: int = 10_000  # rows per output shard (the unit of work, of atomic writes and of resume)
    bad_rows: str = "embed"  # empty/non-text rows: "embed" them as empty text, or "skip" (listed, not written)
    normalize: bool = False  # L2-normalise embeddings (models normalised in-graph are unit length anyway)
    dimensions: int | None = None  # cut vectors to this size and renormalise (a Matryoshka trained size); None: full
    output: str = "float32"  # embedding column type: float32 | int8 (scalar, calibrated) | ubinary (packed sign bits)
    prompt_name: str | None = None  # the model's prompt put before each text ("passage"); None: its default, if any
    variant: str = "auto"  # model variant: auto | fp32 | fp16 | int8 (auto resolved once, then pinned)
    device: str = "auto"  # local engine: cpu | cuda | auto (Ray: cuda when gpus_per_actor > 0)
    batch_size: int = 64  # sentences per inference batch
    max_tokens: int = 8192  # padded tokens per inference batch
    threads: int | None = None  # local engine: onnxruntime threads (None: the cores available)
    engine: str = "local"  # local (this process) | ray (Ray Data, local or an existing cluster)
    overwrite: bool = False  # delete this job's earlier shards and start over (default: resume)
    progress: bool = True  # show a progress bar (tqdm when installed, else log lines)
    # Ray only (refused with engine="local"); threads and device above are local only (refused with "ray")
    ray_address: str | None = None  # Ray cluster to join ("auto", "ray://host:10001"); None: a local Ray
    actors: int | None = None  # Ray: encoder actors (None: cluster CPUs // cpus_per_actor, or GPUs)
    cpus_per_actor: float = 1.0  # Ray: CPUs reserved per actor; onnxruntime threads follow it
    gpus_per_actor: float = 0.0  # Ray: GPUs per actor (> 0 runs the model on CUDA)

    def validated(self) -> EmbedConfig:
        """This config, checked; raises :class:`EmbedConfigError` naming the bad setting."""
        if isinstance(self.shard_rows, bool) or not isinstance(self.shard_rows, int) or self.shard_rows < 1:
            raise EmbedConfigError(f"shard_rows must be a positive integer, got {self.shard_rows!r}.")
        if self.bad_rows not in BAD_ROW_MODES:
            raise EmbedConfigError(f"bad_rows must be one of {BAD_ROW_MODES}, got {self.bad_rows!r}.")
        if self.engine not in ENGINES:
            raise EmbedConfigError(f"engine must be one of {ENGINES}, got {self.engine!r}.")
        if self.format is not None and self.format not in FORMATS:
            raise EmbedConfigError(f"format must be one of {FORMATS} (or None: by extension), got {self.format!r}.")
        if self.quoting not in QUOTING:
            raise EmbedConfigError(f"quoting must be one of {QUOTING}, got {self.quoting!r}.")
        if self.output not in OUTPUTS:
            raise EmbedConfigError(f"output must be one of {OUTPUTS}, got {self.output!r}.")
        if self.dimensions is not None and (isinstance(self.dimensions, bool) or not isinstance(self.dimensions, int)
                                            or self.dimensions < 1):
            raise EmbedConfigError(f"dimensions must be a positive integer (or None: full size), got {self.dimensions!r}.")
        if self.text_column in ("", None):
            raise EmbedConfigError("text_column is empty: name the field that holds the text, e.g. 'text'.")
        if not isinstance(self.header, bool):
            raise EmbedConfigError(f"header must be True or False, got {self.header!r}.")
        if self.cpus_per_actor <= 0 or self.gpus_per_actor < 0:
            raise EmbedConfigError(
                f"cpus_per_actor must be > 0 and gpus_per_actor >= 0, got {self.cpus_per_actor}, {self.gpus_per_actor}."
            )
        if self.actors is not None and self.actors < 1:
            raise EmbedConfigError(f"actors must be at least 1, got {self.actors}.")
        self._check_engine_settings()
        return self if self.header else self._numbered_columns()

    def _numbered_columns(self) -> EmbedConfig:
        """Without a header row the columns are numbers: text_column / id_column as "5" (an int is taken too)."""
        numbers: dict[str, Any] = {}
        for name in ("text_column", "id_column"):
            value = getattr(self, name)
            if value is None:
                continue
            text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
            if not (text.isascii() and text.isdigit()):
                option = "--" + name.replace("_", "-")
                raise EmbedConfigError(
                    f"{name}={value!r}, but without a header row ({flag('--no-header')}) the columns have no "
                    f"names: pass {option} N ({name}='N'), N the column's number counted from 0, e.g. {option} 5 for "
                    "the sixth column."
                )
            numbers[name] = str(int(text))
        return replace(self, **numbers)

    def _check_engine_settings(self) -> None:
        """Refuse settings the chosen engine would ignore: a job must not run other than it was asked to."""
        default = EmbedConfig()
        if self.engine == "local":
            ray_only = [f"{name}={getattr(self, name)!r}" for name in ("ray_address", "actors", "cpus_per_actor",
                                                                       "gpus_per_actor")
                        if getattr(self, name) != getattr(default, name)]
            if ray_only:
                raise EmbedConfigError(
                    f"{', '.join(ray_only)} only apply to the Ray engine, and this job runs on the local engine: "
                    f"pass {flag('--engine ray')} to use them, or leave them out "
                    "(--address, --actors, --cpus-per-actor, --gpus-per-actor)."
                )
        else:
            if self.threads is not None:
                raise EmbedConfigError(
                    f"threads={self.threads!r} only applies to the local engine: on Ray an actor's onnxruntime "
                    "threads follow its CPUs, so pass --cpus-per-actor (cpus_per_actor=) instead of --threads."
                )
            if self.device != default.device:
                raise EmbedConfigError(
                    f"device={self.device!r} only applies to the local engine: on Ray, pass --gpus-per-actor 1 "
                    "(gpus_per_actor > 0) to run on CUDA, or leave it at 0 for the CPU, instead of --device."
                )

    @property
    def quoted(self) -> bool:
        """Whether CSV/TSV fields may be quoted."""
        return self.quoting == "minimal"

    def with_(self, **changes: Any) -> EmbedConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-able data."""
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """The settings that decide the shards' content."""
        return {k: getattr(self, k) for k in IDENTITY_FIELDS}
