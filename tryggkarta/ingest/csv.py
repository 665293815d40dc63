"""CSV as exported from Excel in Sweden (and elsewhere).

Delimiter ``;``, ``,``, tab or ``|`` is sniffed from the first lines; the encoding is UTF-8
(with or without BOM), UTF-16 with BOM, or Windows-1252 as the fallback, so å ä ö survive
either way. Every cell is read as text; numbers (decimal comma) and dates are parsed by the
normaliser, which can then reject single rows with a reason.
"""

from __future__ import annotations

import csv as stdcsv
import io
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tryggkarta.ingest.files import (
    MIXED_ENCODING,
    bad,
    check_table_size,
    decode_mixed,
    decode_text,
    detail,
    looks_binary,
    read_bytes,
    split_suffix,
)
from tryggkarta.ingest.registry import RawTable, ReadOptions
from tryggkarta.ingest.report import Note, Reason

CANDIDATES = (";", ",", "\t", "|")
POLISEN_HISTORY_COLUMNS = (
    "id",
    "datetime",
    "type",
    "name",
    "summary",
    "url",
    "location_name",
    "lat",
    "lon",
)
_SKIPPED = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the sample lines into the most, and most consistent, fields."""
    best, best_score = ",", (-1.0, 0)
    for cand in CANDIDATES:
        counts = [len(row) for row in stdcsv.reader(lines, delimiter=cand)]
        if not counts or counts[0] < 2:
            continue
        header = counts[0]
        agree = sum(1 for c in counts if c == header) / len(counts)
        score = (agree, header)
        if score > best_score:
            best, best_score = cand, score
    return best


def _sniff(path: Path, options: ReadOptions) -> tuple[bytes, str, str, int, str, list[int]]:
    """(bytes, encoding, delimiter, header width, name, Windows-1252 lines of a mixed file) of
    a (possibly gzipped) delimited file."""
    name = options.filename or path.name
    _suffix, gz = split_suffix(name)
    data = read_bytes(path, gz, name=name)
    text, encoding = decode_text(data, name, options.encoding)
    mixed_lines: list[int] = []
    if encoding == MIXED_ENCODING:  # each line in its own encoding, then read as UTF-8
        text, mixed_lines = decode_mixed(data) or (text, [])
        data = text.encode("utf-8")
    if not text.strip():
        raise bad(f"The file {name} is empty.", "empty_file")
    # The header line in full (it may be longer than the sample: 10^6 columns are 2 MB).
    newline = text.find("\n")
    header_line = text if newline < 0 else text[:newline]
    guess = options.delimiter or max(CANDIDATES, key=header_line.count)
    check_table_size(name, None, header_line.count(guess) + 1)
    sample = text[:65536]
    if newline >= len(sample):
        sample = text[: newline + 65536]
    # pandas reads the bytes itself (with the encoding just found): holding the decoded text
    # plus a StringIO copy of it (4 bytes per character) cost ~5x the file size in memory.
    del text
    head = sample.splitlines()[:50]
    head = [line for line in head if line.strip()]
    if len(head) < 2:
        raise bad(f"The file {name} has a header but no data rows.", "header_only")
    delimiter = options.delimiter or sniff_delimiter(head)
    n_header = len(next(stdcsv.reader([head[0]], delimiter=delimiter)))
    check_table_size(name, None, n_header)
    if n_header < 2:
        raise bad(
            f"The file {name} has only one column; it does not look like a CSV with "
            "coordinate columns (expected ';', ',' or tab between columns).",
            "single_column",
        )
    return data, encoding, delimiter, n_header, name, mixed_lines


def _utf8_source(path: Path, options: ReadOptions) -> tuple[str, str, int, str] | None:
    """(encoding, delimiter, header width, name) of a plain (not gzipped) file that is UTF-8
    from end to end, checked in 4 MiB blocks without keeping the text; ``None`` for any
    other file (gzipped, another or mixed encoding, no data in its first 64 KiB), which
    :func:`_sniff` reads whole as before. The readers then stream from the file: memory
    does not grow with its size (5M rows read whole held ~1.4 GB of bytes and text)."""
    import codecs

    name = options.filename or path.name
    _suffix, gz = split_suffix(name)
    if gz or (options.encoding and options.encoding.lower() not in ("utf-8", "utf8", "utf-8-sig")):
        return None
    with path.open("rb") as fh:
        head = fh.read(65536)
        if (
            not head
            or looks_binary(head[:4096])
            or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        ):
            return None
        half = head[:4096]
        if len(half) >= 4 and half[1::2].count(0) > 0.4 * len(half[1::2]):
            return None  # UTF-16 without a BOM: the whole-file path decides
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            decoder.decode(head)
            while block := fh.read(4 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
        fh.seek(0)
        header_bytes = fh.readline()  # the header line in full (10^6 columns are 2 MB)
    if len(header_bytes) > 32768:
        return None  # a very wide header: the whole-file path reads it with its sample
    encoding = options.encoding or ("utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8")
    sample = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    if not sample.strip():
        return None
    header_line = header_bytes.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    guess = options.delimiter or max(CANDIDATES, key=header_line.count)
    check_table_size(name, None, header_line.count(guess) + 1)
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    if len(lines) < 2:
        return None  # the whole-file path says what is wrong
    delimiter = options.delimiter or sniff_delimiter(lines)
    n_header = len(next(stdcsv.reader([lines[0]], delimiter=delimiter)))
    if n_header < 2:
        return None
    check_table_size(name, None, n_header)
    return encoding, delimiter, n_header, name


def _mixed_warning(table: RawTable, lines: list[int]) -> None:
    """Tell which rows were Windows-1252 in a file of UTF-8 rows."""
    if lines:
        shown = ", ".join(str(n) for n in lines[:10]) + (", …" if len(lines) > 10 else "")
        table.warnings.append((Note.MIXED_ENCODING, {"count": len(lines), "rows": shown}))


def _read_csv_args(encoding: str, delimiter: str) -> dict:
    return {
        "encoding": "utf-8" if encoding in ("utf-8-sig", MIXED_ENCODING) else encoding,
        "encoding_errors": "replace" if encoding == "cp1252" else "strict",
        "sep": delimiter,
        "dtype": str,
        "keep_default_na": False,
        "na_values": [""],
        "skip_blank_lines": False,
        "on_bad_lines": "warn",
        "engine": "c",
        # The header is read as a row: with ``header=0`` pandas takes a first data row with one
        # field more than the header as "index + columns" and shifts every column silently.
        # Without a header, the first line fixes the width and any longer row is a bad line.
        "header": None,
    }


def header_names(values: list[Any]) -> list[str]:
    """Column names from the header row as pandas would make them (blank and repeated names)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        text = "" if value is None or value != value else str(value).strip().lstrip("\ufeff")
        name = text or f"Unnamed: {i}"
        base = name
        while name in seen:
            seen[base] += 1
            name = f"{base}.{seen[base]}"
        seen[name] = 0
        names.append(name)
    return names


def _too_long(n_header: int, skipped: list[tuple[int, int]]) -> list[tuple]:
    """Rejections for the lines with more fields than the header (text with the delimiter)."""
    return [
        (ln, "(row)", f"{seen} fields", Reason.TOO_MANY_FIELDS, {"seen": seen, "header": n_header})
        for ln, seen in skipped
    ]


def read(path: Path, options: ReadOptions) -> RawTable:
    """Read a (possibly gzipped) delimited text file into a table of strings."""
    data, encoding, delimiter, n_header, name, mixed = _sniff(path, options)
    # Read whole: at most MAX_ROWS lines (a streamed import reads in chunks and has no limit).
    check_table_size(name, max(data.count(b"\n") - 1, 0), n_header)
    skipped: list[tuple[int, int]] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(io.BytesIO(data), **_read_csv_args(encoding, delimiter))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
            raise bad(
                f"The file {name} could not be read as CSV: {detail(exc, name, path)}", "bad_csv"
            ) from None
    for warning in caught:
        for match in _SKIPPED.finditer(str(warning.message)):
            skipped.append((int(match.group(1)), int(match.group(3))))
    del data
    if len(frame) == 0:
        raise bad(f"The file {name} has a header but no data rows.", "header_only")
    frame.columns = header_names(frame.iloc[0].tolist())
    frame = frame.iloc[1:].reset_index(drop=True)
    # Line numbers: header is line 1; skipped (bad) lines are not in the frame.
    total = len(frame) + len(skipped)
    lines = np.arange(2, total + 2)
    if skipped:
        lines = lines[~np.isin(lines, [s[0] for s in skipped])]
    keep = frame.notna().any(axis=1).to_numpy()  # blank lines
    frame = frame.loc[keep].reset_index(drop=True)
    lines = lines[keep]
    preset = (
        "polisen" if tuple(c.lower() for c in frame.columns) == POLISEN_HISTORY_COLUMNS else None
    )
    table = RawTable(
        frame=frame,
        format="polisen-csv" if preset else "csv",
        encoding=encoding,
        delimiter=delimiter,
        row_numbers=lines,
        preset=preset,
    )
    if len(frame) == 0 and not skipped:
        raise bad(f"The file {name} has a header but no data rows.", "header_only")
    table.bad_rows = _too_long(n_header, skipped)
    _mixed_warning(table, mixed)
    return table


def _arrow_frames(
    data: bytes | Path, encoding: str, delimiter: str, chunksize: int
) -> Iterator[pd.DataFrame] | None:
    """The file's rows as frames of ``chunksize`` rows read by Arrow, or None to use pandas.

    Five times faster than pandas' parser (1M rows: 0.26 s against 1.3 s) and the same
    frames: every cell as text, empty cells missing, a blank line a row of nothing. Only
    for UTF-8 files with a plain header where every row has the header's number of fields:
    a first, multi-threaded pass checks that, and any other file takes pandas' path, which
    reports bad lines by their number.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    if encoding not in ("utf-8", "utf-8-sig", MIXED_ENCODING):
        return None

    def source() -> Any:  # the bytes, or the file itself (streamed from disk)
        return io.BytesIO(data) if isinstance(data, bytes) else str(data)

    try:
        if isinstance(data, bytes):
            head = data[:65536]
        else:
            with data.open("rb") as fh:
                head = fh.read(65536)
        sample = head.decode("utf-8-sig", errors="replace")
        names = next(stdcsv.reader(io.StringIO(sample), delimiter=delimiter))
    except (StopIteration, stdcsv.Error):
        return None
    names = [n.lstrip("\ufeff") for n in names]
    if len(set(names)) != len(names) or not all(names):
        return None
    invalid = [0]

    def count(_row: Any) -> str:
        invalid[0] += 1
        return "skip"

    # 1 MiB blocks: with 4 MiB the reader's memory grew with the file (Arrow's pool peaked
    # at 63 MB for 1M rows and 186 MB for 5M in the first pass; with 1 MiB 40 MB for both,
    # as fast). A row must fit in a block: 1 MiB is far above any incident's.
    def reader(threads: bool, handler: Any) -> Any:
        return pa_csv.open_csv(
            source(),
            read_options=pa_csv.ReadOptions(
                use_threads=threads, block_size=1 << 20, skip_rows=1, column_names=names
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=handler,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )

    try:
        for _batch in reader(True, count):
            if invalid[0]:
                return None
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if invalid[0]:
        return None
    text = pd.StringDtype("pyarrow", na_value=np.nan)  # the dtype pandas reads dtype=str as

    def frames() -> Iterator[pd.DataFrame]:
        pending: list[Any] = []
        rows = 0
        for batch in reader(False, None):
            pending.append(batch)
            rows += batch.num_rows
            while rows >= chunksize:
                table = pa.Table.from_batches(pending)
                yield (
                    table.slice(0, chunksize)
                    .combine_chunks()
                    .to_pandas(types_mapper={pa.string(): text}.get)
                )
                rest = table.slice(chunksize)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            yield (
                pa.Table.from_batches(pending)
                .combine_chunks()
                .to_pandas(types_mapper={pa.string(): text}.get)
            )

    return frames()


def read_chunks(path: Path, options: ReadOptions, chunksize: int = 100_000) -> Iterator[RawTable]:
    """The file as :class:`RawTable` pieces of up to ``chunksize`` rows, for streaming imports.

    Each piece has the file's global row numbers (header = line 1) and the bad lines found
    while reading it (``bad_rows``), so normalising the pieces one after another reports the
    same rows as :func:`read` on the whole file. Errors that :func:`read` raises for the whole
    file (unreadable, header only) are raised here too, before or while iterating. A clean
    UTF-8 file is read by Arrow (:func:`_arrow_frames`), any other by pandas.
    """
    streamed = _utf8_source(path, options)
    data: bytes | Path
    if streamed is not None:
        data, mixed = path, []
        encoding, delimiter, n_header, name = streamed
    else:
        data, encoding, delimiter, n_header, name, mixed = _sniff(path, options)
    skipped: set[int] = set()
    next_line = 2  # the line of the next data row
    rows_seen = 0
    columns: list[str] | None = None
    preset: str | None = None
    reader = None
    fast = _arrow_frames(data, encoding, delimiter, chunksize)
    if fast is None:
        next_line = 1  # pandas reads the header line as a row too
    while True:
        caught: list[Any] = []
        if fast is not None:
            frame = next(fast, None)
            if frame is None:
                break
        else:
            # Warnings are caught only while pandas reads (not while the consumer works on a piece).
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    if reader is None:
                        reader = pd.read_csv(
                            io.BytesIO(data) if isinstance(data, bytes) else data,
                            chunksize=chunksize,
                            **_read_csv_args(encoding, delimiter),
                        )
                    frame = next(reader)
                except StopIteration:
                    break
                except (
                    pd.errors.ParserError,
                    pd.errors.EmptyDataError,
                    UnicodeError,
                    ValueError,
                ) as exc:
                    raise bad(
                        f"The file {name} could not be read as CSV: {detail(exc, name, path)}",
                        "bad_csv",
                    ) from None
        new_bad: list[tuple[int, int]] = []
        for warning in caught:
            for match in _SKIPPED.finditer(str(warning.message)):
                new_bad.append((int(match.group(1)), int(match.group(3))))
        skipped.update(ln for ln, _ in new_bad)
        n = len(frame)
        lines = np.arange(next_line, next_line + n + len(skipped) + 1)
        if skipped:
            lines = lines[~np.isin(lines, sorted(skipped))]
        lines = lines[:n]
        if n:
            next_line = int(lines[-1]) + 1
        if columns is None and fast is None:
            if len(frame) == 0:
                break
            # pandas' path reads the header as the first row (line 1): take it out.
            columns = header_names(frame.iloc[0].tolist())
            frame, lines, n = frame.iloc[1:], lines[1:], n - 1
        if columns is None:
            columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
            preset = (
                "polisen" if tuple(c.lower() for c in columns) == POLISEN_HISTORY_COLUMNS else None
            )
        frame.columns = columns
        keep = frame.notna().any(axis=1).to_numpy()
        frame = frame.loc[keep]
        frame.index = pd.RangeIndex(rows_seen, rows_seen + len(frame))
        rows_seen += len(frame)
        table = RawTable(
            frame=frame,
            format="polisen-csv" if preset else "csv",
            encoding=encoding,
            delimiter=delimiter,
            row_numbers=lines[keep],
            preset=preset,
        )
        table.bad_rows = _too_long(n_header, new_bad)
        if rows_seen == len(frame):  # the first piece carries the whole file's warning
            _mixed_warning(table, mixed)
        yield table
    if rows_seen == 0 and not skipped:
        raise bad(f"The file {name} has a header but no data rows.", "header_only")
