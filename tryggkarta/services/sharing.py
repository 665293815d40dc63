"""Saved and shared maps, share links and the public map's aggregates — no Flask here.

A saved map is a *configuration* (layers, filters, extent) — never data. Whoever opens it
sees the data their own role allows (:func:`tryggkarta.policy.detail`); a link only
grants access to the configuration, so an anonymous link viewer is ``public``.

Share links carry a random 32-byte token; only its SHA-256 digest is stored
(``shared_maps.link_token``), with an expiry. A tampered token matches nothing (404), an
expired one answers 410.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from sqlalchemy import extract, or_, select
from sqlalchemy.orm import Session

from tryggkarta import disclosure, params, policy
from tryggkarta.config import local_timezone
from tryggkarta.domain import (
    LAYER_LABELS,
    Detail,
    Role,
)
from tryggkarta.errors import BadInput, Gone, NotFound
from tryggkarta.geo import to_wgs84
from tryggkarta.store import (
    Filters,
    Intervention,
    Project,
    ProjectMeasure,
    SharedMap,
    count,
    layer_frame,
)
from tryggkarta.store.engine import Database

MAX_LINK_DAYS = 365
NAME_MAX = 200
ROLES_SHAREABLE = tuple(r.value for r in Role if r is not Role.PUBLIC)
PUBLIC_CELL_SIZE = 250.0


# --- configuration ----------------------------------------------------------------------
#
# A saved map is the map page's own query (``from``, ``to``, ``cat``, ``weekday``, ``hour``,
# ``layers``, ``district``, ``dataset``, ``cell``, ``period``, ``grupp``, ``bbox`` and
# ``kommun``, one municipality of an EST group) plus the view it was saved at (``extent``:
# WGS84 west,south,east,north; ``zoom``) and the layers that were switched on (``shown``). Opening it runs the map page with that query, at the viewer's
# own rights: below raw detail the ad-hoc filters are ignored exactly as on the map page.

CONFIG_VERSION = 2
#: The map page's query parameters a saved map keeps (see :mod:`tryggkarta.web.query`).
SAVED_KEYS = (
    "from",
    "to",
    "cat",
    "weekday",
    "hour",
    "layers",
    "district",
    "dataset",
    "cell",
    "period",
    "grupp",
    "bbox",
    "kommun",
)
#: Form names of maps saved before version 2 (and of old clients) and their map-page names.
LEGACY_KEYS = {"start": "from", "end": "to", "categories": "cat"}
MAX_VALUES = 60
MAX_ZOOM = 22


def _extent(value: str | None) -> list[float] | None:
    if not value:
        return None
    try:
        parts = [float(v) for v in value.replace(";", ",").split(",")]
    except ValueError:
        raise BadInput("Utsnittet ska vara fyra tal: västra,södra,östra,norra (grader).") from None
    if len(parts) != 4 or not (
        -180 <= parts[0] < parts[2] <= 180 and -90 <= parts[1] < parts[3] <= 90
    ):
        raise BadInput("Utsnittet ska vara fyra tal: västra,södra,östra,norra (grader).")
    return [round(v, 6) for v in parts]


def _stored_extent(value: Any) -> list[float] | None:
    """A saved configuration's extent, or None if it is not four degrees in order."""
    try:
        return _extent(",".join(map(str, value))) if isinstance(value, list) else None
    except BadInput:
        return None


def _zoom(value: str | None) -> int | None:
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if not params.is_digits(text, 2) or int(text) > MAX_ZOOM:
        raise BadInput(f"Zoomnivån ska vara ett heltal 0–{MAX_ZOOM}.")
    return int(text)


def build_config(
    args: dict[str, list[str]], known_layers: tuple[str, ...] = tuple(LAYER_LABELS)
) -> dict[str, Any]:
    """A map configuration from form or query-string values (``{name: [values]}``).

    Keeps the map page's parameters (:data:`SAVED_KEYS`, old names in :data:`LEGACY_KEYS`
    renamed) as they were given — the web layer checks them with the map page's own parser
    before saving — plus ``extent``/``zoom`` (the view) and ``shown`` (layers switched on).
    Dates are checked here too, so a configuration never holds a day no map can use.
    """
    query: dict[str, list[str]] = {}
    for key, values in args.items():
        name = LEGACY_KEYS.get(key, key)
        if name not in SAVED_KEYS:
            continue
        for value in values:
            parts = [p.strip() for p in str(value).split(",")] if name != "bbox" else [value]
            query.setdefault(name, []).extend(p[:200] for p in parts if p and p.strip())
    query = {k: list(dict.fromkeys(v))[:MAX_VALUES] for k, v in query.items() if v}
    if "bbox" in query:
        query["bbox"] = query["bbox"][:1]
    if "layers" in query:
        query["layers"] = [v for v in query["layers"] if v in known_layers]
        if not query["layers"]:
            del query["layers"]
    start = params.parse_day((query.get("from") or [None])[0], "från")
    end = params.parse_day((query.get("to") or [None])[0], "till")
    if start and end and start > end:
        raise BadInput("Startdatumet ligger efter slutdatumet.")
    config: dict[str, Any] = {"v": CONFIG_VERSION, "query": query}
    extent = _extent((args.get("extent") or [None])[0])
    if extent:
        config["extent"] = extent
    zoom = _zoom((args.get("zoom") or [None])[0])
    if zoom is not None:
        config["zoom"] = zoom
    shown = [v for v in args.get("shown", []) for v in v.split(",") if v in known_layers]
    if args.get("shown") is not None:
        config["shown"] = list(dict.fromkeys(shown))
    return config


def config_from_query(
    query: str, known_layers: tuple[str, ...] = tuple(LAYER_LABELS)
) -> dict[str, Any]:
    """The configuration behind a map-page URL's query string (``layers=…&cat=…&bbox=…``)."""
    return build_config(
        parse_qs(query.split("?", 1)[-1], keep_blank_values=False), known_layers=known_layers
    )


def upgrade_config(config: Any) -> dict[str, Any]:
    """A configuration in the current version: maps saved before version 2 held
    ``layers``/``categories``/``start``/``end``/``extent``; the extent both filtered the data
    and framed the view, so it becomes the query's ``bbox`` and the saved view."""
    if not isinstance(config, dict):
        return {"v": CONFIG_VERSION, "query": {}}
    if config.get("v") == CONFIG_VERSION:
        return config
    query: dict[str, list[str]] = {}
    for old, new in (("layers", "layers"), ("categories", "cat")):
        values = config.get(old)
        if isinstance(values, list) and values:
            query[new] = [str(v) for v in values]
    for old, new in (("start", "from"), ("end", "to")):
        if isinstance(config.get(old), str) and config[old]:
            query[new] = [config[old]]
    out: dict[str, Any] = {"v": CONFIG_VERSION, "query": query}
    extent = _stored_extent(config.get("extent"))
    if extent:
        query["bbox"] = [",".join(str(v) for v in extent)]
        out["extent"] = extent
    return out


def config_args(config: Any) -> dict[str, list[str]]:
    """The saved map's query (``{name: [values]}``) for the map page's parser."""
    query = upgrade_config(config).get("query") or {}
    return {
        k: [str(v) for v in values]
        for k, values in query.items()
        if k in SAVED_KEYS and isinstance(values, list)
    }


def config_view(config: Any) -> dict[str, Any]:
    """The saved view: ``extent`` (WGS84 bounds or None), ``zoom`` and ``shown`` (or None)."""
    cfg = upgrade_config(config)
    zoom = cfg.get("zoom")
    shown = cfg.get("shown")
    return {
        "extent": _stored_extent(cfg.get("extent")),
        "zoom": zoom if isinstance(zoom, int) and 0 <= zoom <= MAX_ZOOM else None,
        "shown": [str(v) for v in shown] if isinstance(shown, list) else None,
    }


def config_layers(config: Any) -> list[str]:
    """The map layers a saved map names (none: all the viewer may see)."""
    return list((upgrade_config(config).get("query") or {}).get("layers") or [])


def table_layers(config: Any) -> list[str]:
    """The data layers whose figures the shared map's page lists under the map."""
    names = config_layers(config) or ["incidents", "survey"]
    alias = {"incident_points": "incidents", "survey_pins": "survey"}
    return [n for n in dict.fromkeys(alias.get(n, n) for n in names) if n in LAYER_LABELS]


def validate_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise BadInput("Ge kartan ett namn.")
    if len(name) > NAME_MAX:
        raise BadInput(f"Namnet får vara högst {NAME_MAX} tecken.")
    return name


# --- access -----------------------------------------------------------------------------


def can_view(shared: SharedMap, user: Any) -> bool:
    """Whether ``user`` (anonymous: role public, id None) may open ``shared`` without a link."""
    role = getattr(user, "role", Role.PUBLIC.value)
    if shared.public or policy.can(user, policy.Action.ADMIN):
        return True
    if getattr(user, "id", None) is not None and shared.owner_id == user.id:
        return True
    if role in (shared.shared_roles or []):
        return True
    org = getattr(user, "organisation_id", None)
    return org is not None and org in (shared.shared_orgs or [])


def visible_maps(session: Session, user: Any) -> list[SharedMap]:
    """Maps ``user`` may open, newest first."""
    rows = session.scalars(select(SharedMap).order_by(SharedMap.created_at.desc())).all()
    return [m for m in rows if can_view(m, user)]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(shared: SharedMap, days: int, now: datetime | None = None) -> str:
    """Give ``shared`` a new link valid ``days`` days; returns the clear token (shown once)."""
    if not 1 <= days <= MAX_LINK_DAYS:
        raise BadInput(f"En länk gäller 1–{MAX_LINK_DAYS} dagar.")
    token = secrets.token_urlsafe(32)
    shared.link_token = token_digest(token)
    shared.expires_at = (now or datetime.now(UTC)) + timedelta(days=days)
    return token


def map_for_token(session: Session, token: str, now: datetime | None = None) -> SharedMap:
    """The map behind a link token. Unknown/tampered → NotFound; expired → Gone."""
    if not token or len(token) > 100:
        raise NotFound("Länken finns inte.")
    shared = session.scalar(select(SharedMap).where(SharedMap.link_token == token_digest(token)))
    if shared is None:
        raise NotFound("Länken finns inte. Kontrollera att hela adressen kom med.")
    if shared.expires_at is not None and shared.expires_at <= (now or datetime.now(UTC)):
        raise Gone("Länken har gått ut. Be den som delade kartan om en ny länk.")
    return shared


# --- what a viewer sees -----------------------------------------------------------------


def layer_views(
    db: Database,
    layers: list[str],
    filters: Filters,
    role: str,
    min_count: int,
    raw_limit: int = 50,
) -> list[dict[str, Any]]:
    """Per data layer: the viewer's detail level and the data at that level.

    RAW point layers list individual features (newest first, at most ``raw_limit``) under the
    map's own ``filters`` (the map page's parsed query). Below raw detail the map's filters do not apply: the viewer gets the
    fixed release (the last 52 weeks, all categories) per district, published through
    :mod:`tryggkarta.disclosure` — a saved date window or category set would otherwise let two
    shared maps be differenced.
    """
    from tryggkarta.geo import parse_region

    municipality = parse_region(db.settings.region).municipality_code
    out = []
    for layer in layers:
        level = policy.detail(role, layer)
        view: dict[str, Any] = {"layer": layer, "detail": level.value, "rows": [], "total": 0}
        if level is Detail.HIDDEN:
            out.append(view)
            continue
        if layer in ("incidents", "survey") and level is Detail.RAW:
            view["total"] = count(db, layer, filters)
            view["rows"] = _raw_rows(db, layer, filters, raw_limit)
        elif layer in ("incidents", "survey"):
            rule = disclosure.rule_for(level, min_count)
            tz = local_timezone(db.settings)
            period = disclosure.parse_period(None, tz=tz) if layer == "incidents" else None
            base = Filters(municipality_code=municipality)
            if period is not None:
                base = base.replace(start=period.start, end=period.end)
            view["total"] = rule.value(count(db, layer, base))
            view["areas"] = disclosure.district_values(db, layer, period, rule, municipality)
            view["period"] = period.label_sv if period else None
            view["period_en"] = period.label_en if period else None
            view["fixed_release"] = True
        else:
            frame = layer_frame(db, layer, filters, columns=["name"], geometry=False)
            view["total"] = len(frame)
            view["rows"] = [{"name": n} for n in frame["name"].head(raw_limit)]
        out.append(view)
    return out


def _raw_rows(db: Database, layer: str, filters: Filters, limit: int) -> list[dict[str, Any]]:
    if layer == "incidents":
        cols = ["occurred_at", "category", "address", "description"]
        frame = layer_frame(db, layer, filters, columns=cols, geometry=False)
        frame = frame.sort_values("occurred_at", ascending=False).head(limit)
    else:
        cols = ["answered_at", "rating", "reasons", "comment"]
        frame = layer_frame(db, layer, filters, columns=cols, geometry=False).tail(limit)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def district_counts(
    db: Database, layer: str, filters: Filters, min_count: int
) -> list[dict[str, Any]]:
    """Records per district; counts below ``min_count`` are shown as suppressed (None)."""
    areas = layer_frame(db, "areas", columns=["name", "kind"])
    areas = areas[areas["kind"] == "district"]
    rows = []
    for _, area in areas.iterrows():
        n = count(db, layer, filters.replace(polygon=area.geometry))
        rows.append({"name": area["name"], "count": n if n >= min_count else None})
    return rows


def public_cells(
    db: Database, min_count: int, cell_size: float = PUBLIC_CELL_SIZE
) -> list[dict[str, Any]]:
    """The survey release as rows: one per published 250 m cell (answers ≥ ``min_count``).

    ``x``/``y`` (south-west corner, working CRS), ``lon``/``lat`` of its centre, ``n`` (answers,
    rounded), ``unsafe_share`` (the middle of the published band, or ``None``) and
    ``share_band`` — all from :func:`tryggkarta.disclosure.survey_release`.
    """
    from tryggkarta.geo import parse_region

    rule = disclosure.rule_for(Detail.AGGREGATED, min_count)
    rel = disclosure.survey_release(db, parse_region(db.settings.region).municipality_code, rule)
    if rel is None:
        return []
    flat = rel.shown
    x, y = rel.corners(flat)
    half = rel.cell_size / 2
    lon, lat = to_wgs84(x + half, y + half, db.srid)
    lo, hi = rel.values["band_lo"][flat], rel.values["band_hi"][flat]
    out = []
    for i, idx in enumerate(flat.tolist()):
        has_band = bool(np.isfinite(lo[i]))
        out.append(
            {
                "x": float(x[i]),
                "y": float(y[i]),
                "lon": float(lon[i]),
                "lat": float(lat[i]),
                "n": int(rel.values["count"][idx]),
                "unsafe_share": round(float(lo[i] + hi[i]) / 2, 3) if has_band else None,
                "share_band": [float(lo[i]), float(hi[i])] if has_band else None,
            }
        )
    return out


def public_map_layers(db: Database, min_count: int, lang: str = "sv") -> dict[str, Any]:
    """What the /publik map draws, as WGS84 FeatureCollections: ``survey`` and
    ``incidents`` — the fixed releases of :mod:`tryggkarta.disclosure` under the *public*
    role's rule whoever asks (the last 52 weeks for incidents), on coarser cells where a
    region or the country has more than a page embeds (:func:`tryggkarta.disclosure.for_page`)
    — and ``areas`` (municipality and districts, simplified for display). A layer the public role may not see is ``None``."""
    from tryggkarta.domain import Layer
    from tryggkarta.geo import parse_region
    from tryggkarta.geojson import geo_dict
    from tryggkarta.maps.simplify import simplify_for_display
    from tryggkarta.store import Filters, layer_frame

    public = Role.PUBLIC.value
    muni = parse_region(db.settings.region).municipality_code
    out: dict[str, Any] = {"survey": None, "incidents": None, "areas": None}
    level = policy.detail(public, Layer.SURVEY)
    if level is not Detail.HIDDEN:
        rel = disclosure.survey_release(db, muni, disclosure.rule_for(level, min_count))
        out["survey"] = disclosure.release_geojson(disclosure.for_page(rel), db.srid, lang=lang)
    level = policy.detail(public, Layer.INCIDENTS)
    if level is not Detail.HIDDEN:
        period = disclosure.parse_period(None, tz=local_timezone(db.settings))
        rule = disclosure.rule_for(level, min_count)
        rel = disclosure.for_page(disclosure.incident_release(db, muni, period, rule))
        out["incidents"] = disclosure.release_geojson(rel, db.srid, lang=lang)
    if policy.detail(public, Layer.AREAS) is not Detail.HIDDEN:
        cols = ["name", "kind"]
        frame = layer_frame(db, "areas", Filters(municipality_code=muni), columns=cols)
        out["areas"] = (
            geo_dict(simplify_for_display(frame), cols)
            if frame is not None and len(frame)
            else {"type": "FeatureCollection", "features": []}
        )
    return out


def public_cells_geojson(
    cells: list[dict[str, Any]], srid: int, cell_size: float = PUBLIC_CELL_SIZE
) -> dict[str, Any]:
    """The public cells as a WGS84 FeatureCollection of squares."""
    feats = []
    for c in cells:
        xs = np.array([c["x"], c["x"] + cell_size, c["x"] + cell_size, c["x"], c["x"]])
        ys = np.array([c["y"], c["y"], c["y"] + cell_size, c["y"] + cell_size, c["y"]])
        lon, lat = to_wgs84(xs, ys, srid)
        ring = [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lon, lat, strict=True)]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "n": c["n"],
                    "unsafe_share": c["unsafe_share"],
                    "share_band": c["share_band"],
                },
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def measures_this_year(session: Session, year: int) -> list[dict[str, Any]]:
    """Projects with safety measures decided in ``year`` and interventions of ``year``.

    Public-safe fields only: names, measure keys, statuses — no descriptions.
    """
    projects: dict[int, dict[str, Any]] = {}
    rows = session.execute(
        select(Project.id, Project.name, Project.kind, Project.status, ProjectMeasure.measure)
        .join(ProjectMeasure, ProjectMeasure.project_id == Project.id)
        .where(extract("year", ProjectMeasure.decided_at) == year)
        .order_by(Project.name, ProjectMeasure.measure)
    ).all()
    for pid, name, kind, status, measure in rows:
        item = projects.setdefault(
            pid, {"name": name, "kind": kind, "status": status, "measures": []}
        )
        if measure not in item["measures"]:
            item["measures"].append(measure)
    interventions = session.scalars(
        select(Intervention)
        .where(
            or_(
                extract("year", Intervention.started_at) == year,
                extract("year", Intervention.created_at) == year,
            )
        )
        .order_by(Intervention.created_at)
    ).all()
    out = list(projects.values())
    # EST measures: only their kinds and how many, never their titles, places or times (a
    # title such as "extra patrol Fri–Sat 20–02 at the bus station" is police tactics), and
    # patrols not at all.
    kinds: dict[str, int] = {}
    for i in interventions:
        if i.measure in policy.NON_PUBLIC_MEASURE_KINDS or i.status == "installd":
            continue
        kinds[i.measure] = kinds.get(i.measure, 0) + 1
    out += [
        {"name": None, "kind": "intervention", "status": None, "measures": [k], "count": n}
        for k, n in sorted(kinds.items())
    ]
    return out
