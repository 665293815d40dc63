"""A whole point layer read as Arrow record batches, never as one Python object per value.

The streamed export of 1M raw incidents spent most of its time fetching rows: SQLAlchemy
rows, one Python object per value, then a DataFrame built from the tuples (108 of 183 s in a
profile on a loaded machine, 2026-11-30). Here the database's own bulk output is read by
Arrow:

* **PostgreSQL:** ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` inside the caller's snapshot
  transaction; the CSV text of ``rows`` rows at a time is parsed by Arrow's CSV reader with
  the column types given (times as microseconds since the epoch, so no time zone text is
  parsed). An unquoted empty field is NULL, a quoted one an empty string, as COPY writes them.
* **SQLite:** the ADBC SQLite driver, which makes Arrow batches in C. It infers a column's
  type from its first values, so a column that starts with NULLs and holds text later would
  fail: every nullable column is read as ``COALESCE(col, <a value of its type>)`` plus a
  ``col IS NULL`` flag, and the NULLs are put back in Arrow.

:func:`frames` yields DataFrames with the same columns, dtypes and values as
:func:`tryggkarta.store.paging._frame` builds from rows (times ``datetime64[UTC]``, text as
pandas strings, missing values missing), so everything downstream writes the same text.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Float,
    Integer,
    cast,
    func,
    literal_column,
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
#: A value of each kind standing in for NULL in SQLite (the NULL flag says which are NULL).
_SQLITE_STAND_IN = {
    "time": "'1970-01-01 00:00:00.000000'",
    "int": "0",
    "float": "0.0",
    "bool": "0",
    "text": "''",
}
_UTC = pa.timestamp("us", tz="UTC")


def supported(db: Database, layer: str) -> bool:
    """Whether :func:`frames` can read ``layer`` from ``db``: a point layer in PostgreSQL or
    in an SQLite file."""
    if layer not in POINT_LAYERS:
        return False
    if db.is_postgis:
        return True
    path = db.engine.url.database
    return bool(path) and path != ":memory:" and not path.startswith("file:")


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
    read = pa_csv.ReadOptions(column_names=names, block_size=64 << 20)
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


@contextmanager
def sqlite_frames(
    db: Database, layer: str, filters: Filters, names: list[str], rows: int
) -> Iterator[tuple[int, Iterator[pd.DataFrame]]]:
    """(rows matched, DataFrames of at most ``rows`` rows in id order), both read by the
    ADBC driver in one read transaction of its own connection (one snapshot in WAL mode)."""
    import adbc_driver_sqlite.dbapi as adbc_sqlite
    from sqlalchemy.dialects import sqlite

    table = model_for(layer).__table__
    kinds = {name: _kind(table.c[name]) for name in names}
    cols, flags = [], {}
    for name in names:
        col = table.c[name]
        cols.append(func.coalesce(col, literal_column(_SQLITE_STAND_IN[kinds[name]])).label(name))
        if col.nullable and not col.primary_key:
            flags[name] = f"{name}__null"
            cols.append(col.is_(None).label(flags[name]))
    dialect = sqlite.dialect()
    query = _sql(_filtered(select(*cols), db, layer, filters).order_by(table.c.id), dialect)
    counting = _filtered(select(func.count()).select_from(table), db, layer, filters)
    conn = adbc_sqlite.connect(db.engine.url.database)  # not autocommit: one read transaction
    try:
        cur = conn.cursor()
        cur.execute(_sql(counting, dialect))
        matched = int(cur.fetchone()[0])
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(rows)})
        cur.execute(query)
        reader = cur.fetch_record_batch()

        def frames() -> Iterator[pd.DataFrame]:
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                arrays = []
                for name in names:
                    arr = batch.column(name)
                    if kinds[name] == "time":
                        arr = arr.cast(pa.timestamp("us")).cast(_UTC)  # naive UTC text
                    elif kinds[name] == "bool":
                        arr = pc.not_equal(arr, 0)
                    elif kinds[name] == "float":
                        arr = arr.cast(pa.float64())
                    if name in flags:
                        missing = pc.not_equal(batch.column(flags[name]), 0)
                        arr = pc.if_else(missing, pa.scalar(None, arr.type), arr)
                    arrays.append(arr)
                yield _frame(arrays, names)

        yield matched, frames()
    finally:
        conn.close()
