"""The start page's map: store queries per layer, filtered by the caller's role.

Aggregation is SQL ``GROUP BY`` (``store.grid_counts``); k-anonymity is applied before any
cell leaves the server (``maps.cells.cells_geojson(min_count=...)``). Raw points never go into
the page: police see them through the bbox-limited API. The JSON API reuses these helpers.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import numpy as np
from flask import request, url_for

from tryggkarta import maps
from tryggkarta.domain import INCIDENT_CATEGORIES, Detail, Layer
from tryggkarta.errors import TryggkartaError
from tryggkarta.geo import parse_region, to_wgs84
from tryggkarta.maps.cells import cells_geojson, grid_for_extent, top_reasons_per_cell, trend_label
from tryggkarta.maps.query import MapQuery, parse_query
from tryggkarta.store import audit, category_counts, extent, grid_counts, layer_frame, time_range
from tryggkarta.store.queries import Filters, GridSpec

log = logging.getLogger(__name__)

HOTSPOT_METHODS = ("gistar", "kde", "emerging", "patrol", "design")
KNOWN_LAYERS = (
    "incidents", "incident_points", "survey", "survey_pins", "projects", "areas",
    *(f"hotspot_{m}" for m in HOTSPOT_METHODS),
)
#: Layers switched on when the page opens; the others are in the layer control.
SHOWN = ("incidents", "areas", "projects")
WEEK = 7 * 24 * 3600


def min_count_for(level: Detail, k: int) -> int:
    """Smallest cell count shown: ``k`` for aggregated views, 1 for raw ones."""
    return 1 if level == Detail.RAW else max(1, k)


def parse_request(t: Any) -> MapQuery:
    from tryggkarta.web import get_db, get_settings

    settings = get_settings()
    return parse_query(request.args, region=parse_region(settings.region), srid=get_db().srid, t=t,
                       known_layers=KNOWN_LAYERS)


def incident_grid(db: Any, q: MapQuery, min_count: int, *, per_category: bool = True) -> tuple[dict, GridSpec | None]:
    """Incidents per cell (SQL GROUP BY) with category breakdown and a 4-week trend."""
    bounds = q.filters.bbox or extent(db, "incidents", Filters(municipality_code=q.filters.municipality_code))
    if bounds is None:
        return {"type": "FeatureCollection", "features": []}, None
    grid = grid_for_extent(bounds, q.cell)
    cats = category_counts(db, q.filters) if per_category else {}
    per_cat = {c: grid_counts(db, "incidents", grid, q.filters.replace(categories=(c,))) for c in cats}
    total = sum(per_cat.values()) if per_cat else grid_counts(db, "incidents", grid, q.filters)
    trend: np.ndarray | None = None
    span = time_range(db, "incidents", q.filters)
    if span is not None:
        t0 = (span[1] + timedelta(seconds=1)).timestamp() - 8 * WEEK
        cube = grid_counts(db, "incidents", grid, q.filters, time_step=WEEK, t0=t0, n_steps=8)
        trend = np.stack([cube[:4].sum(axis=0).ravel(), cube[4:].sum(axis=0).ravel()])

    def props(idx: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if per_cat:
            out["categories"] = {c: int(a.flat[idx]) for c, a in per_cat.items() if a.flat[idx] >= min_count}
        if trend is not None:
            out["trend"] = trend_label(float(trend[1, idx]), float(trend[0, idx]))
        return out

    return cells_geojson(np.asarray(total), grid, db.srid, min_count=min_count, properties=props), grid


def survey_grid(db: Any, q: MapQuery, grid: GridSpec | None, min_count: int) -> dict:
    """Answers and unsafe share per cell (whole campaign; dates filter incidents only)."""
    base = Filters(bbox=q.filters.bbox, municipality_code=q.filters.municipality_code)
    if grid is None:
        bounds = q.filters.bbox or extent(db, "survey", base)
        if bounds is None:
            return {"type": "FeatureCollection", "features": []}
        grid = grid_for_extent(bounds, q.cell)
    answers = grid_counts(db, "survey", grid, base)
    unsafe = grid_counts(db, "survey", grid, base.replace(max_rating=2))
    frame = layer_frame(db, "survey", base.replace(max_rating=2), columns=["x", "y", "reasons"], geometry=False)
    reasons = top_reasons_per_cell(grid, frame["x"].to_numpy(float), frame["y"].to_numpy(float),
                                   frame["reasons"].fillna("").tolist(), top=5)

    def props(idx: int) -> dict[str, Any]:
        n = int(answers.flat[idx])
        return {
            "unsafe": int(unsafe.flat[idx]) if unsafe.flat[idx] >= min_count or min_count == 1 else None,
            "share": round(float(unsafe.flat[idx]) / n, 3) if n else 0.0,
            "reasons": [[k, c] for k, c in reasons.get(idx, []) if c >= min_count][:3],
        }

    return cells_geojson(answers, grid, db.srid, min_count=min_count, properties=props)


def frame_geojson(frame: Any, columns: list[str]) -> dict:
    """A GeoDataFrame (working CRS) as a WGS84 FeatureCollection with ``columns`` only."""
    if frame is None or len(frame) == 0:
        return {"type": "FeatureCollection", "features": []}
    out = frame[[*columns, "geometry"]].to_crs(4326).copy()
    for col in columns:
        out[col] = out[col].astype(object).where(out[col].notna(), None)
        out[col] = out[col].map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    return out.to_geo_dict(drop_id=True)


def polygon_layer(db: Any, layer: str, q: MapQuery) -> dict:
    cols = {"projects": ["name", "case_number", "kind", "status", "start_date", "end_date", "description"],
            "areas": ["name", "kind"]}[layer]
    frame = layer_frame(db, layer, Filters(bbox=q.filters.bbox, municipality_code=q.filters.municipality_code), columns=cols)
    return frame_geojson(frame, cols)


def survey_pins(db: Any, q: MapQuery, user: Any) -> dict:
    """Individual answers with comments (RAW roles); written to the audit log."""
    cols = ["rating", "reasons", "time_of_day", "comment", "answered_at"]
    frame = layer_frame(db, "survey", Filters(bbox=q.filters.bbox, municipality_code=q.filters.municipality_code), columns=cols)
    frame["answered"] = frame["answered_at"].map(lambda v: v.date().isoformat() if v is not None and v == v else None)
    fc = frame_geojson(frame, ["rating", "reasons", "time_of_day", "comment", "answered"])
    with db.session() as s:
        audit(s, "view_raw", user=user, layer="survey", detail=str(Detail.RAW),
              feature_count=len(fc["features"]), ip=request.remote_addr, extra={"page": "start", "view": "survey pins"})
    return fc


def hotspot_geojson(db: Any, method: str, q: MapQuery) -> tuple[dict, str, str] | None:
    """(geojson, title_sv, title_en) from ``tryggkarta.services.hotspots``, or None if unavailable."""
    try:
        from tryggkarta.services import hotspots
    except ImportError:
        return None
    fn = getattr(hotspots, f"{method}_layer", None)
    if fn is None:
        return None
    try:
        result = fn(db, q.filters)
    except TryggkartaError as exc:
        log.warning("hotspot layer %s not available: %s", method, exc.message)
        return None
    return result.geojson, result.title_sv, result.title_en


def district_options(areas_fc: dict) -> list[dict[str, Any]]:
    """Districts for the search box: name and WGS84 bounds."""
    out = []
    for f in areas_fc["features"]:
        if f["properties"].get("kind") == "municipality":
            continue
        ring = np.asarray(_coords(f["geometry"]), float)
        out.append({"name": f["properties"].get("name") or "", "bounds": [round(float(v), 6) for v in (*ring.min(axis=0), *ring.max(axis=0))]})
    return sorted(out, key=lambda d: d["name"])


def _coords(geom: dict) -> list:
    kind, coords = geom["type"], geom["coordinates"]
    if kind == "Polygon":
        return [pt for ring in coords for pt in ring]
    if kind == "MultiPolygon":
        return [pt for poly in coords for ring in poly for pt in ring]
    return coords if kind == "LineString" else [coords]


def _wanted(q: MapQuery, key: str) -> bool:
    return q.layers is None or key in q.layers


def build_layers(q: MapQuery, lang: str, t: Any) -> tuple[list[maps.MapLayer], dict[str, Any]]:
    """The start page's layers for the current user, and page facts (bounds, districts)."""
    from flask_login import current_user

    from tryggkarta.web import get_db, get_settings
    from tryggkarta.web.auth import detail

    db, settings = get_db(), get_settings()
    inc, sur = detail(Layer.INCIDENTS), detail(Layer.SURVEY)
    k_inc, k_sur = min_count_for(inc, settings.min_count), min_count_for(sur, settings.min_count)
    layers: list[maps.MapLayer] = []
    areas_fc = polygon_layer(db, "areas", q) if detail(Layer.AREAS) != Detail.HIDDEN else {"features": []}
    grid = None
    if inc != Detail.HIDDEN and _wanted(q, "incidents"):
        fc, grid = incident_grid(db, q, k_inc)
        layers.append(maps.incident_cells(fc, t, lang, show="incidents" in SHOWN))
    if inc == Detail.RAW and _wanted(q, "incident_points"):
        params = {k: v for k, v in q.args.items() if v and k in ("from", "to", "cat", "weekday", "hour")}
        layers.append(maps.incident_points(url_for("api.features", layer="incidents"), t, lang, params=params))
    if sur != Detail.HIDDEN and _wanted(q, "survey"):
        layers.append(maps.survey_cells(survey_grid(db, q, grid, k_sur), t, lang, show=False))
    if sur == Detail.RAW and _wanted(q, "survey_pins"):
        layers.append(maps.survey_pins(survey_pins(db, q, current_user), t, lang, show=False))
    for method in HOTSPOT_METHODS:
        needs_raw = method == "patrol"
        level = sur if method == "design" else inc
        if level == Detail.HIDDEN or (needs_raw and level != Detail.RAW) or not _wanted(q, f"hotspot_{method}"):
            continue
        found = hotspot_geojson(db, method, q)
        if found is not None:
            fc, title_sv, title_en = found
            layers.append(maps.hotspot_layer(fc, method, title_en if lang == "en" else title_sv, t, lang,
                                             min_count=min_count_for(level, settings.min_count)))
    if detail(Layer.PROJECTS) != Detail.HIDDEN and _wanted(q, "projects"):
        layers.append(maps.projects(polygon_layer(db, "projects", q), t, lang))
    if areas_fc["features"] and _wanted(q, "areas"):
        layers.append(maps.areas(areas_fc, t, lang))
    districts = district_options(areas_fc) if areas_fc["features"] else []
    return layers, {"bounds": _bounds(db, q, districts, areas_fc), "districts": districts}


def _bounds(db: Any, q: MapQuery, districts: list[dict], areas_fc: dict) -> tuple[float, ...] | None:
    """Where the map opens: the chosen district, the bbox, the data, or the municipality."""
    for d in districts:
        if q.district and d["name"] == q.district:
            return tuple(d["bounds"])
    if q.bbox_wgs84:
        return q.bbox_wgs84
    box = extent(db, "incidents", Filters(municipality_code=q.filters.municipality_code))
    if box is not None:
        lon, lat = to_wgs84(np.array([box[0], box[2]]), np.array([box[1], box[3]]), db.srid)
        return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])
    munis = [f for f in areas_fc["features"] if f["properties"].get("kind") == "municipality"]
    if munis:
        ring = np.asarray(_coords(munis[0]["geometry"]), float)
        return (*ring.min(axis=0), *ring.max(axis=0))
    return None


def start_page_context() -> dict[str, Any]:
    """Everything ``index.html`` needs: the map parts, the filter form, notes."""
    from tryggkarta.web import _, current_language, get_settings
    from tryggkarta.web.auth import detail

    lang = current_language()
    q = parse_request(_)
    layers, facts = build_layers(q, lang, _)
    settings = get_settings()
    m = maps.build_map(layers, bounds=facts["bounds"], tile_url=settings.tile_url,
                       tile_attribution=settings.tile_attribution, t=_,
                       vendor_prefix=url_for("assets.vendor", package="x", path="x").rsplit("/x/x", 1)[0])
    parts = maps.render_parts(m, layers)
    return {
        "map": parts,
        "query": q,
        "categories": [(k, v.get(lang)) for k, v in INCIDENT_CATEGORIES.items()],
        "districts": facts["districts"],
        "aggregated": detail(Layer.INCIDENTS) != Detail.RAW,
        "min_count": settings.min_count,
        "layer_count": len(layers),
    }
