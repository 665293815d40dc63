"""Named collections for other systems: OGC API – Features and scheduled exports.

Each collection is built without Flask from the store. Public collections are aggregated and
k-anonymous (a cell or hotspot with fewer than ``min_count`` records is left out, and so is
any count below it): they carry no incident descriptions, no survey pins, no comments. Raw
collections (``incidents``, ``survey_responses``) are for police and municipality roles only
and every read of them is audit-logged by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tryggkarta import disclosure, hotspot_methods, policy
from tryggkarta.config import local_timezone
from tryggkarta.disclosure import Rule
from tryggkarta.domain import Detail, Layer
from tryggkarta.errors import BadInput
from tryggkarta.geo import parse_region
from tryggkarta.geojson import geo_dict
from tryggkarta.i18n import iso_local_series
from tryggkarta.services.ogc_core import RAW_COLLECTIONS
from tryggkarta.store import (
    Database,
    Filters,
    Project,
    ProjectMeasure,
    layer_frame,
)

FeatureCollection = dict[str, Any]


@dataclass(frozen=True)
class CollectionInfo:
    title_sv: str
    title_en: str
    description: str
    public: bool
    layer: str  # the store layer whose permission applies
    build: Callable[..., FeatureCollection]


def _empty() -> FeatureCollection:
    return {"type": "FeatureCollection", "features": []}


def _base(db: Database, bbox: tuple[float, float, float, float] | None) -> Filters:
    return Filters(bbox=bbox, municipality_code=parse_region(db.settings.region).municipality_code)


def incident_cells(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Incidents per 250 m release cell for a fixed period (``period``, default the last 52
    weeks) and category group (``grupp``), published through ``rule``."""
    params = params or {}
    period = disclosure.parse_period(params.get("period"), tz=_tz(db))
    group = disclosure.parse_group(params.get("grupp"))
    rel = disclosure.incident_release(db, _municipality(db), period, rule)
    return disclosure.release_geojson(rel, db.srid, bbox=bbox, group=group, page=params.get(PAGE))


def survey_cells(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Survey answers per 250 m release cell: answers, unsafe answers and the unsafe share as
    a band, and the most named reasons — published through ``rule``."""
    rel = disclosure.survey_release(db, _municipality(db), rule)
    return disclosure.release_geojson(rel, db.srid, bbox=bbox, page=(params or {}).get(PAGE))


#: The params key of a page (offset, limit) that cell collections build alone (see collection).
PAGE = "_page"


def _municipality(db: Database) -> str | None:
    return parse_region(db.settings.region).municipality_code


def _tz(db: Database) -> str:
    return local_timezone(db.settings)


def _in_bbox(fc: FeatureCollection, bbox: tuple[float, float, float, float] | None, srid: int):
    """Features of ``fc`` (WGS84) whose bounds meet ``bbox`` (working CRS)."""
    if bbox is None:
        return fc
    import shapely

    from tryggkarta.geo import from_wgs84

    keep = []
    box = shapely.box(*bbox)
    for f in fc.get("features", []):
        geom = shapely.geometry.shape(f["geometry"])
        lon0, lat0, lon1, lat1 = geom.bounds
        x, y = from_wgs84([lon0, lon1], [lat0, lat1], srid)
        if shapely.box(min(x), min(y), max(x), max(y)).intersects(box):
            keep.append(f)
    return {**fc, "features": keep}


def projects(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Planning projects with the safety measures they include (public facts)."""
    frame = layer_frame(
        db,
        "projects",
        _base(db, bbox),
        columns=["id", "name", "case_number", "kind", "status", "start_date", "end_date"],
    )
    if frame.empty:
        return _empty()
    with db.session() as s:
        rows = s.execute(
            select(ProjectMeasure.project_id, ProjectMeasure.measure).join(Project)
        ).all()
    measures: dict[int, list[str]] = {}
    for pid, measure in rows:
        measures.setdefault(int(pid), []).append(measure)
    frame["measures"] = [sorted(measures.get(int(i), [])) for i in frame["id"]]
    for col in ("start_date", "end_date"):
        frame[col] = frame[col].map(lambda v: v.isoformat() if v is not None and v == v else None)
    return geo_dict(frame)


def areas(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    frame = layer_frame(db, "areas", _base(db, bbox), columns=["name", "kind", "code"])
    return geo_dict(frame) if len(frame) else _empty()


def design_hotspots(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Design hotspots with their measures, computed on all answers of the installation
    (never on a bbox) and published through ``rule``: counts rounded, shares in bands, no
    sentences; hotspots with a suppressed number of answers are left out."""
    from tryggkarta.services.hotspots import design_layer

    fc = design_layer(db, _base(db, None)).geojson
    return _in_bbox(disclosure.disclose_features(fc, rule), bbox, db.srid)


def gistar_hotspots(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Gi* hot and cold 250 m cells (classes −3…+3) on the fixed release (all data up to the
    latest release cut); counts published through ``rule``."""
    from tryggkarta.services.hotspots import gistar_layer

    filters = _base(db, None)
    if not rule.raw:
        filters = filters.replace(end=disclosure.release_cut(tz=_tz(db)))
    fc = gistar_layer(db, filters, cell_size=disclosure.RELEASE_CELL).geojson
    return _in_bbox(disclosure.disclose_features(fc, rule), bbox, db.srid)


def forecast_hotspots(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """The default hotspot layer (backtest winner) with its PAI; counts published via ``rule``."""
    from tryggkarta.services.hotspots import forecast_layer

    layer = forecast_layer(db, _base(db, None))
    meta = {
        key: layer.summary.get(key)
        for key in ("method", "method_sv", "method_en", "pai", "naive_pai", "area_share")
    }
    fc = disclosure.disclose_features(layer.geojson, rule)
    out = [{**f, "properties": {**f["properties"], **meta}} for f in fc["features"]]
    return _in_bbox({"type": "FeatureCollection", "features": out}, bbox, db.srid)


def patrol_hotspots(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    from tryggkarta.services.hotspots import patrol_layer

    return patrol_layer(db, _base(db, bbox)).geojson


def raw_incidents(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Every incident (no limit: large outputs page or stream via :mod:`.ogc_core`)."""
    cols = list(RAW_COLLECTIONS["incidents"].columns)
    return _frame_fc(layer_frame(db, "incidents", _base(db, bbox), columns=cols), cols)


def raw_survey(db: Database, rule: Rule, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    cols = list(RAW_COLLECTIONS["survey_responses"].columns)
    return _frame_fc(layer_frame(db, "survey", _base(db, bbox), columns=cols), cols)


def _frame_fc(frame: Any, cols: list[str]) -> FeatureCollection:
    if frame is None or len(frame) == 0:
        return _empty()
    frame = frame.copy()
    for col in cols:
        frame[col] = iso_local_series(frame[col])  # times: local, with their offset
    return geo_dict(frame, cols)


def _hotspot_collection(
    key: str, public: bool, build: Callable[..., FeatureCollection]
) -> CollectionInfo:
    """A hot-spot collection: title, description and data layer from the registry."""
    m = hotspot_methods.method(key)
    return CollectionInfo(m.title_sv, m.title_en, m.description_en, public, m.layer, build)


COLLECTIONS: dict[str, CollectionInfo] = {
    "incident_cells": CollectionInfo(
        "Händelser per ruta (senaste året)",
        "Incidents per cell (last year)",
        "Incidents per 250 m cell by category; cells with fewer than k incidents are left out.",
        True,
        Layer.INCIDENTS,
        incident_cells,
    ),
    "survey_cells": CollectionInfo(
        "Otrygghet per ruta (trygghetsundersökning)",
        "Insecurity per cell (safety survey)",
        "Share of answers rating the place unsafe (1–2 of 5) per 250 m cell; cells with fewer than k answers are left out.",
        True,
        Layer.SURVEY,
        survey_cells,
    ),
    "design_hotspots": _hotspot_collection("design", True, design_hotspots),
    "gistar_hotspots": _hotspot_collection("gistar", True, gistar_hotspots),
    "forecast_hotspots": _hotspot_collection("forecast", True, forecast_hotspots),
    "projects": CollectionInfo(
        "Plan- och gestaltningsprojekt",
        "Planning and design projects",
        "Projects with the safety measures they include.",
        True,
        Layer.PROJECTS,
        projects,
    ),
    "areas": CollectionInfo(
        "Områden",
        "Areas",
        "Municipality boundary, districts, patrol areas.",
        True,
        Layer.AREAS,
        areas,
    ),
    "patrol_hotspots": _hotspot_collection("patrol", False, patrol_hotspots),
    "incidents": CollectionInfo(
        "Händelser (rådata)",
        "Incidents (raw)",
        "Every incident with its description.",
        False,
        Layer.INCIDENTS,
        raw_incidents,
    ),
    "survey_responses": CollectionInfo(
        "Enkätsvar (rådata)",
        "Survey answers (raw)",
        "Every answer with its pin and comment.",
        False,
        Layer.SURVEY,
        raw_survey,
    ),
}

#: Audience of an export -> the role whose rights it gets.
AUDIENCE_ROLE = {"public": "public", "partner": "partner", "internal": "police"}


def allowed(name: str, role: str) -> bool:
    """May ``role`` read collection ``name``? Raw collections need RAW detail on their layer
    (and patrol hot spots the patrol action) — asked of :mod:`tryggkarta.policy`."""
    info = COLLECTIONS[name]
    if name == "patrol_hotspots":
        return policy.hotspot_detail(role, "patrol") is Detail.RAW
    level = policy.detail(role, info.layer)
    if level == Detail.HIDDEN:
        return False
    return info.public or level == Detail.RAW


def collection(
    db: Database,
    name: str,
    *,
    audience: str = "public",
    params: dict[str, Any] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    page: tuple[int, int] | None = None,
) -> FeatureCollection:
    """Build collection ``name`` for ``audience`` (public/partner/internal).

    With ``page`` = (offset, limit), collections that can page (the release cells) build only
    that page and say ``numberMatched``; the others are built whole (the caller pages them).
    """
    if name not in COLLECTIONS:
        raise BadInput(f"Unknown collection {name!r}; choose one of {', '.join(COLLECTIONS)}.")
    role = AUDIENCE_ROLE.get(audience)
    if role is None:
        raise BadInput(f"Unknown audience {audience!r}.")
    if not allowed(name, role):
        raise BadInput(
            f"The collection {name!r} holds raw records and cannot be given to the audience {audience!r}."
        )
    info = COLLECTIONS[name]
    rule = disclosure.rule_for(policy.detail(role, info.layer), int(db.settings.min_count))
    fc = info.build(db, rule, bbox, {**(params or {}), **({PAGE: page} if page else {})})
    out = {
        "type": "FeatureCollection",
        "features": fc.get("features", []),
        "numberReturned": len(fc.get("features", [])),
    }
    if "numberMatched" in fc:
        out["numberMatched"] = fc["numberMatched"]
    if "release" in fc:
        out["release"] = fc["release"]
    return out
