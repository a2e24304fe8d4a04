"""The job's plan: every input file cut into shards of at most ``shard_rows`` records.

A shard never spans two files. Its position (a byte offset, or a row for Parquet) is found by
one pass over the inputs, which also checks them (UTF-8, columns, no empty file) before any work
starts and gives the progress bar its total. The plan depends only on the inputs and the
settings, so a rerun of the same command finds the same shards and skips those already written.

Example:
    >>> from simcse_sdk.embed.config import EmbedConfig
    >>> from simcse_sdk.embed.io.inputs import resolve_inputs
    >>> from simcse_sdk.embed.plan import plan_shards, read_shard
    >>> cfg = EmbedConfig(shard_rows=1000)
    >>> shards = plan_shards(resolve_inputs(["corpus.txt"]), cfg)     # doctest: +SKIP
    >>> rows = read_shard(shards[0], cfg)                            # doctest: +SKIP
    >>> rows.ids[:2], rows.texts[:2]                                 # doctest: +SKIP
    (['corpus.txt:1', 'corpus.txt:2'], ['first text', 'second text'])
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import EmbedConfig
from .errors import CorpusInputError, flag
from .io.inputs import InputFile
from .io.records import (
    Lines,
    csv_header,
    csv_records,
    data_like,
    first_json_record,
    json_text,
    judge,
    judge_id,
    parquet_columns,
    parquet_rows,
    strip_newline,
)

logger = logging.getLogger(__name__)

DELIMITERS = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class ShardSpec:
    """Where one shard's records are: enough for any process to read exactly them."""

    index: int  # position in the plan; the output file is part-<index>.parquet
    path: str  # input file
    format: str  # text | jsonl | csv | tsv | parquet
    offset: int  # byte offset of the first record (Parquet: its row, from 0)
    first_line: int  # line number of the first record, from 1 (Parquet: row number, from 1)
    rows: int  # records in this shard
    header: list[str] | None = None  # CSV/TSV column names (the records start after the header; without a header
    #                                  row "0", "1", ... as many as the first record has fields)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ShardSpec:
        return cls(**json.loads(text))


@dataclass
class ShardRows:
    """One shard's rows as read: ids and texts in input order, and the bad rows met."""

    ids: list[str] = field(default_factory=list)  # one per row written
    texts: list[str] = field(default_factory=list)  # bad rows embedded as "" (bad_rows="embed") or left out
    bad: list[dict[str, Any]] = field(default_factory=list)  # {"id", "file", "line", "reason", "embedded"} per bad
    # row; "embedded": whether it is in the output, embedded as empty text


def plan_shards(files: list[InputFile], config: EmbedConfig) -> list[ShardSpec]:
    """Cut ``files`` into shards, checking each file on the way (raises :class:`CorpusInputError`)."""
    if not config.header and not any(f.format in DELIMITERS for f in files):
        raise CorpusInputError(f"{flag('--no-header')} applies to CSV/TSV files, and no input is one: leave it out.")
    shards: list[ShardSpec] = []
    for f in files:
        if config.id_column and f.format == "text":  # said once, not applied without a word
            logger.warning("%s is a text file (one text a line, no fields): its rows get file:line ids, not %s %r",
                           f.path, flag("--id-column"), config.id_column)
        starts = _record_starts(f, config)
        total = starts.pop()  # the helper appends the record count
        if not total:
            raise CorpusInputError(f"Input file {f.path!r} holds no records: remove it from the inputs.")
        header = csv_header(f.path, DELIMITERS[f.format], config.text_column, config.id_column, config.quoted,
                            config.header)[0] if f.format in DELIMITERS else None
        if header is not None and config.header and data_like(header):  # STS-B has no header row: line 1 was lost
            logger.warning("%s: its first line, read as the header row (the column names, not embedded), has fields "
                           "that look like data (%s): if the file has no header row, pass %s and number the columns "
                           "from 0", f.path, ", ".join(map(repr, data_like(header)[:3])), flag("--no-header"))
        for k in range(0, total, config.shard_rows):
            offset, line = starts[k // config.shard_rows]
            shards.append(ShardSpec(len(shards), f.path, f.format, offset, line, min(config.shard_rows, total - k), header))
    return shards


def _record_starts(f: InputFile, config: EmbedConfig) -> list[Any]:
    """(offset, line) of every shard_rows-th record of ``f``, then the record count."""
    n, every, starts = 0, config.shard_rows, []  # type: ignore[var-annotated]
    if f.format == "parquet":
        total = parquet_columns(f.path, config.text_column, config.id_column)
        return [(k, k + 1) for k in range(0, total, every)] + [total]
    if f.format in DELIMITERS:
        _, body, header_lines = csv_header(f.path, DELIMITERS[f.format], config.text_column, config.id_column,
                                           config.quoted, config.header)
        with open(f.path, "rb") as fh:
            fh.seek(body)
            lines = Lines(fh, f.path, offset=body, line=header_lines)
            for offset, line, _fields in csv_records(lines, DELIMITERS[f.format], config.quoted):
                if n % every == 0:
                    starts.append((offset, line))
                n += 1
        return starts + [n]
    if f.format == "jsonl":
        first_json_record(f.path, config.text_column, config.id_column)
    with open(f.path, "rb") as fh:
        lines = Lines(fh, f.path)
        offset = 0
        for _ in lines:  # decodes every line: undecodable bytes fail here, before any work
            if n % every == 0:
                starts.append((offset, lines.line))
            offset = lines.offset
            n += 1
    return starts + [n]


def read_shard(spec: ShardSpec, config: EmbedConfig) -> ShardRows:
    """The shard's ids and texts, bad rows embedded as "" or left out as ``config.bad_rows`` says.

    Never written, whatever ``bad_rows`` says: a row without a usable id (listed with ``"id": None``: the job does
    not make one up beside the file's own), and a CSV/TSV record of the wrong width (no field of it can be trusted;
    listed with its ``file:line`` id when ids are ``file:line``, else with ``"id": None``)."""
    out = ShardRows()
    by_column = bool(config.id_column) and spec.format != "text"
    for line, text_value, id_value, why, whole in _records(spec, config):
        text, reason = judge(text_value) if why is None else (None, why)
        row_id, id_problem = judge_id(id_value) if by_column else (f"{spec.path}:{line}", None)
        if row_id is None:  # never a made-up id beside the file's own ids: listed, not written
            out.bad.append({"id": None, "file": spec.path, "line": line,
                            "reason": why or f"{id_problem} in column {config.id_column!r}", "embedded": False})
            continue
        if text is None:
            embedded = whole and config.bad_rows == "embed"  # a record of the wrong width never is
            out.bad.append({"id": row_id, "file": spec.path, "line": line, "reason": reason, "embedded": embedded})
            if not embedded:
                continue
            text = ""  # embedded as the SDK embeds empty text
        out.ids.append(row_id)
        out.texts.append(text)
    return out


def _records(spec: ShardSpec, config: EmbedConfig):  # -> Iterator[(line, text value, id value, reason, whole)]
    # reason: why the record is bad before its text is looked at (None: not); whole: False for a record that was not
    # read as one (a CSV/TSV record of the wrong width), never written
    text_col, id_col = config.text_column, config.id_column
    if spec.format == "parquet":
        cols = [text_col] + ([id_col] if id_col else [])
        data = parquet_rows(spec.path, spec.offset, spec.rows, cols)
        for k in range(spec.rows):
            yield spec.first_line + k, data[text_col][k], data[id_col][k] if id_col else None, None, True
        return
    with open(spec.path, "rb") as fh:
        fh.seek(spec.offset)
        lines = Lines(fh, spec.path, offset=spec.offset, line=spec.first_line - 1)
        if spec.format in DELIMITERS:
            assert spec.header is not None
            t, i = spec.header.index(text_col), spec.header.index(id_col) if id_col else None
            for n, (_off, line, fields) in enumerate(csv_records(lines, DELIMITERS[spec.format], config.quoted)):
                if n == spec.rows:
                    return
                if len(fields) != len(spec.header):  # more fields than the header: a text with an unquoted comma
                    why = f"record has {len(fields)} fields, the {'header' if config.header else 'first record'} "
                    yield line, None, None, f"{why}{len(spec.header)}", False
                    continue
                yield line, fields[t], None if i is None else fields[i], None, True
            return
        for n, raw in enumerate(lines):
            if n == spec.rows:
                return
            text = strip_newline(raw)
            if spec.format == "jsonl":
                yield (lines.line, *json_text(text, text_col, id_col), True)
            else:
                yield lines.line, text, None, None, True
