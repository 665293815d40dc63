"""Hotspot layers: store -> analysis -> GeoJSON, stored as reproducible analysis runs.

This is the seam between the pure :mod:`tryggkarta.analysis` functions and the rest of the
application (maps, pages, CLI, exports). Each ``*_layer`` function

1. selects data from the store with :class:`~tryggkarta.store.Filters` (counting per cell in
   SQL where it can),
2. runs the statistic,
3. returns a :class:`HotspotLayer` whose ``geojson`` is an RFC 7946 FeatureCollection
   (WGS84 lon/lat) ready for a map or an export,

and caches the result in ``analysis_runs`` keyed by method, parameters, filters and the
datasets that make up the layer: the same inputs give the stored result back.

Only incidents with a street-level position (``exact``, ``address``, ``street``) enter a
hotspot; Polisen's municipality-centroid events count in trends and area totals only.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import select

from tryggkarta.analysis import Grid, emerging, gistar, kde
from tryggkarta.domain import STREET_LEVEL_PRECISIONS
from tryggkarta.errors import BadInput
from tryggkarta.geo import WGS84, transformer
from tryggkarta.store import AnalysisRun, Database, Filters, GridSpec, grid_counts, layer_frame
from tryggkarta.store.queries import dataset_versions, extent

#: Bump when a method's output changes meaning, so cached runs are not reused.
ENGINE_VERSION = "2"
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


def spec(grid: Grid) -> GridSpec:
    return GridSpec(grid.x0, grid.y0, grid.cell_size, grid.nx, grid.ny)


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
    return mapping(shapely.set_precision(out, 1e-6))


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
) -> HotspotLayer:
    """Return the stored run for these inputs, or compute, store and return it."""
    with db.session() as s:
        versions = dataset_versions(s, layers)
        key = _cache_key(method, params, filters, versions)
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


# --------------------------------------------------------------------------- layers


def gistar_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    cell_size: float | None = None,
    neighbourhood: str = "queen",
    user_id: int | None = None,
) -> HotspotLayer:
    """Getis-Ord Gi* hot and cold cells (classes −3…+3, FDR-corrected)."""
    filters = street_level(filters or Filters())
    params = {"cell_size": cell_size, "neighbourhood": neighbourhood}

    def compute() -> HotspotLayer:
        grid = analysis_grid(db, filters, cell_size)
        counts = grid_counts(db, "incidents", spec(grid), filters)
        res = gistar(counts, neighbourhood)
        flat = np.flatnonzero(res.classes.ravel() != 0)
        feats = cell_features(
            grid,
            flat,
            db.srid,
            {
                "class": res.classes.ravel()[flat],
                "z": res.z.ravel()[flat],
                "p_fdr": res.p_fdr.ravel()[flat],
                "count": counts.ravel()[flat],
            },
        )
        summary = {
            "cell_size": grid.cell_size,
            "cell_reason": grid.reason,
            "n_points": int(counts.sum()),
            "hot_cells": int((res.classes > 0).sum()),
            "cold_cells": int((res.classes < 0).sum()),
            "neighbourhood": neighbourhood,
        }
        return HotspotLayer(
            "gistar", "Brännpunkter (Gi*)", "Hot spots (Gi*)", _collection(feats), summary
        )

    return cached_run(db, "gistar", params, filters, ("incidents",), compute, user_id=user_id)


#: KDE output is bounded: hotspot cells (top share) and cells at or above ``KDE_FLOOR`` of the
#: peak density, at most ``KDE_MAX_CELLS`` of them (the densest; hotspot cells first).
KDE_FLOOR = 0.1
KDE_MAX_CELLS = 2500


def kde_cells(density: np.ndarray, hot: np.ndarray, floor: float = KDE_FLOOR, cap: int = KDE_MAX_CELLS) -> np.ndarray:
    """Flat indices of the KDE cells worth drawing (see ``KDE_FLOOR``), sorted."""
    peak = float(density.max()) if density.size else 0.0
    if peak <= 0:
        return np.array([], dtype=np.int64)
    keep = np.flatnonzero(hot.astype(bool) | (density >= floor * peak))
    if len(keep) > cap:
        order = np.lexsort((-density[keep], ~hot[keep].astype(bool)))  # hotspot first, then densest
        keep = keep[order[:cap]]
    return np.sort(keep)


def kde_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    cell_size: float | None = None,
    bandwidth: float | None = None,
    top_share: float = 0.05,
    user_id: int | None = None,
) -> HotspotLayer:
    """Quartic kernel density; cells in the top ``top_share`` of area are the hotspot."""
    filters = street_level(filters or Filters())
    if not 0 < top_share <= 1:
        raise BadInput("The hotspot share of area must be between 0 and 1.")
    params = {"cell_size": cell_size, "bandwidth": bandwidth, "top_share": top_share,
              "floor": KDE_FLOOR, "max_cells": KDE_MAX_CELLS}

    def compute() -> HotspotLayer:
        grid = analysis_grid(db, filters, cell_size)
        counts = grid_counts(db, "incidents", spec(grid), filters)
        res = kde(counts, grid.cell_size, bandwidth)
        density = res.density
        hot = res.hotspot_mask(top_share).ravel()
        flat = kde_cells(density.ravel(), hot)
        feats = cell_features(
            grid,
            flat,
            db.srid,
            {"density": density.ravel()[flat], "hotspot": hot[flat], "count": counts.ravel()[flat]},
        )
        summary = {
            "cell_size": grid.cell_size,
            "cell_reason": grid.reason,
            "bandwidth": res.bandwidth,
            "bandwidth_rule": res.bandwidth_rule,
            "top_share": top_share,
            "n_points": int(counts.sum()),
            "max_density": float(density.max()) if density.size else 0.0,
        }
        return HotspotLayer("kde", "Täthet (KDE)", "Density (KDE)", _collection(feats), summary)

    return cached_run(db, "kde", params, filters, ("incidents",), compute, user_id=user_id)


def emerging_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    step: str = "week",
    cell_size: float | None = None,
    periods: int | None = None,
    now: datetime | None = None,
    user_id: int | None = None,
) -> HotspotLayer:
    """Emerging hot spots: Gi* per time step + Mann-Kendall trend per cell."""
    filters = street_level(filters or Filters())
    if step not in ("week", "month"):
        raise BadInput("The time step must be 'week' or 'month'.")
    step_len = WEEK if step == "week" else timedelta(days=30)
    n = periods or (52 if step == "week" else 24)
    end = _week_start(now or _latest(db, filters)) + WEEK
    start = end - n * step_len
    params = {"step": step, "cell_size": cell_size, "periods": n, "end": end.isoformat()}

    def compute() -> HotspotLayer:
        window = filters.replace(start=start, end=end)
        grid = analysis_grid(db, window, cell_size)
        cube = grid_counts(
            db,
            "incidents",
            spec(grid),
            window,
            time_step=step_len.total_seconds(),
            t0=start.timestamp(),
            n_steps=n,
        )
        res = emerging(cube)
        cats = np.asarray(res.category).ravel()
        flat = np.flatnonzero(cats != "no_pattern")
        labels = res.labels
        minx, miny, maxx, maxy = grid.cell_bounds(flat)
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        feats = cell_features(
            grid,
            flat,
            db.srid,
            {
                "category": cats[flat],
                "label_sv": np.array([labels.get(c, (c, c))[0] for c in cats[flat]], dtype=object),
                "label_en": np.array([labels.get(c, (c, c))[1] for c in cats[flat]], dtype=object),
                "trend_z": res.trend_z.ravel()[flat],
                "trend_p": res.trend_p.ravel()[flat],
                "count": cube.sum(axis=0).ravel()[flat],
                "recent": cube[-4:].sum(axis=0).ravel()[flat],
                "key": np.array([f"E{int(x // 500)}_{int(y // 500)}" for x, y in zip(cx, cy, strict=True)], dtype=object),
                "name": np.array(district_names(db, list(shapely.points(cx, cy))), dtype=object),
            },
        )
        values, counts = np.unique(cats[flat], return_counts=True)
        summary = {
            "cell_size": grid.cell_size,
            "step": step,
            "periods": n,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "categories": {str(v): int(c) for v, c in zip(values, counts, strict=True)},
        }
        return HotspotLayer(
            "emerging",
            "Framväxande brännpunkter",
            "Emerging hot spots",
            _collection(feats),
            summary,
        )

    return cached_run(db, "emerging", params, filters, ("incidents",), compute, user_id=user_id)


def _latest(db: Database, filters: Filters) -> datetime:
    from tryggkarta.store import time_range

    span = time_range(db, "incidents", filters)
    return span[1] if span else datetime.now(UTC)


def _week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week of ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


# Patrol and design layers live in their own module; re-exported here as the one entry point.
from tryggkarta.services.forecast import forecast_layer  # noqa: E402
from tryggkarta.services.targets import design_layer, patrol_layer  # noqa: E402

__all__ = [
    "HotspotLayer",
    "design_layer",
    "emerging_layer",
    "forecast_layer",
    "gistar_layer",
    "kde_layer",
    "patrol_layer",
]
