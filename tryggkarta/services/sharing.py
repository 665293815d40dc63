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
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from sqlalchemy import extract, or_, select
from sqlalchemy.orm import Session

from tryggkarta import disclosure, params, policy
from tryggkarta.config import local_timezone
from tryggkarta.domain import (
    INCIDENT_CATEGORIES,
    LAYER_LABELS,
    Detail,
    Role,
)
from tryggkarta.errors import BadInput, Gone, NotFound
from tryggkarta.geo import from_wgs84, to_wgs84
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


def _date(value: str | None, what: str) -> str | None:
    day = params.parse_day(value, what)
    return day.isoformat() if day else None


def _stored_day(value: Any) -> date | None:
    """A saved configuration's date, or None if it is not one a map can use (a map saved
    before dates were checked must stay viewable and deletable)."""
    try:
        return params.parse_day(value if isinstance(value, str) else None, "config")
    except BadInput:
        return None


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
    return parts


def _stored_extent(value: Any) -> list[float] | None:
    """A saved configuration's extent, or None if it is not four degrees in order."""
    try:
        return _extent(",".join(map(str, value))) if isinstance(value, list) else None
    except BadInput:
        return None


def build_config(args: dict[str, list[str]]) -> dict[str, Any]:
    """A map configuration from form or query-string values (``{name: [values]}``)."""

    def many(key: str) -> list[str]:
        out: list[str] = []
        for v in args.get(key, []):
            out += [p for p in v.split(",") if p]
        return out

    def one(key: str) -> str | None:
        values = args.get(key) or [None]
        return values[0]

    layers = [v for v in many("layers") if v in LAYER_LABELS] or ["incidents", "survey"]
    categories = [v for v in many("categories") if v in INCIDENT_CATEGORIES]
    config: dict[str, Any] = {"layers": list(dict.fromkeys(layers))}
    if categories:
        config["categories"] = list(dict.fromkeys(categories))
    start, end = _date(one("start"), "från"), _date(one("end"), "till")
    if start and end and start > end:
        raise BadInput("Startdatumet ligger efter slutdatumet.")
    if start:
        config["start"] = start
    if end:
        config["end"] = end
    extent = _extent(one("extent") or one("bbox"))
    if extent:
        config["extent"] = extent
    return config


def config_from_query(query: str) -> dict[str, Any]:
    """The configuration behind a start-page URL's query string (``layers=…&bbox=…``)."""
    return build_config(parse_qs(query.lstrip("?"), keep_blank_values=False))


def config_filters(config: dict[str, Any], srid: int) -> Filters:
    """Store filters for a configuration (dates are whole local days, end inclusive)."""
    start, end = params.day_bounds(_stored_day(config.get("start")), _stored_day(config.get("end")))
    bbox = None
    extent = _stored_extent(config.get("extent"))
    if extent:
        w, s, e, n = extent
        xs, ys = from_wgs84(np.array([w, e]), np.array([s, n]), srid)
        bbox = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    return Filters(
        bbox=bbox,
        start=start,
        end=end,
        categories=tuple(config["categories"]) if config.get("categories") else None,
    )


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
    db: Database, config: dict[str, Any], role: str, min_count: int, raw_limit: int = 50
) -> list[dict[str, Any]]:
    """Per configured layer: the viewer's detail level and the data at that level.

    RAW point layers list individual features (newest first, at most ``raw_limit``) under the
    map's own filters. Below raw detail the map's filters do not apply: the viewer gets the
    fixed release (the last 52 weeks, all categories) per district, published through
    :mod:`tryggkarta.disclosure` — a saved date window or category set would otherwise let two
    shared maps be differenced.
    """
    from tryggkarta.geo import parse_region

    filters = config_filters(config, db.srid)
    municipality = parse_region(db.settings.region).municipality_code
    out = []
    for layer in config.get("layers", []):
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
    g = rel.grid
    flat = rel.shown
    row, col = np.divmod(flat, g.nx)
    x = g.x0 + col * g.cell_size
    y = g.y0 + row * g.cell_size
    lon, lat = to_wgs84(x + g.cell_size / 2, y + g.cell_size / 2, db.srid)
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
    role's rule whoever asks (the last 52 weeks for incidents) — and ``areas`` (municipality
    and districts, simplified for display). A layer the public role may not see is ``None``."""
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
        out["survey"] = disclosure.release_geojson(rel, db.srid, lang=lang)
    level = policy.detail(public, Layer.INCIDENTS)
    if level is not Detail.HIDDEN:
        period = disclosure.parse_period(None, tz=local_timezone(db.settings))
        rule = disclosure.rule_for(level, min_count)
        rel = disclosure.incident_release(db, muni, period, rule)
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
