"""Queries on the layers, identical in meaning on SQLite and PostGIS.

Callers never branch on the engine: they pass :class:`Filters` and get DataFrames,
GeoDataFrames or numpy arrays back. Heavy aggregation (counts per grid cell, per time step)
is a ``GROUP BY`` on integer cell indices in SQL, so a million incidents never become a
million Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Select, and_, bindparam, func, literal, literal_column, select, text
from sqlalchemy.orm import Session

from tryggkarta.errors import BadInput
from tryggkarta.store.models import LAYER_MODELS, POINT_LAYERS, Dataset, Setting

if TYPE_CHECKING:
    import geopandas as gpd

    from tryggkarta.store.engine import Database


@dataclass(frozen=True)
class Filters:
    """What to select from a layer. Coordinates are working-CRS metres; times are aware UTC."""

    bbox: tuple[float, float, float, float] | None = None
    polygon: shapely.Geometry | None = None
    start: datetime | None = None
    end: datetime | None = None  # exclusive
    categories: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    weekdays: tuple[int, ...] | None = None  # 0 = Monday, local time
    hours: tuple[int, ...] | None = None  # 0..23 local time
    municipality_code: str | None = None
    #: only records of these municipalities (a user's EST group; ``()`` matches nothing)
    municipality_codes: tuple[str, ...] | None = None
    dataset_ids: tuple[int, ...] | None = None
    max_rating: int | None = None  # survey: e.g. 2 = only unsafe answers

    def replace(self, **changes: Any) -> Filters:
        return replace(self, **changes)

    def cache_dict(self) -> dict[str, Any]:
        """A JSON-able form (for analysis-run cache keys)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value is None:
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, shapely.Geometry):
                value = shapely.to_wkt(value, rounding_precision=2)
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out


def model_for(layer: str) -> Any:
    try:
        return LAYER_MODELS[layer]
    except KeyError:
        raise BadInput(
            f"Unknown layer {layer!r}; choose one of {', '.join(LAYER_MODELS)}."
        ) from None


def _where(db: Database, layer: str, filters: Filters) -> list[Any]:
    model = model_for(layer)
    table = model.__table__
    c = table.c
    clauses: list[Any] = []
    point = layer in POINT_LAYERS
    for box in [filters.bbox, filters.polygon.bounds if filters.polygon is not None else None]:
        if box is None:
            continue
        minx, miny, maxx, maxy = box
        if db.is_postgis:  # the GiST index answers bounding boxes on PostGIS
            envelope = func.ST_MakeEnvelope(minx, miny, maxx, maxy, db.srid)
            clauses.append(literal_column(f"{table.name}.geom").op("&&")(envelope))
        if point:
            clauses += [c.x >= minx, c.x <= maxx, c.y >= miny, c.y <= maxy]
        else:
            clauses += [c.maxx >= minx, c.minx <= maxx, c.maxy >= miny, c.miny <= maxy]
    if filters.polygon is not None and db.is_postgis:
        wkb = shapely.to_wkb(filters.polygon)
        clauses.append(
            func.ST_Intersects(
                literal_column(f"{table.name}.geom"), func.ST_GeomFromWKB(literal(wkb), db.srid)
            )
        )
    time_col = {"incidents": "occurred_at", "survey": "answered_at"}.get(layer)
    if time_col:
        if filters.start is not None:
            clauses.append(c[time_col] >= filters.start)
        if filters.end is not None:
            clauses.append(c[time_col] < filters.end)
    if filters.categories is not None and layer == "incidents":
        clauses.append(c.category.in_(filters.categories))
    if filters.precisions is not None and layer == "incidents":
        clauses.append(c.precision.in_(filters.precisions))
    if layer == "incidents":
        if filters.weekdays is not None:
            clauses.append(c.weekday_local.in_(filters.weekdays))
        if filters.hours is not None:
            clauses.append(c.hour_local.in_(filters.hours))
    if filters.max_rating is not None and layer == "survey":
        clauses.append(c.rating <= filters.max_rating)
    if filters.municipality_code is not None:
        clauses.append(c.municipality_code == filters.municipality_code)
    if filters.municipality_codes is not None:
        clauses.append(c.municipality_code.in_(filters.municipality_codes))
    if filters.dataset_ids is not None:
        clauses.append(c.dataset_id.in_(filters.dataset_ids))
    return clauses


def _filtered(stmt: Select, db: Database, layer: str, filters: Filters) -> Select:
    """``stmt`` with the WHERE clauses of ``filters`` on ``layer``."""
    clauses = _where(db, layer, filters)
    return stmt.where(and_(*clauses)) if clauses else stmt


def _needs_exact_polygon_check(db: Database, filters: Filters) -> bool:
    return filters.polygon is not None and not db.is_postgis


def select_layer(
    db: Database, layer: str, filters: Filters, columns: list[str] | None = None
) -> Select:
    table = model_for(layer).__table__
    names = columns or [col.name for col in table.c if col.name != "geom"]
    if _needs_exact_polygon_check(db, filters) and "geom_wkb" not in names:
        names = [*names, "geom_wkb"]
    stmt = select(*[table.c[name] for name in names])
    stmt = _filtered(stmt, db, layer, filters)
    return stmt.order_by(table.c.id)


def layer_frame(
    db: Database,
    layer: str,
    filters: Filters | None = None,
    *,
    columns: list[str] | None = None,
    limit: int | None = None,
    geometry: bool = True,
) -> pd.DataFrame | gpd.GeoDataFrame:
    """Rows of ``layer`` matching ``filters``.

    With ``geometry=True`` a GeoDataFrame in the working CRS; else a plain DataFrame
    (``geom_wkb`` dropped unless asked for).
    """
    filters = filters or Filters()
    cols = columns
    if cols is not None and geometry and "geom_wkb" not in cols:
        cols = [*cols, "geom_wkb"]
    stmt = select_layer(db, layer, filters, cols)
    if limit is not None:
        stmt = stmt.limit(limit)
    with db.engine.connect() as conn:
        result = conn.execute(stmt)
        # Rows become plain tuples first: building a frame from Row objects is ~10x slower.
        frame = pd.DataFrame([tuple(row) for row in result.fetchall()], columns=list(result.keys()))
    geoms = None
    if "geom_wkb" in frame.columns:
        geoms = (
            shapely.from_wkb(frame["geom_wkb"].to_numpy())
            if len(frame)
            else np.array([], dtype=object)
        )
        if _needs_exact_polygon_check(db, filters) and len(frame):
            keep = shapely.intersects(geoms, filters.polygon)
            frame, geoms = frame[keep].reset_index(drop=True), geoms[keep]
        frame = frame.drop(columns="geom_wkb")
    if not geometry:
        return frame
    import geopandas as gpd

    return gpd.GeoDataFrame(
        frame, geometry=geoms if geoms is not None else [], crs=f"EPSG:{db.srid}"
    )


def points_frame(
    db: Database, layer: str, filters: Filters | None = None, *, columns: list[str], limit: int
) -> pd.DataFrame:
    """At most ``limit`` rows of a point layer, ordered by (x, y, id), as a plain DataFrame.

    For bbox requests: the order follows the x/y index, so the database stops after ``limit``
    rows instead of sorting every match by id (``layer_frame``'s order) first. ``x`` and ``y``
    are always included. With a polygon filter on SQLite this falls back to ``layer_frame``.
    """
    if layer not in POINT_LAYERS:
        raise BadInput(f"Points need a point layer, not {layer!r}.")
    filters = filters or Filters()
    names = list(dict.fromkeys([*columns, "x", "y"]))
    if _needs_exact_polygon_check(db, filters):
        frame = layer_frame(db, layer, filters, columns=names, geometry=False)
        return frame.sort_values(["x", "y"], kind="stable").head(limit).reset_index(drop=True)
    table = model_for(layer).__table__
    stmt = select(*[table.c[name] for name in names])
    stmt = (
        _filtered(stmt, db, layer, filters).order_by(table.c.x, table.c.y, table.c.id).limit(limit)
    )
    with db.engine.connect() as conn:
        result = conn.execute(stmt)
        keys = list(result.keys())
        return pd.DataFrame([tuple(row) for row in result.fetchall()], columns=keys)


def count(db: Database, layer: str, filters: Filters | None = None) -> int:
    filters = filters or Filters()
    if _needs_exact_polygon_check(db, filters):
        return len(layer_frame(db, layer, filters, columns=["id"], geometry=False))
    table = model_for(layer).__table__
    stmt = select(func.count()).select_from(table)
    stmt = _filtered(stmt, db, layer, filters)
    with db.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def extent(
    db: Database, layer: str, filters: Filters | None = None
) -> tuple[float, float, float, float] | None:
    """Bounding box of the matching features (working CRS), or None when there are none."""
    filters = filters or Filters()
    table = model_for(layer).__table__
    c = table.c
    if layer in POINT_LAYERS:
        cols = [func.min(c.x), func.min(c.y), func.max(c.x), func.max(c.y)]
    else:
        cols = [func.min(c.minx), func.min(c.miny), func.max(c.maxx), func.max(c.maxy)]
    stmt = select(*cols)
    stmt = _filtered(stmt, db, layer, filters)
    with db.engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None or row[0] is None:
        return None
    return tuple(float(v) for v in row)  # type: ignore[return-value]


def time_range(
    db: Database, layer: str = "incidents", filters: Filters | None = None
) -> tuple[datetime, datetime] | None:
    filters = filters or Filters()
    c = model_for(layer).__table__.c
    col = c.occurred_at if layer == "incidents" else c.answered_at
    stmt = select(func.min(col), func.max(col))
    stmt = _filtered(stmt, db, layer, filters)
    with db.engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None or row[0] is None:
        return None
    from tryggkarta.store.types import UTCDateTime

    conv = UTCDateTime().process_result_value
    return conv(row[0], db.engine.dialect), conv(row[1], db.engine.dialect)  # type: ignore[return-value]


def category_counts(db: Database, filters: Filters | None = None) -> dict[str, int]:
    filters = filters or Filters()
    c = model_for("incidents").__table__.c
    stmt = select(c.category, func.count()).group_by(c.category)
    stmt = _filtered(stmt, db, "incidents", filters)
    with db.engine.connect() as conn:
        return {str(k): int(n) for k, n in conn.execute(stmt).all()}


def dataset_versions(session: Session, layers: tuple[str, ...]) -> dict[str, list[int]]:
    """Which datasets currently make up each layer (for reproducible analysis runs)."""
    rows = session.execute(
        select(Dataset.layer, Dataset.id).where(Dataset.layer.in_(layers)).order_by(Dataset.id)
    ).all()
    out: dict[str, list[int]] = {layer: [] for layer in layers}
    for layer, ident in rows:
        out[layer].append(int(ident))
    return out


#: Settings key of a layer's change counter (:func:`bump_data_version`).
CHANGED_KEY = "data_changed:{layer}"


def data_version(db: Database, layers: tuple[str, ...]) -> list[list[str]]:
    """What the layers hold now: (id, layer, checksum, imported at, rows) of every dataset,
    and each layer's change counter.

    Rows change through imports and deletes (the datasets change with them) and through
    changes by rule that leave the datasets as they are, retention above all: those bump the
    layer's counter (:func:`bump_data_version`). So this keys caches of derived data soundly.
    """
    with db.engine.connect() as conn:
        return data_version_on(conn, layers)


#: :func:`data_version_on`'s two reads as plain SQL (the ORM-annotated statement spent 2 ms
#: of CPU a call on building and adapting itself; these are prepared once).
_VERSION_DATASETS = text(
    "SELECT id, layer, checksum, imported_at, rows_imported FROM datasets "
    "WHERE layer IN :layers ORDER BY id"
).bindparams(bindparam("layers", expanding=True))
_VERSION_CHANGED = text(
    "SELECT key, value FROM settings WHERE key IN :keys ORDER BY key"
).bindparams(bindparam("keys", expanding=True))


def data_version_on(conn: Any, layers: tuple[str, ...]) -> list[list[str]]:
    """:func:`data_version` read on an open connection (inside its transaction's snapshot)."""
    keys = [CHANGED_KEY.format(layer=layer) for layer in layers]
    rows = conn.execute(_VERSION_DATASETS, {"layers": list(layers)}).all()
    changed = conn.execute(_VERSION_CHANGED, {"keys": keys}).all()
    return [[str(v) for v in row] for row in rows] + [[k, v] for k, v in changed]


def bump_data_version(session: Session, layer: str) -> None:
    """Count one change of ``layer``'s rows that no dataset records (in the caller's
    transaction): every cache keyed by :func:`data_version` is stale from the commit on."""
    key = CHANGED_KEY.format(layer=layer)
    row = session.get(Setting, key, with_for_update=True)
    if row is None:
        session.add(Setting(key=key, value="1"))
    else:
        row.value = str(int(row.value) + 1)
    session.flush()
