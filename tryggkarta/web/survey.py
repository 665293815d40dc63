"""The public map survey: campaigns for the municipality (``/enkater``) and the form residents
answer without logging in (``/enkat/<slug>``).

Logic in :mod:`tryggkarta.services.survey`; this blueprint parses, calls and renders. The
public POST is marked :func:`~tryggkarta.web.auth.anonymous_post`, takes at most
:data:`MAX_BODY` bytes and is rate limited per :func:`rate_key` (a daily-salted hash of the
address; nothing about the client is stored with the answer).
"""

from __future__ import annotations

import io
import re
import secrets
from datetime import date, datetime
from typing import Any

import shapely
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select

from tryggkarta import geo, policy
from tryggkarta.config import local_timezone
from tryggkarta.disclosure import band_text, rule_for
from tryggkarta.domain import SURVEY_REASONS, Detail, Layer
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.services import municipalities as munis
from tryggkarta.services import survey as sv
from tryggkarta.services import survey_exports, survey_results
from tryggkarta.store import Organisation, SurveyCampaign, SurveyResponse
from tryggkarta.store.models import Area
from tryggkarta.store.writes import audit
from tryggkarta.web.auth import anonymous_post
from tryggkarta.web.context import _, current_language, current_reach, get_db, get_settings

bp = Blueprint("survey", __name__)

#: Largest body of a survey answer: 20 pins with 2,000-character comments, URL-encoded.
MAX_BODY = 320 * 1024
#: Answers per client (per day-salted address hash).
RATE_LIMIT = "10/minute;60/hour"


def today() -> date:
    return datetime.now(local_timezone()).date()


def rate_key() -> str:

    return "survey:" + sv.client_hash(request.remote_addr, get_settings().secret_key, today())


def _labels() -> dict[str, Any]:
    return {
        "reason_labels": SURVEY_REASONS,
        "tod_labels": sv.TIMES_OF_DAY,
        "weekday_labels": sv.WEEKDAYS,
        "age_labels": sv.AGE_BANDS,
        "gender_labels": sv.GENDERS,
        "question_labels": sv.QUESTIONS,
        "max_pins": sv.MAX_PINS,
        "max_comment": sv.MAX_COMMENT,
    }


def _translated(errors: dict[str, str]) -> dict[str, str]:

    return {k: _(v) for k, v in errors.items()}


# --- staff: campaigns ----------------------------------------------------------------------


def _default_municipality(s: Any) -> str | None:

    reach = current_reach()
    if current_user.organisation_id:
        org = s.get(Organisation, current_user.organisation_id)
        if org is not None and org.municipality_code and reach.admits(org.municipality_code):
            return org.municipality_code
    codes = reach.codes
    return codes[0] if codes and len(codes) == 1 else None


def _municipality_options() -> list[tuple[str, str]]:
    """The municipalities a campaign may be made in: the user's reach (all of Sweden's for a
    reader of a whole-country installation)."""
    codes = current_reach().codes
    if codes is None:
        return sorted(geo.municipality_codes().items(), key=lambda kv: kv[1])
    return [(m.code, m.name) for m in munis.municipalities(codes)]


def _districts(s: Any) -> list[Area]:
    stmt = select(Area).where(Area.kind != "municipality").order_by(Area.name)
    if (inside := current_reach().where(Area.municipality_code)) is not None:
        stmt = stmt.where(inside)
    return list(s.scalars(stmt).all())


def _in_scope(c: SurveyCampaign) -> bool:
    """Campaigns are scoped like the other layers: the installation's municipalities narrowed
    to the user's EST group (:func:`~tryggkarta.web.context.current_reach`)."""
    if not policy.allowed(current_user, Layer.SURVEY, Detail.RAW):
        return False
    return current_reach().admits(c.municipality_code)


def _campaign(s: Any, campaign_id: int) -> SurveyCampaign:
    """The campaign, or 404 — the same answer for another municipality's campaign as for a
    missing one, so that ids reveal nothing outside the user's EST group."""
    campaign = s.get(SurveyCampaign, campaign_id)
    if campaign is None or campaign.slug is None or not _in_scope(campaign):
        abort(404)
    return campaign


def _scoped(stmt: Any) -> Any:
    """``stmt`` (over survey campaigns) kept to the user's reach."""
    inside = current_reach().where(SurveyCampaign.municipality_code)
    return stmt if inside is None else stmt.where(inside)


def _campaign_code(s: Any, code: str | None, area_ids: list[int]) -> str | None:
    """The municipality a new campaign is made in: the chosen one, else that of its areas."""
    if code or not area_ids:
        return code
    return s.scalar(
        select(Area.municipality_code)
        .where(Area.id.in_(area_ids), Area.municipality_code.is_not(None))
        .limit(1)
    )


def _public_rule() -> Any:
    """The rule of every published survey value, whoever looks (the public release)."""
    return rule_for(Detail.AGGREGATED, get_settings().min_count)


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.route("/enkater/", methods=["GET", "POST"])
def campaigns() -> Any:
    """The form campaigns, and a form for a new one."""

    errors: dict[str, str] = {}
    status = 200
    with get_db().session() as s:
        sv.close_expired(s, today())
        if request.method == "POST":
            form = request.form
            code = form.get("municipality_code") or None
            if code and code not in geo.municipality_codes():
                errors["area"] = _("Välj en kommun i listan.")
            area_ids = [int(v) for v in form.getlist("area_ids") if sv._ID.fullmatch(v)]
            area_wkb = None
            drawn = form.get("area_polygon", "")
            if drawn.strip() and not errors:
                try:
                    muni = geo.municipality(code, get_db().srid) if code else None
                    area_wkb = sv.parse_area(drawn, get_db().srid, muni)
                    code = code or sv.area_municipality(area_wkb, get_db().srid)
                    if not code:
                        errors["area"] = _("Välj en kommun i listan.")
                except sv.SurveyInputError as exc:
                    errors.update(_translated(exc.errors))
            code = _campaign_code(s, code, area_ids) if not errors else code
            if code and not errors:
                try:  # a campaign only in a municipality of the user's EST group
                    current_reach().check(code, _)
                except BadInput as exc:
                    errors["area"] = exc.message
            try:
                if errors:
                    raise sv.SurveyInputError(errors)
                campaign = sv.create_campaign(
                    s,
                    title=form.get("title", ""),
                    starts_on=_parse_date(form.get("starts_on")),
                    ends_on=_parse_date(form.get("ends_on")),
                    municipality_code=code,
                    area_ids=area_ids,
                    questions={k: bool(form.get(f"q_{k}")) for k in sv.QUESTIONS},
                    description=form.get("description", "")[:2000],
                    user_id=current_user.id,
                    area_wkb=area_wkb,
                )
            except sv.SurveyInputError as exc:
                errors = {**_translated(exc.errors), **errors}
                status = 400
            else:
                audit(
                    s,
                    "survey_campaign_create",
                    user=current_user,
                    layer="survey",
                    extra={"campaign_id": campaign.id},
                )
                s.commit()
                flash(_("Enkäten är skapad som utkast. Öppna den när den ska ta emot svar."))
                return redirect(url_for("survey.campaign", campaign_id=campaign.id))
        rows = [
            c
            for c in s.scalars(
                _scoped(select(SurveyCampaign))
                .where(SurveyCampaign.slug.is_not(None))
                .order_by(SurveyCampaign.id.desc())
            ).all()
            if _in_scope(c)
        ]
        counts = sv.answer_counts(s, [c.id for c in rows])
        held = s.scalar(
            _scoped(
                select(func.count())
                .select_from(SurveyResponse)
                .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id)
            ).where(SurveyResponse.review_status == "review")
        )
        s.commit()
        return render_template(
            "survey/campaigns.html",
            campaigns=rows,
            counts=counts,
            held=held or 0,
            errors=errors,
            form=request.form,
            districts=_districts(s),
            municipalities=_municipality_options(),
            default_code=_default_municipality(s),
            area_map=_area_map(_default_municipality(s)),
            today=today(),
            status_of=lambda c: sv.effective_status(c, today()),
            **_labels(),
        ), status


def _route_coords(lines: Any, srid: int) -> list[list[list[float]]]:
    """Walking routes as ``[[lat, lon], ...]`` per route (WGS84, 6 decimals) for the staff map."""
    if not len(lines):
        return []
    coords, index = shapely.get_coordinates(lines.geometry.to_numpy(), return_index=True)
    lon, lat = geo.to_wgs84(coords[:, 0], coords[:, 1], srid)
    pairs = [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lat, lon, strict=True)]
    out: list[list[list[float]]] = [[] for _ in range(len(lines))]
    for k, i in enumerate(index.tolist()):
        out[i].append(pairs[k])
    return out


#: Sweden in WGS84 (south-west, north-east): the drawing map's extent without a municipality.
SWEDEN_BOUNDS = [[55.0, 10.9], [69.1, 24.2]]


def _area_map(code: str | None) -> dict[str, Any]:
    """Bounds and outline of the municipality for drawing a campaign area on the form (all of
    Sweden, without an outline, when the user and the installation have no municipality)."""
    if code and code in geo.municipality_codes():
        return _map_data(geo.municipality(code, get_db().srid), get_db().srid)
    return {"bounds": SWEDEN_BOUNDS, "outline": []}


@bp.route("/enkater/<int:campaign_id>")
def campaign(campaign_id: int) -> Any:
    """One campaign: its public link, QR codes, status and its results so far."""

    with get_db().session() as s:
        sv.close_expired(s, today())
        s.commit()
        c = _campaign(s, campaign_id)
        area_names = (
            s.scalars(select(Area.name).where(Area.id.in_(c.area_ids))).all() if c.area_ids else []
        )
        srid = get_db().srid
        rule = _public_rule()
        results = survey_results.campaign_results(s, c, rule, srid, local_timezone())
        parts = survey_results.breakdown(s, c, rule, srid)
        earlier = survey_results.previous_campaign(s, c, srid)
        compared = (
            survey_results.comparison(parts, survey_results.breakdown(s, earlier, rule, srid))
            if earlier is not None
            else []
        )
        area = sv.area_polygon(s, c, srid)
        insecurity_map = _insecurity_map(s, c, area, results.cells)
        lines = survey_exports.routes(s, c)
        route_coords = _route_coords(lines, srid)
        if route_coords:  # raw walking routes are sensitive: every view is in the audit log
            audit(
                s,
                "view_raw",
                user=current_user,
                layer="survey",
                detail="routes",
                feature_count=len(route_coords),
                ip=request.remote_addr,
                extra={"campaign_id": c.id},
            )
            s.commit()
        return render_template(
            "survey/campaign.html",
            campaign=c,
            results=results,
            parts=parts,
            earlier=earlier,
            compared=compared,
            routes=len(lines),
            route_km=float(lines.length.sum()) / 1000 if len(lines) else 0.0,
            drawn_area=bool(c.area_wkb),
            route_map={**_map_data(area, srid), "routes": route_coords},
            insecurity_map=insecurity_map,
            value=lambda v: "–" if v is None else v,
            min_count=get_settings().min_count,
            band=lambda b: band_text(b, current_language()) or "–",
            status=sv.effective_status(c, today()),
            answers=sv.answer_counts(s, [c.id]).get(c.id, 0),
            public_url=url_for("survey.form", slug=c.slug, _external=True),
            area_names=area_names,
            municipality_name=geo.muni_name(c.municipality_code) if c.municipality_code else "",
            **_labels(),
        )


def _insecurity_map(s: Any, c: SurveyCampaign, area: Any, cells: list[dict[str, Any]]) -> Any:
    """The campaign's printable insecurity map: its area and the published cells (the release
    rule, as on the result page); each pin only where the policy gives the viewer raw survey
    detail — a raw view, so it goes to the audit log."""
    from tryggkarta.web import pagemaps

    level = policy.detail(current_user, Layer.SURVEY)
    pins = None
    if policy.allowed(current_user, Layer.SURVEY, Detail.RAW):
        frame = survey_results.campaign_frame(s, c)
        if len(frame):
            pins = (
                frame["x"].to_numpy(float),
                frame["y"].to_numpy(float),
                frame["rating"].to_numpy(float),
            )
            audit(
                s,
                "view_raw",
                user=current_user,
                layer="survey",
                detail="pins",
                feature_count=len(frame),
                ip=request.remote_addr,
                extra={"campaign_id": c.id},
            )
            s.commit()
    from tryggkarta.services import weekmaps

    districts = [
        a for a in weekmaps.outlines(get_db()) if not a.municipality and a.geometry.intersects(area)
    ]
    return pagemaps.campaign_map(
        area,
        cells,
        pins,
        level=level,
        min_count=get_settings().min_count,
        lang=current_language(),
        outlines=districts,
    )


@bp.route("/enkater/<int:campaign_id>/status", methods=["POST"])
def set_status(campaign_id: int) -> Any:
    """Open or close a campaign."""

    wanted = request.form.get("status", "")
    if wanted not in ("open", "closed"):
        abort(400)
    with get_db().session() as s:
        c = _campaign(s, campaign_id)
        if wanted == "open" and c.ends_on is not None and c.ends_on < today():
            flash(_("Slutdatumet har passerat. Skapa en ny enkät för en ny period."))
            return redirect(url_for("survey.campaign", campaign_id=campaign_id))
        try:
            sv.set_status(c, wanted)
        except BadInput as exc:
            flash(_(exc.message))
            return redirect(url_for("survey.campaign", campaign_id=campaign_id))
        audit(
            s,
            "survey_campaign_" + wanted,
            user=current_user,
            layer="survey",
            extra={"campaign_id": c.id},
        )
        s.commit()
    flash(_("Enkäten är öppen.") if wanted == "open" else _("Enkäten är stängd."))
    return redirect(url_for("survey.campaign", campaign_id=campaign_id))


@bp.route("/enkater/<int:campaign_id>/svar.csv")
def answers_csv(campaign_id: int) -> Any:
    """The campaign's answers as CSV (no held comments)."""
    return _answers_export(campaign_id, "csv")


@bp.route("/enkater/<int:campaign_id>/svar.geojson")
def answers_geojson(campaign_id: int) -> Any:
    """The campaign's pins and walking routes as GeoJSON (no held comments, no age or gender)."""
    return _answers_export(campaign_id, "geojson")


@bp.route("/enkater/<int:campaign_id>/svar.xlsx")
def answers_xlsx(campaign_id: int) -> Any:
    """The campaign's answers as an Excel workbook (the CSV's columns, formula-safe)."""
    return _answers_export(campaign_id, "xlsx")


#: Export format -> Content-Type.
EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _answers_export(campaign_id: int, fmt: str) -> Any:
    """One campaign's answers in ``fmt``, audit-logged as an export of raw survey answers."""
    import json

    db = get_db()
    with db.session() as s:
        c = _campaign(s, campaign_id)
        frame = survey_results.campaign_frame(s, c)
        if fmt == "geojson":
            data = survey_exports.answers_geojson(frame, survey_exports.routes(s, c), db.srid)
            body: Any = json.dumps(data, ensure_ascii=False)
            count = len(data["features"])
        else:
            body = survey_results.answers_csv(frame, db.srid, local_timezone())
            if fmt == "xlsx":
                body = survey_exports.answers_xlsx(body)
            count = len(frame)
        audit(
            s,
            "export",
            user=current_user,
            layer="survey",
            detail=fmt,
            feature_count=count,
            ip=request.remote_addr,
            extra={"campaign_id": c.id},
        )
        s.commit()
    return Response(
        body,
        mimetype=EXPORT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="enkat-{campaign_id}-svar.{fmt}"'},
    )


@bp.route("/enkater/<int:campaign_id>/qr.<fmt>")
def qr(campaign_id: int, fmt: str) -> Any:
    """The public link as a QR code (PNG or SVG) for posters."""
    import segno

    if fmt not in ("png", "svg"):
        abort(404)
    with get_db().session() as s:
        c = _campaign(s, campaign_id)
        url = url_for("survey.form", slug=c.slug, _external=True)
    code = segno.make(url, error="m", micro=False)
    buf = io.BytesIO()
    if fmt == "png":
        code.save(buf, kind="png", scale=10, border=4)
        mimetype = "image/png"
    else:
        code.save(buf, kind="svg", scale=10, border=4, xmldecl=True, title=url)
        mimetype = "image/svg+xml"
    response = Response(buf.getvalue(), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="enkat-{c.id}-qr.{fmt}"'
    return response


@bp.route("/enkater/granska", methods=["GET", "POST"])
def review_queue() -> Any:
    """Comments held because they may hold personal data: approve or reject each."""

    with get_db().session() as s:
        if request.method == "POST":
            rid = request.form.get("response_id", "")
            decision = request.form.get("decision")
            if not sv._ID.fullmatch(rid) or decision not in ("approve", "reject"):
                abort(400)
            try:
                _held_answer_in_reach(s, int(rid))
                sv.review(s, int(rid), decision == "approve")
            except NotFound:
                flash(_("Svaret finns inte eller är redan granskat."))
            else:
                audit(
                    s,
                    "survey_review_" + decision,
                    user=current_user,
                    layer="survey",
                    extra={"response_id": int(rid)},
                )
                s.commit()
                flash(
                    _("Kommentaren är godkänd.")
                    if decision == "approve"
                    else _("Kommentaren är borttagen.")
                )
            return redirect(url_for("survey.review_queue"))
        rows = s.execute(
            _scoped(
                select(SurveyResponse, SurveyCampaign.name).join(
                    SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id
                )
            )
            .where(SurveyResponse.review_status == "review")
            .order_by(SurveyResponse.id)
            .limit(200)
        ).all()
        items = [
            {
                "id": r.id,
                "campaign": name,
                "answered_at": r.answered_at,
                "rating": r.rating,
                "comment": r.held_comment or "",
                "flags": sv.personal_data(r.held_comment or ""),
            }
            for r, name in rows
        ]
        return render_template("survey/review.html", items=items)


def _held_answer_in_reach(s: Any, response_id: int) -> None:
    """:class:`NotFound` for an answer of a campaign outside the user's EST group (the same
    as for a missing one: the queue reveals nothing of other municipalities)."""
    code = s.scalar(
        select(SurveyCampaign.municipality_code)
        .join(SurveyResponse, SurveyResponse.campaign_id == SurveyCampaign.id)
        .where(SurveyResponse.id == response_id)
    )
    if code is None and s.get(SurveyResponse, response_id) is None:
        raise NotFound("Svaret finns inte eller är redan granskat.")
    if not current_reach().admits(code):
        raise NotFound("Svaret finns inte eller är redan granskat.")


# --- the public form -----------------------------------------------------------------------


def _public_campaign(s: Any, slug: str) -> SurveyCampaign:
    """A campaign of this installation's municipalities, for everyone (public pages are
    not narrowed to an EST group: residents answer without logging in)."""
    c = (
        s.scalar(select(SurveyCampaign).where(SurveyCampaign.slug == slug))
        if re.fullmatch(r"[A-Za-z0-9_-]{4,40}", slug)
        else None
    )
    if c is None or not munis.Reach.of(get_settings().region, None).admits(c.municipality_code):
        from tryggkarta.web.errors import respond

        abort(make_response(*respond(404, "NotFound", _(UNKNOWN))))
    return c


#: The answer to a link that names no campaign (mistyped, or a poster of another town).
UNKNOWN = (
    "Det finns ingen enkät med den här länken. Kontrollera att adressen är rätt skriven "
    "eller skanna QR-koden på affischen igen."
)


def _closed_reason(c: SurveyCampaign) -> str | None:
    from tryggkarta.i18n import format_date

    status = sv.effective_status(c, today())
    if status == "draft":
        return _("Enkäten är inte öppen ännu.")
    if status == "closed":
        return _("Enkäten är stängd och tar inte emot fler svar. Tack till alla som svarade!")
    if c.starts_on is not None and today() < c.starts_on:
        return _(
            "Enkäten öppnar den %(day)s.", day=format_date(c.starts_on, current_language(), "long")
        )
    return None


def _pins_from_form(form: Any) -> list[dict[str, Any]]:
    indices = sorted(
        {int(m.group(1)) for k in form.keys() if (m := re.fullmatch(r"pin-(\d{1,4})-[a-z_]+", k))}
    )[: sv.MAX_PINS]
    return [
        {
            "i": i,
            "lat": form.get(f"pin-{i}-lat", ""),
            "lon": form.get(f"pin-{i}-lon", ""),
            "place": form.get(f"pin-{i}-place", ""),
            "rating": form.get(f"pin-{i}-rating", ""),
            "reasons": form.getlist(f"pin-{i}-reasons"),
            "time_of_day": form.get(f"pin-{i}-time_of_day", ""),
            "weekday": form.get(f"pin-{i}-weekday", ""),
            "address": form.get(f"pin-{i}-address", "")[: sv.MAX_LOOKUP],
            "comment": form.get(f"pin-{i}-comment", "")[: sv.MAX_COMMENT],
        }
        for i in indices
    ]


def _map_data(polygon: Any, srid: int) -> dict[str, Any]:
    minx, miny, maxx, maxy = polygon.bounds
    lon, lat = geo.to_wgs84([minx, maxx], [miny, maxy], srid)
    outline = shapely.simplify(polygon, 25.0)
    ring = shapely.get_exterior_ring(
        outline if outline.geom_type == "Polygon" else max(outline.geoms, key=lambda g: g.area)
    )
    coords = shapely.get_coordinates(ring)
    rlon, rlat = geo.to_wgs84(coords[:, 0], coords[:, 1], srid)
    return {
        "bounds": [[float(lat[0]), float(lon[0])], [float(lat[1]), float(lon[1])]],
        "outline": [
            [round(float(a), 6), round(float(b), 6)] for a, b in zip(rlat, rlon, strict=True)
        ],
    }


@bp.route("/enkat/<slug>", methods=["GET", "POST"])
@anonymous_post
def form(slug: str) -> Any:
    """The public survey: pins on a map (or places from a list) with questions per pin."""

    db = get_db()
    srid = db.srid
    errors: dict[str, str] = {}
    status = 200
    with db.session() as s:
        c = _public_campaign(s, slug)
        closed = _closed_reason(c)
        if closed:
            shut = sv.effective_status(c, today()) == "closed"
            return render_template(
                "survey/closed.html", campaign=c, message=closed, result_link=shut
            ), (410 if shut else 403)
        polygon = sv.area_polygon(s, c, srid)
        places = sv.places(s, c, srid)
        if request.method == "POST":
            try:
                answer = sv.parse_answer(
                    request.form,
                    c,
                    polygon=polygon,
                    place_points={p.id: (p.x, p.y) for p in places},
                    srid=srid,
                    lookup=lambda text: sv.resolve_place(s, polygon, text, places),
                )
            except sv.SurveyInputError as exc:
                errors = _translated(exc.errors)
                status = 400
            else:
                sv.store_answer(s, c, answer)
                s.commit()
                return redirect(url_for("survey.thanks", slug=slug), code=303)
        form_data = request.form if request.method == "POST" else {}
        pins = _pins_from_form(request.form) if request.method == "POST" else []
        if not pins:
            pins = [{"i": 0, "reasons": []}]
        submission_id = request.form.get("submission_id", "") if form_data else ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", submission_id):
            submission_id = secrets.token_urlsafe(18)
        return render_template(
            "survey/form.html",
            campaign=c,
            places=places,
            pins=pins,
            errors=errors,
            form=form_data,
            submission_id=submission_id,
            map_data=_map_data(polygon, srid),
            questions=c.questions or {},
            error_message=_("Svaret kunde inte skickas. Rätta det som är markerat nedan.")
            if errors
            else None,
            **_labels(),
        ), status


form._tk_max_body = MAX_BODY  # type: ignore[attr-defined]


@bp.route("/enkat/<slug>/platser")
def place_search(slug: str) -> Any:
    """Street addresses, named places and districts inside an open campaign's area whose
    names hold ``q`` (2–100 characters), as JSON ``{"results": [{name, kind, lat, lon}]}``:
    the form's suggestions when a resident types a place instead of tapping the map."""
    from tryggkarta.services import places as place_names

    db = get_db()
    with db.session() as s:
        c = _public_campaign(s, slug)
        if _closed_reason(c):
            abort(404)
        try:
            text = place_names.parse_search(request.args.get("q"), _)
        except BadInput as exc:
            return jsonify({"code": "BadInput", "description": exc.message}), 400
        polygon = sv.area_polygon(s, c, db.srid)
        hits = sv.find_places(s, polygon, text, sv.places(s, c, db.srid))
    if not hits:
        return jsonify({"query": text, "results": []})
    lon, lat = geo.to_wgs84([h.x for h in hits], [h.y for h in hits], db.srid)
    return jsonify(
        {
            "query": text,
            "results": [
                {
                    "name": h.name,
                    "kind": h.kind,
                    "lat": round(float(la), 6),
                    "lon": round(float(lo), 6),
                }
                for h, lo, la in zip(hits, lon, lat, strict=True)
            ],
        }
    )


@bp.route("/enkat/<slug>/tack")
def thanks(slug: str) -> Any:
    """After an answer: thanks, and what happens next."""

    with get_db().session() as s:
        c = _public_campaign(s, slug)
        return render_template("survey/thanks.html", campaign=c)


def _closed_campaign(s: Any, slug: str) -> SurveyCampaign:
    c = _public_campaign(s, slug)
    if sv.effective_status(c, today()) != "closed":
        abort(404)
    return c


@bp.route("/enkat/<slug>/resultat")
def result(slug: str) -> Any:
    """A closed campaign's result for everyone: published values only (the release rule)."""

    db = get_db()
    with db.session() as s:
        c = _closed_campaign(s, slug)
        rule = _public_rule()
        parts = survey_results.breakdown(s, c, rule, db.srid)
        cells, suppressed = survey_results.released_cells(
            survey_results.campaign_frame(s, c), rule, db.srid
        )
        earlier = survey_results.previous_campaign(s, c, db.srid)
        compared = (
            survey_results.comparison(parts, survey_results.breakdown(s, earlier, rule, db.srid))
            if earlier is not None and sv.effective_status(earlier, today()) == "closed"
            else []
        )
        return render_template(
            "survey/result.html",
            campaign=c,
            parts=parts,
            cells=cells,
            suppressed=suppressed,
            earlier=earlier if compared else None,
            compared=compared,
            min_count=rule.k,
            band=lambda b: band_text(b, current_language()) or "–",
            value=lambda v: "–" if v is None else v,
            **_labels(),
        )


@bp.route("/enkat/<slug>/resultat.geojson")
def result_geojson(slug: str) -> Any:
    """A closed campaign's published 250 m cells as GeoJSON."""

    import json

    db = get_db()
    with db.session() as s:
        c = _closed_campaign(s, slug)
        cells, _n = survey_results.released_cells(
            survey_results.campaign_frame(s, c), _public_rule(), db.srid
        )
    data = survey_exports.result_geojson(cells, db.srid, current_language())
    return Response(
        json.dumps(data, ensure_ascii=False),
        mimetype="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="enkat-{slug}-resultat.geojson"'},
    )


@bp.errorhandler(413)
def too_large(exc: Any) -> Any:
    from tryggkarta.web.errors import respond

    return respond(
        413, "TooLarge", _("Svaret är för stort. Korta kommentarerna eller markera färre platser.")
    )
