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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tryggkarta.domain import STREET_LEVEL_PRECISIONS, Detail, Layer
from tryggkarta.errors import BadInput
from tryggkarta.geo import parse_region
from tryggkarta.geojson import geo_dict
from tryggkarta.services import cells
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


def incident_cells(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Incidents of the last ``months`` (default 12) per cell, by category, k-suppressed."""
    params = params or {}
    since = datetime.now(UTC) - timedelta(days=round(30.44 * int(params.get("months", 12))))
    filters = _base(db, bbox).replace(start=since, precisions=STREET_LEVEL_PRECISIONS)
    fc, _grid = cells.incident_cells(db, filters, float(params.get("cell", 250)), k)
    return fc


def survey_cells(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Survey answers per cell with the unsafe share and top reasons; cells with < k answers left out."""
    return cells.survey_cells(db, _base(db, bbox), float((params or {}).get("cell", 250)), None, k)


def projects(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
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


def areas(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    frame = layer_frame(db, "areas", _base(db, bbox), columns=["name", "kind", "code"])
    return geo_dict(frame) if len(frame) else _empty()


def design_hotspots(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Design hotspots with their measures; hotspots with fewer than k answers left out."""
    from tryggkarta.services.hotspots import design_layer

    fc = design_layer(db, _base(db, bbox)).geojson
    keep = [f for f in fc["features"] if f["properties"].get("n_answers", 0) >= k]
    public_keys = (
        "key",
        "rank",
        "name",
        "n_answers",
        "unsafe_share",
        "smoothed_share",
        "reasons",
        "measures",
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {**f, "properties": {key: f["properties"].get(key) for key in public_keys}}
            for f in keep
        ],
    }


def gistar_hotspots(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Gi* hot and cold cells (classes −3…+3); counts below k are not given."""
    from tryggkarta.services.hotspots import gistar_layer

    filters = _base(db, bbox)
    fc = gistar_layer(db, filters, cell_size=float((params or {}).get("cell", 250))).geojson
    out = []
    for f in fc["features"]:
        props = dict(f["properties"])
        if props.get("count", 0) < k:
            props["count"] = None
        out.append({**f, "properties": props})
    return {"type": "FeatureCollection", "features": out}


def forecast_hotspots(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """The default hotspot layer (backtest winner); cells with fewer than k incidents keep no count."""
    from tryggkarta.services.hotspots import forecast_layer

    layer = forecast_layer(db, _base(db, bbox))
    meta = {
        key: layer.summary.get(key)
        for key in ("method", "method_sv", "method_en", "pai", "naive_pai", "area_share")
    }
    out = []
    for f in layer.geojson["features"]:
        props = {**f["properties"], **meta}
        if props.get("count", 0) < k:
            props["count"] = None
        out.append({**f, "properties": props})
    return {"type": "FeatureCollection", "features": out}


def patrol_hotspots(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    from tryggkarta.services.hotspots import patrol_layer

    return patrol_layer(db, _base(db, bbox)).geojson


def raw_incidents(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    """Every incident (no limit: large outputs page or stream via :mod:`.ogc_core`)."""
    cols = list(RAW_COLLECTIONS["incidents"].columns)
    return _frame_fc(layer_frame(db, "incidents", _base(db, bbox), columns=cols), cols)


def raw_survey(db: Database, k: int, bbox=None, params=None) -> FeatureCollection:  # noqa: ANN001
    cols = list(RAW_COLLECTIONS["survey_responses"].columns)
    return _frame_fc(layer_frame(db, "survey", _base(db, bbox), columns=cols), cols)


def _frame_fc(frame: Any, cols: list[str]) -> FeatureCollection:
    if frame is None or len(frame) == 0:
        return _empty()
    return geo_dict(frame, cols)


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
    "design_hotspots": CollectionInfo(
        "Gestaltningsbrännpunkter med åtgärder",
        "Design hot spots with measures",
        "Where the survey says unsafe, why, and the recommended measures.",
        True,
        Layer.SURVEY,
        design_hotspots,
    ),
    "gistar_hotspots": CollectionInfo(
        "Brännpunkter (Gi*)",
        "Hot spots (Gi*)",
        "Getis-Ord Gi* hot and cold 250 m cells, FDR-corrected.",
        True,
        Layer.INCIDENTS,
        gistar_hotspots,
    ),
    "forecast_hotspots": CollectionInfo(
        "Brännpunkter (bästa metoden)",
        "Hot spots (best method)",
        "Top 5 % of the area by the method that predicted best in a backtest, with its PAI.",
        True,
        Layer.INCIDENTS,
        forecast_hotspots,
    ),
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
    "patrol_hotspots": CollectionInfo(
        "Patrullbrännpunkter",
        "Patrol hot spots",
        "Recent clusters with trend and hour × weekday profile (police and municipality).",
        False,
        Layer.INCIDENTS,
        patrol_hotspots,
    ),
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
    """May ``role`` read collection ``name``? Raw collections need RAW detail on their layer."""
    from tryggkarta.domain import detail_for

    info = COLLECTIONS[name]
    level = detail_for(role, info.layer)
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
) -> FeatureCollection:
    """Build collection ``name`` for ``audience`` (public/partner/internal)."""
    if name not in COLLECTIONS:
        raise BadInput(f"Unknown collection {name!r}; choose one of {', '.join(COLLECTIONS)}.")
    role = AUDIENCE_ROLE.get(audience)
    if role is None:
        raise BadInput(f"Unknown audience {audience!r}.")
    if not allowed(name, role):
        raise BadInput(
            f"The collection {name!r} holds raw records and cannot be given to the audience {audience!r}."
        )
    k = 1 if role == "police" else max(1, int(db.settings.min_count))
    fc = COLLECTIONS[name].build(db, k, bbox, params)
    return {
        "type": "FeatureCollection",
        "features": fc.get("features", []),
        "numberReturned": len(fc.get("features", [])),
    }
