"""Citizen promises (medborgarlöften): ``/medborgarloften`` list, a promise with its
commitments and activities, and the follow-up for the council (page printable on A4, CSV).

Staff only (``policy.Action.PROMISES``). The follow-up shows released values by default (the
council report is a public document): ``?niva=raw`` shows the counts as they are to a role
with raw incident detail. Logic in :mod:`tryggkarta.services.promises`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from tryggkarta import disclosure, params, policy
from tryggkarta.domain import MEASURE_STATUSES, PROMISE_PARTIES, Detail, Layer
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.services import promises as svc
from tryggkarta.store import Intervention, Organisation, Promise
from tryggkarta.store.writes import audit
from tryggkarta.web.context import (
    _,
    current_count_scope,
    current_language,
    current_reach,
    get_db,
    get_settings,
)

bp = Blueprint("promises", __name__, url_prefix="/medborgarloften")

LEVELS = ("released", "raw")
MAX_ID = 2**31 - 1


def _int_or_none(value: str | None, name: str) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    return params.parse_int(text, name, 1, MAX_ID, 0, t=_)


def _level() -> Detail:
    value = request.args.get("niva") or "released"
    if value not in LEVELS:
        raise BadInput(_("Okänd nivå: %(value)s.", value=params.shown(value)))
    if value == "raw" and policy.allowed(current_user, Layer.INCIDENTS, Detail.RAW):
        return Detail.RAW
    return Detail.AGGREGATED


def _promise(s: Any, promise_id: int) -> Promise:
    """The promise, or :class:`NotFound` — the same for another municipality's promise as
    for a missing one, so that ids reveal nothing outside the user's EST group."""
    promise = svc.get_promise(s, promise_id, _)
    if not current_reach().admits(promise.municipality_code):
        raise NotFound(_("Medborgarlöftet %(id)s finns inte.", id=promise_id))
    return promise


def _labels() -> dict[str, Any]:
    lang = current_language()
    return {
        "party_labels": {k: v.get(lang) for k, v in PROMISE_PARTIES.items()},
        "status_labels": {k: v.get(lang) for k, v in MEASURE_STATUSES.items()},
        "band_text": lambda band: disclosure.band_text(band, lang),
    }


@bp.route("/")
def index() -> Any:
    """All promises, newest year first, and a form for a new one."""

    db = get_db()
    with db.session() as s:
        rows = svc.list_promises(s, current_reach().where(Promise.municipality_code))
        s.expunge_all()
    return render_template("promises/index.html", promises=rows, **_labels())


@bp.route("/", methods=["POST"])
def create() -> Any:
    """Create a promise for a year."""

    db = get_db()
    year = _int_or_none(request.form.get("year"), "year")
    with db.session() as s:
        owner = getattr(current_user, "organisation_id", None)
        code = None
        if owner is not None:
            code = s.scalar(select(Organisation.municipality_code).where(Organisation.id == owner))
        code = current_reach().check(code, _, required=False)
        row = svc.create_promise(
            s,
            year=year,
            title=request.form.get("title", ""),
            description=request.form.get("description", ""),
            municipality_code=code,
            owner_org_id=owner,
            t=_,
        )
        s.commit()
        promise_id = row.id
    flash(_("Medborgarlöftet är skapat. Lägg till åtaganden."))
    return redirect(url_for("promises.show", promise_id=promise_id), code=303)


@bp.route("/<int:promise_id>")
def show(promise_id: int) -> Any:
    """A promise: commitments, activities and the measures that carry them out; forms to add."""

    db = get_db()
    with db.session() as s:
        promise = _promise(s, promise_id)
        orgs = [tuple(r) for r in s.execute(select(Organisation.id, Organisation.name)).all()]
        stmt = select(Intervention.id, Intervention.title, Intervention.activity_id)
        if (inside := current_reach().where(Intervention.municipality_code)) is not None:
            stmt = stmt.where(inside)
        measures = s.execute(stmt.order_by(Intervention.id.desc())).all()
        org_names = dict(orgs)
        s.expunge_all()
    by_activity: dict[int, list[tuple[int, str]]] = {}
    for mid, title, activity in measures:
        if activity is not None:
            by_activity.setdefault(activity, []).append((mid, title))
    return render_template(
        "promises/show.html",
        promise=promise,
        organisations=orgs,
        org_names=org_names,
        measures=[(m[0], m[1]) for m in measures],
        by_activity=by_activity,
        **_labels(),
    )


@bp.route("/<int:promise_id>/ataganden", methods=["POST"])
def add_commitment(promise_id: int) -> Any:
    db = get_db()
    with db.session() as s:
        promise = _promise(s, promise_id)
        svc.add_commitment(
            s,
            promise,
            party=request.form.get("party", ""),
            title=request.form.get("title", ""),
            description=request.form.get("description", ""),
            t=_,
        )
        s.commit()
    flash(_("Åtagandet är sparat."))
    return redirect(url_for("promises.show", promise_id=promise_id), code=303)


@bp.route("/<int:promise_id>/aktiviteter", methods=["POST"])
def add_activity(promise_id: int) -> Any:
    db = get_db()
    commitment_id = _int_or_none(request.form.get("commitment_id"), "commitment_id")
    if commitment_id is None:
        raise BadInput(_("Välj vilket åtagande aktiviteten hör till."))
    owner = _int_or_none(request.form.get("owner_org_id"), "owner_org_id")
    due = params.parse_day(request.form.get("due"), "due", _)
    measure_ids = [
        params.parse_int(v, "measure_ids", 1, MAX_ID, 0, t=_)
        for v in request.form.getlist("measure_ids")
        if v
    ]
    with db.session() as s:
        promise = _promise(s, promise_id)
        if commitment_id not in {c.id for c in promise.commitments}:
            raise BadInput(_("Åtagandet hör till ett annat medborgarlöfte."))
        if measure_ids:  # only measures of the user's EST group can be linked
            reach = current_reach()
            codes = s.execute(
                select(Intervention.id, Intervention.municipality_code).where(
                    Intervention.id.in_(measure_ids)
                )
            ).all()
            if len(codes) < len(set(measure_ids)) or not all(reach.admits(c) for _i, c in codes):
                raise BadInput(_("En vald insats finns inte."))
        svc.add_activity(
            s,
            commitment_id,
            title=request.form.get("title", ""),
            owner_org_id=owner,
            due=due,
            status=request.form.get("status") or "planerad",
            note=request.form.get("note", ""),
            measure_ids=measure_ids,
            t=_,
        )
        s.commit()
    flash(_("Aktiviteten är sparad."))
    return redirect(url_for("promises.show", promise_id=promise_id), code=303)


@bp.route("/<int:promise_id>/aktiviteter/<int:activity_id>", methods=["POST"])
def activity_status(promise_id: int, activity_id: int) -> Any:
    db = get_db()
    with db.session() as s:
        promise = _promise(s, promise_id)
        if activity_id not in {a.id for c in promise.commitments for a in c.activities}:
            raise BadInput(_("Aktiviteten hör till ett annat medborgarlöfte."))
        svc.set_activity_status(s, activity_id, request.form.get("status", ""), t=_)
        s.commit()
    flash(_("Statusen är sparad."))
    return redirect(url_for("promises.show", promise_id=promise_id), code=303)


def _follow_up(promise_id: int) -> svc.FollowUp:
    level = _level()
    with get_db().session() as s:
        _promise(s, promise_id)
    fu = svc.follow_up(
        get_db(),
        promise_id,
        level=level,
        min_count=get_settings().min_count,
        lang=current_language(),
        scope=current_count_scope(),
    )
    with get_db().session() as s:
        audit(
            s,
            "view_promise_follow_up",
            user=current_user,
            layer=Layer.INCIDENTS.value,
            detail=level.value,
            feature_count=len(fu.activities),
            ip=request.remote_addr,
            extra={"promise": promise_id},
        )
    return fu


def _numbering(fu: svc.FollowUp) -> Any:
    """An activity's number on the map: its place in the follow-up's activity order."""
    numbers = {id(a): i for i, a in enumerate(fu.activities, 1)}
    return lambda activity: numbers[id(activity)]


def _places_map(fu: svc.FollowUp) -> Any:
    """Where the activities were carried out, numbered as in the tables (activity order);
    the follow-up already left out police tactics below raw detail."""
    from tryggkarta.services import weekmaps
    from tryggkarta.web import pagemaps

    places = [  # numbered like the activities (the tables show the same number)
        pagemaps.PlaceOnMap(i, geom, a.title)
        for i, a in enumerate(fu.activities, 1)
        for geom in a.places
    ]
    import shapely

    shown = [p.geometry.buffer(2000.0) for p in places]
    bbox = tuple(shapely.total_bounds(shown)) if shown else None
    return pagemaps.places_map(
        places,
        outlines=weekmaps.outlines(get_db(), bbox=bbox) if bbox else [],
        hidden=sum(a.hidden_places for a in fu.activities),
        lang=current_language(),
    )


@bp.route("/<int:promise_id>/uppfoljning")
def follow_up(promise_id: int) -> Any:
    """The follow-up for the council, printable on A4."""

    fu = _follow_up(promise_id)
    return render_template(
        "promises/follow_up.html",
        fu=fu,
        places_map=_places_map(fu),
        number_of=_numbering(fu),
        may_raw=policy.allowed(current_user, Layer.INCIDENTS, Detail.RAW),
        **_labels(),
    )


@bp.route("/<int:promise_id>/uppfoljning.csv")
def follow_up_csv(promise_id: int) -> Any:
    fu = _follow_up(promise_id)
    body = "\ufeff" + svc.follow_up_csv(fu, current_language(), _)
    name = f"medborgarlofte-{fu.promise.year}-uppfoljning.csv"
    return Response(
        body,
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
