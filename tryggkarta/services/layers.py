"""Shared pieces of every hotspot layer: the result type, grids, GeoJSON cells, the run cache.

Kept apart from the layer functions so that the layer modules (:mod:`.hotspots`,
:mod:`.targets`, :mod:`.forecast`, :mod:`.evaluation`) can all import it without cycles.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import select

from tryggkarta.analysis import Grid
from tryggkarta.domain import STREET_LEVEL_PRECISIONS
from tryggkarta.errors import BadInput
from tryggkarta.geo import WGS84, transformer
from tryggkarta.geojson import normalise
from tryggkarta.store import AnalysisRun, Database, Dataset, Filters, layer_frame
from tryggkarta.store.queries import dataset_versions, extent

#: Bump when a method's output changes meaning, so cached runs are not reused.
ENGINE_VERSION = "4"  # 3: RFC 7946 ring order; 4: weekly counts (`weeks`) on patrol/emerging
WEEK = timedelta(weeks=1)


@dataclass(frozen=True)
class HotspotLayer:
    """A computed hotspot layer: what was done, and the features to show or export."""

    method: str
    title_sv: str
    title_en: str
    geojson: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_sv

    @property
    def features(self) -> list[dict[str, Any]]:
        return self.geojson.get("features", [])


# --------------------------------------------------------------------------- helpers


def street_level(filters: Filters) -> Filters:
    """Restrict incident filters to positions precise enough for a street-level hotspot."""
    wanted = (
        STREET_LEVEL_PRECISIONS
        if filters.precisions is None
        else tuple(p for p in filters.precisions if p in STREET_LEVEL_PRECISIONS)
    )
    return filters.replace(precisions=wanted)


def analysis_grid(
    db: Database, filters: Filters, cell_size: float | None = None, layer: str = "incidents"
) -> Grid:
    """The grid for an analysis: automatic cell size from the points, or the given one."""
    bounds = extent(db, layer, filters)
    if bounds is None:
        raise BadInput("There are no incidents matching the filters to analyse.")
    if cell_size is not None:
        if not (10 <= cell_size <= 5000):
            raise BadInput("The cell size must be between 10 and 5000 metres.")
        return Grid.for_points([], [], cell_size=cell_size, bounds=_pad(bounds, cell_size))
    pts = layer_frame(db, layer, filters, columns=["x", "y"], geometry=False, limit=200_000)
    grid = Grid.for_points(pts["x"].to_numpy(float), pts["y"].to_numpy(float))
    return Grid.for_points([], [], cell_size=grid.cell_size, bounds=_pad(bounds, grid.cell_size))


def _pad(
    bounds: tuple[float, float, float, float], cell: float
) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = bounds
    return (minx - cell, miny - cell, maxx + cell, maxy + cell)


def cell_features(
    grid: Grid, flat: np.ndarray, srid: int, properties: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    """GeoJSON polygons (WGS84) for grid cells ``flat`` with per-cell properties (vectorised)."""
    if len(flat) == 0:
        return []
    minx, miny, maxx, maxy = grid.cell_bounds(flat)
    tr = transformer(srid, WGS84)
    xs = np.stack([minx, maxx, maxx, minx, minx], axis=1)
    ys = np.stack([miny, miny, maxy, maxy, miny], axis=1)
    lon, lat = tr.transform(xs, ys)
    lon, lat = np.round(lon, 6), np.round(lat, 6)
    cols = {k: np.asarray(v) for k, v in properties.items()}
    feats = []
    for i, cell in enumerate(flat.tolist()):  # building JSON dicts: one per output feature
        ring = np.stack([lon[i], lat[i]], axis=1).tolist()
        props = {"cell": int(cell)}
        props.update({k: _jsonable(v[i]) for k, v in cols.items()})
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": props,
            }
        )
    return feats


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, float):
        return round(value, 4)
    return value


def geometry_wgs84(geom: shapely.Geometry, srid: int) -> dict[str, Any]:
    tr = transformer(srid, WGS84)
    out = shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    # rounded, not set_precision (which snaps to a grid and may turn rings), and RFC 7946 order
    return mapping(normalise([out], 6)[0])


def cluster_geometry(grid: Grid, cells: tuple[int, ...] | list[int]) -> shapely.Geometry:
    minx, miny, maxx, maxy = grid.cell_bounds(np.asarray(cells, dtype=np.int64))
    return shapely.union_all(shapely.box(minx, miny, maxx, maxy))


def district_names(db: Database, points: list[shapely.Point]) -> list[str | None]:
    """Name of the district (area kind 'district') that contains each point, if any."""
    if not points:
        return []
    areas = layer_frame(db, "areas", Filters(), columns=["name", "kind"])
    areas = areas[areas["kind"] == "district"]
    out = np.full(len(points), None, dtype=object)
    pts = np.asarray(points, dtype=object)
    for name, geom in zip(areas["name"], areas.geometry.values, strict=True):  # a few districts
        hit = shapely.contains(geom, pts) & (out == None)  # noqa: E711 - elementwise on objects
        out[hit] = str(name)
    return out.tolist()


def _cache_key(
    method: str, params: dict[str, Any], filters: Filters, versions: dict[str, list[int]]
) -> str:
    blob = json.dumps(
        {
            "engine": ENGINE_VERSION,
            "method": method,
            "params": params,
            "filters": filters.cache_dict(),
            "data": versions,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_run(
    db: Database,
    method: str,
    params: dict[str, Any],
    filters: Filters,
    layers: tuple[str, ...],
    compute: Any,
    *,
    user_id: int | None = None,
    cached_only: bool = False,
) -> HotspotLayer | None:
    """Return the stored run for these inputs, or compute, store and return it.

    With ``cached_only`` nothing is computed: ``None`` when there is no stored run.
    """
    with db.session() as s:
        versions = dataset_versions(s, layers)
        # A survey campaign's dataset grows answer by answer (same id): key on its rows too.
        rows = s.execute(
            select(Dataset.id, Dataset.rows_imported)
            .where(Dataset.layer.in_(layers))
            .order_by(Dataset.id)
        ).all()
        key = _cache_key(
            method, params, filters, {**versions, "rows": [int(n or 0) for _, n in rows]}
        )
        run = s.scalar(select(AnalysisRun).where(AnalysisRun.cache_key == key))
        if run is not None and run.result_geojson is not None:
            summary = dict(run.summary or {})
            return HotspotLayer(
                method,
                summary.pop("title_sv", method),
                summary.pop("title_en", method),
                json.loads(run.result_geojson),
                {**summary, "cached": True},
                run.id,
            )
    if cached_only:
        return None
    started = time.perf_counter()
    layer: HotspotLayer = compute()
    duration = (time.perf_counter() - started) * 1000
    with db.session() as s:
        existing = s.scalar(select(AnalysisRun).where(AnalysisRun.cache_key == key))
        if existing is not None:  # computed concurrently by another request
            return HotspotLayer(
                layer.method,
                layer.title_sv,
                layer.title_en,
                layer.geojson,
                layer.summary,
                existing.id,
            )
        run = AnalysisRun(
            method=method,
            cache_key=key,
            params=params,
            filters=filters.cache_dict(),
            dataset_versions=versions,
            summary={**layer.summary, "title_sv": layer.title_sv, "title_en": layer.title_en},
            result_geojson=json.dumps(layer.geojson, separators=(",", ":")),
            created_by=user_id,
            duration_ms=duration,
        )
        s.add(run)
        s.flush()
        run_id = run.id
    return HotspotLayer(
        layer.method,
        layer.title_sv,
        layer.title_en,
        layer.geojson,
        {**layer.summary, "cached": False},
        run_id,
    )


def _collection(features: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": features,
        **({"metadata": meta} if meta else {}),
    }
