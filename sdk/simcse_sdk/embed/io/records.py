"""Reading records from input files: UTF-8 lines with their byte offsets, CSV records, Parquet rows.

The planner walks each file once to find where every shard starts (a byte offset, or a row for
Parquet); a worker then reads just its shard from there. Both use the iterators here, so they
agree on what a record is. Each record gives its text, or why it has none (a *bad row*).

Example:
    >>> from simcse_sdk.embed.io.records import judge
    >>> judge("A cat sits."), judge("  "), judge(None), judge(3)
    (('A cat sits.', None), (None, 'empty text'), (None, 'missing or null'), (None, 'int value, not text'))
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

from ...inputs.validation import lone_surrogate
from ..errors import CorpusInputError, flag

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long documents are legitimate CSV fields

NUMBER = re.compile(r"[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?")  # a header field like this one is likely data


def judge_id(value: Any) -> tuple[str | None, str | None]:
    """(id, None) for an ``--id-column`` value (a str, or an int; a whole float as an int: pandas stores int ids
    with gaps as floats), else (None, reason): a row without an id is never given a made-up one."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, "missing or null id" if value is None or value != value else f"id is {type(value).__name__}"
    text = str(value)
    if (bad := lone_surrogate(text)) is not None:  # Parquet's string column cannot hold it
        return None, f"id with a lone surrogate {bad.group()!r}"
    return (text, None) if text.strip() else (None, "empty id")


def judge(value: Any) -> tuple[str | None, str | None]:
    """(text, None) for a usable text, else (None, reason): missing, non-text or blank."""
    if value is None:
        return None, "missing or null"
    if not isinstance(value, str):
        return None, f"{type(value).__name__} value, not text"
    if not value.strip():
        return None, "empty text"
    if (bad := lone_surrogate(value)) is not None:  # would stop the job mid-shard, at the tokenizer
        return None, f"lone surrogate {bad.group()!r} at character {bad.start()} (not valid Unicode)"
    return value, None


class Lines:
    """A binary file's lines decoded as UTF-8; ``offset`` and ``line`` describe what was read so far.

    ``offset`` is the byte offset of the next line, ``line`` the number (from 1) of the last line read.
    Undecodable bytes raise :class:`CorpusInputError` naming the file, line and byte.
    """

    def __init__(self, f: IO[bytes], path: str, offset: int = 0, line: int = 0) -> None:
        self.f, self.path, self.offset, self.line = f, path, offset, line

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        raw = self.f.readline()
        if not raw:
            raise StopIteration
        start = self.offset
        self.offset += len(raw)
        self.line += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            utf16 = start == 0 and raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # a UTF-16 byte-order mark
            source = "utf-16" if utf16 else "latin1"
            raise CorpusInputError(
                f"{self.path!r} line {self.line} is not UTF-8 (byte {raw[e.start]:#04x} at file offset "
                f"{start + e.start}{'; the file starts with a UTF-16 byte-order mark' if utf16 else ''}): re-encode "
                f"the file as UTF-8 (e.g. `iconv -f {source} -t utf-8 IN > OUT`)"
                + ("." if utf16 else " or remove the line.")
            ) from None
        if start == 0 and text.startswith("\ufeff"):  # a UTF-8 byte-order mark is not part of the text
            text = text[1:]
        return text


def strip_newline(line: str) -> str:
    """The line without its trailing newline (``\\n`` or ``\\r\\n``)."""
    return line.rstrip("\r\n") if line.endswith("\n") else line


def csv_records(lines: Lines, delimiter: str, quoted: bool = True) -> Iterator[tuple[int, int, list[str]]]:
    """(byte offset, line number, fields) of each CSV record; a quoted record may span lines.

    ``quoted``: a field may be quoted, as Python's csv and pandas write them (strictly: a quote that does not close
    where a field ends is an error, not a field that swallows the lines after it); else quotes are text.
    """
    reader = csv.reader(lines, delimiter=delimiter, strict=True) if quoted else \
        csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)
    while True:
        offset, line = lines.offset, lines.line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            why = (": a field opens a quote that does not close where the field ends. If quotes in this file are "
                   f"part of the text (as in unquoted TSV files such as STS-B's), pass {flag('--quoting none')}; else "
                   "fix the record." if quoted else "; fix or remove the record.")
            raise CorpusInputError(f"{lines.path!r}: the record that starts on line {line} is not valid CSV ({e}, "
                                   f"read up to line {lines.line}){why}") from None
        yield offset, line, fields


def csv_header(path: str, delimiter: str, text_column: str, id_column: str | None,
               quoted: bool = True, header: bool = True) -> tuple[list[str], int, int]:
    """The column names of a CSV/TSV file (checked to hold the named columns), the offset and line count after them.

    ``header``: the first record names the columns, and the records start after it; else the columns are numbered
    from 0 ("0", "1", ...; the first record sets how many there are) and the records start at the first line.
    """
    with open(path, "rb") as f:
        lines = Lines(f, path)
        first = next(csv_records(lines, delimiter, quoted), None)
        if header:
            if first is None or not any(first[2]):
                raise CorpusInputError(f"{path!r} has no header row: the first line must name the columns, or pass "
                                       f"{flag('--no-header')} and number them.")
            names = first[2]
            _need_columns(path, names, text_column, id_column, flag("--text-column/--id-column"))
            return names, lines.offset, lines.line
        if first is None or not first[2]:
            raise CorpusInputError(f"{path!r} starts with a blank line: without a header row the first record sets "
                                   "how many fields a record has. Remove the blank line.")
        names = [str(k) for k in range(len(first[2]))]
        for number in (text_column, id_column):
            if number is not None and number not in names:
                raise CorpusInputError(
                    f"{path!r} has no column {number} (its first record has {len(names)} fields, columns 0 to "
                    f"{len(names) - 1}): pass {flag('--text-column/--id-column')} a column number from 0 to "
                    f"{len(names) - 1}."
                )
        return names, 0, 0


def data_like(names: list[str]) -> list[str]:
    """Header fields that read as numbers ("0000", "5.000"): the sign of a file without a header row, whose first
    record was taken as the names."""
    return [n for n in names if NUMBER.fullmatch(n.strip())]


def first_json_record(path: str, text_column: str, id_column: str | None) -> None:
    """Check that the first non-blank line of a JSONL file is an object with the named fields."""
    with open(path, "rb") as f:
        lines = Lines(f, path)
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusInputError(
                    f"{path!r} line {lines.line} is not JSON ({e.msg}): JSON Lines files hold one JSON object a line; "
                    f"for plain text use a .txt name or {flag('--format text')}."
                ) from None
            if not isinstance(record, dict):
                raise CorpusInputError(f"{path!r} line {lines.line} is a JSON {type(record).__name__}, not an object.")
            _need_columns(path, list(record), text_column, id_column, flag("--text-column/--id-column"))
            return


def _need_columns(path: str, have: list[str], text_column: str, id_column: str | None, flags: str) -> None:
    for name in (text_column, id_column):
        if name is not None and name not in have:
            raise CorpusInputError(
                f"{path!r} has no column {name!r} (it has {', '.join(map(repr, have[:20]))}): "
                f"name the right one with {flags}."
            )


def json_text(line: str, text_column: str, id_column: str | None) -> tuple[Any, Any, str | None]:
    """(text value, id value, error) of one JSONL line; a line that is not an object is a bad row."""
    if not line.strip():
        return None, None, "empty line"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return None, None, f"not JSON ({e.msg})"
    if not isinstance(record, dict):
        return None, None, f"JSON {type(record).__name__}, not an object"
    return record.get(text_column), record.get(id_column) if id_column else None, None


def parquet_columns(path: str, text_column: str, id_column: str | None) -> int:
    """Check a Parquet file's columns (text must be a string column, or dictionary-encoded strings: pandas'
    ``category`` dtype); returns its row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise CorpusInputError(f"{path!r} is not a readable Parquet file ({e}): check the file or "
                               f"{flag('--format')}.") from None
    schema = pf.schema_arrow
    _need_columns(path, schema.names, text_column, id_column, flag("--text-column/--id-column"))
    kind = schema.field(text_column).type
    is_view = getattr(pa.types, "is_string_view", lambda t: False)  # pyarrow >= 16
    values = kind.value_type if pa.types.is_dictionary(kind) else kind  # read decoded, by parquet_rows
    if not (pa.types.is_string(values) or pa.types.is_large_string(values) or is_view(values)):
        raise CorpusInputError(
            f"{path!r} column {text_column!r} is {kind}, not text: name a string column with {flag('--text-column')}."
        )
    return pf.metadata.num_rows


def parquet_rows(path: str, start: int, rows: int, columns: list[str]) -> dict[str, list[Any]]:
    """Rows ``start .. start + rows - 1`` (from 0) of ``columns``, reading only the row groups they span."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    groups, first, seen = [], None, 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if seen + n > start and seen < start + rows:
            groups.append(g)
            first = seen if first is None else first
        seen += n
    table = pf.read_row_groups(groups, columns=columns) if groups else pa.table({c: [] for c in columns})
    table = table.slice(start - (first or 0), rows)
    return {c: _decoded(table.column(c)).to_pylist() for c in columns}


def _decoded(column: Any) -> Any:
    """A dictionary-encoded column (what pyarrow makes of pandas' ``category`` dtype) as its values, one a row."""
    import pyarrow as pa

    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
