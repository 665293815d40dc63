"""Writing layers: bulk, idempotent inserts and whole-dataset deletes.

:func:`insert_layer` takes a GeoDataFrame in the working CRS with the canonical columns of
``domain.LAYER_FIELDS`` and inserts it into the layer's table in chunks, with
"on conflict (dedup_key) do nothing": rows already in the store are skipped, never doubled.
It runs inside the caller's session, so the caller's transaction makes an import atomic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from sqlalchemy import Connection, delete, event, func, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tryggkarta.config import local_timezone
from tryggkarta.domain import LAYER_FIELDS
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.store import cellcounts, partitions
from tryggkarta.store.bulk import (
    SqliteStage,
    _postgres_secondary,
    arrow_table,
    compress_wal,
    copy_text,
    dict_records,
    drop_postgres_secondary,
    drop_sqlite_indexes,
    move_staged_postgres,
    prefetch,
    rebuild_postgres,
    rebuild_sqlite_indexes,
    restore_row_triggers,
    skip_row_triggers,
    try_in_savepoint,
)
from tryggkarta.store.engine import unbounded
from tryggkarta.store.models import POINT_LAYERS, AuditLog, Dataset
from tryggkarta.store.queries import model_for

CHUNK = 5000
#: Rows per bulk round trip (executemany / COPY) in :func:`insert_layer`.
BULK_CHUNK = 100_000
#: Imports of at least this many rows into a table that holds no more rows than they bring
#: drop the secondary indexes and build them again afterwards (see :class:`LayerWriter`).
BULK_MIN = 50_000


def content_key(frame: pd.DataFrame, wkb: np.ndarray, fields: Iterable[str]) -> np.ndarray:
    """A stable hash per row of its content (fields + geometry), for sources without ids."""
    parts = [
        frame[f].astype("string").fillna("").to_numpy(dtype=object) for f in fields if f in frame
    ]
    hexes = np.array([w.hex() for w in wkb], dtype=object)
    joined = ["\x1f".join(map(str, vals)) for vals in zip(*parts, hexes, strict=True)]
    return np.array(
        ["h:" + hashlib.sha256(s.encode()).hexdigest()[:40] for s in joined], dtype=object
    )


def point_wkb(x: np.ndarray, y: np.ndarray) -> pa.Array:
    """Little-endian 2D point WKB per (x, y), as an Arrow binary array: the bytes shapely's
    ``to_wkb`` writes, at a tenth of its time and without a Python object per row."""
    n = len(x)
    records = np.empty(
        n, dtype=np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    )
    records["order"], records["type"], records["x"], records["y"] = 1, 1, x, y
    offsets = np.arange(0, records.itemsize * (n + 1), records.itemsize, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(records.tobytes())]
    )


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True)


def epoch_seconds(when: pd.Series) -> pd.Series:
    """Whole seconds since 1970 (UTC) whatever the datetime resolution (s, ms, us, ns)."""
    return ((when - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("Int64")


def prepare_records(layer: str, gdf: Any, dataset_id: int) -> pd.DataFrame:
    """Columns ready for the layer table: geometry as WKB plus x/y or bbox, times, keys."""
    fields = LAYER_FIELDS[layer]
    frame = pd.DataFrame({f: gdf[f] if f in gdf.columns else None for f in fields}, index=gdf.index)
    if "municipality_code" not in frame.columns and "municipality_code" in gdf.columns:
        # Every layer's table has the column; the content key (``fields``) leaves it out.
        frame["municipality_code"] = gdf["municipality_code"].astype(object)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if len(geoms) and (shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any()):
        raise BadInput("Every row needs a geometry before it is stored.")
    if layer in POINT_LAYERS:
        x = shapely.get_x(geoms) if len(geoms) else np.empty(0)
        y = shapely.get_y(geoms) if len(geoms) else np.empty(0)
        plain = (
            len(geoms)
            and (shapely.get_type_id(geoms) == 0).all()
            and not shapely.has_z(geoms).any()
        )
        if plain:  # 2D points: their WKB written by numpy into one Arrow buffer
            frame["geom_wkb"] = pd.Series(
                pd.arrays.ArrowExtensionArray(point_wkb(x, y)), index=frame.index
            )
        else:
            frame["geom_wkb"] = shapely.to_wkb(geoms) if len(geoms) else np.array([], dtype=object)
        frame["x"], frame["y"] = x, y
    else:
        frame["geom_wkb"] = shapely.to_wkb(geoms) if len(geoms) else np.array([], dtype=object)
        bounds = shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4))
        frame["minx"], frame["miny"], frame["maxx"], frame["maxy"] = bounds.T
    frame["dataset_id"] = dataset_id

    if "dedup_key" in gdf.columns:
        keys = gdf["dedup_key"]
        frame["dedup_key"] = keys if isinstance(keys.dtype, pd.StringDtype) else keys.astype(object)
    else:
        frame["dedup_key"] = None
    missing = frame["dedup_key"].isna().to_numpy()
    if missing.any():
        wkb = np.asarray(list(frame["geom_wkb"]), dtype=object)
        frame.loc[missing, "dedup_key"] = content_key(
            frame.loc[missing], wkb[missing], (layer, *fields)
        )

    if layer == "incidents":
        when = _utc(frame["occurred_at"])
        if when.isna().any():
            raise BadInput("Every incident needs a time (occurred_at).")
        frame["occurred_at"] = when
        frame["occurred_to"] = (
            _utc(frame["occurred_to"]) if frame["occurred_to"].notna().any() else None
        )
        frame["t_epoch"] = epoch_seconds(when) if len(when) else []
        local = when.dt.tz_convert(local_timezone())
        frame["hour_local"] = local.dt.hour.astype("int16")
        frame["weekday_local"] = local.dt.day_of_week.astype("int16")
        frame["precision"] = frame["precision"].fillna("exact")
    elif layer == "survey":
        when = _utc(frame["answered_at"])
        frame["answered_at"] = when
        frame["t_epoch"] = epoch_seconds(when) if len(when) else []
        frame["reasons"] = frame["reasons"].map(_join_reasons)
    elif layer == "projects":
        for col in ("start_date", "end_date"):
            frame[col] = pd.to_datetime(frame[col], errors="coerce").dt.date
    return frame


def _join_reasons(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    return ",".join(str(v) for v in value)


def _prepared_chunks(layer: str, gdf: Any, dataset_id: int, *, key_order: bool = True):  # noqa: ANN202 - generator
    """Prepared records, :data:`BULK_CHUNK` rows at a time, each dedup key once.

    Later rows with a key seen before in ``gdf`` are left out (the store would skip them
    anyway), so every staged key is unique. Rows come in key order if asked: that helps
    SQLite, which inserts straight into the unique key index; PostgreSQL sorts where it
    matters. With keys already present (every import) each chunk is prepared on its own,
    so WKB, text and tuples exist for one chunk at a time. Without keys (direct callers)
    the keys are computed first, for all rows.
    """
    keys = gdf["dedup_key"] if "dedup_key" in gdf.columns else None
    if keys is not None and len(gdf) and not keys.isna().any():
        rows = np.flatnonzero(~keys.duplicated().to_numpy())
        if key_order:
            text = pa.array(keys.astype(str).to_numpy(dtype=object)[rows], pa.string())
            rows = rows[pc.sort_indices(text).to_numpy()]
        for start in range(0, len(rows), BULK_CHUNK):
            yield prepare_records(layer, gdf.iloc[rows[start : start + BULK_CHUNK]], dataset_id)
        return
    frame = prepare_records(layer, gdf, dataset_id)
    frame = frame.loc[~frame["dedup_key"].duplicated().to_numpy()]
    if key_order:
        frame = frame.sort_values("dedup_key", kind="stable")
    for start in range(0, max(len(frame), 1), BULK_CHUNK):
        yield frame.iloc[start : start + BULK_CHUNK]


class CopyText(bytes):
    """A chunk's COPY payload; ``years`` holds the local years of its incidents (the
    partitions a direct COPY into ``incidents`` needs)."""

    years: frozenset[int] = frozenset()


@event.listens_for(Dataset, "before_insert")
def _incident_writers_lock_first(_mapper: Any, connection: Connection, target: Dataset) -> None:
    """An incidents dataset row is inserted only under the incident writers' lock
    (:func:`~tryggkarta.store.partitions.lock_writers`, PostgreSQL).

    The writer that holds that lock may need a lock on ``datasets`` that conflicts with an
    inserted row's: attaching a new year's partition takes SHARE ROW EXCLUSIVE on
    ``datasets`` (its foreign key gets triggers there). An import that had inserted its
    dataset row and then waited for the writers' lock would close a circle with it (a
    deadlock, one import failed). Taking the writers' lock first keeps one order; the
    writer's own call later is a no-op (advisory locks are re-entrant)."""
    if target.layer == "incidents":
        partitions.lock_writers(connection)


def _payloads(layer: str, gdf: Any, dataset_id: int, table: Any, dialect: str, *, key_order: bool):  # noqa: ANN202
    """(rows, columns, payload, repeats left out) per chunk: COPY text or SQLite tuples."""
    seen = 0
    for chunk in _prepared_chunks(layer, gdf, dataset_id, key_order=key_order):
        seen += len(chunk)
        if len(chunk) == 0:
            continue
        columns = [c for c in chunk.columns if c in table.c and c != "geom"]
        if dialect == "postgresql":
            payload: Any = CopyText(copy_text(chunk, columns))
            if layer == "incidents":
                payload.years = partitions.local_years(chunk["occurred_at"])
        elif dialect == "sqlite":
            payload = arrow_table(chunk, columns)
        else:  # pragma: no cover
            payload = dict_records(chunk[columns])
        yield len(chunk), columns, payload, 0
    if seen < len(gdf):  # the repeats left out, counted once at the end
        yield 0, [], None, len(gdf) - seen


def insert_layer(session: Session, layer: str, gdf: Any, dataset_id: int) -> tuple[int, int]:
    """Insert ``gdf`` into ``layer``; returns (inserted, skipped as already stored).

    One :class:`LayerWriter` with one piece: see there for how rows reach the table.
    """
    writer = LayerWriter(session, layer, dataset_id, expected_rows=len(gdf))
    writer.add(gdf)
    return writer.finish()


class LayerWriter:
    """Bulk, idempotent writes of one import into a layer table, in the caller's transaction.

    >>> writer = LayerWriter(session, "incidents", dataset.id, expected_rows=n)
    >>> for gdf in pieces:
    ...     writer.add(gdf)
    >>> inserted, skipped = writer.finish()

    Rows are deduplicated against the store by ``dedup_key`` ("on conflict do nothing"), and
    a failure anywhere leaves the caller's transaction to roll back everything, index
    changes included (DDL is transactional on both engines).

    * **SQLite:** each piece becomes an Arrow table, written into a staging file by the ADBC
      driver without holding the GIL (:class:`~.bulk.SqliteStage`); :meth:`finish`
      attaches the file and moves the rows with one INSERT … SELECT.
    * **PostgreSQL:** each piece is COPYed into one temporary table; :meth:`finish` moves
      them with one INSERT … SELECT (or, on a first load, straight into the table).

    **Bulk mode.** Keeping indexes up to date row by row costs far more than building them
    once: at 1M rows on PostgreSQL the GiST index took 5.5 s row by row against 1.3 s built
    afterwards. So when an import has at least :data:`BULK_MIN` rows and the table holds no
    more rows than the import brings (a first load, a history backfill), the writer drops
    the table's secondary indexes, inserts, and builds them again before the transaction
    commits; the decision comes from ``expected_rows`` (or the first piece).

    * A **first load** (the table is empty) also drops the dedup key's unique index: nothing
      stored can be skipped, and the keys of one import are unique (dedup in
      :mod:`tryggkarta.ingest.dedup`; repeats within a piece are left out here), which the
      rebuilt unique index checks. PostgreSQL COPYs straight into the table.
    * Otherwise SQLite keeps the unique index ("on conflict do nothing"); PostgreSQL drops it
      too in :meth:`finish` and inserts only the keys not yet stored (a hash anti-join).

    On PostgreSQL bulk mode holds an exclusive lock on the layer table until the commit (from
    the first piece on a first load, from :meth:`finish` otherwise): its readers wait those
    seconds, they do not fail; foreign keys are kept, so ``datasets`` is not locked. Where
    the database role may (:func:`~.bulk.skip_row_triggers`), a first load skips the per-row
    foreign-key check: every row carries the dataset id created in the same transaction.
    SQLite readers (WAL) are never blocked. Small imports into a large table go row by row.
    """

    def __init__(
        self, session: Session, layer: str, dataset_id: int, *, expected_rows: int | None = None
    ) -> None:
        self.session, self.layer, self.dataset_id = session, layer, dataset_id
        unbounded(session)  # an import may run for minutes; it never holds other tables' readers
        self.table = model_for(layer).__table__
        self.connection = session.connection()
        self.dialect = self.connection.dialect.name
        self.dbapi = self.connection.connection.dbapi_connection
        self.expected_rows = expected_rows
        self.columns: list[str] | None = None
        self.total = 0  # rows handed to the store (after dropping repeats within a piece)
        self.repeated = 0  # rows dropped as repeats of a key earlier in the same piece
        self.inserted = 0
        self.bulk: bool | None = None  # decided on the first piece (SQLite) or in finish
        self.dropped: list[str] = []  # SQL that rebuilds what bulk mode dropped
        self.direct = (
            False  # bulk into an empty table: every index dropped (PostgreSQL: COPY into it)
        )
        self.decided = False
        self.triggers_off = False  # PostgreSQL first load: the per-row foreign-key check skipped
        self.stage: SqliteStage | None = None
        self.temp = f"tk_stream_{self.table.name}"
        self.staged_pieces = 0  # COPYs into the staging table
        self.wal_compressed = False  # PostgreSQL: the import's WAL under LZ4 (bulk.py)
        if self.dialect == "postgresql":
            with self.dbapi.cursor() as cur:
                self.wal_compressed = compress_wal(cur)
        # PostgreSQL after migration 0011: incidents in yearly partitions (store.partitions)
        self.partitioned = layer == "incidents" and partitions.is_partitioned(self.connection)
        if layer == "incidents":  # PostgreSQL: one incident writer at a time
            partitions.lock_writers(self.connection)
        # incident_cell_counts: rows this writer inserts have ids above this one
        self.counted_after = (
            cellcounts.last_id(session)
            if layer == "incidents" and cellcounts.available(session)
            else None
        )
        if expected_rows is not None:
            self._decide(expected_rows)

    def _decide(self, incoming: int) -> None:
        """Bulk mode or not, from the rows expected (SQLite; PostgreSQL's direct first load)."""
        self.decided = True
        if self.dialect == "sqlite":
            self.bulk = self._wants_bulk(incoming)
            if self.bulk:
                # a first load drops the dedup key's unique index too: no stored key to skip
                self.direct = self._existing_upto(1) == 0
                self.dropped = drop_sqlite_indexes(self.dbapi, self.table.name, unique=self.direct)
        elif (
            self.dialect == "postgresql"
            and incoming >= BULK_MIN
            and self._existing_upto(1) == 0
            and self._may_rebuild()
        ):
            # A first load: no stored key to skip, so rows go straight into the table (no
            # staging copy) while the next piece is prepared.
            self.bulk = self.direct = True
            with self.dbapi.cursor() as cur:
                self.dropped = drop_postgres_secondary(cur, self.table.name)
                self.triggers_off = skip_row_triggers(cur)

    def _existing_upto(self, limit: int) -> int:
        """Rows in the table, counted no further than ``limit`` (cheap on a large table)."""
        stmt = select(func.count()).select_from(select(self.table.c.id).limit(limit).subquery())
        return int(self.session.execute(stmt).scalar_one())

    def _wants_bulk(self, incoming: int) -> bool:
        return (
            incoming >= BULK_MIN
            and self._may_rebuild()
            and self._existing_upto(incoming + 1) <= incoming
        )

    def _may_rebuild(self) -> bool:
        """Whether this database role may drop and create the table's indexes (PostgreSQL:
        it owns the table, as the role that ran ``tryggkarta db upgrade`` does; a role with
        only row privileges imports row by row)."""
        if self.dialect != "postgresql":
            return True
        owner = text(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = CAST(:t AS regclass)"
        )
        return bool(self.session.execute(owner, {"t": self.table.name}).scalar())

    def prepare(self, gdf: Any) -> list[tuple[int, list[str], Any, int]]:
        """One piece made ready for :meth:`write`: pure computation, safe in a worker thread.

        A streamed import prepares the next piece this way while the database writes the
        current one (:func:`~.bulk.prefetch`).
        """
        if len(gdf) == 0:
            return []
        return list(self._payloads(gdf))

    def _payloads(self, gdf: Any):  # noqa: ANN202 - generator
        # Key order helps only where rows go into a live unique index one by one: SQLite
        # outside bulk mode (in bulk mode the sort cost more than it saved: 2 s per 1M rows).
        key_order = self.dialect == "sqlite" and not self.bulk
        return _payloads(
            self.layer, gdf, self.dataset_id, self.table, self.dialect, key_order=key_order
        )

    def write(self, prepared: list[tuple[int, list[str], Any, int]]) -> None:
        """Write (SQLite) or stage (PostgreSQL) what :meth:`prepare` made of one piece."""
        if not prepared:
            return
        if not self.decided:
            self._decide(max(self.expected_rows or 0, sum(p[0] for p in prepared)))
        for n, columns, payload, repeated in prepared:
            self.total += n
            self.repeated += repeated
            if n == 0:
                continue
            if self.dialect == "sqlite":
                self._sqlite_stage().add(payload)
            elif self.dialect == "postgresql":
                self._stage(columns, payload)
            else:  # pragma: no cover - only SQLite and PostgreSQL are supported
                result = self.session.execute(
                    sqlite_insert(self.table).on_conflict_do_nothing(index_elements=["dedup_key"]),
                    payload,
                )
                self.inserted += int(result.rowcount or 0)

    def add(self, gdf: Any) -> None:
        """:meth:`prepare` and :meth:`write` one piece, the next chunk of it prepared ahead."""
        if len(gdf) == 0:
            return
        if not self.decided:
            self._decide(max(self.expected_rows or 0, len(gdf)))
        for item in prefetch(self._payloads(gdf)):
            self.write([item])

    def _sqlite_stage(self) -> SqliteStage:
        """The staging file, made on first use; removed once the caller's transaction ends."""
        if self.stage is None:
            main = next(
                (row[2] for row in self.dbapi.execute("PRAGMA database_list") if row[1] == "main"),
                "",
            )
            self.stage = stage = SqliteStage(main or None)
            dbapi = self.dbapi

            def cleanup(_session: Any, *_args: Any) -> None:
                stage.remove(dbapi)  # idempotent: whichever of the two events comes first

            event.listen(self.session, "after_commit", cleanup, once=True)
            event.listen(self.session, "after_rollback", cleanup, once=True)
        return self.stage

    def _stage(self, columns: list[str], payload: bytes) -> None:
        if self.direct and self.partitioned:  # each year's partition before its rows
            partitions.ensure_partitions(self.connection, getattr(payload, "years", set()))
        with self.dbapi.cursor() as cur:
            if self.direct:
                with cur.copy(f"COPY {self.table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                    _copy_in(copy, payload)
                self.inserted += int(cur.rowcount)
                return
            if self.columns is None:
                self.columns = columns
                cur.execute(f"DROP TABLE IF EXISTS {self.temp}")
                cur.execute(
                    f"CREATE TEMP TABLE {self.temp} ON COMMIT DROP AS SELECT {', '.join(columns)} "
                    f"FROM {self.table.name} WITH NO DATA"
                )
            elif columns != self.columns:  # pragma: no cover - prepare_records has fixed columns
                raise BadInput("The pieces of one import must have the same columns.")
            with cur.copy(f"COPY {self.temp} ({', '.join(columns)}) FROM STDIN") as copy:
                _copy_in(copy, payload)
            self.staged_pieces += 1

    def finish(self) -> tuple[int, int]:
        """Move what is staged, rebuild what bulk mode dropped; (inserted, skipped)."""
        if self.direct and self.dialect == "postgresql":
            with self.dbapi.cursor() as cur:
                if self.triggers_off:
                    restore_row_triggers(cur, self.table.name, self.dataset_id)
                rebuild_postgres(cur, self.dropped)
            self.dropped = []
        elif self.partitioned and self.columns is not None:
            self.inserted = self._move_into_partitions()
            self.columns = None
        elif self.dialect == "postgresql" and self.columns is not None:
            self.bulk = self._wants_bulk(self.total)
            with self.dbapi.cursor() as cur:
                self.inserted = move_staged_postgres(
                    cur, self.table.name, self.temp, self.columns, bulk=self.bulk
                )
            self.columns = None
        elif self.dialect == "sqlite":
            if self.stage is not None:
                self.inserted = self.stage.move_into(
                    self.dbapi, self.table.name, upsert=not self.direct
                )
            if self.dropped:  # built again even when no row came: the transaction may still commit
                rebuild_sqlite_indexes(self.dbapi, self.dropped)
                self.dropped = []
        if self.counted_after is not None and self.inserted:
            cellcounts.add_dataset(self.session, self.dataset_id, self.counted_after)
            self.counted_after = None
        return self.inserted, self.total + self.repeated - self.inserted

    def _move_into_partitions(self) -> int:
        """The staged incidents into their yearly partitions; rows inserted.

        Bulk mode is decided per partition: a year that brings at least :data:`BULK_MIN` rows
        and no fewer than its partition holds (a new year, a backfilled one) is DETACHed,
        loses its secondary indexes, takes its rows and gets them built again, and is
        ATTACHed back; the other years keep their indexes and take their rows straight into
        their partition. Every row is checked against the keys of all partitions first
        (:meth:`_drop_stored_keys`; :mod:`~tryggkarta.store.partitions`: the unique index
        holds the time), so what is inserted is new.
        """
        tz = str(local_timezone())
        parent = self.table.name
        with self.dbapi.cursor() as cur:
            cur.execute("SET LOCAL work_mem = '256MB'")
            self._drop_stored_keys(cur)
            cur.execute(
                "SELECT extract(year FROM occurred_at AT TIME ZONE %s)::int, count(*) "
                f"FROM {self.temp} GROUP BY 1",
                (tz,),
            )
            incoming = dict(cur.fetchall())
        partitions.ensure_partitions(self.connection, set(incoming))
        names = partitions.partitions(self.connection)
        bulk_years = []
        if self._may_rebuild():
            with self.dbapi.cursor() as cur:
                bulk_years = [
                    year
                    for year, n in sorted(incoming.items())
                    if n >= BULK_MIN and partitions.partition_rows(cur, names[year], n + 1) <= n
                ]
        if bulk_years:
            with self.dbapi.cursor() as cur:
                if not _lock_datasets_briefly(cur):
                    bulk_years = []  # a reader of ``datasets`` may wait for our lock: row by row
        self.bulk = bool(bulk_years)
        cols = ", ".join(self.columns or [])
        inserted = 0
        with self.dbapi.cursor() as cur:
            for year in bulk_years:
                name = names[year]
                lo, hi = partitions.year_bounds(year)
                cur.execute(f"ALTER TABLE {parent} DETACH PARTITION {name}")
                drop, rebuild = _postgres_secondary(cur, name)
                for sql in drop:
                    cur.execute(sql)
                cur.execute(
                    f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {self.temp} s "
                    "WHERE s.occurred_at >= %s AND s.occurred_at < %s",
                    (lo, hi),
                )
                inserted += int(cur.rowcount)
                rebuild_postgres(cur, rebuild)  # the unique index checks the new keys
                cur.execute(
                    f"ALTER TABLE {parent} ATTACH PARTITION {name} "
                    f"FOR VALUES {partitions.bound_sql(year)}"
                )
            rest = sorted(set(incoming) - set(bulk_years))
            checked = bool(rest) and self._skip_fk_check(cur)
            for year in rest:  # straight into the year's partition, its indexes kept
                lo, hi = partitions.year_bounds(year)
                # In (municipality, time) order: that index then grows at one end per
                # municipality, and the GiST index takes its points a place at a time. A
                # weekly 100k into a 1.5M-row year at 15M: 1.2–1.3 s against 1.4–1.7 s in
                # key order, and 1.5–1.6 s against 1.8–2.3 s with content-hash keys that
                # land all over the unique index (bench/RESULTS.md, bench_national.session9).
                cur.execute(
                    f"INSERT INTO {names[year]} ({cols}) SELECT {cols} FROM {self.temp} s "
                    "WHERE s.occurred_at >= %s AND s.occurred_at < %s "
                    "ORDER BY municipality_code, occurred_at",
                    (lo, hi),
                )
                inserted += int(cur.rowcount)
            if checked:
                cur.execute("SET LOCAL session_replication_role = origin")
        if self.counted_after is not None and inserted and inserted == sum(incoming.values()):
            # every staged row went in: count them from the staging table (a weekly 100k at
            # 15M: 0.08 s, against 0.16–0.18 s reading them back from the partition)
            cellcounts.add_staged(self.session, self.temp)
            self.counted_after = None
        with self.dbapi.cursor() as cur:
            cur.execute(f"DROP TABLE {self.temp}")
            cur.execute("RESET work_mem")
        return inserted

    def _drop_stored_keys(self, cur: Any) -> None:
        """Leave in the staging table only rows whose key no partition holds (and each
        (key, time) once), so the insert needs no "on conflict" (which doubled its time:
        a speculative insertion per row). Runs under the writers' lock, so no other import
        can store one of these keys before the commit.

        Each staged key is probed in the unique index of the partitions (it leads with the
        key): the check costs the batch's rows, not the table's. Written as "EXISTS (…)" the
        planner made it a hash join over every stored key (4 s at 1M rows, minutes at 15M);
        a scalar subquery with LIMIT 1 is never turned into a join.

        * Content-hash keys ("h:…") hash the time too: the same key is the same time, so only
          the partition of that time is probed (run-time pruning).
        * Source ids may have moved to another year (a corrected time) and are looked up in
          every partition, but only where the partition's key range (the ends of its index)
          holds them: ids that grow over time ("polisen:512345") fall outside the range of
          the older years and cost no probe there.
        """
        parent, temp = self.table.name, self.temp
        if self.staged_pieces > 1:  # one piece has unique keys (_prepared_chunks)
            cur.execute(
                f"DELETE FROM {temp} a USING {temp} b WHERE a.dedup_key = b.dedup_key "
                "AND a.occurred_at = b.occurred_at AND a.ctid > b.ctid"
            )
        cur.execute(
            f"SELECT min(dedup_key), max(dedup_key) FROM {temp} WHERE dedup_key NOT LIKE 'h:%'"
        )
        lo, hi = cur.fetchone()
        if lo is not None:
            probes, bounds = [], []
            for _year, name in sorted(partitions.partitions(self.connection).items()):
                cur.execute(f"SELECT min(dedup_key), max(dedup_key) FROM {name}")
                first, last = cur.fetchone()
                if first is None or last < lo or first > hi:  # "C" collation: code point order
                    continue
                probes.append(
                    "(s.dedup_key BETWEEN %s AND %s AND "
                    f"(SELECT true FROM {name} t WHERE t.dedup_key = s.dedup_key LIMIT 1))"
                )
                bounds += [first, last]
            if probes:  # one pass over the staged rows, each probing the partitions in turn
                cur.execute(
                    f"DELETE FROM {temp} s WHERE s.dedup_key NOT LIKE 'h:%%' "
                    f"AND ({' OR '.join(probes)})",
                    bounds,
                )
        cur.execute(
            f"DELETE FROM {temp} s WHERE s.dedup_key LIKE 'h:%' AND "
            f"(SELECT true FROM {parent} t WHERE t.dedup_key = s.dedup_key "
            "AND t.occurred_at = s.occurred_at LIMIT 1)"
        )

    def _skip_fk_check(self, cur: Any) -> bool:
        """Check the staged rows' dataset once instead of once per row; whether row triggers
        are now off (:func:`~.bulk.skip_row_triggers`; turned on again after the insert).

        Every staged row carries this writer's dataset id (checked here over the staging
        table, not the stored one), and the dataset row is locked the way the per-row check
        locks it (FOR KEY SHARE), so it cannot be deleted before the commit: the 100,000
        checks of a weekly import (0.7 s of 4 s in its insert) could only pass.
        """
        cur.execute(
            f"SELECT EXISTS (SELECT 1 FROM {self.temp} WHERE dataset_id IS DISTINCT FROM %s)",
            (self.dataset_id,),
        )
        if cur.fetchone()[0]:  # pragma: no cover - prepare_records writes its own dataset id
            return False
        cur.execute("SELECT 1 FROM datasets WHERE id = %s FOR KEY SHARE", (self.dataset_id,))
        if cur.fetchone() is None:
            return False  # the per-row checks will say so
        return skip_row_triggers(cur)


def _lock_datasets_briefly(cur: Any) -> bool:
    """``datasets`` in ACCESS EXCLUSIVE mode for the rest of the transaction, if it can be
    had within half a second; whether it was.

    A bulk year is DETACHed and ATTACHed again, and PostgreSQL then moves the partition's
    foreign-key triggers: the detach takes SHARE ROW EXCLUSIVE and the attach ACCESS
    EXCLUSIVE on ``datasets`` (seen in ``pg_locks``, PostgreSQL 15). Taken there, under the
    writers' lock, they deadlocked with an import or a delete that had read ``datasets`` and
    then waited for the writers' lock (test_concurrent_imports, 2 of ~25 loops). So
    the lock is taken here first, before anything else waits on it, and given up after
    500 ms (below the server's ``deadlock_timeout`` of 1 s, so this wait ends before a
    deadlock check could pick a victim); the year then goes in row by row. Pages that read
    ``datasets`` wait until the commit: a backfill of a whole year is rare work, best run
    outside office hours.
    """
    locked = try_in_savepoint(
        cur, "SET LOCAL lock_timeout = '500ms'", "LOCK TABLE datasets IN ACCESS EXCLUSIVE MODE"
    )
    if locked:  # the released savepoint kept the timeout: back to the import's own (none)
        cur.execute("SET LOCAL lock_timeout = 0")
    return locked


def _copy_in(copy: Any, payload: bytes) -> None:
    view = memoryview(payload)
    for start in range(0, len(payload), 8 * 1024 * 1024):
        copy.write(view[start : start + 8 * 1024 * 1024])


def delete_dataset(session: Session, dataset_id: int) -> dict[str, int]:
    """Delete a dataset and all its rows (one import undone). Returns rows deleted per layer."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"There is no dataset {dataset_id}.")
    model = model_for(dataset.layer)
    unbounded(session)
    if dataset.layer == "incidents":  # not while an import checks its keys against these rows
        partitions.lock_writers(session.connection())
    if dataset.layer == "incidents" and cellcounts.available(session):
        cellcounts.subtract_dataset(session, dataset_id)
    result = session.execute(delete(model).where(model.dataset_id == dataset_id))
    session.delete(dataset)
    return {dataset.layer: int(result.rowcount or 0)}


def remove_incidents_before(session: Session, cutoff: datetime) -> dict[str, int]:
    """Retention in the caller's transaction: the incidents that occurred before ``cutoff``
    go (whole years by dropping their partition, :func:`~.partitions.drop_before`), the kept
    cell counts of that time with them (:func:`~.cellcounts.remove_before`), and the
    incidents' data version changes so cached pages, tiles and releases are made again
    (:func:`~.queries.bump_data_version`: no dataset row records a retention). Returns rows
    removed per table or partition.
    """
    if cutoff.tzinfo is None:
        raise BadInput("The retention cut-off needs a time zone.")
    unbounded(session)
    connection = session.connection()
    partitions.lock_writers(connection)  # no import or delete in between (PostgreSQL)
    if cellcounts.available(session):
        cellcounts.remove_before(session, cutoff)
    removed = partitions.drop_before(connection, cutoff)
    if any(removed.values()):
        from tryggkarta.store.queries import bump_data_version

        bump_data_version(session, "incidents")
    return removed


def audit(
    session: Session | Connection,
    action: str,
    *,
    user: Any = None,
    layer: str | None = None,
    detail: str | None = None,
    feature_count: int | None = None,
    ip: str | None = None,
    extra: dict[str, Any] | None = None,
    now: bool = False,
) -> None:
    """Write one audit-log row (who, when, what, how many) in the session's transaction.

    By default the row is added to the session (written at its next flush). With ``now`` it
    is written at once by one INSERT, without the session's unit of work (a third of the
    CPU of an OGC page's audit row): for requests that write nothing else. Either way it is
    in the caller's transaction and commits (or is rolled back) with it. ``session`` may be a
    Core connection (then ``now`` is implied).
    """
    values = {
        "at": datetime.now(UTC),
        "user_id": getattr(user, "id", None),
        "username": getattr(user, "username", "") or "",
        "role": getattr(user, "role", "public") or "public",
        "action": action,
        "layer": layer,
        "detail": detail,
        "feature_count": feature_count,
        "ip": ip,
        "extra": extra,
    }
    if now or isinstance(session, Connection):
        session.execute(insert(AuditLog.__table__).values(**values))
    else:
        session.add(AuditLog(**values))
