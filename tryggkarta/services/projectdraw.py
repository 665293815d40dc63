"""A project drawn in the browser (Leaflet-Geoman): checked and stored as a project — no Flask.

The page sends the drawn area as GeoJSON in WGS84 plus the project's fields. The area must be
one or more simple polygons (no edge crossing another), with at most :data:`MAX_VERTICES`
corners, inside the municipality's boundary. Every refusal is a sentence a planner
understands (Swedish source text through ``t``; the page passes its translator).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import shapely
from sqlalchemy.orm import Session

from tryggkarta import params
from tryggkarta.domain import PROJECT_KINDS, PROJECT_STATUSES
from tryggkarta.errors import BadInput
from tryggkarta.services.projectcheck import to_working_crs
from tryggkarta.store import Filters, Project, layer_frame
from tryggkarta.store.engine import Database

Translate = params.Translate
MAX_VERTICES = 2000
MAX_TEXT = 100_000
#: How far (metres) a drawn edge may stray over the boundary (a click beside the line).
BOUNDARY_TOLERANCE = 25.0
MIN_AREA = 10.0  # m²


@dataclass(frozen=True)
class ProjectFields:
    """The form's fields, checked."""

    name: str
    case_number: str | None
    kind: str
    status: str
    start_date: date | None
    end_date: date | None
    description: str | None


def _geometry_json(text: str | None, t: Translate) -> dict[str, Any]:
    if not text or not text.strip():
        raise BadInput(t("Rita projektets yta på kartan innan du sparar."))
    if len(text) > MAX_TEXT:
        raise BadInput(t("Ritningen är för stor. Rita en enklare yta."))
    try:
        data = json.loads(text)
    except ValueError:
        raise BadInput(t("Ritningen kunde inte läsas. Rita ytan igen.")) from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
        geoms = [f.get("geometry") for f in features if isinstance(f, dict)]
        polys = [g for g in geoms if isinstance(g, dict)]
        if not polys:
            raise BadInput(t("Rita projektets yta på kartan innan du sparar."))
        coords = []
        for g in polys:
            if g.get("type") == "Polygon":
                coords.append(g.get("coordinates"))
            elif g.get("type") == "MultiPolygon":
                coords.extend(g.get("coordinates") or [])
            else:
                raise BadInput(t("Projektet ska vara en yta (polygon), inte en linje eller punkt."))
        data = {"type": "MultiPolygon", "coordinates": coords}
    elif isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    if not isinstance(data, dict) or data.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadInput(t("Projektet ska vara en yta (polygon), inte en linje eller punkt."))
    return data


def parse_drawn_area(
    text: str | None,
    srid: int,
    boundary: shapely.Geometry | None,
    t: Translate = params.swedish,
    max_vertices: int = MAX_VERTICES,
) -> shapely.Geometry:
    """The drawn area (WGS84 GeoJSON text) as a valid polygon in the working CRS.

    Raises :class:`BadInput` when it is not a polygon, has too many corners, crosses itself,
    is empty, or lies (partly) outside ``boundary`` (working CRS; ``None``: not checked).
    """
    data = _geometry_json(text, t)
    try:
        wgs = shapely.geometry.shape(data)
        coords = shapely.get_coordinates(wgs)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        raise BadInput(t("Ritningen kunde inte läsas. Rita ytan igen.")) from None
    if not len(coords) or not np.isfinite(coords).all():
        raise BadInput(t("Ritningen kunde inte läsas. Rita ytan igen."))
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise BadInput(t("Ritningen ska vara i grader (WGS84, longitud och latitud)."))
    corners = len(coords) - len(shapely.get_rings(shapely.get_parts(wgs)))  # rings repeat one
    if corners > max_vertices:
        raise BadInput(
            t(
                "Ytan har för många hörn (%(n)s; högst %(max)s). Rita en enklare yta.",
                n=corners,
                max=max_vertices,
            )
        )
    geom = to_working_crs(data, srid)
    if not shapely.is_valid(geom):
        reason = shapely.is_valid_reason(geom)
        if "Self-intersection" in reason or "Ring Self-intersection" in reason:
            raise BadInput(
                t("Ytans kanter korsar varandra. Rita om den så att inga kanter korsas.")
            )
        raise BadInput(t("Ytan är inte giltig (%(why)s). Rita om den.", why=reason[:80]))
    if shapely.area(geom) < MIN_AREA:
        raise BadInput(t("Ytan är för liten eller tom. Rita minst tre hörn."))
    if boundary is not None and not shapely.is_empty(boundary):
        if not shapely.intersects(boundary, geom):
            raise BadInput(t("Ytan ligger utanför kommunen. Rita den inom kommungränsen."))
        if not shapely.covers(shapely.buffer(boundary, BOUNDARY_TOLERANCE), geom):
            raise BadInput(t("Ytan sträcker sig utanför kommunen. Rita den inom kommungränsen."))
    return geom


def municipality_boundary(db: Database, municipality_code: str | None) -> shapely.Geometry | None:
    """The municipality's boundary (working CRS), or None when none is imported."""
    frame = layer_frame(db, "areas", Filters(municipality_code=municipality_code), columns=["kind"])
    frame = frame[frame["kind"] == "municipality"]
    if frame.empty:
        return None
    return shapely.union_all(np.asarray(frame.geometry.values, dtype=object))


def area_municipality(
    geom: shapely.Geometry, srid: int, prefer: tuple[str, ...] = ()
) -> str | None:
    """The municipality a drawn area lies in (at its inner point; one of ``prefer`` when
    the point is within 1 km of it), ``None`` outside Sweden's."""
    from tryggkarta import geo

    inner = shapely.point_on_surface(geom)
    found = geo.municipality_codes_at(np.array([inner.x]), np.array([inner.y]), srid)[0]
    code = None if found is None else str(found)
    if code not in prefer:
        near = [c for c in prefer if geo.municipality(c, srid).buffer(1000.0).covers(inner)]
        code = near[0] if near else code
    return code


def parse_fields(form: Any, t: Translate = params.swedish) -> ProjectFields:
    """The form's project fields (``name``, ``case_number``, ``kind``, ``status``, ``start``,
    ``end``, ``description``), checked."""
    name = (form.get("name") or "").strip()
    if not name:
        raise BadInput(t("Ge projektet ett namn."))
    if len(name) > 300:
        raise BadInput(t("Namnet får vara högst %(n)s tecken.", n=300))
    case = (form.get("case_number") or "").strip() or None
    if case and len(case) > 100:
        raise BadInput(t("Diarienumret får vara högst %(n)s tecken.", n=100))
    kind = form.get("kind") or "ovrigt"
    if kind not in PROJECT_KINDS:
        raise BadInput(t("Okänd projekttyp: %(value)s.", value=params.shown(kind)))
    status = form.get("status") or "planerad"
    if status not in PROJECT_STATUSES:
        raise BadInput(t("Okänd status: %(value)s.", value=params.shown(status)))
    start, end = params.parse_day_range(form.get("start"), form.get("end"), t)
    description = (form.get("description") or "").strip() or None
    if description and len(description) > 5000:
        raise BadInput(t("Beskrivningen får vara högst %(n)s tecken.", n=5000))
    return ProjectFields(name, case, kind, status, start, end, description)


def create_project(
    session: Session, geom: shapely.Geometry, fields: ProjectFields, municipality_code: str | None
) -> Project:
    """Store a drawn project (no dataset: it was not imported) and return it."""
    minx, miny, maxx, maxy = shapely.bounds(geom)
    project = Project(
        dedup_key=f"drawn:{uuid.uuid4().hex}",
        source_id=None,
        name=fields.name,
        case_number=fields.case_number,
        kind=fields.kind,
        status=fields.status,
        start_date=fields.start_date,
        end_date=fields.end_date,
        description=fields.description,
        municipality_code=municipality_code,
        geom_wkb=shapely.to_wkb(geom),
        minx=float(minx),
        miny=float(miny),
        maxx=float(maxx),
        maxy=float(maxy),
    )
    session.add(project)
    session.flush()
    return project
