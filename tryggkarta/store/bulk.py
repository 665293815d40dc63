"""Database-native bulk writes: Arrow tables staged by ADBC for SQLite, COPY text for PostgreSQL.

Column-wise encoders (no per-row Python where it can be avoided), the two staging and
insert backends used by :mod:`tryggkarta.store.writes`, and the index and constraint
handling of bulk mode. Everything runs inside the caller's transaction.
"""

from __future__ import annotations

import binascii
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv


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


def _timestamps_as_text(series: pd.Series, suffix: str = "") -> pa.Array:
    """UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` (+ ``suffix``) per timestamp; null where missing.

    The same text as ``strftime("%Y-%m-%d %H:%M:%S.%f")`` (SQLAlchemy's SQLite storage format,
    which queries compare as text), from Arrow's cast of naive UTC microseconds to text:
    3 ms per 100,000 values, against 30 ms for numpy's ISO text and 1 s for strftime.
    """
    values = series.dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]")
    text = pa.array(values, pa.timestamp("us"), mask=np.isnat(values)).cast(pa.string())
    if suffix:
        text = pc.binary_join_element_wise(text, pa.scalar(suffix), "")
    return text


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


_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def _text_array(series: pd.Series) -> pa.Array:
    """Text (or missing) values as an Arrow string array, straight from the object array
    (or zero-copy from a pandas string column that Arrow already holds)."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        arr = pa.array(series)
        return arr if arr.type == pa.string() else arr.cast(pa.string())
    try:
        return pa.array(series.to_numpy(dtype=object), pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all str: pandas turns them into text
        return pa.array(series.astype("string"), pa.string(), from_pandas=True)


def _binary_array(series: pd.Series) -> pa.Array:
    """Bytes values as an Arrow binary array (zero-copy when pandas holds them in Arrow)."""
    if isinstance(series.dtype, pd.ArrowDtype):
        arr = pa.array(series)
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        return arr if arr.type == pa.binary() else arr.cast(pa.binary())
    return pa.array(series.to_numpy(dtype=object), pa.binary())


def _hex(series: pd.Series) -> pa.Array:
    """Bytes values as lower-case hex text, hexlified in one call over Arrow's data buffer."""
    raw = _binary_array(series).cast(pa.large_binary())
    offsets = np.frombuffer(raw.buffers()[1], dtype=np.int64)[
        raw.offset : raw.offset + len(raw) + 1
    ]
    data = raw.buffers()[2]
    hexed = binascii.hexlify(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
    return pa.LargeStringArray.from_buffers(
        len(raw), pa.py_buffer(((offsets - offsets[0]) * 2).tobytes()), pa.py_buffer(hexed)
    )


def _may_need_escapes(arr: pa.Array | pa.ChunkedArray) -> bool:
    """Whether a backslash, tab or line break occurs in the array's character data: one
    memchr-speed scan of the raw buffer instead of a regex per value (text outside the
    array's slice can only cause a needless, still correct, escaping pass)."""
    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        data = chunk.buffers()[2]
        if data is not None:
            raw = data.to_pybytes()
            if any(char in raw for char in (b"\\", b"\t", b"\n", b"\r")):
                return True
    return False


def _copy_field(series: pd.Series, col: str) -> pa.Array:
    """One column as PostgreSQL COPY TEXT fields (escaped; ``\\N`` for NULL), vectorised."""
    if col in ("start_date", "end_date"):
        arr = pa.array(_dates_as_text(series).to_numpy(dtype=object), pa.string())
    elif isinstance(series.dtype, pd.DatetimeTZDtype):
        arr = _timestamps_as_text(series, "+00:00")
    elif col == "geom_wkb":  # bytea in hex form: \x0101…, the backslash escaped for TEXT COPY
        large = pa.large_string()
        arr = pc.binary_join_element_wise(
            pa.scalar("\\\\x", large), _hex(series), pa.scalar("", large)
        )
        arr = arr.cast(pa.string())  # like every other field (a chunk's WKB is far below 2 GiB)
    elif pd.api.types.is_bool_dtype(series.dtype):
        arr = pa.array(series.to_numpy(dtype=object, na_value=None), pa.bool_()).cast(pa.string())
    elif pd.api.types.is_numeric_dtype(series.dtype):
        # Arrow prints floats as the shortest text that reads back to the same double.
        arr = pa.array(series, from_pandas=True).cast(pa.string())
    else:
        arr = _text_array(series)
        if arr.null_count < len(arr) and _may_need_escapes(arr):
            for raw, escaped in _COPY_ESCAPES:
                arr = pc.replace_substring(arr, raw, escaped)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.fill_null(arr, "\\N")


def copy_text(frame: pd.DataFrame, columns: list[str]) -> bytes:
    """The rows of ``frame`` as one COPY … FROM STDIN (FORMAT text) payload, UTF-8.

    Every field is already COPY text (escaped, ``\\N`` for NULL), so Arrow's CSV writer with
    a tab delimiter and no quoting writes the lines: four times faster than joining the
    columns element-wise.
    """
    if len(frame) == 0:
        return b""
    fields = [_copy_field(frame[col], col) for col in columns]
    sink = io.BytesIO()
    try:
        pa_csv.write_csv(
            pa.Table.from_arrays(fields, names=columns),
            sink,
            pa_csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"),
        )
        return sink.getvalue()
    except pa.ArrowInvalid:  # a double quote somewhere: the writer refuses it unquoted
        pass
    lines = pc.binary_join_element_wise(*fields, "\t")
    lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")  # each line ends in a newline
    lines = lines.cast(pa.large_string())  # 64-bit offsets: no 2 GiB limit per chunk
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    start, end = int(offsets[0]), int(offsets[-1])
    return lines.buffers()[2].slice(start, end - start).to_pybytes()  # no nulls: lines back to back


def arrow_table(frame: pd.DataFrame, columns: list[str]) -> pa.Table:
    """The chunk as an Arrow table with SQLite-ready types (text times, as SQLAlchemy stores them)."""
    arrays = []
    for col in columns:
        series = frame[col]
        if col in ("start_date", "end_date"):
            arrays.append(pa.array(_dates_as_text(series).to_numpy(dtype=object), pa.string()))
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            arrays.append(_timestamps_as_text(series))
        elif col == "geom_wkb":
            arrays.append(_binary_array(series))
        elif pd.api.types.is_bool_dtype(series.dtype):
            arrays.append(
                pa.array(series.to_numpy(dtype=object, na_value=None), pa.bool_()).cast(pa.int64())
            )
        elif pd.api.types.is_integer_dtype(series.dtype):
            arrays.append(pa.array(series, pa.int64(), from_pandas=True))
        elif pd.api.types.is_float_dtype(series.dtype):
            arrays.append(pa.array(series, pa.float64(), from_pandas=True))
        else:
            arrays.append(_text_array(series))
    return pa.Table.from_arrays(arrays, names=columns)


class SqliteStage:
    """A staging database file that Arrow tables are written into without holding the GIL.

    Python's sqlite3 binds every value of every row under the GIL: a streamed import spent
    10 s of its 15 s there at 1M rows, fighting the thread that reads the next chunk. The
    ADBC SQLite driver binds in C from Arrow (1M rows: 0.8 s, the GIL released), into a
    file of its own; the store's own connection then ATTACHes the file and moves the rows
    with one INSERT … SELECT in the import's transaction. The file sits next to the database
    (same disk) and is removed when the import's transaction ends (:meth:`remove`).
    """

    def __init__(self, main_path: str | None) -> None:
        import os
        import tempfile

        import adbc_driver_sqlite.dbapi as adbc_sqlite

        from tryggkarta.ingest.cleanup import clean_stale_stages, stage_prefix

        folder = os.path.dirname(main_path) if main_path else None
        # Files of imports killed before they could remove theirs (kill -9) go first; the
        # name carries this host and process id, so the next sweep can tell ours are stale.
        clean_stale_stages(folder)
        fd, self.path = tempfile.mkstemp(prefix=stage_prefix(), suffix=".db", dir=folder or None)
        os.close(fd)
        self.alias = "tk_stage_" + os.path.basename(self.path).split("-")[-1].split(".")[0].lower()
        self.columns: list[str] | None = None
        self.removed = False
        self._conn = adbc_sqlite.connect(self.path)
        self._cur = self._conn.cursor()

    def add(self, table: pa.Table) -> None:
        if self.columns is None:
            self.columns = list(table.column_names)
        self._cur.adbc_ingest("stage", table, mode="create_append")

    def close(self) -> None:
        """Commit and close the writing side (idempotent)."""
        if self._conn is not None:
            self._cur.close()
            self._conn.commit()
            self._conn.close()
            self._conn = None

    def move_into(self, dbapi: Any, table: str, *, upsert: bool = True) -> int:
        """Rows inserted into ``table`` from the stage, skipping stored dedup keys (``upsert``;
        without it, for a first load with the key index dropped, the keys must be new)."""
        self.close()
        if not self.columns:
            return 0
        cols = ", ".join(self.columns)
        before = dbapi.total_changes
        cur = dbapi.cursor()
        cache = cur.execute("PRAGMA main.cache_size").fetchone()[0]
        try:
            if upsert:  # keys looked up in the live unique index: a 64 MiB page cache for it
                cur.execute("PRAGMA main.cache_size=-65536")
            cur.execute("ATTACH DATABASE ? AS " + self.alias, (self.path,))
            conflict = (
                "WHERE true ON CONFLICT (dedup_key) DO NOTHING" if upsert else ""
            )  # WHERE: upsert parsing
            cur.execute(
                f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM {self.alias}.stage {conflict}"
            )
        finally:
            cur.execute(f"PRAGMA main.cache_size={int(cache)}")
            cur.close()
        return dbapi.total_changes - before

    def remove(self, dbapi: Any) -> None:
        """Detach (once the transaction has ended) and delete the file."""
        import contextlib
        import os
        import sqlite3

        self.close()
        if self.removed:
            return
        self.removed = True
        with contextlib.suppress(sqlite3.Error):
            dbapi.execute("DETACH DATABASE " + self.alias)
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path + suffix)


def drop_sqlite_indexes(dbapi: Any, table: str, *, unique: bool = False) -> list[str]:
    """Drop ``table``'s indexes (the unique ones too if ``unique``); returns the SQL that
    creates them again. Without the dedup key's unique index, inserts must not need it:
    only a first load (an empty table) drops it.
    """
    cur = dbapi.cursor()
    try:
        rows = cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        ).fetchall()
        kept = [
            (name, sql)
            for name, sql in rows
            if unique or not sql.lstrip().upper().startswith("CREATE UNIQUE")
        ]
        for name, _sql in kept:
            cur.execute(f'DROP INDEX "{name}"')
    finally:
        cur.close()
    return [sql for _name, sql in kept]


def rebuild_sqlite_indexes(dbapi: Any, statements: list[str]) -> None:
    """Build the indexes again, sorting on two threads (measured at 1M rows: four indexes in
    1.3 s, against 1.8 s on one thread and 2.8 s with a 256 MiB page cache, which slows the
    sorter down)."""
    cur = dbapi.cursor()
    threads = cur.execute("PRAGMA threads").fetchone()[0]
    try:
        cur.execute("PRAGMA threads=2")
        for sql in statements:
            cur.execute(sql)
    finally:
        cur.execute(f"PRAGMA threads={int(threads)}")
        cur.close()


def _postgres_secondary(cur: Any, table: str) -> tuple[list[str], list[str]]:
    """(drop, rebuild) SQL for ``table``'s unique constraints and indexes but the primary key.

    Foreign keys stay: dropping one locks the table it points to (``datasets``, which every
    page reads), and with the rows streaming in, their check costs no time at 1M rows (it
    runs in the server while the next chunk is prepared). A unique constraint comes back
    with ``ADD CONSTRAINT``, a unique index with ``CREATE UNIQUE INDEX``: a key stored twice
    fails the import.
    """
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'u' ORDER BY conname",
        (table,),
    )
    constraints = cur.fetchall()
    cur.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname",
        (table,),
    )
    indexes = cur.fetchall()
    drop = [f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' for name, _ in constraints]
    drop += [f'DROP INDEX "{name}"' for name, _ in indexes]
    # a partitioned table's index reads "ON ONLY <table>": built again on the parent, it must
    # recurse into the partitions, so the ONLY goes
    rebuild = [definition.replace(" ON ONLY ", " ON ", 1) for _, definition in indexes]
    rebuild += [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for name, definition in reversed(constraints)
    ]
    return drop, rebuild


def drop_postgres_secondary(cur: Any, table: str) -> list[str]:
    """Lock ``table`` and drop its unique constraints and secondary indexes.

    Returns the SQL that builds them again (:func:`rebuild_postgres`). The lock (ACCESS
    EXCLUSIVE on ``table`` only) lasts until the transaction ends: readers of the layer wait.
    """
    cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    drop, rebuild = _postgres_secondary(cur, table)
    for sql in drop:
        cur.execute(sql)
    return rebuild


def skip_row_triggers(cur: Any) -> bool:
    """Switch off row triggers, the foreign-key checks among them, for this transaction.

    For a first load only: every row it writes carries the id of the dataset row created in
    the same transaction, so the check each row would trigger (2.3 s of server time per 1M
    rows, on the critical path of a 2-core machine: 10 s against 8.5 s for the import) can
    only pass; :func:`restore_row_triggers` checks the dataset row once instead. Needs
    ``SET`` on ``session_replication_role`` (a superuser, or on PostgreSQL 15+ ``GRANT SET ON
    PARAMETER session_replication_role TO <role>``); without it nothing changes and every row
    is checked. Returns whether the triggers are off.
    """
    return _set_local_if_allowed(cur, "session_replication_role", "replica")


def try_in_savepoint(cur: Any, *statements: str) -> bool:
    """Run ``statements`` inside a savepoint; whether all of them ran.

    A refusal (no privilege, an unknown value, a lock not had in time) rolls back to the
    savepoint, so the caller's transaction stays usable as it was before.
    """
    cur.execute("SAVEPOINT tk_try")
    try:
        for sql in statements:
            cur.execute(sql)
    except Exception:  # noqa: BLE001 - refused: the transaction goes on without them
        cur.execute("ROLLBACK TO SAVEPOINT tk_try")
        return False
    cur.execute("RELEASE SAVEPOINT tk_try")
    return True


def _set_local_if_allowed(cur: Any, name: str, value: str) -> bool:
    """``SET LOCAL name = value`` for this transaction if the role may; whether it did
    (refused: the server's setting stands)."""
    return try_in_savepoint(cur, f"SET LOCAL {name} = {value}")


def compress_wal(cur: Any) -> bool:
    """Compress this transaction's full-page images in the WAL with LZ4 (PostgreSQL 15+).

    The first change to a page after a checkpoint writes the whole 8 kB page to the WAL. A
    weekly import touches pages all over a year's partition and its six indexes: measured on
    a 1.5M-row partition, 100,000 rows wrote 142 MB of WAL right after a checkpoint against
    68 MB without one, and the insert took 3.2–3.9 s against 2.8 s with LZ4. Needs ``SET``
    on ``wal_compression`` (a superuser, or ``GRANT SET ON PARAMETER wal_compression TO
    <role>``; or ``wal_compression = lz4`` in postgresql.conf, which makes this moot); a
    server built without LZ4, or a role without the privilege, keeps the server's setting.
    Returns whether LZ4 is on.
    """
    return _set_local_if_allowed(cur, "wal_compression", "lz4")


def restore_row_triggers(cur: Any, table: str, dataset_id: int) -> None:
    """Row triggers on again; the one check that stands for the skipped ones."""
    cur.execute("SET LOCAL session_replication_role = origin")
    cur.execute(
        f"SELECT EXISTS (SELECT 1 FROM datasets WHERE id = %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {table} WHERE dataset_id IS DISTINCT FROM %s)",
        (dataset_id, dataset_id),
    )
    if not cur.fetchone()[0]:  # pragma: no cover - the writer only writes its own dataset id
        raise RuntimeError(
            f"{table}: rows of a first load do not all belong to dataset {dataset_id}."
        )


def rebuild_postgres(cur: Any, rebuild: list[str]) -> None:
    # The server's maintenance_work_mem as it is: 256 MB instead of the default 64 MB made the
    # B-tree builds slower at 1M rows, the GiST build no faster.
    for sql in rebuild:
        cur.execute(sql)


def move_staged_postgres(cur: Any, table: str, temp: str, columns: list[str], *, bulk: bool) -> int:
    """Move the rows staged in ``temp`` into ``table``, skipping stored dedup keys; rows inserted.

    Row by row: one INSERT … SELECT … ORDER BY dedup_key ON CONFLICT DO NOTHING (the unique
    index grows in key order). Bulk: the unique key index and the secondary indexes are
    dropped (:func:`drop_postgres_secondary`), the rows whose keys are
    not stored yet are inserted (a hash anti-join), and everything is built and checked again.
    """
    cols = ", ".join(columns)
    cur.execute("SET LOCAL work_mem = '256MB'")  # the key sort / hash in memory, not on disk
    if not bulk:
        cur.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp} "
            "ORDER BY dedup_key ON CONFLICT (dedup_key) DO NOTHING"
        )
        inserted = int(cur.rowcount)
    else:
        rebuild = drop_postgres_secondary(cur, table)
        cur.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.dedup_key = s.dedup_key)"
        )
        inserted = int(cur.rowcount)
        rebuild_postgres(cur, rebuild)
    cur.execute(f"DROP TABLE {temp}")
    cur.execute("RESET work_mem")
    return inserted


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
