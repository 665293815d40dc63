"""Database-native bulk writes: DBAPI tuples for SQLite executemany, COPY text for PostgreSQL.

Column-wise encoders (no per-row Python where it can be avoided) and the two insert
backends used by :mod:`tryggkarta.store.writes`; both insert with
"on conflict (dedup_key) do nothing" inside the caller's transaction.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def dict_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    records = out.to_dict("records")
    for rec in records:
        for key, value in rec.items():
            if isinstance(value, pd.Timestamp):
                rec[key] = value.to_pydatetime()
            elif isinstance(value, np.generic):
                rec[key] = value.item()
    return records


def _column(series: pd.Series, dialect: str) -> np.ndarray:
    """One column as DBAPI-ready Python objects (None for missing), vectorised per column."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        text = _timestamps_as_text(series, "" if dialect == "sqlite" else "+00:00")
        return text.astype(object).where(series.notna(), None).to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=object, na_value=None)
    values = series.to_numpy(dtype=object)
    missing = pd.isna(series).to_numpy()
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values


def _timestamps_as_text(series: pd.Series, suffix: str = "") -> pd.Series:
    """UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` (+ ``suffix``) per timestamp, vectorised.

    The same text as ``strftime("%Y-%m-%d %H:%M:%S.%f")`` (SQLAlchemy's SQLite storage format,
    which queries compare as text), ten times faster: numpy's ISO formatting with the "T" set
    to a space in place. Missing values come out as "NaT"; callers mask them.
    """
    values = series.dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]")
    text = np.datetime_as_string(values, unit="us")
    if text.dtype.itemsize // 4 == 26 and len(text):  # every value is a 4-digit year
        chars = text.view(np.uint32).reshape(len(text), 26)
        chars[~np.isnat(values), 10] = ord(" ")
    else:
        text = np.char.replace(text, "T", " ")
    if suffix:
        text = np.char.add(text, suffix)
    return pd.Series(text, index=series.index, dtype=object)


def _dates_as_text(series: pd.Series) -> pd.Series:
    """ISO dates as text, None (SQL NULL) for missing ones: NaT has an ``isoformat`` too."""
    return pd.Series(
        [
            None if v is None or v is pd.NaT or pd.isna(v) else v.isoformat()
            for v in series.to_numpy(dtype=object)
        ],
        index=series.index,
        dtype=object,
    )


def sqlite_tuples(frame: pd.DataFrame, columns: list[str], dialect: str) -> list[tuple[Any, ...]]:
    arrays = []
    for col in columns:
        series = frame[col]
        if col in ("start_date", "end_date"):
            series = _dates_as_text(series)
        arrays.append(_column(series, dialect))
    return list(zip(*arrays, strict=True))


def insert_sqlite(dbapi: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        "ON CONFLICT (dedup_key) DO NOTHING"
    )
    cur = dbapi.cursor()
    try:
        cur.execute(
            "PRAGMA cache_size=-262144"
        )  # 256 MiB page cache for this connection: index upkeep
        cur.executemany(sql, rows)
    finally:
        cur.close()


def _copy_field(series: pd.Series, col: str) -> pa.Array:
    """One column as PostgreSQL COPY TEXT fields (escaped; ``\\N`` for NULL), vectorised."""
    if col in ("start_date", "end_date"):
        arr = pa.array(_dates_as_text(series).to_numpy(dtype=object), pa.string())
    elif isinstance(series.dtype, pd.DatetimeTZDtype):
        text = _timestamps_as_text(series, "+00:00").where(series.notna(), None)
        arr = pa.array(text.to_numpy(dtype=object), pa.string())
    elif col == "geom_wkb":  # bytea in hex form: \x0101…, the backslash escaped for TEXT COPY
        arr = pa.array(["\\\\x" + w.hex() for w in series.to_numpy(dtype=object)], pa.string())
    elif pd.api.types.is_bool_dtype(series.dtype):
        arr = pa.array(series.to_numpy(dtype=object, na_value=None), pa.bool_()).cast(pa.string())
    elif pd.api.types.is_numeric_dtype(series.dtype):
        # Arrow prints floats as the shortest text that reads back to the same double.
        arr = pa.array(series, from_pandas=True).cast(pa.string())
    else:
        text = series.astype("string")
        arr = pa.array(text, from_pandas=True).cast(pa.string())
        for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            arr = pc.replace_substring(arr, raw, escaped)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.fill_null(arr, "\\N")


def copy_text(frame: pd.DataFrame, columns: list[str]) -> bytes:
    """The rows of ``frame`` as one COPY … FROM STDIN (FORMAT text) payload, UTF-8."""
    if len(frame) == 0:
        return b""
    fields = [_copy_field(frame[col], col) for col in columns]
    lines = pc.binary_join_element_wise(*fields, "\t")
    lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")  # each line ends in a newline
    lines = lines.cast(pa.large_string())  # 64-bit offsets: no 2 GiB limit per chunk
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    start, end = int(offsets[0]), int(offsets[-1])
    return (
        lines.buffers()[2].slice(start, end - start).to_pybytes()
    )  # no nulls: the lines back to back


def insert_postgres(dbapi: Any, table: str, columns: list[str], payload: bytes) -> None:
    """COPY (text format, one payload) into a temporary table, then INSERT … SELECT … ON CONFLICT."""
    cols = ", ".join(columns)
    temp = f"tk_load_{table}"
    with dbapi.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {temp}")
        cur.execute(
            f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"
        )
        with cur.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:
            view = memoryview(payload)
            for start in range(0, len(payload), 8 * 1024 * 1024):
                copy.write(view[start : start + 8 * 1024 * 1024])
        cur.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp} ON CONFLICT (dedup_key) DO NOTHING"
        )
        cur.execute(f"DROP TABLE {temp}")


_END = object()


def prefetch(items):  # noqa: ANN001, ANN202 - any iterator -> generator
    """Iterate ``items`` one step ahead in a worker thread (errors surface in the caller)."""
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tk-prepare") as pool:
        pending = pool.submit(next, iterator, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, iterator, _END)
            yield item
