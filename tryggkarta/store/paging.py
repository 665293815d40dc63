"""Reading a layer page by page and chunk by chunk, counted and ordered in SQL.

For outputs of raw records whose size is the size of the store (OGC API items, exports):
a page is ``WHERE id > last ORDER BY id LIMIT …`` in the database (:func:`keyset_page`; a
keyset, so page 10 000 costs what page 1 costs), a single record is a primary-key lookup, and
a whole layer is streamed in chunks inside one read transaction (a snapshot), so that its
count and its rows agree even while an import commits. Same meaning on SQLite and PostGIS;
callers never branch on the engine.

**Why keyset and a capped count.** On the year-partitioned incidents (migration 0011) the
page itself is a merge of the partitions' primary-key indexes (about 1 ms at 1M rows), but
``count(*)`` for ``numberMatched`` read every row (0.15 s at 1M, seconds at 15M) and
``OFFSET n`` walks n rows. A page therefore counts at most :data:`COUNT_CAP` rows: the
number matched is exact below it and unknown (None) above, which OGC API – Features allows.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import shapely
from sqlalchemy import Connection, DateTime, func, literal, select, type_coerce

from tryggkarta.errors import BadInput
from tryggkarta.store import arrowread
from tryggkarta.store.engine import unbounded
from tryggkarta.store.models import POINT_LAYERS
from tryggkarta.store.queries import (
    Filters,
    _filtered,
    _needs_exact_polygon_check,
    data_version_on,
    model_for,
)
from tryggkarta.store.types import UTCDateTime

if TYPE_CHECKING:
    from tryggkarta.store.engine import Database


def _columns(layer: str, columns: list[str]) -> list[str]:
    extra = ["x", "y"] if layer in POINT_LAYERS else ["geom_wkb"]
    return list(dict.fromkeys(["id", *columns, *extra]))


def _check(db: Database, filters: Filters) -> None:
    if _needs_exact_polygon_check(db, filters):
        raise BadInput("Paged reads take a bounding box, not a polygon, on SQLite.")


def _frame(db: Database, layer: str, rows: list[Any], keys: list[str]) -> pd.DataFrame:
    """Rows as a DataFrame, times as ``datetime64[UTC]`` columns: point layers keep ``x``/``y``;
    polygon layers become a GeoDataFrame in the working CRS."""
    frame = pd.DataFrame([tuple(row) for row in rows], columns=keys)
    table = model_for(layer).__table__
    for name in keys:
        if isinstance(table.c[name].type, UTCDateTime):
            frame[name] = pd.to_datetime(frame[name], utc=True)
    if layer in POINT_LAYERS:
        return frame
    import geopandas as gpd

    geoms = shapely.from_wkb(frame.pop("geom_wkb").to_numpy()) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=f"EPSG:{db.srid}")


def _table(layer: str, rows: list[Any], keys: list[str]) -> pa.Table:
    """Rows of a point layer as an Arrow table, times as ``timestamp[us, UTC]`` columns.

    What a page needs on its way to GeoJSON text (:func:`tryggkarta.geojson.feature_texts`):
    one Arrow array per column, straight from the rows, instead of a DataFrame and its
    per-column conversions (a third of an OGC page's time at 100 rows).
    """
    if layer not in POINT_LAYERS:
        raise BadInput(f"Layer {layer!r} has no x/y columns to page as a table.")
    table = model_for(layer).__table__
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(keys)
    arrays = []
    for name, values in zip(keys, columns, strict=True):
        kind = table.c[name].type
        if isinstance(kind, UTCDateTime):  # aware (PostgreSQL) or naive UTC (SQLite) datetimes
            arrays.append(pa.array(values, pa.timestamp("us", tz="UTC")))
        elif name in ("x", "y"):
            arrays.append(pa.array(values, pa.float64()))
        else:
            arrays.append(pa.array(values))
    return pa.Table.from_arrays(arrays, names=keys)


def _column(table: Any, name: str) -> Any:
    """A column to select. UTC times skip the per-value ``UTCDateTime`` conversion (1M Python
    calls, 4 s for a million rows); :func:`_frame` makes the whole column UTC at once."""
    col = table.c[name]
    if isinstance(col.type, UTCDateTime):
        return type_coerce(col, DateTime(timezone=True)).label(name)
    return col


def _select(db: Database, layer: str, filters: Filters, columns: list[str]) -> Any:
    table = model_for(layer).__table__
    names = _columns(layer, columns)
    stmt = select(*[_column(table, name) for name in names])
    return _filtered(stmt, db, layer, filters).order_by(table.c.id), names


def count_rows(conn: Connection, db: Database, layer: str, filters: Filters) -> int:
    """``SELECT count(*)`` of ``layer`` under ``filters`` on an open connection."""
    _check(db, filters)
    table = model_for(layer).__table__
    stmt = _filtered(select(func.count()).select_from(table), db, layer, filters)
    return int(conn.execute(stmt).scalar_one())


#: Layers whose rows change only with their datasets (imports, deletes, and the web forms
#: that add rows also count them in their dataset): their counts can be kept per version.
VERSIONED_LAYERS = frozenset({"incidents", "survey"})
_COUNTS: OrderedDict[str, int] = OrderedDict()
_COUNTS_LOCK = threading.Lock()


def _filters_key(filters: Filters) -> dict[str, Any]:
    """``filters`` as JSON-able values that tell any two filters apart (a polygon exactly, as
    WKB, where :meth:`Filters.cache_dict` rounds it to centimetres)."""
    out = filters.cache_dict()
    if filters.polygon is not None:
        out["polygon"] = shapely.to_wkb(filters.polygon, hex=True)
    return out


def _kept(conn: Connection, db: Database, layer: str, what: list[Any], count: Any) -> int:
    """``count()``, kept per (database, layer, ``what``, data version) for versioned layers.

    The version (:func:`tryggkarta.store.queries.data_version_on`: the layer's datasets and
    its change counter, which retention bumps) is read on ``conn``, inside the page's
    snapshot, so a kept count belongs to the same snapshot as the rows; an import or a
    retention run through any process changes the version and so the key. ``what`` holds
    everything else the count depends on (the filters, with the reader's municipalities).
    """
    if layer not in VERSIONED_LAYERS:
        return int(count())
    version = data_version_on(conn, (layer,))
    key = json.dumps([str(db.engine.url), layer, what, version], sort_keys=True, default=str)
    with _COUNTS_LOCK:
        if key in _COUNTS:
            _COUNTS.move_to_end(key)
            return _COUNTS[key]
    matched = int(count())
    with _COUNTS_LOCK:
        _COUNTS[key] = matched
        while len(_COUNTS) > 256:
            _COUNTS.popitem(last=False)
    return matched


def _kept_count(conn: Connection, db: Database, layer: str, filters: Filters) -> int:
    """:func:`count_rows`, kept per (layer, filters, data version) for versioned layers.

    Every OGC items page counted the whole match again (at 1M incidents most of a page's
    time under load).
    """
    return _kept(
        conn,
        db,
        layer,
        ["all", _filters_key(filters)],
        lambda: count_rows(conn, db, layer, filters),
    )


def page(
    db: Database,
    layer: str,
    filters: Filters,
    columns: list[str],
    *,
    limit: int,
    offset: int = 0,
) -> tuple[pd.DataFrame, int]:
    """Rows ``offset … offset+limit`` of ``layer`` ordered by id, and the number matched.

    Both come from the same read transaction. ``id`` (and ``x``/``y`` for point layers) are
    always included.
    """
    if limit < 0 or offset < 0:
        raise BadInput("A page needs a limit and an offset of at least 0.")
    stmt, names = _select(db, layer, filters, columns)
    with snapshot(db) as conn:
        matched = _kept_count(conn, db, layer, filters)
        rows = conn.execute(stmt.limit(limit).offset(offset)).all() if offset < matched else []
    return _frame(db, layer, rows, names), matched


#: Pages count the rows matched up to this many; above it the number is left unknown.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Page:
    """One page of a layer in id order."""

    #: the rows: a DataFrame (as :func:`_frame`), or an Arrow table when asked for one
    frame: pd.DataFrame | pa.Table
    #: rows matched by the filters (all pages), or None when more than the count cap
    matched: int | None
    #: whether rows follow this page
    more: bool
    #: the id of the page's last row (the key the next page starts after), None if empty
    last_id: int | None


def count_capped(conn: Connection, db: Database, layer: str, filters: Filters, cap: int) -> int:
    """The rows of ``layer`` under ``filters``, counted no further than ``cap + 1``: a result
    above ``cap`` means "more than cap". Reads at most cap + 1 rows (or index entries)."""
    _check(db, filters)
    table = model_for(layer).__table__
    inner = _filtered(select(literal(1).label("one")).select_from(table), db, layer, filters)
    stmt = select(func.count()).select_from(inner.limit(cap + 1).subquery())
    return int(conn.execute(stmt).scalar_one())


def keyset_page(
    db: Database,
    layer: str,
    filters: Filters,
    columns: list[str],
    *,
    limit: int,
    after: int | None = None,
    offset: int = 0,
    count_cap: int | None = None,
    as_table: bool = False,
) -> Page:
    """At most ``limit`` rows of ``layer`` with ``id > after`` (all ids when None), in id
    order, after skipping ``offset`` of them; whether more follow; the number matched by
    ``filters`` (ignoring ``after``) when it is at most ``count_cap`` (:data:`COUNT_CAP`).

    The ids are unique, so paging by the last id returns every row exactly once, however
    many rows share a time. Rows and count come from one snapshot. The capped count is kept
    per data version (:func:`_kept`): every page of a walk, and every reader with the same
    filters, asks the same count, and it counted up to 10,001 rows each time. With
    ``as_table`` (point layers) the rows come as an Arrow table (:func:`_table`).
    """
    if limit < 1 or offset < 0:
        raise BadInput("A page needs a limit of at least 1 and an offset of at least 0.")
    stmt, names = _select(db, layer, filters, columns)
    table = model_for(layer).__table__
    if after is not None:
        stmt = stmt.where(table.c.id > int(after))
    cap = COUNT_CAP if count_cap is None else count_cap
    with snapshot(db) as conn:
        n = _kept(
            conn,
            db,
            layer,
            ["capped", cap, _filters_key(filters)],
            lambda: count_capped(conn, db, layer, filters, cap),
        )
        if n > cap and db.is_postgis:
            # Many rows match (at least one in 1,500 of 15M): walking the partitions' primary
            # keys in id order stops after the page. The planner can misjudge a dense bbox
            # (without fresh statistics PostGIS estimated 150 rows where a Göteborg box holds
            # 56,000 a year) and would fetch and sort every match instead (563,000 rows,
            # 3.8 s at 15M).
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
        rows = conn.execute(stmt.limit(limit + 1).offset(offset)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        matched = n if n <= cap else None
    frame = _table(layer, rows, names) if as_table else _frame(db, layer, rows, names)
    last = int(rows[-1][0]) if rows else None  # "id" is the first column
    return Page(frame, matched, more, last)


def by_id(db: Database, layer: str, ident: int, columns: list[str]) -> pd.DataFrame:
    """The row with primary key ``ident`` (0 or 1 rows), by the primary key in SQL."""
    table = model_for(layer).__table__
    names = _columns(layer, columns)
    stmt = select(*[_column(table, name) for name in names]).where(table.c.id == ident)
    with db.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return _frame(db, layer, rows, names)


@contextmanager
def snapshot(db: Database) -> Iterator[Connection]:
    """A connection whose reads all see one snapshot of the database.

    PostgreSQL: a REPEATABLE READ transaction. SQLite (WAL mode): an explicit ``BEGIN``; the
    snapshot is taken at the first read and held until the end.
    """
    with db.engine.connect() as conn:
        if db.is_postgis:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        else:
            # pysqlite starts no transaction before a SELECT by itself
            conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.rollback()


@contextmanager
def chunks(
    db: Database, layer: str, filters: Filters, columns: list[str], *, chunk_rows: int = 20_000
) -> Iterator[tuple[int, Iterator[pd.DataFrame]]]:
    """``(number matched, iterator of DataFrames of at most chunk_rows rows)`` for a whole
    layer, streamed from the database (a server-side cursor on PostgreSQL) in id order.

    Count and rows come from one snapshot, so a caller can check it wrote every row.

    Point layers are read column-wise (:mod:`~tryggkarta.store.arrowread`: COPY on
    PostgreSQL, Arrow arrays per batch of sqlite3 rows), with the frames rows would give.
    """
    stmt, names = _select(db, layer, filters, columns)
    _check(db, filters)
    if arrowread.supported(db, layer):
        read = arrowread.postgres_frames if db.is_postgis else arrowread.sqlite_frames
        with snapshot(db) as conn:
            unbounded(conn)
            matched = count_rows(conn, db, layer, filters)
            frames = read(conn, db, layer, filters, names, chunk_rows)
            try:
                yield matched, frames
            finally:
                frames.close()  # a COPY left half read is cancelled before the rollback
        return
    with snapshot(db) as conn:
        unbounded(conn)  # a whole-layer stream (an export) outlasts a request's statement limit
        matched = count_rows(conn, db, layer, filters)
        result = conn.execution_options(yield_per=chunk_rows).execute(stmt)

        def frames() -> Iterator[pd.DataFrame]:
            for rows in result.partitions(chunk_rows):
                yield _frame(db, layer, rows, names)

        try:
            yield matched, frames()
        finally:
            result.close()
