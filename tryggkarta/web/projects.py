"""Planning projects: list, Kontrollera projekt, measures, medborgarlöfte follow-up.

Logic in :mod:`tryggkarta.services.projectcheck`; this blueprint parses, calls and renders.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tryggkarta import policy
from tryggkarta.disclosure import CATEGORY_GROUPS
from tryggkarta.domain import (
    INCIDENT_CATEGORIES,
    MEASURES,
    PROJECT_KINDS,
    PROJECT_STATUSES,
    SURVEY_REASONS,
)
from tryggkarta.errors import BadInput
from tryggkarta.services import projectcheck as pc
from tryggkarta.store import Project, User
from tryggkarta.store.writes import audit
from tryggkarta.web.auth import detail
from tryggkarta.web.context import _, current_language, current_reach, get_db, get_settings

bp = Blueprint("projects", __name__, url_prefix="/projekt")


def _labels() -> dict[str, Any]:
    return {
        "kind_labels": PROJECT_KINDS,
        "status_labels": PROJECT_STATUSES,
        "measure_labels": MEASURES,
        "reason_labels": SURVEY_REASONS,
        "category_labels": INCIDENT_CATEGORIES,
    }


def _project(s: Any, project_id: int) -> Project:
    """The project, or 404 — the same for another municipality's project as for a missing
    one, so that ids reveal nothing outside the user's EST group."""
    project = s.scalar(
        select(Project).options(selectinload(Project.measures)).where(Project.id == project_id)
    )
    if project is None or not current_reach().admits(project.municipality_code):
        abort(404)
    return project


def _in_reach(stmt: Any) -> Any:
    """``stmt`` (over projects) kept to the user's EST group."""
    inside = current_reach().where(Project.municipality_code)
    return stmt if inside is None else stmt.where(inside)


def _buffer() -> float:

    try:
        return pc.parse_buffer(request.values.get("buffer"))
    except BadInput as exc:
        raise BadInput(_(exc.message)) from None


@bp.route("/")
def index() -> Any:
    """All projects with their included measures."""

    with get_db().session() as s:
        projects = s.scalars(
            _in_reach(select(Project))
            .options(selectinload(Project.measures))
            .order_by(Project.name)
        ).all()
        return render_template("projects/index.html", projects=projects, **_labels())


@bp.route("/nytt", methods=["GET", "POST"])
def new() -> Any:
    """Nytt projekt: draw the area on a map (Leaflet-Geoman), give its name and dates; saved
    as a project and opened in Kontrollera projekt. The area is checked on the server."""
    from tryggkarta.geo import parse_region
    from tryggkarta.services import projectdraw
    from tryggkarta.web.basemap import background_options
    from tryggkarta.web.mapview import polygon_layer

    db, settings = get_db(), get_settings()
    code = parse_region(settings.region).municipality_code
    error = None
    if request.method == "POST":
        try:
            fields = projectdraw.parse_fields(request.form, _)
            boundary = projectdraw.municipality_boundary(db, code)  # None: every imported one
            geom = projectdraw.parse_drawn_area(request.form.get("geometry"), db.srid, boundary, _)
            reach = current_reach()
            if code is None:  # a group or wider installation: where the area is drawn
                code = projectdraw.area_municipality(geom, db.srid, reach.codes or ())
            code = reach.check(code, _, required=False)  # in the user's EST group only
        except BadInput as exc:
            error = exc.message
        else:
            with db.session() as s:
                project = projectdraw.create_project(s, geom, fields, code)
                audit(
                    s,
                    "project_create",
                    user=current_user,
                    layer="projects",
                    ip=request.remote_addr,
                    extra={"project_id": project.id, "drawn": True},
                )
                project_id = project.id
            flash(_("Projektet är sparat."))
            return redirect(url_for("projects.check", project_id=project_id))
    from tryggkarta.web.query import parse_query

    q = parse_query({}, region=parse_region(settings.region), srid=db.srid, t=_, known_layers=())
    areas = polygon_layer(db, "areas", q)
    context = {
        "areas": areas,
        "background": background_options(),
        "max_vertices": projectdraw.MAX_VERTICES,
    }
    page = render_template(
        "projects/new.html", form=request.form, error=error, draw=context, **_labels()
    )
    return (page, 400) if error else page


@bp.route("/<int:project_id>")
def show(project_id: int) -> Any:
    """One project: facts and the measures it includes."""

    with get_db().session() as s:
        project = _project(s, project_id)
        names = {u.id: u.display_name for u in s.scalars(select(User)).all()}
        from tryggkarta.services.measures import project_measures_carried

        return render_template(
            "projects/show.html",
            project=project,
            user_names=names,
            carried=project_measures_carried(s, project.id),
            **_labels(),
        )


@bp.route("/<int:project_id>/kontroll", methods=["GET", "POST"])
def check(project_id: int) -> Any:
    """Kontrollera projekt: hotspots, answers and incidents near the project; measures."""

    db, settings = get_db(), get_settings()
    buffer_m = _buffer()
    with db.session() as s:
        project = _project(s, project_id)
        result = pc.check_project(
            db, project, buffer_m, min_count=settings.min_count, detail=detail("incidents")
        )
        if request.method == "POST":
            if not policy.can(current_user, policy.Action.PROJECTS_EDIT):
                abort(403)
            lang = current_language()
            evidence = {
                r.key: "; ".join(r.evidence_en if lang == "en" else r.evidence_sv)
                for r in result.recommendations
            }
            try:
                added, removed = pc.save_measures(
                    s, project, request.form.getlist("measures"), evidence, current_user.id
                )
            except BadInput as exc:
                raise BadInput(_(exc.message)) from None
            audit(
                s,
                "project_measures",
                user=current_user,
                layer="projects",
                ip=request.remote_addr,
                extra={"project_id": project_id, "added": added, "removed": removed},
            )
            flash(_("Åtgärderna är sparade."))
            return redirect(url_for("projects.check", project_id=project_id, buffer=buffer_m))
        included = {m.measure for m in project.measures}
        return render_template(
            "projects/check.html",
            project=project,
            result=result,
            map=_check_map(db, project, result),
            included=included,
            can_edit=policy.can(current_user, policy.Action.PROJECTS_EDIT),
            min_count=settings.min_count,
            group_labels={
                k: label.get(current_language()) for k, (label, _c) in CATEGORY_GROUPS.items()
            },
            **_labels(),
        )


def _check_map(db: Any, project: Project, result: pc.CheckResult) -> Any:
    """The project, its buffer, the hot spots it touches and the survey cells around it on
    one map — the survey cells from the release under the user's own rule, the hot spots as
    :func:`tryggkarta.services.projectcheck.check_project` left them for the user's detail."""
    import shapely

    from tryggkarta import maps
    from tryggkarta.domain import Layer
    from tryggkarta.maps import popups, styles
    from tryggkarta.maps.layers import GeoJsonLayer, MapLayer
    from tryggkarta.maps.legend import LegendEntry
    from tryggkarta.web import mapview

    lang = current_language()
    polygon = pc.project_geometry(project)
    area = polygon.buffer(result.buffer_m) if result.buffer_m else polygon
    layers = []
    level = detail(Layer.SURVEY)
    fc = pc.survey_cells_near(db, area, level, get_settings().min_count, lang)
    if fc["features"]:
        layers.append(maps.survey_cells(fc, _, lang, show=True))
    colours = {"design": styles.DESIGN_COLOUR, "patrol": styles.PATROL_COLOUR}
    kinds = {"design": _("Otrygghet i utformningen"), "patrol": _("Händelser (patrull)")}
    hits = []
    for h in result.hits:
        if h.geometry is None:
            continue
        props = {
            "_style": styles.outline_style(colours.get(h.method, styles.AREA_COLOUR), weight=3),
            "_popup": popups.popup(h.name, popups.rows([(_("Slag"), kinds.get(h.method))])),
            "_tip": popups.text(h.name),
        }
        hits.append(_feature(h.geometry, db.srid, props))
    if hits:
        name = _("Brännpunkter vid projektet")
        present = {h.method for h in result.hits if h.geometry is not None}
        legend = [(colours[k], kinds[k]) for k in ("design", "patrol") if k in present]
        layers.append(
            MapLayer(
                "hotspots",
                GeoJsonLayer({"type": "FeatureCollection", "features": hits}, name),
                LegendEntry(name, legend, "line"),
                len(hits),
            )
        )
    if result.buffer_m:
        ring = {
            "_style": {**styles.outline_style(styles.PROJECT_COLOUR, weight=2, dash="4 6", fill=0)},
            "_tip": popups.text(_("Buffert %(m)s m", m=_metres(result.buffer_m))),
        }
        name = _("Buffert %(m)s m", m=_metres(result.buffer_m))
        layers.append(
            MapLayer(
                "buffer",
                GeoJsonLayer(
                    {"type": "FeatureCollection", "features": [_feature(area, db.srid, ring)]},
                    name,
                ),
                LegendEntry(name, [(styles.PROJECT_COLOUR, name)], "line"),
                1,
            )
        )
    props = {
        "name": project.name,
        "case_number": project.case_number,
        "kind": project.kind,
        "status": project.status,
        "start_date": project.start_date.isoformat() if project.start_date else None,
        "end_date": project.end_date.isoformat() if project.end_date else None,
    }
    fc = {"type": "FeatureCollection", "features": [_feature(polygon, db.srid, props)]}
    layers.append(maps.projects(fc, _, lang))
    shown = [area, *(h.geometry for h in result.hits if h.geometry is not None)]
    minx, miny, maxx, maxy = shapely.total_bounds(shown)
    from tryggkarta.geo import to_wgs84

    lon, lat = to_wgs84([minx, maxx], [miny, maxy], db.srid)
    bounds = (float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
    return mapview.inset_map(layers, bounds, _)


def _metres(value: float) -> str:
    return f"{value:.0f}"


def _feature(geom: Any, srid: int, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": pc.to_wgs84_geojson(geom, srid),
        "properties": properties,
    }


def _summary(db: Any, s: Any) -> dict[str, Any]:
    return pc.follow_up(
        db,
        s,
        _buffer(),
        detail=detail("incidents"),
        within=current_reach().where(Project.municipality_code),
    )


@bp.route("/uppfoljning")
def follow_up() -> Any:
    """Medborgarlöftet: of the active projects, how many touched hotspots and got measures."""

    db = get_db()
    with db.session() as s:
        summary = _summary(db, s)
        follow_map = _follow_up_map(db, s, summary)
    return render_template(
        "projects/follow_up.html", summary=summary, follow_map=follow_map, **_labels()
    )


def _follow_up_map(db: Any, s: Any, summary: dict[str, Any]) -> Any:
    """The follow-up's printable map: the projects numbered as in the table, their buffers,
    the hot spots they touch (those the viewer's detail shows) and the incidents around them
    at the viewer's detail — raw: each incident before/after the project's start (a raw read,
    audit-logged); below raw: the published cells of the 52-week release, nothing finer."""
    import shapely

    from tryggkarta import disclosure
    from tryggkarta.domain import Detail, Layer
    from tryggkarta.services import weekmaps
    from tryggkarta.web import pagemaps

    rows = summary["rows"]
    buffer_m = summary["buffer_m"]
    projects = [
        pagemaps.ProjectOnMap(
            i,
            r["name"],
            r["geometry"],
            r["touched"],
            bool(r["measures"]),
            tuple(r.get("hits", ())),
        )
        for i, r in enumerate(rows, 1)
    ]
    level = detail(Layer.INCIDENTS)
    incidents, cells, label = None, [], ""
    lang = current_language()
    if level is Detail.RAW:
        incidents = pc.follow_up_incidents(db, rows, buffer_m)
        label = _("projektets start")
        if len(incidents[0]):
            audit(
                s,
                "view_raw",
                user=current_user,
                layer="incidents",
                detail="follow_up_map",
                feature_count=len(incidents[0]),
                ip=request.remote_addr,
            )
    elif level is Detail.AGGREGATED:
        rule = disclosure.rule_for(level, get_settings().min_count)
        cells, period = pc.follow_up_cells(db, rows, buffer_m, rule)
        label = period.label(lang)
    shown = [r["geometry"].buffer(buffer_m + 1000.0) for r in rows if r["geometry"] is not None]
    bbox = tuple(shapely.total_bounds(shown)) if shown else None
    outlines = weekmaps.outlines(db, bbox=bbox)
    return pagemaps.projects_map(
        projects,
        buffer_m,
        outlines=outlines,
        incidents=incidents,
        cells=cells,
        cut_label=label,
        lang=lang,
    )


@bp.route("/uppfoljning.csv")
def follow_up_csv() -> Any:

    db = get_db()
    with db.session() as s:
        body = pc.follow_up_csv(_summary(db, s))
        audit(
            s,
            "export",
            user=current_user,
            layer="projects",
            detail="csv",
            ip=request.remote_addr,
            extra={"what": "medborgarlofte"},
        )
    return Response(
        body,
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=medborgarlofte-uppfoljning.csv"},
    )


@bp.route("/uppfoljning.geojson")
def follow_up_geojson() -> Any:

    db = get_db()
    with db.session() as s:
        data = pc.follow_up_geojson(_summary(db, s), db.srid)
        audit(
            s,
            "export",
            user=current_user,
            layer="projects",
            detail="geojson",
            feature_count=len(data["features"]),
            ip=request.remote_addr,
            extra={"what": "medborgarlofte"},
        )
    return Response(
        json.dumps(data, ensure_ascii=False),
        mimetype="application/geo+json",
        headers={"Content-Disposition": "attachment; filename=medborgarlofte-uppfoljning.geojson"},
    )
