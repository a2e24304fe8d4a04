"""Reading a training file: its bytes as text, its sentences or CSV rows, and the checks of its format.

Every check names the file, the line, and the fix: a file in another format (JSON lines, gzip, UTF-16, a CSV given
as sentences, a comma CSV named ``.tsv``) is refused rather than trained on as something it is not, and a quoted
CSV field that runs over more than :data:`MAX_RECORD_LINES` lines (an unbalanced quote swallowing the rows after
it) is refused with the lines where the quote opened and closed.

Example:
    >>> rows, skips = read_csv_rows(Path("nli_for_simcse.csv"))    # doctest: +SKIP
    >>> skips.total                                                  # doctest: +SKIP
    0
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Hashable
from pathlib import Path

from .errors import DataError

CSV_COLUMNS = ("sent0", "sent1", "hard_neg")
# A CSV record may span this many physical lines at most (a quoted field holding up to 4 line breaks). Sentences
# of NLI data hold none; an unbalanced quote swallows every line up to the next quote, usually hundreds.
MAX_RECORD_LINES = 5
# --unsup reads one sentence a line: a suffix naming another format is refused.
NOT_SENTENCES = {".jsonl": "JSON lines", ".json": "JSON", ".csv": "a CSV", ".tsv": "a TSV", ".parquet": "a Parquet"}
HEADER_RE = re.compile(r"^\w+(?:([,\t])\w+)+$")  # e.g. "text,label": names joined by commas (or tabs), no spaces


def read_text(path: Path) -> str:
    """The whole file as UTF-8 (a byte-order mark dropped, as Excel's "CSV UTF-8" writes one).

    Raises:
        DataError: a gzip or UTF-16 file (with how to convert it), or bytes that are not UTF-8, named by line.
    """
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        refuse_compressed(path, always=True)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(raw) >= 4 and raw[1:4:2] == b"\0\0"):
        raise DataError(f"{path} is UTF-16, not UTF-8: re-encode it (iconv -f utf-16 -t utf-8 IN > OUT)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path} line {line} is not UTF-8 (byte {raw[e.start]:#04x}): re-encode the file as UTF-8 "
                        "(e.g. iconv -f latin1 -t utf-8 IN > OUT for Latin-1), or remove the line") from None


def refuse_compressed(path: Path, always: bool = False) -> None:
    """Refuse a gzip file (``always``: its bytes say so; else: its name ends in .gz), with the fix."""
    if always or path.suffix.lower() == ".gz":
        raise DataError(f"{path} is gzip-compressed, which the trainer does not read: gunzip it first "
                        f"(gunzip -k {path}) and pass the uncompressed file")


def check_sentence_file(path: Path, text: str | None = None) -> None:
    """Refuse, for ``--unsup``, a file whose suffix or first line says it is not one sentence a line."""
    refuse_compressed(path)
    fix = "--unsup reads plain text, one sentence a line (.txt)"
    kind = NOT_SENTENCES.get(path.suffix.lower())
    if kind == "JSON lines" or kind == "JSON":
        raise DataError(f"{path} is {kind}, but {fix}: write the sentences out, e.g. "
                        f"jq -r .text {path} > sentences.txt")
    if kind is not None:
        raise DataError(f"{path} is {kind} file, but {fix}: save its sentence column alone, without the header, "
                        f"as a .txt (for --sup, a CSV needs the header {','.join(CSV_COLUMNS)} or sent0,sent1)")
    lines = (text if text is not None else read_text(path))[:65536].splitlines()[:6]  # the head: all it looks at
    first = lines[0].strip() if lines else ""
    if first.startswith("{") and first.endswith("}"):
        raise DataError(f"{path} line 1 is a JSON object ({first[:60]}), but {fix}: write the sentences out, e.g. "
                        f"jq -r .text {path} > sentences.txt")
    header = HEADER_RE.match(first)
    if header is not None:
        sep = header.group(1)
        following = [line for line in lines[1:6] if line.strip()]
        if following and all(line.count(sep) == first.count(sep) for line in following):
            raise DataError(f"{path} line 1 ({first!r}) is a CSV header and the lines below have its columns, but "
                            f"{fix}: save the sentence column alone, without the header, as a .txt")


class Skips:
    """What reading a training file left out (by reason, with the first line of each) and which kept rows repeat one."""

    def __init__(self) -> None:
        self.by_reason: dict[str, list[int]] = {}  # reason -> [count, first line]
        self.repeats, self.first_repeat = 0, (0, 0)  # (line, line of the earlier row it repeats)
        self._seen: dict[Hashable, int] = {}  # kept row (the object kept, no copy) -> its line

    @property
    def total(self) -> int:
        """Lines/rows left out, all reasons together."""
        return sum(count for count, _ in self.by_reason.values())

    def skip(self, reason: str, line: int) -> None:
        """Count the line ``line`` as left out for ``reason``."""
        self.by_reason.setdefault(reason, [0, line])[0] += 1

    def keep(self, row: Hashable, line: int) -> None:
        """Note a kept row, counting it if an earlier one is identical."""
        earlier = self._seen.setdefault(row, line)
        if earlier != line:
            self.repeats += 1
            if self.repeats == 1:
                self.first_repeat = (line, earlier)

    def describe(self) -> str:
        """E.g. ``2 empty line(s) (first: line 3), 1 row(s) with an empty field (first: line 9)``."""
        return ", ".join(f"{n} {reason} (first: line {first})" for reason, (n, first) in self.by_reason.items())


def read_sentences(path: Path) -> tuple[list[str], Skips]:
    """One sentence a line; returns (sentences, the empty lines skipped and the repeated sentences).

    Raises:
        DataError: the file is in another format (see :func:`check_sentence_file`), or not UTF-8 text.
    """
    text = read_text(path)
    check_sentence_file(path, text)
    sentences, skips = [], Skips()
    # lines as open() splits them: \n, \r\n, \r
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        line = line.strip()
        if line:
            sentences.append(line)
            skips.keep(line, number)
        else:
            skips.skip("empty line(s)", number)
    return sentences, skips


def _check_header(path: Path, header: tuple[str, ...], delimiter: str) -> None:
    if header in (CSV_COLUMNS, CSV_COLUMNS[:2]):
        return
    shown = delimiter.join(header) or "(empty file)"
    other = "," if delimiter == "\t" else "\t"
    if len(header) == 1 and tuple(h.strip() for h in header[0].split(other)) in (CSV_COLUMNS, CSV_COLUMNS[:2]):
        found, read_as = ("commas", "tab-separated (.tsv)") if other == "," else ("tabs", "comma-separated (.csv)")
        rename = ".csv" if other == "," else ".tsv"
        raise DataError(f"{path}: its header {shown!r} is separated by {found}, but the file is read as {read_as} "
                        f"for its name: rename it to {path.stem}{rename}")
    raise DataError(
        f"{path}: CSV header is {shown!r}; expected columns "
        f"{','.join(CSV_COLUMNS)} (premise, entailment, contradiction), or {','.join(CSV_COLUMNS[:2])}"
    )


def _check_record_span(path: Path, raw: list[str], first_line: int, last_line: int) -> None:
    """Refuse a record over more than MAX_RECORD_LINES physical lines, naming where its long field's quote opened."""
    if last_line - first_line + 1 <= MAX_RECORD_LINES:
        return
    opened = first_line
    for field in raw:
        if field.count("\n") >= MAX_RECORD_LINES - 1:
            break
        opened += field.count("\n")
    closed = min(last_line, opened + max(f.count("\n") for f in raw))
    raise DataError(
        f"{path}: a quoted field opens with the quote on line {opened} and closes on line {closed}, so lines "
        f"{first_line}-{last_line} were read as one row (a row may span at most {MAX_RECORD_LINES} lines): an "
        f"unbalanced quote. Escape a quote inside a field as \"\" (e.g. 12\"\" pizza), or quote the whole field")


def read_csv_rows(path: Path, columns: int | None = None) -> tuple[list[tuple[str, ...]], Skips]:
    """CSV (TSV for ``.tsv``) with header ``sent0,sent1,hard_neg`` (or ``sent0,sent1``); returns (rows, skips).

    Each row keeps its first ``columns`` fields (default: all). A row with a number of fields other than the
    header's, or with an empty field among those kept, is skipped and counted by reason.

    Raises:
        DataError: the header is not one of the expected ones, or a row spans more than MAX_RECORD_LINES lines.
    """
    rows, skips = [], Skips()
    refuse_compressed(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","  # as the reference
    with io.StringIO(read_text(path), newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = tuple(h.strip() for h in next(reader, []))
        _check_header(path, header, delimiter)
        keep = len(header) if columns is None else columns
        line = reader.line_num + 1  # where the next row starts (a quoted field may span lines)
        for raw in reader:
            _check_record_span(path, raw, line, reader.line_num)
            fields = [x.strip() for x in raw]
            if len(fields) <= 1 and not any(fields):  # a blank line (csv gives [] or [''])
                skips.skip("empty line(s)", line)
            elif len(fields) != len(header):
                skips.skip(f"row(s) with the wrong number of fields (the header has {len(header)})", line)
            elif not all(fields[:keep]):
                skips.skip("row(s) with an empty field", line)
            else:
                rows.append(tuple(fields[:keep]))
                skips.keep(rows[-1], line)
            line = reader.line_num + 1
    return rows, skips
