"""The register of measures (insatser) and their effect, without Flask.

A *measure* is a row of ``interventions``: a kind (:data:`tryggkarta.domain.MEASURE_KINDS`),
a place (point, line or polygon in the working CRS, or the point of the hot spot it answers),
a period (first and last day, local time), an owner organisation, a status, a due date and
where it came from (a weekly-picture decision, a project measure, a citizen-promise activity).

Its effect is evaluated with :mod:`tryggkarta.analysis.effect`: incidents of the measure's
categories in the *after* window (its period, up to today) against a *before* window of the
same length just before it, in the target (its polygon, or a circle around its point/line),
a displacement ring around the target and a comparison area (a ring further out, or the rest
of the district it lies in).

Messages are Swedish source text passed through ``t`` (see :mod:`tryggkarta.params`): the web
passes its translator, the CLI an English one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tryggkarta.analysis import effect
from tryggkarta.config import local_timezone
from tryggkarta.domain import (
    INCIDENT_CATEGORIES,
    MEASURE_KINDS,
    MEASURE_ORIGINS,
    MEASURE_STATUSES,
)
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.geo import from_wgs84
from tryggkarta.params import Translate, local_midnight, shown, swedish
from tryggkarta.store import Area, Decision, Filters, Intervention, Organisation, layer_frame
from tryggkarta.store.engine import Database

#: Default radius (m) of the target around a point or line measure.
TARGET_RADIUS = 150.0
#: Default width (m) of the displacement ring around the target.
BUFFER_WIDTH = 200.0
#: Default width (m) of the comparison ring outside the displacement ring.
RING_WIDTH = 800.0
COMPARISONS = ("ring", "district")
#: Longest title and description.
MAX_TITLE, MAX_TEXT = 300, 4000

_LATLON = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,; ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")

#: EffectInputError code → Swedish sentence (source text for translations).
EFFECT_MESSAGES: dict[str, str] = {
    "overlap_target": "Jämförelseområdet överlappar insatsens område. Välj ett område utanför.",
    "overlap_buffer": "Jämförelseområdet överlappar området för förflyttning. Välj ett område "
    "längre bort.",
    "empty_area": "Jämförelseområdet eller insatsens område blir tomt. Välj en annan jämförelse.",
    "periods": "Perioden före måste sluta innan perioden efter börjar.",
    "negative_count": "Antal måste vara hela tal, noll eller fler.",
}


@dataclass
class MeasureData:
    """What a measure form or the weekly picture hands over (already parsed)."""

    kind: str
    title: str
    description: str = ""
    status: str = "planerad"
    start: date | None = None
    end: date | None = None
    due: date | None = None
    owner_org_id: int | None = None
    place: BaseGeometry | None = None
    hotspot_key: str | None = None
    categories: tuple[str, ...] = ()
    origin: str = "manual"
    decision_id: int | None = None
    project_id: int | None = None
    promise_id: int | None = None


def parse_place(text: str | None, srid: int, t: Translate = swedish) -> BaseGeometry | None:
    """A place typed as ``lat, lon`` (WGS84 degrees) or a GeoJSON geometry or Feature in WGS84,
    returned in the working CRS; empty text → None."""
    raw = (text or "").strip()
    if not raw:
        return None
    bad = t(
        "Platsen går inte att läsa: skriv 'latitud, longitud' (t.ex. 59.33, 18.06) eller en "
        "GeoJSON-geometri."
    )
    m = _LATLON.match(raw)
    if m:
        lat, lon = float(m.group(1)), float(m.group(2))
        geom: BaseGeometry = shapely.Point(lon, lat)
    else:
        if len(raw) > 200_000:
            raise BadInput(t("Platsen är för stor (högst 200 000 tecken GeoJSON)."))
        try:
            data = json.loads(raw)
            if isinstance(data, dict) and data.get("type") == "Feature":
                data = data.get("geometry")
            if not isinstance(data, dict) or data.get("type") not in (
                "Point",
                "LineString",
                "Polygon",
                "MultiPolygon",
                "MultiLineString",
            ):
                raise ValueError
            geom = shape(data)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            raise BadInput(bad) from None
    coords = shapely.get_coordinates(geom)
    if (
        geom.is_empty
        or not np.isfinite(coords).all()
        or (np.abs(coords[:, 1]) > 90).any()
        or (np.abs(coords[:, 0]) > 180).any()
    ):
        raise BadInput(bad)
    if geom.geom_type in ("Polygon", "MultiPolygon") and (not geom.is_valid or geom.area == 0):
        raise BadInput(t("Områdets gräns korsar sig själv. Rita om det."))

    def project(c: np.ndarray) -> np.ndarray:
        x, y = from_wgs84(c[:, 0], c[:, 1], srid)
        return np.column_stack([x, y])

    out = shapely.transform(geom, project)
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise BadInput(bad)
    return out


def parse_categories(values: list[str], t: Translate = swedish) -> tuple[str, ...]:
    """Known incident category keys, in display order; an unknown key is a BadInput."""
    unknown = [v for v in values if v and v not in INCIDENT_CATEGORIES]
    if unknown:
        raise BadInput(t("Okänd kategori: %(value)s.", value=shown(unknown[0])))
    chosen = set(values)
    return tuple(k for k in INCIDENT_CATEGORIES if k in chosen)


def validate(data: MeasureData, t: Translate = swedish) -> None:
    """Refuse a measure that cannot be stored, with a sentence."""
    if data.kind not in MEASURE_KINDS:
        raise BadInput(t("Välj vilken sorts insats det är."))
    if data.status not in MEASURE_STATUSES:
        raise BadInput(t("Okänd status: %(value)s.", value=shown(data.status)))
    if data.origin not in MEASURE_ORIGINS:
        raise BadInput(t("Okänt ursprung: %(value)s.", value=shown(data.origin)))
    if not data.title.strip():
        raise BadInput(t("Ge insatsen en rubrik."))
    if len(data.title) > MAX_TITLE:
        raise BadInput(t("Rubriken får vara högst %(n)s tecken.", n=MAX_TITLE))
    if len(data.description) > MAX_TEXT:
        raise BadInput(t("Beskrivningen får vara högst %(n)s tecken.", n=MAX_TEXT))
    if data.start and data.end and data.end < data.start:
        raise BadInput(
            t(
                "Insatsen kan inte sluta (%(end)s) innan den börjar (%(start)s).",
                start=data.start.isoformat(),
                end=data.end.isoformat(),
            )
        )
    if data.end and not data.start:
        raise BadInput(t("Ange när insatsen började om den har ett slutdatum."))
    if data.status == "klar" and not data.start:
        raise BadInput(t("Ange när insatsen började innan den markeras som klar."))


def _local_day(value: datetime | None) -> date | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(local_timezone()).date()


def save_measure(
    session: Session,
    data: MeasureData,
    *,
    user_id: int | None = None,
    measure_id: int | None = None,
    t: Translate = swedish,
    srid: int | None = None,
) -> Intervention:
    """Create (or update ``measure_id``) a measure after :func:`validate`; it gets the
    municipality it lies in (:func:`locate`; ``srid`` of the place, default: the store's)."""
    validate(data, t)
    if data.owner_org_id is not None and session.get(Organisation, data.owner_org_id) is None:
        raise BadInput(t("Okänd organisation."))
    if measure_id is None:
        row = Intervention(created_by=user_id, origin=data.origin)
        session.add(row)
    else:
        row = get_measure(session, measure_id, t)
        row.updated_at = datetime.now(UTC)
    row.measure = data.kind
    row.title = data.title.strip()
    row.description = data.description.strip()
    row.status = data.status
    row.started_at = local_midnight(data.start) if data.start else None
    row.ended_at = local_midnight(data.end) if data.end else None
    row.due_date = data.due
    row.owner_org_id = data.owner_org_id
    row.categories = ",".join(data.categories)
    if data.place is not None:
        row.geom_wkb = shapely.to_wkb(data.place)
        point = data.place.representative_point() if data.place.area > 0 else data.place.centroid
        if data.place.geom_type == "Point":
            point = data.place
        row.x, row.y = float(point.x), float(point.y)
    if data.hotspot_key is not None:
        row.hotspot_key = data.hotspot_key
    for name in ("decision_id", "project_id", "promise_id"):
        if getattr(data, name) is not None:
            setattr(row, name, getattr(data, name))
    session.flush()
    if srid is None:  # the working CRS the store keeps its coordinates in
        from tryggkarta.store.models import Setting

        stored = session.scalar(select(Setting.value).where(Setting.key == "srid"))
        srid = int(stored) if stored else None
    if srid is not None:
        owner = session.get(Organisation, row.owner_org_id) if row.owner_org_id else None
        locate(session, row, srid, fallback=owner.municipality_code if owner else None)
    return row


def get_measure(
    session: Session, measure_id: int, t: Translate = swedish, reach: Any = None
) -> Intervention:
    """The measure ``measure_id``; with ``reach`` (a
    :class:`~tryggkarta.services.municipalities.Reach`) one of another municipality is
    :class:`NotFound` like a missing one, so that ids reveal nothing outside an EST group."""
    row = session.get(Intervention, measure_id)
    if row is None or (reach is not None and not reach.admits(row.municipality_code)):
        raise NotFound(t("Insatsen %(id)s finns inte.", id=measure_id))
    return row


def locate(
    session: Session,
    row: Intervention,
    srid: int,
    fallback: str | None = None,
    prefer: tuple[str, ...] = (),
) -> None:
    """Set ``row.municipality_code``: the municipality at its place (a polygon's inner
    point; one of ``prefer`` — the user's — when the place is within 1 km of it, as a
    measure on the border street belongs to whoever does it), else ``fallback`` (the user's
    organisation's), else the one it had."""
    from tryggkarta import geo

    place = place_of(row)
    code = None
    if place is not None and not place.is_empty:
        inner = place if place.geom_type == "Point" else shapely.point_on_surface(place)
        found = geo.municipality_codes_at(np.array([inner.x]), np.array([inner.y]), srid)[0]
        code = None if found is None else str(found)
        if code not in prefer:
            near = [c for c in prefer if geo.municipality(c, srid).buffer(1000.0).covers(inner)]
            code = near[0] if near else code
    row.municipality_code = code or fallback or row.municipality_code
    session.flush()


def measure_from_decision(
    session: Session,
    decision_id: int,
    *,
    user_id: int | None = None,
    t: Translate = swedish,
    srid: int | None = None,
    reach: Any = None,
) -> tuple[Intervention, bool]:
    """The measure of a weekly-picture decision, created on first call (kind "ovrigt",
    planned, at the decision's point, starting on the Monday of its week, in the decision's
    municipality). With ``reach`` (a :class:`~tryggkarta.services.municipalities.Reach`) a
    decision of another municipality is :class:`NotFound` like a missing one.

    Returns the measure and whether it was created now.
    """
    decision = session.get(Decision, decision_id)
    if decision is None or (reach is not None and not reach.admits(decision.municipality_code)):
        raise NotFound(t("Beslutet finns inte."))
    existing = session.scalars(
        select(Intervention).where(Intervention.decision_id == decision_id).limit(1)
    ).first()
    if existing is not None:
        return existing, False
    from tryggkarta.services.lagesbild import parse_week

    start = _local_day(parse_week(decision.week).start)
    place = (
        shapely.Point(decision.x, decision.y)
        if decision.x is not None and decision.y is not None
        else None
    )
    data = MeasureData(
        kind="ovrigt",
        title=(decision.title or decision.text or decision.week)[:MAX_TITLE],
        description=decision.text if decision.title else "",
        start=start,
        place=place,
        hotspot_key=decision.hotspot_key,
        origin="decision",
        decision_id=decision.id,
    )
    row = save_measure(session, data, user_id=user_id, t=t, srid=srid)
    if place is None and decision.municipality_code:  # no point: where it was decided
        row.municipality_code = decision.municipality_code
        session.flush()
    return row, True


def measure_from_project(
    session: Session,
    project_measure_id: int,
    *,
    user_id: int | None = None,
    t: Translate = swedish,
    srid: int | None = None,
    reach: Any = None,
) -> tuple[Intervention, bool]:
    """The measure that carries out a safety measure a project includes (the planner's
    ticked "Trygghetsåtgärd"), created on first call: of the same kind where the register has
    it (lighting, vegetation, cleaning, place activation, police presence), else "ovrigt";
    planned, on the project's area, origin "project". With ``reach`` a project of another
    municipality is :class:`NotFound` like a missing one.

    Returns the measure and whether it was created now.
    """
    from tryggkarta.domain import MEASURES
    from tryggkarta.store.models import ProjectMeasure

    chosen = session.get(ProjectMeasure, project_measure_id)
    project = chosen.project if chosen is not None else None
    if project is None or (reach is not None and not reach.admits(project.municipality_code)):
        raise NotFound(t("Projektåtgärden finns inte."))
    kind = _kind_of_project_measure(chosen.measure)
    label = MEASURES.get(chosen.measure) or MEASURE_KINDS.get(chosen.measure)
    name = label.sv if label else chosen.measure
    carried = project_measures_carried(session, project.id)
    if chosen.measure in carried:
        return session.get(Intervention, carried[chosen.measure]), False
    data = MeasureData(
        kind=kind,
        title=f"{name}: {project.name}"[:MAX_TITLE],
        description=(chosen.evidence or "")[:MAX_TEXT],
        place=shapely.from_wkb(project.geom_wkb) if project.geom_wkb else None,
        origin="project",
        project_id=project.id,
    )
    row = save_measure(session, data, user_id=user_id, t=t, srid=srid)
    if row.municipality_code is None and project.municipality_code:
        row.municipality_code = project.municipality_code
        session.flush()
    return row, True


def _kind_of_project_measure(key: str) -> str:
    return key if key in MEASURE_KINDS else "ovrigt"


def project_measures_carried(session: Session, project_id: int) -> dict[str, int]:
    """Which of a project's safety measures the register carries out: project measure key →
    the id of the measure made from it (one per kind and project; the project page links it
    instead of offering "Gör till insats" again)."""
    from tryggkarta.store.models import ProjectMeasure

    made = dict(
        session.execute(
            select(Intervention.measure, func.min(Intervention.id))
            .where(Intervention.project_id == project_id, Intervention.origin == "project")
            .group_by(Intervention.measure)
        ).all()
    )
    keys = session.scalars(
        select(ProjectMeasure.measure).where(ProjectMeasure.project_id == project_id)
    ).all()
    return {
        k: made[_kind_of_project_measure(k)] for k in keys if _kind_of_project_measure(k) in made
    }


def mark_done(
    session: Session, measure_id: int, *, today: date | None = None, t: Translate = swedish
) -> Intervention:
    """Status "klar"; a measure without an end date ends today (not before its start)."""
    row = get_measure(session, measure_id, t)
    if row.started_at is None:
        raise BadInput(t("Ange när insatsen började innan den markeras som klar."))
    today = today or datetime.now(local_timezone()).date()
    if row.ended_at is None:
        start = _local_day(row.started_at)
        row.ended_at = local_midnight(max(today, start))
    row.status = "klar"
    row.updated_at = datetime.now(UTC)
    session.flush()
    return row


def place_of(row: Intervention) -> BaseGeometry | None:
    """The measure's place in the working CRS (its geometry, else its point)."""
    if row.geom_wkb:
        return shapely.from_wkb(row.geom_wkb)
    if row.x is not None and row.y is not None:
        return shapely.Point(row.x, row.y)
    return None


def as_dict(row: Intervention, org_name: str | None = None) -> dict[str, Any]:
    """A measure for lists, pages and the CLI (dates as local days)."""
    place = place_of(row)
    return {
        "id": row.id,
        "kind": row.measure,
        "title": row.title,
        "description": row.description,
        "status": row.status,
        "start": _local_day(row.started_at),
        "end": _local_day(row.ended_at),
        "due": row.due_date,
        "owner_org_id": row.owner_org_id,
        "owner": org_name or "",
        "origin": row.origin,
        "decision_id": row.decision_id,
        "project_id": row.project_id,
        "promise_id": row.promise_id,
        "hotspot_key": row.hotspot_key,
        "municipality_code": row.municipality_code,
        "categories": tuple(c for c in (row.categories or "").split(",") if c),
        "geometry_type": place.geom_type if place is not None else None,
        "x": row.x,
        "y": row.y,
    }


def list_measures(
    session: Session, status: str | None = None, within: Any = None
) -> list[dict[str, Any]]:
    """All measures (optionally of one status; ``within``: a SQL condition on their
    municipality, see :meth:`~tryggkarta.services.municipalities.Reach.where`), due first,
    then newest."""
    stmt = select(Intervention, Organisation.name).outerjoin(
        Organisation, Organisation.id == Intervention.owner_org_id
    )
    if status:
        stmt = stmt.where(Intervention.status == status)
    if within is not None:
        stmt = stmt.where(within)
    rows = session.execute(stmt.order_by(Intervention.created_at.desc(), Intervention.id.desc()))
    out = [as_dict(m, name) for m, name in rows.all()]
    out.sort(key=lambda d: (d["status"] in ("klar", "installd"), d["due"] or date.max))
    return out


def places(session: Session, measure_ids: list[int]) -> dict[int, BaseGeometry]:
    """Measure id → its place (working CRS), for the measures that have one."""
    if not measure_ids:
        return {}
    rows = session.scalars(select(Intervention).where(Intervention.id.in_(measure_ids))).all()
    return {r.id: p for r in rows if (p := place_of(r)) is not None}


def decision_measures(session: Session, decision_ids: list[int]) -> dict[int, int]:
    """Decision id → id of the measure made from it (for the weekly picture)."""
    if not decision_ids:
        return {}
    rows = session.execute(
        select(Intervention.decision_id, Intervention.id).where(
            Intervention.decision_id.in_(decision_ids)
        )
    ).all()
    return {d: i for d, i in rows}


@dataclass(frozen=True)
class MeasureEvaluation:
    """An evaluation with what it was computed on."""

    result: effect.EffectResult
    areas: effect.EffectAreas
    before: tuple[datetime, datetime]
    after: tuple[datetime, datetime]
    categories: tuple[str, ...]
    comparison: str
    district: str | None = None
    params: dict[str, float] = field(default_factory=dict)

    @property
    def days(self) -> int:
        return int((self.after[1] - self.after[0]) / timedelta(days=1))

    @property
    def before_days(self) -> tuple[date, date]:
        """First and last local day of the before window."""
        return _local_day(self.before[0]), _local_day(self.before[1] - timedelta(seconds=1))

    @property
    def after_days(self) -> tuple[date, date]:
        """First and last local day of the after window."""
        return _local_day(self.after[0]), _local_day(self.after[1] - timedelta(seconds=1))


def _district_of(db: Database, point: BaseGeometry) -> tuple[BaseGeometry, str] | None:
    with db.session() as s:
        rows = s.execute(
            select(Area.geom_wkb, Area.name).where(
                Area.kind == "district",
                Area.minx <= point.x,
                Area.maxx >= point.x,
                Area.miny <= point.y,
                Area.maxy >= point.y,
            )
        ).all()
    for wkb, name in rows:
        geom = shapely.from_wkb(wkb)
        if geom.contains(point):
            return geom, name
    return None


def windows(
    row: Intervention, now: datetime | None = None, t: Translate = swedish
) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """Before and after windows (aware UTC, half-open) of equal length.

    After: from the first day of the measure to the end of its last day, or to ``now`` when it
    is still running (or ends in the future). Before: as long, just before the start.
    """
    now = now or datetime.now(UTC)
    if row.started_at is None:
        raise BadInput(t("Insatsen har inget startdatum, så dess effekt kan inte beräknas."))
    first = _local_day(row.started_at)
    start = local_midnight(first).astimezone(UTC)
    end = now
    if row.ended_at is not None:
        after_day = _local_day(row.ended_at) + timedelta(days=1)
        full_end = local_midnight(after_day).astimezone(UTC)
        if full_end <= now:  # whole local days: the before window is as many local days
            end = full_end
            before_start = local_midnight(first - (after_day - first)).astimezone(UTC)
    if end - start < timedelta(days=1):
        raise BadInput(
            t("Insatsen har inte pågått en hel dag än, så dess effekt kan inte beräknas.")
        )
    if end is now:
        before_start = start - (end - start)
    return (before_start, start), (start, end)


def evaluate(
    db: Database,
    row: Intervention,
    *,
    comparison: str = "ring",
    categories: tuple[str, ...] | None = None,
    radius: float = TARGET_RADIUS,
    buffer_width: float = BUFFER_WIDTH,
    ring_width: float = RING_WIDTH,
    now: datetime | None = None,
    t: Translate = swedish,
    scope: Filters | None = None,
) -> MeasureEvaluation:
    """Evaluate a measure: counts per area and window, DiD and WDQ. ``scope``: the reader's
    municipalities (:func:`~tryggkarta.services.municipalities.scope_filters`); incidents
    elsewhere are not counted, even where a ring crosses the border.

    Raises
    ------
    BadInput
        No place or start, not a day old, an unknown comparison, no district around the
        place, or areas that overlap (sentence from :data:`EFFECT_MESSAGES`).
    """
    if comparison not in COMPARISONS:
        raise BadInput(t("Okänd jämförelse: %(value)s.", value=shown(comparison)))
    for value in (radius, buffer_width, ring_width):
        if not math.isfinite(value) or not 0 < value <= 20_000:
            raise BadInput(t("Avstånd ska vara mellan 1 och 20 000 meter."))
    place = place_of(row)
    if place is None:
        raise BadInput(t("Insatsen har ingen plats, så dess effekt kan inte beräknas."))
    before, after = windows(row, now, t)
    if categories is None:
        categories = tuple(c for c in (row.categories or "").split(",") if c)
    district_geom, district_name = None, None
    if comparison == "district":
        found = _district_of(db, place.representative_point())
        if found is None:
            raise BadInput(
                t("Insatsen ligger inte i någon stadsdel. Jämför med en ring i stället.")
            )
        district_geom, district_name = found
    try:
        areas = effect.build_areas(
            place,
            radius=radius,
            buffer_width=buffer_width,
            district=district_geom,
            ring_width=ring_width,
        )
    except effect.EffectInputError as exc:
        raise BadInput(t(EFFECT_MESSAGES.get(exc.code, str(exc)))) from None
    everything = shapely.union_all([g for g in (areas.target, areas.buffer, areas.comparison) if g])
    frame = layer_frame(
        db,
        "incidents",
        (scope or Filters()).replace(
            bbox=tuple(everything.bounds),
            start=before[0],
            end=after[1],
            categories=categories or None,
        ),
        columns=["x", "y", "occurred_at"],
        geometry=False,
    )
    times = (
        pd.to_datetime(frame["occurred_at"], utc=True).dt.tz_convert(None).to_numpy()
        if len(frame)
        else np.array([], dtype="datetime64[s]")
    )
    counts = effect.count_in_areas(
        frame["x"].to_numpy(dtype=float) if len(frame) else np.array([]),
        frame["y"].to_numpy(dtype=float) if len(frame) else np.array([]),
        times,
        areas,
        before,
        after,
    )
    result = effect.evaluate_counts(counts["target"], counts["comparison"], counts["buffer"])
    return MeasureEvaluation(
        result=effect.EffectResult(result.did, result.wdq, before, after),
        areas=areas,
        before=before,
        after=after,
        categories=tuple(categories),
        comparison=comparison,
        district=district_name,
        params={"radius": radius, "buffer_width": buffer_width, "ring_width": ring_width},
    )


#: Verdict of the difference-in-differences → Swedish sentence (source text).
VERDICT_TEXT: dict[str, str] = {
    "no_events": "Inga händelser i insatsens område varken före eller efter – det finns inget "
    "att utvärdera.",
    "too_few": "För få händelser för en slutsats (%(n)s i insatsens område före och efter "
    "tillsammans; minst %(min)s behövs).",
    "decrease": "Händelserna minskade i insatsens område jämfört med jämförelseområdet.",
    "increase": "Händelserna ökade i insatsens område jämfört med jämförelseområdet.",
    "no_clear_change": "Ingen säker skillnad mot jämförelseområdet.",
}
#: Reading (or reason, when undefined) of the WDQ → Swedish sentence (source text).
WDQ_TEXT: dict[str, str] = {
    "no_comparison": "Förflyttning kan inte bedömas: jämförelseområdet saknar händelser i en "
    "av perioderna.",
    "no_success": "Förflyttning bedöms bara när händelserna har minskat i insatsens område "
    "jämfört med jämförelseområdet.",
    "diffusion_larger": "Spridning av nytta: runt omkring minskade händelserna mer än i "
    "insatsens område.",
    "diffusion": "Viss spridning av nytta: händelserna minskade även runt omkring.",
    "none": "Ingen förflyttning till eller spridning av nytta runt omkring.",
    "displacement": "Viss förflyttning till området runt omkring, men mindre än minskningen.",
    "displacement_larger": "Förflyttningen till området runt omkring är större än minskningen.",
}


def verdict_text(result: effect.DidResult, t: Translate = swedish) -> str:
    """The conclusion in one sentence."""
    text = VERDICT_TEXT[result.verdict]
    if result.verdict == "too_few":
        return t(text, n=result.target.total, min=effect.MIN_EVENTS)
    return t(text)


def wdq_text(result: effect.WdqResult, t: Translate = swedish) -> str:
    """The displacement check in one sentence."""
    return t(WDQ_TEXT[result.reason if result.reading == "undefined" else result.reading])


def net_effect_text(value: float, t: Translate = swedish, lang: str = "sv") -> str:
    """The total net effect in words: incidents fewer (or more) in target and surroundings,
    the number in ``lang``'s notation ("7,0" in Swedish)."""
    from tryggkarta.i18n import format_number

    n = format_number(abs(value), lang, 1)
    if value >= 0:
        return t("Nettoeffekt: %(n)s färre händelser i området och runt omkring", n=n)
    return t("Nettoeffekt: %(n)s fler händelser i området och runt omkring", n=n)


def summary(ev: MeasureEvaluation, t: Translate = swedish) -> list[str]:
    """Plain-text lines (the CLI prints them; numbers in English notation)."""
    d, w = ev.result.did, ev.result.wdq
    lines = [
        t(
            "Före: %(a)s – %(b)s, efter: %(c)s – %(d)s (%(n)s dagar var).",
            a=ev.before_days[0],
            b=ev.before_days[1],
            c=ev.after_days[0],
            d=ev.after_days[1],
            n=ev.days,
        ),
        t(
            "Insatsens område: %(a)s → %(b)s; jämförelse: %(c)s → %(d)s; runt omkring: "
            "%(e)s → %(f)s.",
            a=d.target.before,
            b=d.target.after,
            c=d.comparison.before,
            d=d.comparison.after,
            e=w.buffer.before,
            f=w.buffer.after,
        ),
        verdict_text(d, t),
    ]
    if d.verdict not in ("no_events",):
        lines.append(
            t(
                "Relativ förändring mot jämförelsen: %(r)s (%(p)s %% intervall %(lo)s–%(hi)s).",
                r=f"{d.ratio:.2f}",
                p=round(d.confidence * 100),
                lo=f"{d.ratio_low:.2f}",
                hi=f"{d.ratio_high:.2f}",
            )
        )
        lines.append(
            t(
                "WDD: %(w)s (intervall %(lo)s – %(hi)s, p = %(p)s).",
                w=f"{d.wdd:+.0f}",
                lo=f"{d.wdd_low:+.1f}",
                hi=f"{d.wdd_high:+.1f}",
                p=f"{d.p:.3f}",
            )
        )
    lines.append(wdq_text(w, t))
    if w.wdq is not None:
        lines.append(t("WDQ: %(q)s.", q=f"{w.wdq:.2f}"))
    if w.total_net_effect is not None:
        lines.append(net_effect_text(w.total_net_effect, t, "en") + ".")  # English notation
    return lines


def _english(text: str, **params: object) -> str:
    from tryggkarta.i18n import translate

    return translate(text, "en", **params)


def evaluation_json(ev: MeasureEvaluation) -> dict[str, Any]:
    """The evaluation as plain JSON-able values (the CLI's ``--json``)."""
    d, w = ev.result.did, ev.result.wdq

    def num(value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) else round(float(value), 6)

    return {
        "before": [day.isoformat() for day in ev.before_days],
        "after": [day.isoformat() for day in ev.after_days],
        "days": ev.days,
        "comparison": ev.comparison,
        "district": ev.district,
        "categories": list(ev.categories),
        "params": ev.params,
        "counts": {
            "target": [d.target.before, d.target.after],
            "buffer": [w.buffer.before, w.buffer.after],
            "comparison": [d.comparison.before, d.comparison.after],
        },
        "did": {
            "verdict": d.verdict,
            "ratio": num(d.ratio),
            "ratio_interval": [num(d.ratio_low), num(d.ratio_high)],
            "continuity_corrected": d.corrected,
            "wdd": num(d.wdd),
            "wdd_interval": [num(d.wdd_low), num(d.wdd_high)],
            "z": num(d.z),
            "p": num(d.p),
            "confidence": d.confidence,
        },
        "wdq": {
            "wdq": num(w.wdq),
            "reading": w.reading,
            "reason": w.reason,
            "success_measure": num(w.success_measure),
            "displacement_measure": num(w.displacement_measure),
            "total_net_effect": num(w.total_net_effect),
        },
    }


@click.command("evaluate-measure")
@click.argument("measure_id", type=click.IntRange(1, 2**31 - 1))
@click.option(
    "--comparison",
    type=click.Choice(COMPARISONS),
    default="ring",
    show_default=True,
    help="A ring further out, or the rest of the district the measure lies in.",
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    help="Incident category key (repeatable; default: the measure's own, else all).",
)
@click.option("--radius", type=float, default=TARGET_RADIUS, show_default=True, help="Metres.")
@click.option("--buffer", "buffer_width", type=float, default=BUFFER_WIDTH, show_default=True)
@click.option("--ring", "ring_width", type=float, default=RING_WIDTH, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation as JSON.")
def evaluate_measure_command(
    measure_id: int,
    comparison: str,
    categories: tuple[str, ...],
    radius: float,
    buffer_width: float,
    ring_width: float,
    as_json: bool,
) -> None:
    """Effect of measure MEASURE_ID: difference-in-differences (ratio and WDD test) against a
    comparison area and the displacement quotient (WDQ) in a ring around it."""
    from tryggkarta.cli import get_database

    db = get_database()
    chosen = parse_categories(list(categories), _english) if categories else None
    with db.session() as s:
        row = get_measure(s, measure_id, _english)
        title = row.title
        ev = evaluate(
            db,
            row,
            comparison=comparison,
            categories=chosen,
            radius=radius,
            buffer_width=buffer_width,
            ring_width=ring_width,
            t=_english,
        )
    if as_json:
        click.echo(json.dumps({"measure_id": measure_id, **evaluation_json(ev)}, indent=2))
        return
    click.echo(f"Measure {measure_id}: {title}")
    for line in summary(ev, _english):
        click.echo(line)
