"""A whole point layer read as Arrow record batches, never as one Python object per value.

The streamed export of 1M raw incidents spent most of its time fetching rows: SQLAlchemy
rows, one Python object per value, then a DataFrame built from the tuples (108 of 183 s in a
profile on a loaded machine, 2026-11-30). Here the database's own bulk output is read by
Arrow:

* **PostgreSQL:** ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` inside the caller's snapshot
  transaction; the CSV text of ``rows`` rows at a time is parsed by Arrow's CSV reader with
  the column types given (times as microseconds since the epoch, so no time zone text is
  parsed). An unquoted empty field is NULL, a quoted one an empty string, as COPY writes them.
* **SQLite:** the sqlite3 cursor of the snapshot connection; each batch of rows becomes one
  Arrow array per column (converted in C). Not the ADBC SQLite driver: it links its own copy
  of SQLite, and two copies in one process break each other's POSIX locks on the same file
  (seen here as stale reads and "disk I/O error"; SQLite's docs warn of corruption).

:func:`frames` yields DataFrames with the same columns, dtypes and values as
:func:`tryggkarta.store.paging._frame` builds from rows (times ``datetime64[UTC]``, text as
pandas strings, missing values missing), so everything downstream writes the same text.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Float,
    Integer,
    cast,
    func,
    select,
)

from tryggkarta.store.models import POINT_LAYERS
from tryggkarta.store.queries import Filters, _filtered, model_for
from tryggkarta.store.types import UTCDateTime

if TYPE_CHECKING:
    from tryggkarta.store.engine import Database


def _kind(column: Any) -> str:
    """ "time", "int", "float", "bool" or "text": how a column travels."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "time"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int"
    if isinstance(kind, Float):
        return "float"
    return "text"


#: Arrow types of the PostgreSQL CSV fields (times: microseconds since the epoch).
_CSV_TYPES = {"time": pa.int64(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
_UTC = pa.timestamp("us", tz="UTC")


def supported(db: Database, layer: str) -> bool:
    """Whether ``layer`` is read column-wise: a point layer (x and y, no WKB to decode)."""
    return layer in POINT_LAYERS


def _sql(stmt: Any, dialect: Any) -> str:
    """The statement as SQL text, its values written in (codes, numbers: what filters hold)."""
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _frame(arrays: list[pa.Array], names: list[str]) -> pd.DataFrame:
    return pa.table(arrays, names=names).to_pandas()


def postgres_frames(
    conn: Connection, db: Database, layer: str, filters: Filters, names: list[str], rows: int
) -> Iterator[pd.DataFrame]:
    """DataFrames of about ``rows`` rows of ``layer`` in id order, read by COPY on ``conn``
    (in its transaction, so in its snapshot)."""
    table = model_for(layer).__table__
    kinds = {name: _kind(table.c[name]) for name in names}
    cols = [
        cast(func.extract("epoch", table.c[name]) * 1_000_000, BigInteger()).label(name)
        if kinds[name] == "time"
        else table.c[name]
        for name in names
    ]
    sql = _sql(_filtered(select(*cols), db, layer, filters).order_by(table.c.id), conn.dialect)
    # one thread: a chunk is a few MB, and each parsing thread keeps its own buffers (about
    # 17 MB more peak memory for no gain on small blocks)
    read = pa_csv.ReadOptions(column_names=names, block_size=64 << 20, use_threads=False)
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    convert = pa_csv.ConvertOptions(
        column_types={name: _CSV_TYPES.get(kinds[name], pa.string()) for name in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,  # COPY quotes an empty string, not a NULL
        null_values=[""],
    )

    def parsed(blocks: list[bytes]) -> pd.DataFrame:
        got = pa_csv.read_csv(io.BytesIO(b"".join(blocks)), read, parse, convert)
        arrays = [
            got.column(name).cast(_UTC) if kinds[name] == "time" else got.column(name)
            for name in names
        ]
        return _frame(arrays, names)

    dbapi = conn.connection.dbapi_connection
    cancelled = False
    with dbapi.cursor() as cur:
        try:
            with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
                blocks: list[bytes] = []
                try:
                    for block in copy:  # libpq: one row per block; no value is looked at
                        blocks.append(block)
                        if len(blocks) >= rows:
                            yield parsed(blocks)
                            blocks = []
                except GeneratorExit:
                    # Left before the end (the caller failed or stopped): the server would
                    # wait, blocked writing the rest, holding its snapshot (and any DROP
                    # DATABASE … FORCE elsewhere) until the connection closed. Cancel it;
                    # the caller's transaction rolls back.
                    cancelled = True
                    (getattr(dbapi, "cancel_safe", None) or dbapi.cancel)()
                    raise
                if blocks:
                    yield parsed(blocks)
        except psycopg.errors.QueryCanceled:
            if not cancelled:
                raise


def sqlite_frames(
    conn: Connection, db: Database, layer: str, filters: Filters, names: list[str], rows: int
) -> Iterator[pd.DataFrame]:
    """DataFrames of at most ``rows`` rows of ``layer`` in id order, read on ``conn`` (in its
    snapshot) by the sqlite3 cursor itself: each batch of rows becomes one Arrow array per
    column, converted in C (no SQLAlchemy row, no DataFrame built from tuples)."""
    table = model_for(layer).__table__
    kinds = {name: _kind(table.c[name]) for name in names}
    stmt = _filtered(select(*[table.c[name] for name in names]), db, layer, filters)
    sql = _sql(stmt.order_by(table.c.id), conn.dialect)
    types = {"time": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.int64()}
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql)
        while batch := cur.fetchmany(rows):
            arrays = []
            for name, values in zip(names, zip(*batch, strict=True), strict=True):
                arr = pa.array(values, types.get(kinds[name], pa.string()))
                if kinds[name] == "time":  # naive UTC text, as SQLAlchemy stores it
                    arr = arr.cast(pa.timestamp("us")).cast(_UTC)
                elif kinds[name] == "bool":  # 0 / 1
                    arr = arr.cast(pa.bool_())
                arrays.append(arr)
            yield _frame(arrays, names)
    finally:
        cur.close()
