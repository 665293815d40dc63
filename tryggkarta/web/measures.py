"""The register of measures (insatser): ``/insatser`` list, form, page with the evaluation.

Staff only (``policy.Action.MEASURES``): a measure page shows raw incident counts around a
place. Logic in :mod:`tryggkarta.services.measures`; this blueprint parses, calls, renders.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from tryggkarta import params
from tryggkarta.analysis.effect import MIN_EVENTS
from tryggkarta.domain import (
    INCIDENT_CATEGORIES,
    MEASURE_KINDS,
    MEASURE_ORIGINS,
    MEASURE_STATUSES,
    measure_kind_label,
)
from tryggkarta.errors import BadInput
from tryggkarta.geo import to_wgs84
from tryggkarta.services import measures as svc
from tryggkarta.store import Intervention, Organisation
from tryggkarta.store.writes import audit
from tryggkarta.web import pagemaps
from tryggkarta.web.context import (
    _,
    current_count_scope,
    current_language,
    current_reach,
    get_db,
)

bp = Blueprint("measures", __name__, url_prefix="/insatser")

#: Map colours: the measure, the displacement ring, the comparison area.
MEASURE_COLOUR, BUFFER_COLOUR, COMPARISON_COLOUR = "#00639c", "#b35806", "#3d4752"


def _wgs84_feature(geom: Any, srid: int, properties: dict[str, Any]) -> dict[str, Any]:
    def wgs(c: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(c[:, 0], c[:, 1], srid)
        return np.column_stack([lon, lat])

    out = shapely.transform(geom, wgs)
    return {"type": "Feature", "geometry": shapely.geometry.mapping(out), "properties": properties}


def _map(layers: list[Any], features: list[dict[str, Any]]) -> Any:
    """Rendered map parts for ``layers``, fitted to ``features`` (None without features)."""
    from tryggkarta.web.mapview import inset_map

    if not features:
        return None
    coords = np.concatenate(
        [shapely.get_coordinates(shapely.geometry.shape(f["geometry"])) for f in features]
    )
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    # the configured background: the local MBTiles on a closed network, not the tile URL
    return inset_map(layers, (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), _)


def _layer(key: str, name: str, features: list[dict[str, Any]], legend: list, kind: str) -> Any:
    from tryggkarta.maps.layers import GeoJsonLayer, MapLayer
    from tryggkarta.maps.legend import LegendEntry

    fc = {"type": "FeatureCollection", "features": features}
    return MapLayer(key, GeoJsonLayer(fc, name), LegendEntry(name, legend, kind), len(features))


def _style(colour: str, *, point: bool, dash: str | None = None, fill: float = 0.15) -> dict:
    from tryggkarta.maps import styles

    style = styles.outline_style(colour, dash=dash, fill=fill)
    if point:
        style.update(radius=7, fillOpacity=0.85, weight=1)
    return style


def _labels() -> dict[str, Any]:

    lang = current_language()
    return {
        "kind_labels": MEASURE_KINDS,
        "status_labels": MEASURE_STATUSES,
        "origin_labels": MEASURE_ORIGINS,
        "category_labels": INCIDENT_CATEGORIES,
        "kind_name": lambda key: measure_kind_label(key, lang),
    }


def _own_municipality(s: Any) -> str | None:
    """The municipality of the user's organisation (where a measure without a place is)."""
    from flask_login import current_user

    org = (
        s.get(Organisation, current_user.organisation_id) if current_user.organisation_id else None
    )
    return org.municipality_code if org is not None else None


def _place_in_reach(s: Any, row: Intervention, srid: int, fallback: str | None = None) -> None:
    """Give ``row`` the municipality of its place (else ``fallback``, else the user's own)
    and refuse (:class:`BadInput`, the transaction rolls back) one outside the user's EST
    group."""
    reach = current_reach()
    own = fallback or _own_municipality(s)
    svc.locate(s, row, srid, fallback=own, prefer=reach.codes or ())
    row.municipality_code = reach.check(row.municipality_code, _, required=False)


def _organisations(s: Any) -> list[tuple[int, str]]:
    return [tuple(r) for r in s.execute(select(Organisation.id, Organisation.name)).all()]


@bp.route("/")
def index() -> Any:
    """All measures, open ones first (by due date)."""

    status = request.args.get("status") or None
    if status is not None and status not in MEASURE_STATUSES:
        raise BadInput(_("Okänd status: %(value)s.", value=params.shown(status)))
    from tryggkarta.maps import popups

    db = get_db()
    lang = current_language()
    features = []
    with db.session() as s:
        rows = svc.list_measures(s, status, current_reach().where(Intervention.municipality_code))
        places = svc.places(s, [r["id"] for r in rows])
    for r in rows:
        place = places.get(r["id"])
        if place is None:
            continue
        status_label = MEASURE_STATUSES.get(r["status"])
        table = popups.rows(
            [
                (_("Sort"), measure_kind_label(r["kind"], lang)),
                (_("Status"), status_label.get(lang) if status_label else r["status"]),
                (_("Ansvarig"), r["owner"]),
            ]
        )
        props = {
            "_style": _style(MEASURE_COLOUR, point=place.geom_type == "Point"),
            "_popup": popups.popup(r["title"], table),
            "_tip": popups.text(r["title"]),
        }
        features.append(_wgs84_feature(place, db.srid, props))
    layer = _layer("measures", _("Insatser"), features, [(MEASURE_COLOUR, _("Insats"))], "fill")
    return render_template(
        "measures/index.html",
        measures=rows,
        status=status,
        map=_map([layer], features),
        **_labels(),
    )


def _place_text(row: Any, srid: int) -> str:
    """The stored place as the form shows it: ``lat, lon`` for a point, else GeoJSON."""
    place = svc.place_of(row) if row is not None else None
    if place is None:
        return ""

    def wgs(c: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(c[:, 0], c[:, 1], srid)
        return np.column_stack([lon, lat])

    geom = shapely.transform(place, wgs)
    if geom.geom_type == "Point":
        return f"{geom.y:.6f}, {geom.x:.6f}"
    return json.dumps(shapely.geometry.mapping(shapely.set_precision(geom, 1e-6)))


def _form_data(srid: int) -> svc.MeasureData:

    f = request.form
    start = params.parse_day(f.get("start"), _("Start"), _)
    end = params.parse_day(f.get("end"), _("Slut"), _)
    due = params.parse_day(f.get("due"), _("Klart senast"), _)
    owner = (f.get("owner_org_id") or "").strip()
    owner_id = params.parse_int(owner, "owner_org_id", 1, 2**31 - 1, 0, _) if owner else None
    return svc.MeasureData(
        kind=f.get("kind") or "",
        title=f.get("title") or "",
        description=f.get("description") or "",
        status=f.get("status") or "planerad",
        start=start,
        end=end,
        due=due,
        owner_org_id=owner_id,
        place=svc.parse_place(f.get("place"), srid, _),
        categories=svc.parse_categories(f.getlist("categories"), _),
    )


def _render_form(row: Any, values: dict[str, Any], error: str | None = None) -> Any:

    with get_db().session() as s:
        orgs = _organisations(s)
    return (
        render_template(
            "measures/form.html",
            measure=row,
            values=values,
            organisations=orgs,
            error=error,
            **_labels(),
        ),
        400 if error else 200,
    )


def _values_from_form() -> dict[str, Any]:
    f = request.form
    return {
        "kind": f.get("kind") or "",
        "title": f.get("title") or "",
        "description": f.get("description") or "",
        "status": f.get("status") or "planerad",
        "start": f.get("start") or "",
        "end": f.get("end") or "",
        "due": f.get("due") or "",
        "owner_org_id": f.get("owner_org_id") or "",
        "place": f.get("place") or "",
        "categories": f.getlist("categories"),
    }


def _save(measure_id: int | None) -> Any:

    db = get_db()
    try:
        data = _form_data(db.srid)
        with db.session() as s:
            if measure_id is not None:  # another municipality's measure: 404, as a missing one
                svc.get_measure(s, measure_id, _, current_reach())
            row = svc.save_measure(s, data, user_id=current_user.id, measure_id=measure_id, t=_)
            _place_in_reach(s, row, db.srid)
            new_id = row.id
            audit(
                s,
                "measure_saved",
                user=current_user,
                ip=request.remote_addr,
                extra={"measure_id": new_id},
            )
    except BadInput as exc:  # the form comes back with what was typed, nothing is lost
        row = None
        if measure_id is not None:
            with db.session() as s:
                row = svc.get_measure(s, measure_id, _)
                s.expunge(row)
        return _render_form(row, _values_from_form(), exc.message)
    flash(_("Insatsen är sparad."))
    return redirect(url_for("measures.show", measure_id=new_id))


@bp.route("/ny", methods=["GET", "POST"])
def new() -> Any:
    """A form for a new measure."""
    if request.method == "POST":
        return _save(None)
    values = {"status": "planerad", "kind": "", "categories": []}
    return _render_form(None, values)


@bp.route("/<int:measure_id>/andra", methods=["GET", "POST"])
def edit(measure_id: int) -> Any:
    """Edit a measure."""

    if request.method == "POST":
        return _save(measure_id)
    db = get_db()
    with db.session() as s:
        row = svc.get_measure(s, measure_id, _, current_reach())
        d = svc.as_dict(row)
        values = {
            **{k: d[k] for k in ("kind", "title", "description", "status")},
            "start": d["start"].isoformat() if d["start"] else "",
            "end": d["end"].isoformat() if d["end"] else "",
            "due": d["due"].isoformat() if d["due"] else "",
            "owner_org_id": str(d["owner_org_id"] or ""),
            "place": _place_text(row, db.srid),
            "categories": list(d["categories"]),
        }
        s.expunge(row)
    return _render_form(row, values)


@bp.route("/<int:measure_id>/klar", methods=["POST"])
def done(measure_id: int) -> Any:
    """Mark a measure as done (it ends today unless it has an end date)."""

    with get_db().session() as s:
        svc.get_measure(s, measure_id, _, current_reach())
        svc.mark_done(s, measure_id, t=_)
        audit(
            s,
            "measure_done",
            user=current_user,
            ip=request.remote_addr,
            extra={"measure_id": measure_id},
        )
    flash(_("Insatsen är markerad som klar."))
    return redirect(url_for("measures.show", measure_id=measure_id))


@bp.route("/fran-beslut", methods=["POST"])
def from_decision() -> Any:
    """ "Gör till insats": the measure of a weekly-picture decision (created once)."""

    return _measure_from(
        "decision_id",
        _("Vilket beslut ska bli en insats?"),
        svc.measure_from_decision,
        lambda row, chosen: {"decision_id": chosen},
        _("Beslutet är en insats. Fyll i sort, period och ansvarig."),
    )


@bp.route("/fran-projekt", methods=["POST"])
def from_project() -> Any:
    """ "Gör till insats" on a project's safety measure: its measure (created once)."""

    return _measure_from(
        "project_measure_id",
        _("Vilken projektåtgärd ska bli en insats?"),
        svc.measure_from_project,
        lambda row, chosen: {"project_id": row.project_id},
        _("Projektåtgärden är en insats. Fyll i period och ansvarig."),
    )


def _measure_from(
    field: str,
    missing: str,
    make: Callable[..., tuple[Any, bool]],
    origin: Callable[[Any, int], dict[str, Any]],
    done: str,
) -> Any:
    """The measure made once from the record chosen in form ``field`` (``make``: the
    service's ``measure_from_…``): placed in the user's reach and audit-logged with its
    ``origin`` when new; an existing one is shown only within the user's reach."""
    chosen = params.parse_int(request.form.get(field), field, 1, 2**31 - 1, 0, _)
    if not chosen:
        raise BadInput(missing)
    with get_db().session() as s:
        row, created = make(s, chosen, user_id=current_user.id, t=_, reach=current_reach())
        if created:
            _place_in_reach(s, row, get_db().srid, fallback=row.municipality_code)
            audit(
                s,
                "measure_saved",
                user=current_user,
                ip=request.remote_addr,
                extra={"measure_id": row.id, **origin(row, chosen)},
            )
        else:
            svc.get_measure(s, row.id, _, current_reach())
        measure_id = row.id
    flash(done)
    return redirect(url_for("measures.edit", measure_id=measure_id))


def _float_arg(name: str, default: float) -> float:

    return params.parse_float(request.args.get(name), name, 1.0, 20_000.0, default, _)


@bp.route("/<int:measure_id>")
def show(measure_id: int) -> Any:
    """A measure and its evaluation (``?comparison=ring|district&radius=&buffer=&ring=``)."""

    db = get_db()
    comparison = request.args.get("comparison") or "ring"
    radius = _float_arg("radius", svc.TARGET_RADIUS)
    buffer_width = _float_arg("buffer", svc.BUFFER_WIDTH)
    ring_width = _float_arg("ring", svc.RING_WIDTH)
    chosen = request.args.getlist("categories")
    categories = svc.parse_categories(chosen, _) if chosen else None
    with db.session() as s:
        row = svc.get_measure(s, measure_id, _, current_reach())
        org = s.get(Organisation, row.owner_org_id) if row.owner_org_id else None
        measure = svc.as_dict(row, org.name if org else None)
        place = svc.place_of(row)
        evaluation, problem = None, None
        try:
            evaluation = svc.evaluate(
                db,
                row,
                comparison=comparison,
                categories=categories,
                radius=radius,
                buffer_width=buffer_width,
                ring_width=ring_width,
                t=_,
                scope=current_count_scope(),
            )
        except BadInput as exc:  # no place/start yet, no district, overlapping areas
            problem = exc.message
        audit(
            s,
            "view_measure",
            user=current_user,
            layer="incidents",
            detail="raw",
            ip=request.remote_addr,
            extra={"measure_id": measure_id},
        )
    used = evaluation.categories if evaluation else (categories or measure["categories"])
    parts = print_map = None
    if evaluation is not None:
        a = evaluation.areas
        layers, all_features = [], []
        for key, geom, name, colour, dash in (
            ("comparison", a.comparison, _("Jämförelseområde"), COMPARISON_COLOUR, "3 3"),
            ("buffer", a.buffer, _("Runt omkring (förflyttning)"), BUFFER_COLOUR, "6 4"),
            ("target", a.target, _("Insatsens område"), MEASURE_COLOUR, None),
        ):
            if geom is None or geom.is_empty:
                continue
            props = {"_style": _style(colour, point=False, dash=dash), "_tip": name}
            feats = [_wgs84_feature(geom, db.srid, props)]
            layers.append(_layer(key, name, feats, [(colour, name)], "line"))
            all_features += feats
        if place is not None and not place.is_empty:
            name = _("Insatsens plats")
            point = place.geom_type == "Point"
            props = {"_style": _style(pagemaps.PLACE_COLOUR, point=point, fill=0.4), "_tip": name}
            feats = [_wgs84_feature(place, db.srid, props)]
            layers.append(
                _layer(
                    "place",
                    name,
                    feats,
                    [(pagemaps.PLACE_COLOUR, name)],
                    "point" if point else "line",
                )
            )
            all_features += feats
        parts = _map(layers, all_features)
        print_map = pagemaps.measure_map(
            place,
            a.target,
            a.buffer,
            a.comparison,
            comparison_label=(
                _("Resten av %(name)s", name=evaluation.district)
                if evaluation.district
                else _("Jämförelsering")
            ),
            lang=current_language(),
        )
    return render_template(
        "measures/show.html",
        measure=measure,
        evaluation=evaluation,
        problem=problem,
        verdict=svc.verdict_text(evaluation.result.did, _) if evaluation else "",
        wdq_sentence=svc.wdq_text(evaluation.result.wdq, _) if evaluation else "",
        net_effect=(
            svc.net_effect_text(evaluation.result.wdq.total_net_effect, _, current_language())
            if evaluation and evaluation.result.wdq.total_net_effect is not None
            else ""
        ),
        min_events=MIN_EVENTS,
        comparison=comparison,
        radius=radius,
        buffer_width=buffer_width,
        ring_width=ring_width,
        chosen=set(used),
        map=parts,
        print_map=print_map,
        **_labels(),
    )
