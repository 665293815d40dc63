"""Incidents as Mapbox vector tiles (``z/x/y``, Web Mercator): points up close, cells further out.

A map of a region or the country never fetches hundreds of thousands of GeoJSON features:
the browser asks for the tiles it shows, and each tile holds at most :data:`MAX_POINTS`
features whatever the data size.

* **z >= :data:`RAW_MIN_ZOOM`** (a tile is at most ~5 km wide): the raw points (layer
  ``incidents``: ``id``, ``category``, ``occurred_at``), no more than :data:`MAX_POINTS`;
  a denser tile is served as 250 m cells instead (``truncated`` never silently drops points).
* **lower zooms**: counts per cell, one feature per occupied cell at its centre (layer
  ``cells``: ``n``, ``cell``): 250 m at z 10-12, 1 km at z 8-9, 5 km below
  (:func:`cell_for_zoom`). A cell is counted whole (the tile's box is widened to whole
  cells), so a cell on a tile's edge has the same count in both tiles. At 5 km the counts
  come from the year roll-up (``incident_year_counts``, 5 km cells per local year:
  :func:`~.cellcounts.year_cells`) when the filters are whole years (or no period: the
  regional police page's all history); at 1 km and 5 km from the month roll-up
  (``incident_month_counts``, 1 km cells per local month: :func:`~.cellcounts.month_cells`)
  when the filters are whole months (or no period); otherwise, and at 250 m, from the kept
  per-250 m, per-bucket counts
  (``incident_cell_counts``, :func:`~.cellcounts.coarse_cells`: a 1 km cell is 4 × 4 of
  them) when the filters are
  whole buckets, whole category groups, street level or not and municipalities — a map's
  year, quarter or 52 weeks — and otherwise from the grid count's SQL over the incidents
  (``GROUP BY`` the integer cell, the same ``cell_floor`` expression as
  :func:`~.grid.grid_counts`). All four give the same tile; ``Tile.source`` (the
  ``X-Tile-Source`` header) says which answered.

PostGIS builds the tile in SQL (``ST_AsMVT`` / ``ST_AsMVTGeom`` over the GiST index, the
partitions of the time window only). SQLite runs the same selection and counting SQL and
encodes the rows with ``mapbox-vector-tile`` (coordinates transformed in one pyproj call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Integer, Select, and_, cast, func, literal, literal_column, select

from tryggkarta.errors import BadInput
from tryggkarta.geo import transformer
from tryggkarta.store import cellcounts
from tryggkarta.store.queries import Filters, _where, model_for
from tryggkarta.store.types import cell_floor

if TYPE_CHECKING:
    from tryggkarta.store.engine import Database

EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
RAW_MIN_ZOOM = 13
MAX_POINTS = 20_000
WEB_MERCATOR = 3857
HALF = 20037508.342789244  # half the Web Mercator world width, metres


@dataclass(frozen=True)
class Tile:
    """An encoded tile and what it holds (for the audit log and the response headers)."""

    data: bytes
    kind: str  # "points" or "cells"
    features: int
    cell: float | None
    #: where cell counts came from: "years" (incident_year_counts), "months"
    #: (incident_month_counts), "counts"
    #: (incident_cell_counts) or "scan" (incidents)
    source: str = "scan"


def cell_for_zoom(z: int) -> float | None:
    """Cell size in metres for a zoom level; None where raw points are served."""
    if z >= RAW_MIN_ZOOM:
        return None
    if z >= 10:
        return 250.0
    if z >= 8:
        return 1000.0
    return 5000.0


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise BadInput(f"Zoom {z} is outside 0..{MAX_ZOOM}.")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise BadInput(f"Tile {x}/{y} does not exist at zoom {z} (0..{2**z - 1}).")


def mercator_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    size = 2 * HALF / 2**z
    minx = -HALF + x * size
    maxy = HALF - y * size
    return minx, maxy - size, minx + size, maxy


def working_bounds(z: int, x: int, y: int, srid: int) -> tuple[float, float, float, float]:
    """The tile's bounding box in the working CRS (edges densified), plus a buffer."""
    minx, miny, maxx, maxy = mercator_bounds(z, x, y)
    pad = (maxx - minx) * BUFFER / EXTENT
    box = transformer(WEB_MERCATOR, srid).transform_bounds(
        minx - pad, miny - pad, maxx + pad, maxy + pad, densify_pts=21
    )
    if not all(math.isfinite(v) for v in box):  # a tile beyond the CRS's area of use
        return (0.0, 0.0, -1.0, -1.0)
    return box


def incident_tile(
    db: Database,
    z: int,
    x: int,
    y: int,
    filters: Filters | None = None,
    *,
    from_counts: bool = True,
    from_months: bool = True,
    from_years: bool = True,
) -> Tile:
    """The vector tile ``z/x/y`` of the incidents that match ``filters``.

    ``from_counts=False`` always counts cells over the incidents, ``from_months=False``
    never reads the month or year roll-up, ``from_years=False`` never the year roll-up
    (tests compare the four).
    """
    check_tile(z, x, y)
    filters = filters or Filters()
    bounds = working_bounds(z, x, y, db.srid)
    if bounds[0] > bounds[2]:
        return Tile(b"", "points", 0, None)
    chosen = filters
    filters = filters.replace(bbox=_intersect(filters.bbox, bounds))
    if filters.bbox is None:
        return Tile(b"", "points", 0, None)
    cell = cell_for_zoom(z)
    if cell is None:
        tile = _points(db, z, x, y, filters)
        if tile is not None:
            return tile
        cell = 250.0
    if chosen.bbox is None and chosen.polygon is None:  # whole cells around the tile
        box = _cell_box(bounds, cell)
        if from_counts and from_months and from_years and cell >= cellcounts.YEAR_CELL:
            tables = has_counts(db, cellcounts.YEAR_TABLE.name)
            where = cellcounts.year_where(chosen) if tables else None
            if where is not None:
                counted = cellcounts.year_cells(cell, where, box)
                return _cells_from_counts(db, z, x, y, counted, cell, "years")
        if from_counts and from_months and cell >= cellcounts.MONTH_CELL:
            tables = has_counts(db, cellcounts.MONTH_TABLE.name)
            where = cellcounts.month_where(chosen) if tables else None
            if where is not None:
                counted = cellcounts.month_cells(cell, where, box)
                return _cells_from_counts(db, z, x, y, counted, cell, "months")
        tables = has_counts(db, cellcounts.TABLE.name)
        where = cellcounts.coarse_where(chosen) if from_counts and tables else None
        if where is not None:
            counted = cellcounts.coarse_cells(cell, where, box)
            return _cells_from_counts(db, z, x, y, counted, cell, "counts")
        filters = filters.replace(
            bbox=(
                box[0] * cell,
                box[1] * cell,
                float(np.nextafter((box[2] + 1) * cell, -np.inf)),
                float(np.nextafter((box[3] + 1) * cell, -np.inf)),
            )
        )
    return _cells(db, z, x, y, filters, cell)


def _cell_box(bounds: tuple[float, float, float, float], size: float) -> tuple[int, int, int, int]:
    """The cells ``(ix0, iy0, ix1, iy1)`` that ``bounds`` touches."""
    return (
        math.floor(bounds[0] / size),
        math.floor(bounds[1] / size),
        math.floor(bounds[2] / size),
        math.floor(bounds[3] / size),
    )


_COUNTS_TABLE: dict[tuple[int, str], bool] = {}


def has_counts(db: Database, name: str) -> bool:
    """Whether the store has the kept count table ``name`` (``incident_cell_counts``,
    migration 0012; ``incident_month_counts``, 0017; ``incident_year_counts``, 0019), asked
    once per engine."""
    key = (id(db.engine), name)
    if key not in _COUNTS_TABLE:
        from sqlalchemy import inspect

        with db.engine.connect() as conn:
            _COUNTS_TABLE[key] = inspect(conn).has_table(name)
    return _COUNTS_TABLE[key]


def _intersect(a, b):  # noqa: ANN001, ANN202 - two (minx, miny, maxx, maxy) or None
    if a is None:
        return b
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] <= box[2] and box[1] <= box[3] else None


def _mvt_geom(db: Database, z: int, x: int, y: int, geom):  # noqa: ANN001, ANN202
    envelope = func.ST_TileEnvelope(z, x, y)
    return func.ST_AsMVTGeom(func.ST_Transform(geom, WEB_MERCATOR), envelope, EXTENT, BUFFER, True)


def _points(db: Database, z: int, x: int, y: int, filters: Filters) -> Tile | None:
    """Raw points, or None when the tile holds more than :data:`MAX_POINTS`."""
    c = model_for("incidents").__table__.c
    where = and_(*_where(db, "incidents", filters))
    if db.is_postgis:
        geom = _mvt_geom(db, z, x, y, literal_column("incidents.geom")).label("geom")
        rows = (
            select(
                c.id,
                c.category,
                func.to_char(
                    func.timezone("UTC", c.occurred_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
                ).label("occurred_at"),
                geom,
            )
            .where(where)
            .limit(MAX_POINTS + 1)
            .subquery("q")
        )
        stmt = select(
            func.ST_AsMVT(literal_column("q"), "incidents", EXTENT, "geom"),
            func.count(),
            func.count(literal_column("q.geom")),
        ).select_from(rows)
        with db.engine.connect() as conn:
            data, n, kept = conn.execute(stmt).one()
        if n > MAX_POINTS:
            return None
        return Tile(bytes(data or b"") if kept else b"", "points", int(kept), None)
    stmt = select(c.id, c.category, c.occurred_at, c.x, c.y).where(where).limit(MAX_POINTS + 1)
    with db.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if len(rows) > MAX_POINTS:
        return None
    props = [
        {"id": int(r[0]), "category": r[1], "occurred_at": r[2].strftime("%Y-%m-%dT%H:%M:%SZ")}
        for r in rows
    ]
    xy = np.array([(r[3], r[4]) for r in rows], dtype=float).reshape(-1, 2)
    data, n = _encode(db, z, x, y, "incidents", xy, props)
    return Tile(data, "points", n, None)


def _cells_from_counts(
    db: Database, z: int, x: int, y: int, counted: Select, size: float, source: str
) -> Tile:
    """The cells tile from ``SELECT ix, iy, n`` over the kept counts (``source``:
    "counts", "months" or "years")."""
    if db.is_postgis:
        return _cells_tile(db, z, x, y, counted, size, source)
    with db.engine.connect() as conn:
        got = np.array([tuple(r) for r in conn.execute(counted).fetchall()], dtype=np.int64)
    got = got.reshape(-1, 3)
    xy = (got[:, :2] + 0.5) * size
    props = [{"n": int(n), "cell": int(size)} for n in got[:, 2]]
    data, n = _encode(db, z, x, y, "cells", xy, props)
    return Tile(data, "cells", n, size, source)


def _cells(db: Database, z: int, x: int, y: int, filters: Filters, size: float) -> Tile:
    """Counts per occupied cell of ``size`` metres, one point feature at each cell's centre."""
    c = model_for("incidents").__table__.c
    ix = cell_floor(c.x / size).label("ix")
    iy = cell_floor(c.y / size).label("iy")
    counted = (
        select(ix, iy, func.count().label("n"))
        .where(and_(*_where(db, "incidents", filters)))
        .group_by(literal_column("ix"), literal_column("iy"))
    )
    if db.is_postgis:
        return _cells_tile(db, z, x, y, counted, size, "scan")
    from tryggkarta.store.grid import occupied_cells

    cx, cy, counts = occupied_cells(db, "incidents", size, filters)
    xy = (np.column_stack([cx, cy]) + 0.5) * size
    props = [{"n": int(n), "cell": int(size)} for n in counts]
    data, n = _encode(db, z, x, y, "cells", xy, props)
    return Tile(data, "cells", n, size)


def _cells_tile(
    db: Database, z: int, x: int, y: int, counted: Select, size: float, source: str
) -> Tile:
    """PostGIS: the MVT of ``SELECT ix, iy, n`` with a point at each cell's centre."""
    cells = counted.subquery("cells")
    centre = func.ST_SetSRID(
        func.ST_MakePoint(
            (literal_column("cells.ix") + 0.5) * size, (literal_column("cells.iy") + 0.5) * size
        ),
        db.srid,
    )
    rows = (
        select(
            literal_column("cells.n").label("n"),
            cast(literal(int(size)), Integer).label("cell"),
            _mvt_geom(db, z, x, y, centre).label("geom"),
        )
        .select_from(cells)
        .subquery("q")
    )
    stmt = select(
        func.ST_AsMVT(literal_column("q"), "cells", EXTENT, "geom"),
        func.count(literal_column("q.geom")),
    )
    with db.engine.connect() as conn:
        data, n = conn.execute(stmt.select_from(rows)).one()
    return Tile(bytes(data or b"") if n else b"", "cells", int(n), size, source)


def _encode(
    db: Database, z: int, x: int, y: int, name: str, xy: np.ndarray, props: list
) -> tuple[bytes, int]:
    """SQLite: points in the working CRS as one MVT layer (tile pixel coordinates), and
    how many it holds (those within the tile and its buffer, as ``ST_AsMVTGeom`` keeps)."""
    import mapbox_vector_tile
    import shapely

    if len(xy) == 0:
        return b"", 0
    mx, my = transformer(db.srid, WEB_MERCATOR).transform(xy[:, 0], xy[:, 1])
    minx, miny, maxx, maxy = mercator_bounds(z, x, y)
    px = np.rint((np.asarray(mx) - minx) / (maxx - minx) * EXTENT)
    py = np.rint((np.asarray(my) - miny) / (maxy - miny) * EXTENT)  # y up: the encoder flips it
    keep = (px >= -BUFFER) & (px <= EXTENT + BUFFER) & (py >= -BUFFER) & (py <= EXTENT + BUFFER)
    points = shapely.points(px[keep], py[keep])
    features = [
        {"geometry": g, "properties": p}
        for g, p in zip(points, np.asarray(props, dtype=object)[keep], strict=True)
    ]
    if not features:
        return b"", 0
    data = mapbox_vector_tile.encode(
        [{"name": name, "features": features}],
        default_options={"extents": EXTENT, "quantize_bounds": None, "y_coord_down": False},
    )
    return data, len(features)
