"""The start page's map: store queries per layer, filtered by the caller's role.

Aggregation is SQL ``GROUP BY`` (``store.grid_counts``); k-anonymity is applied before any
cell leaves the server (``services.grids.cells_geojson(min_count=...)``). Raw points never go into
the page: police see them through the bbox-limited API. The JSON API reuses these helpers.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from flask import request, url_for

from tryggkarta import disclosure, hotspot_methods, maps, policy
from tryggkarta.config import local_timezone
from tryggkarta.domain import INCIDENT_CATEGORIES, Detail, Layer
from tryggkarta.errors import TryggkartaError
from tryggkarta.geo import parse_region, to_wgs84
from tryggkarta.geojson import geo_dict, points_geojson  # noqa: F401 - points_geojson re-exported
from tryggkarta.i18n import local_day
from tryggkarta.maps.simplify import simplify_for_display
from tryggkarta.services import municipalities
from tryggkarta.services.cells import (
    PAGE_MAX_FEATURES,
    incident_cells,
    rollup_cells,
    survey_cells,
)
from tryggkarta.services.sharing import ROLES_SHAREABLE
from tryggkarta.store import audit, extent, layer_frame, queries
from tryggkarta.store.grid import GridSpec
from tryggkarta.store.queries import Filters
from tryggkarta.web.basemap import background_options, current_background
from tryggkarta.web.context import _, current_language, current_reach, get_db, get_settings
from tryggkarta.web.query import MapQuery, parse_query

log = logging.getLogger(__name__)

HOTSPOT_METHODS = hotspot_methods.KEYS
KNOWN_LAYERS = (
    "incidents",
    "incident_points",
    "survey",
    "survey_pins",
    "projects",
    "areas",
    *(f"hotspot_{m}" for m in HOTSPOT_METHODS),
)
#: Layers switched on when the page opens; the others are in the layer control.
SHOWN = ("incidents", "areas", "projects")
WEEK = 7 * 24 * 3600


def parse_request(t: Any, args: Any = None) -> MapQuery:
    """The map query of ``args`` (default: the request's query string), never reaching
    outside the user's municipalities."""
    from flask_login import current_user

    settings = get_settings()
    return parse_query(
        request.args if args is None else args,
        region=parse_region(settings.region),
        srid=get_db().srid,
        t=t,
        known_layers=KNOWN_LAYERS,
        scope=policy.raw_scope(current_user),
    )


def installation_code() -> str | None:
    """The installation's municipality (None for an EST group or a wider region): fixed
    releases are made for the installation, never for a municipality a user picks, so that
    no two releases can be subtracted from each other."""
    return parse_region(get_settings().region).municipality_code


#: Computed cell layers, per (database, layer, filters, k, cell size, dataset versions).
_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 64
_CACHE_LOCK = threading.Lock()


def cached(
    db: Any, kind: str, q: MapQuery, layers: tuple[str, ...], extra: Any, compute: Any
) -> Any:
    """``compute()`` once per (database, kind, filters, cell, ``extra``, data version)."""
    blob = json.dumps(
        [
            str(db.engine.url),
            id(db),
            kind,
            q.filters.cache_dict(),
            q.cell,
            extra,
            queries.data_version(db, layers),
        ],
        sort_keys=True,
        default=str,
    )
    key = hashlib.sha256(blob.encode()).hexdigest()
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return copy.deepcopy(_CACHE[key])
    value = compute()
    with _CACHE_LOCK:
        _CACHE[key] = copy.deepcopy(value)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def incident_grid(
    db: Any,
    q: MapQuery,
    min_count: int,
    *,
    per_category: bool = True,
    top_categories: int | None = None,
    max_features: int | None = None,
) -> tuple[dict, GridSpec | None]:
    """Incident cells for the page's query (see :func:`tryggkarta.services.cells.incident_cells`)."""
    return incident_cells(
        db,
        q.filters,
        q.cell,
        min_count,
        per_category=per_category,
        top_categories=top_categories,
        max_features=max_features,
    )


def raw_incident_cells(db: Any, q: MapQuery, min_count: int) -> tuple[dict, GridSpec | None]:
    """A page's incident cells at raw detail (the map page and a shared map's): top five
    categories per cell, at most ``PAGE_MAX_FEATURES`` cells, kept per data version."""
    return cached(
        db,
        "incidents",
        q,
        ("incidents",),
        [min_count, 5],
        lambda: incident_grid(db, q, min_count, top_categories=5, max_features=PAGE_MAX_FEATURES),
    )


def survey_grid(db: Any, q: MapQuery, grid: GridSpec | None, min_count: int) -> dict:
    """Survey cells for the page's query (see :func:`tryggkarta.services.cells.survey_cells`)."""
    return survey_cells(db, q.filters, q.cell, grid, min_count)


def frame_geojson(frame: Any, columns: list[str]) -> dict:
    """A GeoDataFrame (working CRS) as a WGS84 FeatureCollection with ``columns`` only
    (RFC 7946 ring order, rounded coordinates: :func:`tryggkarta.geojson.geo_dict`)."""
    return geo_dict(frame, columns)


def polygon_layer(db: Any, layer: str, q: MapQuery) -> dict:
    cols = {
        "projects": [
            "name",
            "case_number",
            "kind",
            "status",
            "start_date",
            "end_date",
            "description",
        ],
        "areas": ["name", "kind"],
    }[layer]
    frame = layer_frame(
        db,
        layer,
        Filters(
            bbox=q.filters.bbox,
            municipality_code=q.filters.municipality_code,
            municipality_codes=q.filters.municipality_codes,
        ),
        columns=cols,
    )
    # no vertex finer than half a pixel at street zoom: a 400k-vertex area made pages 12 MB
    return frame_geojson(simplify_for_display(frame), cols)


def survey_pins(db: Any, q: MapQuery, user: Any) -> dict:
    """Individual answers with comments (RAW roles); written to the audit log."""
    cols = ["rating", "reasons", "time_of_day", "comment", "answered_at"]
    frame = layer_frame(
        db,
        "survey",
        Filters(
            bbox=q.filters.bbox,
            municipality_code=q.filters.municipality_code,
            municipality_codes=q.filters.municipality_codes,
        ),
        columns=cols,
    )
    frame["answered"] = frame["answered_at"].map(
        lambda v: local_day(v).isoformat() if v is not None and v == v else None
    )
    fc = frame_geojson(frame, ["rating", "reasons", "time_of_day", "comment", "answered"])
    with db.session() as s:
        audit(
            s,
            "view_raw",
            user=user,
            layer="survey",
            detail=str(Detail.RAW),
            feature_count=len(fc["features"]),
            ip=request.remote_addr,
            extra={"page": "start", "view": "survey pins"},
        )
    return fc


def hotspot_geojson(db: Any, method: str, q: MapQuery) -> tuple[dict, str, str] | None:
    """(geojson, title_sv, title_en) from ``tryggkarta.services.hotspots``, or None when the
    data cannot support the method (e.g. too few incidents) — logged, the map goes on."""
    from tryggkarta.services import hotspots

    fn = getattr(hotspots, f"{method}_layer")
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
        out.append(
            {
                "name": f["properties"].get("name") or "",
                "bounds": [round(float(v), 6) for v in (*ring.min(axis=0), *ring.max(axis=0))],
            }
        )
    return sorted(out, key=lambda d: d["name"])


def _coords(geom: dict) -> list:
    kind, coords = geom["type"], geom["coordinates"]
    if kind == "Polygon":
        return [pt for ring in coords for pt in ring]
    if kind == "MultiPolygon":
        return [pt for poly in coords for ring in poly for pt in ring]
    return coords if kind == "LineString" else [coords]


def _filter_args(args: Any = None) -> dict[str, list[str]]:
    """The request's (or ``args``') filter parameters, to pass on to API calls made by the page."""
    args = request.args if args is None else args
    return {
        k: args.getlist(k)
        for k in ("from", "to", "cat", "weekday", "hour", "bbox", "cell", "kommun")
        if args.getlist(k)
    }


def forecast_on_page(
    db: Any, q: MapQuery, title: str, lang: str, t: Any, level: Detail
) -> maps.MapLayer | None:
    """The default hotspot layer, shown from the start with its method and PAI in the legend —
    when it is already computed for this data (``tryggkarta demo`` and the CLI compute it;
    the page never waits for the tuning). Otherwise the layer loads on demand.

    Below raw detail the layer is the one fitted on all data (no ad-hoc filters) and its
    features go through :func:`tryggkarta.disclosure.disclose_features`."""
    from tryggkarta.services.forecast import forecast_layer, trust_note

    filters = q.filters if level is Detail.RAW else Filters(municipality_code=installation_code())
    try:
        layer = forecast_layer(db, filters, cached_only=True)
    except TryggkartaError:
        return None
    if layer is None or not layer.features:
        return None
    rule = current_rule(Layer.INCIDENTS)
    return maps.hotspot_layer(
        disclosure.disclose_features(layer.geojson, rule, lang),
        "forecast",
        title,
        t,
        lang,
        show=True,
        min_count=rule.k,
        note=trust_note(layer.summary, lang, exact=level is Detail.RAW),
    )


def data_quality_note(db: Any, q: MapQuery, lang: str, level: Detail) -> str:
    """The legend's note on records the hot-spot guard leaves out ('' when none)."""
    from tryggkarta.services.quality import legend_note

    try:
        return legend_note(db, q.filters, lang, exact=level is Detail.RAW)
    except TryggkartaError:
        return ""


def hotspot_level(method: str) -> tuple[Detail, bool]:
    """(detail level the current user gets of ``method``, whether they may see it at all)."""
    from flask_login import current_user

    level = policy.hotspot_detail(current_user, method)
    return level, level is not Detail.HIDDEN


def current_rule(layer: str) -> disclosure.Rule:
    """The disclosure rule for the current user on ``layer``."""
    from flask_login import current_user

    return disclosure.rule_for(policy.detail(current_user, layer), get_settings().min_count)


#: Parameters only raw-detail roles may use (ad-hoc filters); others get fixed releases.
AD_HOC = ("from", "to", "cat", "weekday", "hour", "cell", "dataset", "kommun")


def ad_hoc_args(args: Any = None) -> list[str]:
    args = request.args if args is None else args
    return [k for k in AD_HOC if any(v.strip() for v in args.getlist(k))]


def release_choice(args: Any = None) -> tuple[disclosure.Period, str]:
    """The release period and category group asked for (``period``, ``grupp``)."""
    args = request.args if args is None else args
    tz = local_timezone(get_settings())
    return (
        disclosure.parse_period(args.get("period"), tz=tz),
        disclosure.parse_group(args.get("grupp")),
    )


def released_incidents(
    db: Any, q: MapQuery, lang: str, args: Any = None, *, page: bool = False
) -> dict:
    """Published incident cells (fixed release) for a role below raw detail; ``page``: as a
    page embeds them (coarser cells where a region or the country has too many to embed,
    :func:`tryggkarta.disclosure.for_page`)."""
    period, group = release_choice(args)
    rule = current_rule(Layer.INCIDENTS)
    rel = disclosure.incident_release(db, installation_code(), period, rule)
    if page:
        rel = disclosure.for_page(rel, q.filters.bbox, group=group)
    return disclosure.release_geojson(rel, db.srid, bbox=q.filters.bbox, group=group, lang=lang)


def released_survey(db: Any, q: MapQuery, lang: str, *, page: bool = False) -> dict:
    """Published survey cells (fixed release) for a role below raw detail (``page``: as
    :func:`released_incidents`)."""
    rule = current_rule(Layer.SURVEY)
    rel = disclosure.survey_release(db, installation_code(), rule)
    if page:
        rel = disclosure.for_page(rel, q.filters.bbox)
    return disclosure.release_geojson(rel, db.srid, bbox=q.filters.bbox, lang=lang)


def release_filters(q: MapQuery) -> Filters:
    """Store filters of the fixed hotspot release: all data up to the latest release cut."""

    tz = local_timezone(get_settings())
    return Filters(municipality_code=installation_code(), end=disclosure.release_cut(tz=tz))


def _wanted(q: MapQuery, key: str) -> bool:
    return q.layers is None or key in q.layers


def build_layers(
    q: MapQuery, lang: str, t: Any, args: Any = None
) -> tuple[list[maps.MapLayer], dict[str, Any]]:
    """The start page's layers for the current user, and page facts (bounds, districts).

    ``args`` (default: the request's query string) are the map's parameters — a saved map
    passes its own, so a recipient gets the same map through the same code, at their rights.
    """

    from tryggkarta.web.auth import detail

    db = get_db()
    inc, sur = detail(Layer.INCIDENTS), detail(Layer.SURVEY)
    k_inc, k_sur = current_rule(Layer.INCIDENTS).k, current_rule(Layer.SURVEY).k
    layers: list[maps.MapLayer] = []
    areas_fc = (
        polygon_layer(db, "areas", q) if detail(Layer.AREAS) != Detail.HIDDEN else {"features": []}
    )
    grid = None
    regional = regional_extent(db, q) if inc == Detail.RAW else None
    if inc == Detail.RAW and _wanted(q, "incidents") and regional is not None:
        layers.append(incident_cell_tiles_layer(q, t, lang))
    elif inc == Detail.RAW and _wanted(q, "incidents"):
        fc, grid = raw_incident_cells(db, q, k_inc)
        layers.append(maps.incident_cells(fc, t, lang, show="incidents" in SHOWN))
    elif inc != Detail.HIDDEN and _wanted(q, "incidents"):
        fc = released_incidents(db, q, lang, args, page=True)
        layers.append(maps.incident_cells(fc, t, lang, show="incidents" in SHOWN))
    if inc == Detail.RAW and _wanted(q, "incident_points"):
        layers.append(raw_points_layer(q, t, lang))
    if sur == Detail.RAW and _wanted(q, "survey"):
        survey_fc = cached(
            db,
            "survey",
            q,
            ("survey",),
            [k_sur, str(grid)],
            lambda: survey_grid(db, q, grid, k_sur),
        )
        layers.append(maps.survey_cells(survey_fc, t, lang, show=False))
    elif sur != Detail.HIDDEN and _wanted(q, "survey"):
        layers.append(
            maps.survey_cells(released_survey(db, q, lang, page=True), t, lang, show=False)
        )
    if sur == Detail.RAW and _wanted(q, "survey_pins"):
        # fetched (and audited) only when switched on: embedded they were 0.9 MB of the page
        url = url_for("api.survey_pins", lang=lang, **_filter_args(args))
        layers.append(maps.lazy_survey_pins(url, t))
    for method in HOTSPOT_METHODS:
        level, allowed = hotspot_level(method)
        if not allowed or not _wanted(q, f"hotspot_{method}"):
            continue
        title = hotspot_methods.method(method).title(lang)
        if method == "forecast":
            embedded = forecast_on_page(db, q, title, lang, t, level)
            if embedded is not None:
                layers.append(embedded)
                continue
        extra = _filter_args(args) if level is Detail.RAW else {}
        url = url_for("api.hotspot", method=method, lang=lang, **extra)
        note = "" if method == "forecast" else data_quality_note(db, q, lang, level)
        layers.append(maps.lazy_hotspot_layer(method, title, url, t, note=note))
    if detail(Layer.PROJECTS) != Detail.HIDDEN and _wanted(q, "projects"):
        layers.append(maps.projects(polygon_layer(db, "projects", q), t, lang))
    if areas_fc["features"] and _wanted(q, "areas"):
        layers.append(maps.areas(areas_fc, t, lang))  # names: the background's context
    districts = district_options(areas_fc) if areas_fc["features"] else []
    bounds = _bounds(db, q, districts, areas_fc, data_box=regional)
    return layers, {"bounds": bounds, "districts": districts}


#: A raw-detail page whose incidents span more than this (metres, the longer side of their
#: extent: more than a county, e.g. Västra Götaland ~250 km, Skåne ~140 km) shows its
#: incident cells as vector tiles instead of embedding them.
REGIONAL_SPAN = 150_000.0


def regional_extent(db: Any, q: MapQuery) -> tuple[float, float, float, float] | None:
    """The extent (working CRS) of the page's incidents when it is larger than a county
    (:data:`REGIONAL_SPAN`), else None (a municipality's page: cells embedded as before).

    Read from the month roll-up (``incident_month_counts``: the ``cx``/``cy`` indexes, to
    the 1 km cell), never by scanning the incidents: the page of a region or the country
    then counts nothing when it is built. The map's incident cells come from the vector
    tiles (:func:`incident_cell_tiles_layer`), only the tiles in view, at the view's cell
    size. Without the roll-up (a store before migration 0017) or the tile renderer, None.
    """
    from tryggkarta.maps.assets import vector_tiles_available
    from tryggkarta.store import cellcounts
    from tryggkarta.store.tiles import has_counts

    if not vector_tiles_available() or not has_counts(db, cellcounts.MONTH_TABLE.name):
        return None
    f = q.filters
    if f.bbox is not None:
        box: tuple[float, float, float, float] | None = tuple(f.bbox)  # type: ignore[assignment]
    elif f.polygon is not None:
        box = tuple(float(v) for v in f.polygon.bounds)  # type: ignore[assignment]
    else:
        codes = (f.municipality_code,) if f.municipality_code is not None else f.municipality_codes
        box = cached(
            db,
            "month_extent",
            q,
            ("incidents",),
            [list(codes) if codes is not None else None],
            lambda: cellcounts.month_extent(db, codes),
        )
    if box is None or max(box[2] - box[0], box[3] - box[1]) <= REGIONAL_SPAN:
        return None
    return box


def incident_cell_tiles_layer(q: MapQuery, t: Any, lang: str) -> maps.MapLayer:
    """The page's incident cells as vector tiles (a region or the country): the tile
    endpoint of :func:`raw_points_layer` with the page's filters, cells only."""
    from tryggkarta.store.tiles import RAW_MIN_ZOOM

    params = {k: v for k, v in q.args.items() if v and k in POINT_FILTERS}
    return maps.incident_cell_tiles(
        _tile_url(), t, lang, params=params, point_zoom=RAW_MIN_ZOOM, show="incidents" in SHOWN
    )


def _tile_url() -> str:
    return url_for("tiles.incidents", z=0, x=0, y=0).replace("/0/0/0.mvt", "/{z}/{x}/{y}.mvt")


#: The page's filters every tile (and the bbox fallback) is asked with: the same as the map's.
POINT_FILTERS = ("from", "to", "cat", "weekday", "hour", "kommun", "dataset")


def raw_points_layer(q: MapQuery, t: Any, lang: str) -> maps.MapLayer:
    """Individual incidents for a raw role: vector tiles when the tile renderer is vendored
    (every zoom; a bounded number of features per tile, whatever the data size), else the
    older GeoJSON of the visible bbox (from zoom 14, at most 5 000 points)."""
    from tryggkarta.maps.assets import vector_tiles_available
    from tryggkarta.store.tiles import RAW_MIN_ZOOM

    params = {k: v for k, v in q.args.items() if v and k in POINT_FILTERS}
    if not vector_tiles_available():
        return maps.incident_points(
            url_for("api.features", layer="incidents"), t, lang, params=params
        )
    item = url_for("ogc.item", name="incidents", fid="0")
    return maps.incident_tiles(_tile_url(), item, t, lang, params=params, point_zoom=RAW_MIN_ZOOM)


def _bounds(
    db: Any,
    q: MapQuery,
    districts: list[dict],
    areas_fc: dict,
    data_box: tuple[float, float, float, float] | None = None,
) -> tuple[float, ...] | None:
    """Where the map opens: the chosen district, the bbox, the data, or the municipality.
    ``data_box``: the data's extent when already known (a region's, from the roll-up)."""
    for d in districts:
        if q.district and d["name"] == q.district:
            return tuple(d["bounds"])
    if q.bbox_wgs84:
        return q.bbox_wgs84
    from flask_login import current_user

    munis = [f for f in areas_fc["features"] if f["properties"].get("kind") == "municipality"]
    if policy.detail(current_user, Layer.INCIDENTS) is not Detail.RAW:
        # the extent of raw points would give the outermost incidents' coordinates away
        if munis:
            ring = np.asarray(_coords(munis[0]["geometry"]), float)
            return (*ring.min(axis=0), *ring.max(axis=0))
        return None
    if data_box is not None:  # a region: the whole box, edges densified (meridians converge)
        from tryggkarta.geo import transformer

        west, south, east, north = transformer(db.srid, 4326).transform_bounds(
            *data_box, densify_pts=21
        )
        return float(west), float(south), float(east), float(north)
    box = cached(
        db,
        "extent",
        q,
        ("incidents",),
        "extent",
        lambda: extent(
            db,
            "incidents",
            Filters(
                municipality_code=q.filters.municipality_code,
                municipality_codes=q.filters.municipality_codes,
            ),
        ),
    )
    if box is not None:
        lon, lat = to_wgs84(np.array([box[0], box[2]]), np.array([box[1], box[3]]), db.srid)
        return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])
    munis = [f for f in areas_fc["features"] if f["properties"].get("kind") == "municipality"]
    if munis:
        ring = np.asarray(_coords(munis[0]["geometry"]), float)
        return (*ring.min(axis=0), *ring.max(axis=0))
    return None


def start_page_context(args: Any = None, extent: Any = None) -> dict[str, Any]:
    """Everything ``index.html`` needs: the map parts, the filter form, notes.

    ``args``: the map's parameters (default: the request's); ``extent``: WGS84 bounds the map
    opens at (a saved map's view), else the district, bbox, data or municipality.
    """
    from tryggkarta.web.auth import detail

    lang = current_language()
    q = parse_request(_, args)
    layers, facts = build_layers(q, lang, _, args)
    if extent:
        facts["bounds"] = tuple(extent)
    settings = get_settings()
    bg = current_background()
    m = maps.build_map(
        layers,
        bounds=facts["bounds"],
        tile_url=bg.url,
        tile_attribution=bg.attribution,
        background=background_options(bg),
        t=_,
        vendor_prefix=url_for("assets.vendor", package="x", path="x").rsplit("/x/x", 1)[0],
    )
    parts = maps.render_parts(m, layers)
    aggregated = detail(Layer.INCIDENTS) != Detail.RAW
    context: dict[str, Any] = {
        "map": parts,
        "query": q,
        "categories": [(k, v.get(lang)) for k, v in INCIDENT_CATEGORIES.items()],
        "districts": facts["districts"],
        "aggregated": aggregated,
        "min_count": settings.min_count,
        "layer_count": len(layers),
        "share_roles": ROLES_SHAREABLE,
        "kommun_options": [] if aggregated else kommun_options(),
    }
    if aggregated:
        period, group = release_choice(args)
        tz = local_timezone(settings)
        context.update(
            periods=[(p.key, p.label(lang)) for p in disclosure.period_choices(tz=tz)],
            groups=[(k, label.get(lang)) for k, (label, _c) in disclosure.CATEGORY_GROUPS.items()],
            period=period,
            group=group,
            rounded_to=current_rule(Layer.INCIDENTS).base,
            ignored=ad_hoc_args(args),
        )
    return context


def kommun_options() -> list[municipalities.Municipality]:
    """The municipalities the map's Kommun select offers: those of the installation the
    user's EST group may read (the select is shown only when there are several)."""
    return municipalities.municipalities(current_reach().codes or ())


def vendor_prefix() -> str:
    """Where the vendored Leaflet/folium assets are served (under the app's own prefix)."""
    return url_for("assets.vendor", package="x", path="x").rsplit("/x/x", 1)[0]


def inset_map(
    layers: list[maps.MapLayer], bounds: tuple[float, ...] | None, t: Any
) -> maps.MapParts:
    """Rendered parts of a map inside an ordinary page (``/publik``, the project check):
    the configured background (local MBTiles, tile server or none) and ``layers``, fitted
    to ``bounds`` (WGS84); the header's tags carry the request's CSP nonce."""
    from tryggkarta.web.security import csp_nonce

    bg = current_background()
    m = maps.build_map(
        layers,
        bounds=tuple(bounds) if bounds else None,
        tile_url=bg.url,
        tile_attribution=bg.attribution,
        background=background_options(bg),
        t=t,
        vendor_prefix=vendor_prefix(),
    )
    return maps.render_parts(m, layers, nonce=csp_nonce())


def town_bounds(areas_fc: dict) -> tuple[float, float, float, float] | None:
    """WGS84 bounds of the districts in ``areas_fc`` (where people live and the releases
    have cells), else of the municipality boundary."""
    feats = [f for f in areas_fc["features"] if f["properties"].get("kind") != "municipality"]
    feats = feats or areas_fc["features"]
    if not feats:
        return None
    ring = np.concatenate([np.asarray(_coords(f["geometry"]), float) for f in feats])
    lo, hi = ring.min(axis=0), ring.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def thumbnail_layers(args: Any, extent: Any = None, shown: Any = None) -> dict[str, Any]:
    """What a saved map's thumbnail draws for the current user: the bounds (the saved view,
    else the map page's), boundaries and the cell layers at the user's detail — the filtered
    cells for raw detail (a region's or the country's from the month roll-up when the
    filters are whole months), the fixed release below it; never points. ``shown``: the
    layers switched on when the map was saved (default: those the map page opens with)."""
    from tryggkarta.web.auth import detail

    lang = current_language()
    q = parse_request(_, args)
    db = get_db()
    inc, sur = detail(Layer.INCIDENTS), detail(Layer.SURVEY)
    empty: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    areas_fc = polygon_layer(db, "areas", q) if detail(Layer.AREAS) != Detail.HIDDEN else empty
    layers: list[tuple[str, dict]] = []
    grid = None
    on = set(SHOWN if shown is None else shown)

    def _wanted_on(key: str) -> bool:
        return _wanted(q, key) and key in on

    if _wanted_on("survey") and sur == Detail.RAW:
        k_sur = current_rule(Layer.SURVEY).k
        layers.append(("survey", survey_grid(db, q, grid, k_sur)))
    elif _wanted_on("survey") and sur != Detail.HIDDEN:
        layers.append(("survey", released_survey(db, q, lang, page=True)))
    if _wanted_on("incidents") and inc == Detail.RAW:
        k_inc = current_rule(Layer.INCIDENTS).k
        regional = regional_extent(db, q)
        fc = None
        if regional is not None:  # a region or the country: from the month roll-up
            fc = cached(
                db,
                "rollup_cells",
                q,
                ("incidents",),
                [k_inc, list(regional)],
                lambda: rollup_cells(db, q.filters, regional, k_inc),
            )
        if fc is None:
            fc, grid = raw_incident_cells(db, q, k_inc)
        layers.append(("incidents", fc))
    elif _wanted_on("incidents") and inc != Detail.HIDDEN:
        layers.append(("incidents", released_incidents(db, q, lang, args, page=True)))
    districts = district_options(areas_fc) if areas_fc["features"] else []
    bounds = tuple(extent) if extent else _bounds(db, q, districts, areas_fc)
    return {"bounds": bounds, "areas": areas_fc, "layers": layers}
