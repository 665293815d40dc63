"""Kontrollera projekt: a planning project against hotspots, survey and incidents — no Flask.

:func:`check_project` intersects the project polygon (plus a buffer) with the design and
patrol hotspots of :mod:`tryggkarta.services.hotspots`, counts survey answers and incidents
nearby with the store, and recommends measures (``domain.MEASURES`` via
``MEASURE_TRIGGERS``) with their evidence. :func:`follow_up` is the medborgarlöfte summary
over all active projects; :func:`follow_up_csv` / :func:`follow_up_geojson` export it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from tryggkarta import disclosure, policy
from tryggkarta.config import local_timezone
from tryggkarta.domain import (
    INCIDENT_CATEGORIES,
    MEASURE_TRIGGERS,
    MEASURES,
    SURVEY_REASONS,
    UNSAFE_MAX_RATING,
    Detail,
)
from tryggkarta.errors import BadInput
from tryggkarta.geo import transform
from tryggkarta.store import Filters, Project, ProjectMeasure, category_counts, layer_frame
from tryggkarta.store.engine import Database

DEFAULT_BUFFER = 100.0
MAX_BUFFER = 1000.0
#: Share of unsafe answers naming a reason, and incidents of a category in a year, that
#: trigger a measure from local evidence.
REASON_SHARE_TRIGGER = 0.2
CATEGORY_COUNT_TRIGGER = 3
INCIDENT_WINDOW = timedelta(days=365)
ACTIVE_STATUSES = ("planerad", "pagaende")


def parse_buffer(value: str | None) -> float:
    """Buffer in metres from a query value; 0–1000, default 100."""
    if value in (None, ""):
        return DEFAULT_BUFFER
    try:
        metres = float(value)
    except ValueError:
        raise BadInput("Bufferten ska vara ett tal i meter (0–1000).") from None
    if not 0 <= metres <= MAX_BUFFER or metres != metres:
        raise BadInput("Bufferten ska vara ett tal i meter (0–1000).")
    return metres


def to_working_crs(geometry: dict[str, Any], srid: int) -> shapely.Geometry:
    """A WGS84 GeoJSON geometry as a shapely geometry in the working CRS."""
    geom = shape(geometry)

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = transform(coords[:, 0], coords[:, 1], 4326, srid)
        return np.column_stack([x, y])

    return shapely.transform(geom, project)


def to_wgs84_geojson(geom: shapely.Geometry, srid: int) -> dict[str, Any]:
    def project(coords: np.ndarray) -> np.ndarray:
        x, y = transform(coords[:, 0], coords[:, 1], srid, 4326)
        return np.column_stack([np.round(x, 6), np.round(y, 6)])

    return mapping(shapely.transform(geom, project))


@dataclass
class HotspotHit:
    """A hotspot the project area touches."""

    method: str  # "design" | "patrol"
    key: str
    name: str
    inside: bool  # the project polygon itself overlaps (not only its buffer)
    props: dict[str, Any]
    geometry: shapely.Geometry | None = None  # working CRS, for the check's map


@dataclass
class Recommendation:
    key: str
    evidence_sv: list[str] = field(default_factory=list)
    evidence_en: list[str] = field(default_factory=list)
    strength: float = 0.0


@dataclass
class CheckResult:
    project_id: int
    buffer_m: float
    hits: list[HotspotHit]
    survey: dict[str, Any]
    incidents: dict[str, Any]
    recommendations: list[Recommendation]
    sentence_sv: str
    sentence_en: str


def hotspot_shapes(db: Database) -> list[tuple[str, dict[str, Any], shapely.Geometry]]:
    """(method, properties, geometry in working CRS) of design and patrol hotspots."""
    from tryggkarta.services.hotspots import design_layer, patrol_layer

    out = []
    for method, build in (("design", design_layer), ("patrol", patrol_layer)):
        layer = build(db, Filters())
        for i, feat in enumerate((layer.geojson or {}).get("features", [])):
            if not feat.get("geometry"):
                continue
            props = dict(feat.get("properties") or {})
            props.setdefault("key", f"{method}-{i}")
            out.append((method, props, to_working_crs(feat["geometry"], db.srid)))
    return out


def project_geometry(project: Project) -> shapely.Geometry:
    return shapely.from_wkb(project.geom_wkb)


def touching(
    polygon: shapely.Geometry,
    buffer_m: float,
    shapes: list[tuple[str, dict[str, Any], shapely.Geometry]],
) -> list[HotspotHit]:
    area = polygon.buffer(buffer_m) if buffer_m else polygon
    return [
        HotspotHit(
            method,
            str(props["key"]),
            str(props.get("name") or props["key"]),
            bool(geom.intersects(polygon)),
            props,
            geom,
        )
        for method, props, geom in shapes
        if geom.intersects(area)
    ]


def survey_summary(db: Database, area: shapely.Geometry, min_count: int) -> dict[str, Any]:
    """Answers in ``area``: how many, how many unsafe, share of unsafe naming each reason."""
    frame = layer_frame(
        db, "survey", Filters(polygon=area), columns=["rating", "reasons"], geometry=False
    )
    unsafe = frame[frame["rating"] <= UNSAFE_MAX_RATING]
    out: dict[str, Any] = {
        "n": len(frame),
        "unsafe": len(unsafe),
        "reasons": [],
        "suppressed": len(frame) < min_count,
    }
    if len(unsafe) and not out["suppressed"]:
        named: dict[str, int] = {}
        for value in unsafe["reasons"].fillna(""):
            for key in {k for k in str(value).split(",") if k}:
                named[key] = named.get(key, 0) + 1
        out["reasons"] = sorted(
            ((k, n / len(unsafe)) for k, n in named.items() if k in SURVEY_REASONS),
            key=lambda kv: (-kv[1], kv[0]),
        )
    return out


def incident_summary(
    db: Database,
    area: shapely.Geometry,
    min_count: int,
    detail: Detail,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Incidents in ``area`` during the last year, per category (small counts hidden for
    aggregated roles)."""
    end = now or datetime.now(UTC)
    counts = category_counts(db, Filters(polygon=area, start=end - INCIDENT_WINDOW, end=end))
    total = sum(counts.values())
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if detail is not Detail.RAW:
        rows = [(k, n if n >= min_count else None) for k, n in rows]
        if total < min_count:
            total = None
    return {"total": total, "by_category": rows, "raw_counts": counts}


def recommend(
    hits: list[HotspotHit], survey: dict[str, Any], raw_counts: dict[str, int]
) -> list[Recommendation]:
    """Measures with their evidence: from the design hotspots and from local triggers."""
    recs: dict[str, Recommendation] = {}

    def rec(key: str) -> Recommendation:
        return recs.setdefault(key, Recommendation(key))

    for hit in hits:
        for m in hit.props.get("measures") or []:
            if m.get("key") not in MEASURES:
                continue
            r = rec(m["key"])
            r.evidence_sv.append(f"{hit.name}: {m.get('evidence_sv', '')}".strip(": "))
            r.evidence_en.append(f"{hit.name}: {m.get('evidence_en', '')}".strip(": "))
            r.strength = max(r.strength, float(m.get("strength") or 0))
    shares = dict(survey.get("reasons") or [])
    for key, trig in MEASURE_TRIGGERS.items():
        for reason in trig["reasons"]:
            share = shares.get(reason, 0.0)
            if share >= REASON_SHARE_TRIGGER:
                r = rec(key)
                label = SURVEY_REASONS[reason]
                pct = round(share * 100)
                r.evidence_sv.append(
                    f"{pct} % av de otrygga svaren i området anger {label.sv.lower()}"
                )
                r.evidence_en.append(
                    f"{pct} % of the unsafe answers in the area name {label.en.lower()}"
                )
                r.strength = max(r.strength, share)
        for cat in trig["categories"]:
            n = raw_counts.get(cat, 0)
            if n >= CATEGORY_COUNT_TRIGGER:
                r = rec(key)
                label = INCIDENT_CATEGORIES[cat]
                r.evidence_sv.append(f"{n} händelser med {label.sv.lower()} senaste året")
                r.evidence_en.append(f"{n} incidents of {label.en.lower()} in the last year")
                r.strength = max(r.strength, min(1.0, n / 20))
    order = list(MEASURES)
    return sorted(recs.values(), key=lambda r: (-r.strength, order.index(r.key)))


def sentence(
    hits: list[HotspotHit], survey: dict[str, Any], *, with_numbers: bool = True
) -> tuple[str, str]:
    """The summary line for the planning document (Swedish, English); without numbers for
    roles below raw detail (their hot spots carry no shares)."""
    design = [h for h in hits if h.method == "design"]
    if design:
        top = design[0]
        reasons = [
            tuple(r)
            for r in (top.props.get("reasons") or [])
            if isinstance(r, list | tuple) and r and r[0] in SURVEY_REASONS
        ]
        if not with_numbers:
            # published bands only: "40–50 % dålig belysning"
            banded = [
                r for r in reasons if len(r) > 2 and r[2] and (r[1] or 0) >= REASON_SHARE_TRIGGER
            ]
            where_sv = "i" if top.inside else "intill"
            where_en = "in" if top.inside else "next to"
            if banded:
                sv = " och ".join(f"{r[2]} {SURVEY_REASONS[r[0]].sv.lower()}" for r in banded[:2])
                en = " and ".join(f"{r[2]} {SURVEY_REASONS[r[0]].en.lower()}" for r in banded[:2])
                return (
                    f"Projektet ligger {where_sv} en brännpunkt ({top.name}) där enkätsvaren "
                    f"anger {sv}.",
                    f"The project lies {where_en} a hotspot ({top.name}) where survey answers "
                    f"name {en}.",
                )
            reasons = []
        reasons = [(k, s) for k, s in reasons if s >= REASON_SHARE_TRIGGER][:2] or reasons[:1]
        where_sv = "i" if top.inside else "intill"
        where_en = "in" if top.inside else "next to"
        if reasons:
            sv = " och ".join(
                f"{round(s * 100)} % {SURVEY_REASONS[k].sv.lower()}" for k, s in reasons
            )
            en = " and ".join(
                f"{round(s * 100)} % {SURVEY_REASONS[k].en.lower()}" for k, s in reasons
            )
            return (
                f"Projektet ligger {where_sv} en brännpunkt ({top.name}) där enkätsvaren "
                f"anger {sv}.",
                f"The project lies {where_en} a hotspot ({top.name}) where survey answers "
                f"name {en}.",
            )
        return (
            f"Projektet ligger {where_sv} en brännpunkt ({top.name}).",
            f"The project lies {where_en} a hotspot ({top.name}).",
        )
    patrol = [h for h in hits if h.method == "patrol"]
    if patrol:
        return (
            f"Projektet ligger intill en brännpunkt för händelser ({patrol[0].name}).",
            f"The project lies next to an incident hotspot ({patrol[0].name}).",
        )
    if survey.get("reasons") and with_numbers:
        k, s = survey["reasons"][0]
        return (
            f"Ingen brännpunkt i närheten; {round(s * 100)} % av de otrygga svaren i området "
            f"anger {SURVEY_REASONS[k].sv.lower()}.",
            f"No hotspot nearby; {round(s * 100)} % of the unsafe answers in the area name "
            f"{SURVEY_REASONS[k].en.lower()}.",
        )
    return ("Ingen brännpunkt i närheten av projektet.", "No hotspot near the project.")


def check_project(
    db: Database,
    project: Project,
    buffer_m: float,
    *,
    min_count: int,
    detail: Detail,
    shapes: list | None = None,
) -> CheckResult:
    """Everything the check page shows for ``project``.

    Raw-detail roles get counts from the store for the exact area. Everyone else (planners)
    gets only published values: patrol hot spots are left out (they are police detail), design
    hot spots keep their measures and banded shares, and survey and incident figures are sums
    of the fixed releases' published 250 m cells that touch the area — never a count of an
    arbitrary polygon, which two overlapping buffers could difference.
    """
    polygon = project_geometry(project)
    area = polygon.buffer(buffer_m) if buffer_m else polygon
    hits = touching(polygon, buffer_m, shapes if shapes is not None else hotspot_shapes(db))
    hits.sort(key=lambda h: (h.method != "design", not h.inside, h.name))
    if detail is Detail.RAW:
        survey = survey_summary(db, area, min_count)
        incidents = incident_summary(db, area, min_count, detail)
        recs = recommend(hits, survey, incidents["raw_counts"])
        sv, en = sentence(hits, survey)
        return CheckResult(project.id, buffer_m, hits, survey, incidents, recs, sv, en)
    rule = disclosure.rule_for(detail, min_count)
    hits = [
        HotspotHit(
            h.method,
            h.key,
            h.name,
            h.inside,
            disclosure.disclose_properties(h.props, rule),
            h.geometry,
        )
        for h in hits
        if policy.method_visible_at(detail, h.method)
    ]
    survey = released_survey_summary(db, area, rule)
    incidents = released_incident_summary(db, area, rule)
    recs = recommend_released(hits, survey)
    sv, en = sentence(hits, {"reasons": survey["reasons"]}, with_numbers=False)
    return CheckResult(project.id, buffer_m, hits, survey, incidents, recs, sv, en)


def survey_cells_near(
    db: Database, area: shapely.Geometry, level: Detail, min_count: int, lang: str = "sv"
) -> dict[str, Any]:
    """The survey release's cells around ``area`` (its bounding box) for a user at ``level``:
    published through that level's rule, so a planner gets rounded counts and share bands.
    An empty FeatureCollection for a level that may not see the survey."""
    if level is Detail.HIDDEN:
        return {"type": "FeatureCollection", "features": []}
    rel = disclosure.survey_release(db, _region(db), disclosure.rule_for(level, min_count))
    return disclosure.release_geojson(rel, db.srid, bbox=tuple(area.bounds), lang=lang)


def _region(db: Database) -> str | None:
    from tryggkarta.geo import parse_region

    return parse_region(db.settings.region).municipality_code


def released_survey_summary(db: Database, area: shapely.Geometry, rule: disclosure.Rule) -> dict:
    """Answers near ``area`` from the survey release: sums of published cell values."""
    rel = disclosure.survey_release(db, _region(db), rule)
    cells = disclosure.cells_touching(rel, area)
    n = disclosure.area_sum(rel, cells, "count")
    unsafe = disclosure.area_sum(rel, cells, "unsafe")
    reasons: dict[str, int] = {}
    if rel is not None:
        for idx in cells.tolist():
            for key, count in rel.values["reasons"].get(idx, []):
                reasons[key] = reasons.get(key, 0) + int(count)
    shares = (
        sorted(((k, c / unsafe) for k, c in reasons.items()), key=lambda kv: (-kv[1], kv[0]))
        if unsafe
        else []
    )
    return {
        "n": n,
        "unsafe": unsafe,
        "reasons": [(k, min(1.0, s)) for k, s in shares if k in SURVEY_REASONS],
        "suppressed": n is None,
        "released": True,
        "cells": len(cells),
    }


def released_incident_summary(db: Database, area: shapely.Geometry, rule: disclosure.Rule) -> dict:
    """Incidents near ``area`` in the 52-week release, per category group (published sums)."""
    tz = local_timezone(db.settings)
    period = disclosure.parse_period(None, tz=tz)
    rel = disclosure.incident_release(db, _region(db), period, rule, with_trend=False)
    cells = disclosure.cells_touching(rel, area)
    rows = []
    for group in disclosure.CATEGORY_GROUPS:
        if group == "alla":
            continue
        rows.append((group, disclosure.area_sum(rel, cells, f"g:{group}")))
    rows.sort(key=lambda kv: (-(kv[1] or 0), kv[0]))
    return {
        "total": disclosure.area_sum(rel, cells, "count"),
        "by_category": rows,
        "grouped": True,
        "raw_counts": {},
        "period": period.label_sv,
        "period_en": period.label_en,
    }


def recommend_released(hits: list[HotspotHit], survey: dict[str, Any]) -> list[Recommendation]:
    """Measures from design hot spots and released survey reasons, evidence without counts."""
    recs: dict[str, Recommendation] = {}
    for hit in hits:
        bands = {
            r[0]: r for r in hit.props.get("reasons") or [] if isinstance(r, list) and len(r) > 2
        }
        for key in hit.props.get("measures") or []:
            if key not in MEASURES:
                continue
            r = recs.setdefault(key, Recommendation(key))
            why = [bands[x] for x in MEASURE_TRIGGERS.get(key, {}).get("reasons", ()) if x in bands]
            why = [b for b in why if b[2]]
            sv = "; ".join(
                f"{b[2]} av de otrygga svaren anger {SURVEY_REASONS[b[0]].sv.lower()}" for b in why
            )
            en = "; ".join(
                f"{b[2]} of the unsafe answers name {SURVEY_REASONS[b[0]].en.lower()}" for b in why
            )
            r.evidence_sv.append(f"Gestaltningsbrännpunkt {hit.name}" + (f": {sv}" if sv else ""))
            r.evidence_en.append(f"Design hot spot {hit.name}" + (f": {en}" if en else ""))
            r.strength = max(r.strength, 0.8 if hit.inside else 0.6)
    shares = dict(survey.get("reasons") or [])
    for key, trig in MEASURE_TRIGGERS.items():
        for reason in trig["reasons"]:
            share = shares.get(reason, 0.0)
            if share >= REASON_SHARE_TRIGGER:
                r = recs.setdefault(key, Recommendation(key))
                label = SURVEY_REASONS[reason]
                pct = round(share * 100)
                r.evidence_sv.append(
                    f"omkring {pct} % av de otrygga svaren i området anger {label.sv.lower()}"
                )
                r.evidence_en.append(
                    f"about {pct} % of the unsafe answers in the area name {label.en.lower()}"
                )
                r.strength = max(r.strength, share)
    order = list(MEASURES)
    return sorted(recs.values(), key=lambda r: (-r.strength, order.index(r.key)))


def save_measures(
    session: Session,
    project: Project,
    ticked: list[str],
    evidence: dict[str, str],
    user_id: int | None,
) -> tuple[list[str], list[str]]:
    """Make the project's included measures exactly ``ticked``; returns (added, removed)."""
    unknown = [k for k in ticked if k not in MEASURES]
    if unknown:
        raise BadInput(f"Okänd åtgärd: {', '.join(unknown)[:100]}.")
    have = {m.measure: m for m in project.measures}
    added = [k for k in dict.fromkeys(ticked) if k not in have]
    removed = [k for k in have if k not in ticked]
    for key in removed:
        project.measures.remove(have[key])
    for key in added:
        project.measures.append(
            ProjectMeasure(
                measure=key,
                evidence=evidence.get(key, "")[:4000],
                decided_by=user_id,
                decided_at=datetime.now(UTC),
            )
        )
    session.flush()
    return added, removed


# --- medborgarlöfte follow-up -----------------------------------------------------------


def follow_up(
    db: Database,
    session: Session,
    buffer_m: float = DEFAULT_BUFFER,
    shapes: list | None = None,
    detail: Detail = Detail.RAW,
    within: Any = None,
) -> dict[str, Any]:
    """Of the active projects: which touched hotspots, which of those recorded measures.

    Below raw detail only design hot spots count (patrol hot spots are police detail).
    ``within``: a SQL condition on the projects' municipality (the reader's EST group, see
    :meth:`~tryggkarta.services.municipalities.Reach.where`)."""
    shapes = shapes if shapes is not None else hotspot_shapes(db)
    shapes = [sh for sh in shapes if policy.method_visible_at(detail, sh[0])]
    stmt = select(Project).where(Project.status.in_(ACTIVE_STATUSES)).order_by(Project.name)
    if within is not None:
        stmt = stmt.where(within)
    projects = session.scalars(stmt).all()
    rows = []
    for p in projects:
        polygon = project_geometry(p)
        hits = touching(polygon, buffer_m, shapes)
        measures = sorted({m.measure for m in p.measures})
        rows.append(
            {
                "id": p.id,
                "name": p.name,
                "case_number": p.case_number or "",
                "kind": p.kind,
                "status": p.status,
                "hotspots": sorted({h.name for h in hits}),
                "touched": bool(hits),
                "measures": measures,
                "geometry": polygon,
                "start_date": p.start_date,
                # (method, name, geometry): what the follow-up's map draws
                "hits": [(h.method, h.name, h.geometry) for h in hits],
            }
        )
    touched = [r for r in rows if r["touched"]]
    return {
        "rows": rows,
        "n_active": len(rows),
        "n_touched": len(touched),
        "n_touched_with_measures": sum(1 for r in touched if r["measures"]),
        "buffer_m": buffer_m,
    }


#: Days before and after a project's start the follow-up map draws incidents of (raw detail).
FOLLOW_UP_DAYS = 365


def follow_up_incidents(
    db: Database, rows: list[dict[str, Any]], buffer_m: float, now: datetime | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw incidents (street-level) in each started project's buffer, up to
    :data:`FOLLOW_UP_DAYS` before and after its start: ``(x, y, after)``, each incident once
    (the first project it falls in decides before/after). For raw-detail callers only — the
    caller asks the policy; every call is a raw read. One query for all projects."""
    from datetime import time

    from tryggkarta.services.layers import street_level

    now = now or datetime.now(UTC)
    tz = local_timezone(db.settings)
    span = timedelta(days=FOLLOW_UP_DAYS)
    started = []
    for r in rows:
        day = r.get("start_date")
        if day is None or r.get("geometry") is None:
            continue
        start = datetime.combine(day, time(0), tz).astimezone(UTC)
        if start <= now:
            area = r["geometry"].buffer(buffer_m) if buffer_m else r["geometry"]
            started.append((area, start))
    empty = np.array([]), np.array([]), np.array([], dtype=bool)
    if not started:
        return empty
    frame = layer_frame(
        db,
        "incidents",
        street_level(
            Filters(
                polygon=shapely.union_all(np.array([a for a, _s in started], dtype=object)),
                start=min(s for _a, s in started) - span,
                end=min(max(s for _a, s in started) + span, now),
            )
        ),
        columns=["x", "y", "t_epoch"],
        geometry=False,
    )
    if not len(frame):
        return empty
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    t = frame["t_epoch"].to_numpy(float)
    taken = np.zeros(len(x), dtype=bool)
    after = np.zeros(len(x), dtype=bool)
    for area, start in started:  # a handful of projects; the points are vectorised
        cut = start.timestamp()
        mine = ~taken & shapely.contains_xy(area, x, y)
        mine &= (t >= cut - span.total_seconds()) & (t < cut + span.total_seconds())
        after[mine] = t[mine] >= cut
        taken |= mine
    return x[taken], y[taken], after[taken]


def follow_up_cells(
    db: Database, rows: list[dict[str, Any]], buffer_m: float, rule: disclosure.Rule
) -> tuple[list[dict[str, Any]], disclosure.Period]:
    """The published cells of the 52-week incident release that touch a project's buffer
    (below raw detail: where incidents were, as released; no before/after, which is an ad-hoc
    window). Each cell: ``x``/``y`` of its lower-left corner, ``size``, published ``n``."""
    tz = local_timezone(db.settings)
    period = disclosure.parse_period(None, tz=tz)
    areas = [
        r["geometry"].buffer(buffer_m) if buffer_m else r["geometry"]
        for r in rows
        if r.get("geometry") is not None
    ]
    rel = disclosure.incident_release(db, _region(db), period, rule, with_trend=False)
    if rel is None or not areas:
        return [], period
    flat = disclosure.cells_touching(rel, shapely.union_all(np.array(areas, dtype=object)))
    values = rel.values["count"][flat] if len(flat) else np.array([], dtype=np.int64)
    flat, values = flat[values > 0], values[values > 0]
    x, y = rel.corners(flat)
    return [
        {"x": float(x_), "y": float(y_), "size": rel.cell_size, "n": int(v)}
        for x_, y_, v in zip(x.tolist(), y.tolist(), values.tolist(), strict=True)
    ], period


def safe_cell(value: Any) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_HEADER = (
    "id",
    "namn",
    "diarienummer",
    "typ",
    "status",
    "berör_brännpunkt",
    "brännpunkter",
    "åtgärder",
)


def follow_up_csv(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";")
    writer.writerow(CSV_HEADER)
    for r in summary["rows"]:
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    r["id"],
                    r["name"],
                    r["case_number"],
                    r["kind"],
                    r["status"],
                    "ja" if r["touched"] else "nej",
                    ", ".join(r["hotspots"]),
                    ", ".join(r["measures"]),
                )
            ]
        )
    return "\ufeff" + buf.getvalue()


def follow_up_geojson(summary: dict[str, Any], srid: int) -> dict[str, Any]:
    feats = [
        {
            "type": "Feature",
            "geometry": to_wgs84_geojson(r["geometry"], srid),
            "properties": {
                k: r[k]
                for k in (
                    "id",
                    "name",
                    "case_number",
                    "kind",
                    "status",
                    "touched",
                    "hotspots",
                    "measures",
                )
            },
        }
        for r in summary["rows"]
    ]
    return {
        "type": "FeatureCollection",
        "features": feats,
        "summary": {
            k: summary[k] for k in ("n_active", "n_touched", "n_touched_with_measures", "buffer_m")
        },
    }
