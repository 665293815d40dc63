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
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tryggkarta.domain import LAYER_FIELDS
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.store.bulk import (
    copy_text,
    dict_records,
    insert_postgres,
    insert_sqlite,
    prefetch,
    sqlite_tuples,
)
from tryggkarta.store.models import POINT_LAYERS, AuditLog, Dataset
from tryggkarta.store.queries import model_for

LOCAL_TZ = "Europe/Stockholm"
CHUNK = 5000
#: Rows per bulk round trip (executemany / COPY) in :func:`insert_layer`.
BULK_CHUNK = 100_000


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


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True)


def epoch_seconds(when: pd.Series) -> pd.Series:
    """Whole seconds since 1970 (UTC) whatever the datetime resolution (s, ms, us, ns)."""
    return ((when - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("Int64")


def prepare_records(layer: str, gdf: Any, dataset_id: int) -> pd.DataFrame:
    """Columns ready for the layer table: geometry as WKB plus x/y or bbox, times, keys."""
    fields = LAYER_FIELDS[layer]
    frame = pd.DataFrame({f: gdf[f] if f in gdf.columns else None for f in fields}, index=gdf.index)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if len(geoms) and (shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any()):
        raise BadInput("Every row needs a geometry before it is stored.")
    wkb = shapely.to_wkb(geoms) if len(geoms) else np.array([], dtype=object)
    frame["geom_wkb"] = wkb
    if layer in POINT_LAYERS:
        frame["x"] = shapely.get_x(geoms) if len(geoms) else []
        frame["y"] = shapely.get_y(geoms) if len(geoms) else []
    else:
        bounds = shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4))
        frame["minx"], frame["miny"], frame["maxx"], frame["maxy"] = bounds.T
    frame["dataset_id"] = dataset_id

    if "dedup_key" in gdf.columns:
        frame["dedup_key"] = gdf["dedup_key"].astype(object)
    else:
        frame["dedup_key"] = None
    missing = frame["dedup_key"].isna().to_numpy()
    if missing.any():
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
        local = when.dt.tz_convert(LOCAL_TZ)
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


def _prepared_chunks(layer: str, gdf: Any, dataset_id: int):  # noqa: ANN202 - a generator of frames
    """Prepared records in dedup-key order, :data:`BULK_CHUNK` rows at a time.

    With keys already present (every import) only the key order is computed for the whole
    frame and each chunk is prepared on its own, so WKB, text and tuples exist for one chunk
    at a time. Without keys (direct callers) the keys are computed first, for all rows.
    """
    keys = gdf["dedup_key"] if "dedup_key" in gdf.columns else None
    if keys is not None and len(gdf) and not keys.isna().any():
        order = pc.sort_indices(
            pa.array(keys.astype(str).to_numpy(dtype=object), pa.string())
        ).to_numpy()
        for start in range(0, len(gdf), BULK_CHUNK):
            yield prepare_records(layer, gdf.iloc[order[start : start + BULK_CHUNK]], dataset_id)
        return
    frame = prepare_records(layer, gdf, dataset_id)
    frame = frame.sort_values("dedup_key", kind="stable")
    for start in range(0, max(len(frame), 1), BULK_CHUNK):
        yield frame.iloc[start : start + BULK_CHUNK]


def _payloads(layer: str, gdf: Any, dataset_id: int, table: Any, dialect: str):  # noqa: ANN202 - generator
    """(rows, columns, payload) per chunk: COPY text for PostgreSQL, tuples for SQLite."""
    for chunk in _prepared_chunks(layer, gdf, dataset_id):
        if len(chunk) == 0:
            continue
        columns = [c for c in chunk.columns if c in table.c and c != "geom"]
        if dialect == "postgresql":
            yield len(chunk), columns, copy_text(chunk, columns)
        elif dialect == "sqlite":
            yield len(chunk), columns, sqlite_tuples(chunk, columns, dialect)
        else:  # pragma: no cover
            yield len(chunk), columns, dict_records(chunk[columns])


def insert_layer(session: Session, layer: str, gdf: Any, dataset_id: int) -> tuple[int, int]:
    """Insert ``gdf`` into ``layer``; returns (inserted, skipped as already stored).

    Runs in the caller's transaction on the session's own DBAPI connection: executemany of
    tuples on SQLite, COPY (text format, built column-wise) into a temporary table plus one
    INSERT … SELECT on PostgreSQL, both with "on conflict (dedup_key) do nothing". Rows go
    in dedup-key order (the unique index grows at its end: far fewer page splits), prepared
    :data:`BULK_CHUNK` rows at a time to bound memory; a failure in any chunk leaves the
    caller's transaction to roll back everything.
    """
    model = model_for(layer)
    table = model.__table__
    connection = session.connection()
    dialect = connection.dialect.name
    count_stmt = select(func.count()).select_from(table).where(table.c.dataset_id == dataset_id)
    before = session.execute(count_stmt).scalar_one()
    dbapi = connection.connection.dbapi_connection
    total = 0
    # The next chunk is prepared in a worker thread while the database writes this one:
    # preparing (WKB, text) and index upkeep in the server take similar time.
    for n, columns, payload in prefetch(_payloads(layer, gdf, dataset_id, table, dialect)):
        total += n
        if dialect == "postgresql":
            insert_postgres(dbapi, table.name, columns, payload)
        elif dialect == "sqlite":
            insert_sqlite(dbapi, table.name, columns, payload)
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            session.execute(
                sqlite_insert(table).on_conflict_do_nothing(index_elements=["dedup_key"]), payload
            )
    after = session.execute(count_stmt).scalar_one()
    inserted = int(after - before)
    return inserted, total - inserted


class LayerWriter:
    """:func:`insert_layer` for data that arrives in pieces (a streamed import), one transaction.

    >>> writer = LayerWriter(session, "incidents", dataset.id)
    >>> for gdf in pieces:
    ...     writer.add(gdf)
    >>> inserted, skipped = writer.finish()

    SQLite: each piece is inserted as :func:`insert_layer` does. PostgreSQL: each piece is
    COPYed into one temporary table and :meth:`finish` moves them all with one
    INSERT … SELECT … ORDER BY dedup_key ON CONFLICT DO NOTHING, so the unique index grows in
    key order as with one :func:`insert_layer` call (inserting piece by piece, in random key
    order across pieces, took twice as long at 1M rows). Only one piece is in client memory.
    """

    def __init__(self, session: Session, layer: str, dataset_id: int) -> None:
        self.session, self.layer, self.dataset_id = session, layer, dataset_id
        self.table = model_for(layer).__table__
        self.connection = session.connection()
        self.dialect = self.connection.dialect.name
        self.columns: list[str] | None = None
        self.total = 0
        self.inserted = 0
        self.temp = f"tk_stream_{self.table.name}"

    def add(self, gdf: Any) -> None:
        """Write (SQLite) or stage (PostgreSQL) one piece."""
        if len(gdf) == 0:
            return
        if self.dialect != "postgresql":
            inserted, skipped = insert_layer(self.session, self.layer, gdf, self.dataset_id)
            self.inserted += inserted
            self.total += inserted + skipped
            return
        dbapi = self.connection.connection.dbapi_connection
        for n, columns, payload in prefetch(
            _payloads(self.layer, gdf, self.dataset_id, self.table, self.dialect)
        ):
            with dbapi.cursor() as cur:
                if self.columns is None:
                    self.columns = columns
                    cur.execute(f"DROP TABLE IF EXISTS {self.temp}")
                    cur.execute(
                        f"CREATE TEMP TABLE {self.temp} ON COMMIT DROP AS SELECT {', '.join(columns)} "
                        f"FROM {self.table.name} WITH NO DATA"
                    )
                elif (
                    columns != self.columns
                ):  # pragma: no cover - prepare_records has fixed columns
                    raise BadInput("The pieces of one import must have the same columns.")
                with cur.copy(f"COPY {self.temp} ({', '.join(columns)}) FROM STDIN") as copy:
                    view = memoryview(payload)
                    for start in range(0, len(payload), 8 * 1024 * 1024):
                        copy.write(view[start : start + 8 * 1024 * 1024])
            self.total += n

    def finish(self) -> tuple[int, int]:
        """(inserted, skipped as already stored) over all pieces."""
        if self.dialect == "postgresql" and self.columns is not None:
            cols = ", ".join(self.columns)
            dbapi = self.connection.connection.dbapi_connection
            with dbapi.cursor() as cur:
                cur.execute("SET LOCAL work_mem = '256MB'")  # the key sort in memory, not on disk
                cur.execute(
                    f"INSERT INTO {self.table.name} ({cols}) SELECT {cols} FROM {self.temp} "
                    "ORDER BY dedup_key ON CONFLICT (dedup_key) DO NOTHING"
                )
                self.inserted = int(cur.rowcount)
                cur.execute(f"DROP TABLE {self.temp}")
                cur.execute("RESET work_mem")
            self.columns = None
        return self.inserted, self.total - self.inserted


def delete_dataset(session: Session, dataset_id: int) -> dict[str, int]:
    """Delete a dataset and all its rows (one import undone). Returns rows deleted per layer."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"There is no dataset {dataset_id}.")
    model = model_for(dataset.layer)
    result = session.execute(delete(model).where(model.dataset_id == dataset_id))
    session.delete(dataset)
    return {dataset.layer: int(result.rowcount or 0)}


def audit(
    session: Session,
    action: str,
    *,
    user: Any = None,
    layer: str | None = None,
    detail: str | None = None,
    feature_count: int | None = None,
    ip: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write one audit-log row (who, when, what, how many)."""
    session.add(
        AuditLog(
            at=datetime.now(UTC),
            user_id=getattr(user, "id", None),
            username=getattr(user, "username", "") or "",
            role=getattr(user, "role", "public") or "public",
            action=action,
            layer=layer,
            detail=detail,
            feature_count=feature_count,
            ip=ip,
            extra=extra,
        )
    )
