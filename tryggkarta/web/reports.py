"""EST reports from a phone: ``/rapport`` (form), ``/rapport/mina`` (own organisation's),
``/rapport/<id>`` (correct one). ``policy.Action.REPORT``; logic in
:mod:`tryggkarta.services.reports`.

The form works without JavaScript (a normal POST). With JavaScript each report is put in a
queue in the browser's localStorage and sent from there (``Accept: application/json``), so a
report typed without network is kept and sent when the network returns — once, since the
report id is made in the browser and stored as the incident's unique key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from tryggkarta import policy
from tryggkarta.domain import INCIDENT_CATEGORIES, Detail, Layer, category_label
from tryggkarta.errors import Forbidden, NotFound
from tryggkarta.services import reports as svc
from tryggkarta.services.municipalities import region_name
from tryggkarta.store import Incident, Organisation
from tryggkarta.store.writes import audit
from tryggkarta.web.context import _, current_language, current_reach, get_db, get_settings
from tryggkarta.web.errors import wants_json
from tryggkarta.web.survey import _map_data

bp = Blueprint("reports", __name__, url_prefix="/rapport")

#: How far back "my organisation's reports" lists.
LIST_DAYS = 90


def _org(s: Any) -> Organisation | None:
    org_id = getattr(current_user, "organisation_id", None)
    return s.get(Organisation, org_id) if org_id is not None else None


def _translated(errors: dict[str, str]) -> dict[str, str]:
    return {k: _(v) for k, v in errors.items()}


def _area(s: Any, org: Organisation | None) -> svc.ReportingArea:
    """Where ``org`` reports: its EST group's municipalities in this installation."""
    settings = get_settings()
    return svc.reporting_area(s, org.id if org else None, get_db().srid, settings.region)


def _render(template: str, s: Any, org: Organisation | None, **extra: Any) -> Any:
    lang = current_language()
    area = _area(s, org)
    return render_template(
        template,
        org=org,
        categories=[(k, v.get(lang)) for k, v in INCIDENT_CATEGORIES.items()],
        map_data=_map_data(area.geometry, get_db().srid),
        outside_message=_(area.outside_message),
        area_names=region_name(area.codes) if area.several else "",
        max_description=svc.MAX_DESCRIPTION,
        **extra,
    )


@bp.route("/")
def form() -> Any:
    """The phone-first report form."""

    db = get_db()
    with db.session() as s:
        org = _org(s)
        return _render(
            "reports/form.html",
            s,
            org,
            errors={},
            values={"occurred_at": svc.local_time_value(datetime.now(UTC))},
            client_id=svc.new_client_id(),
        )


@bp.route("/skicka", methods=["POST"])
def submit() -> Any:
    """Store a report (a form POST, or JSON-answering for the browser's queue)."""

    db = get_db()
    as_json = wants_json()
    with db.session() as s:
        org = _org(s)
        if org is None:
            message = _(
                "Ditt konto hör inte till någon organisation. Be administratören koppla det."
            )
            if as_json:
                return jsonify({"errors": {"form": message}}), 400
            raise Forbidden(message)
        try:
            report = svc.parse_report(request.form, area=_area(s, org), srid=db.srid)
        except svc.ReportInputError as exc:
            errors = _translated(exc.errors)
            if as_json:
                return jsonify({"errors": errors}), 400
            return _render(
                "reports/form.html",
                s,
                org,
                errors=errors,
                values=request.form,
                client_id=request.form.get("client_id") or svc.new_client_id(),
            ), 400
        row, created = svc.store_report(s, org, report)
        audit(
            s,
            "file_report",
            user=current_user,
            layer=Layer.INCIDENTS.value,
            detail=Detail.RAW.value,
            feature_count=1 if created else 0,
            ip=request.remote_addr,
            extra={"incident": row.id, "new": created},
        )
        s.commit()
        message = (
            _("Rapporten är sparad och syns i lägesbilden.")
            if created
            else _("Rapporten var redan sparad.")
        )
        if as_json:
            return jsonify({"id": row.id, "stored": created, "message": message}), (
                201 if created else 200
            )
    flash(message)
    return redirect(url_for("reports.form"), code=303)


@bp.route("/mina")
def mine() -> Any:
    """The organisation's reports of the last 90 days (staff with raw detail: every
    organisation's), in the reader's EST group."""

    db = get_db()
    lang = current_language()
    since = datetime.now(UTC) - timedelta(days=LIST_DAYS)
    everyone = policy.allowed(current_user, Layer.INCIDENTS, Detail.RAW)
    with db.session() as s:
        org = _org(s)
        if not everyone and org is None:
            rows: list[dict[str, Any]] = []
        else:
            rows = svc.list_reports(
                s,
                None if everyone else org.id,
                since=since,
                within=current_reach().where(Incident.municipality_code),
            )
        audit(
            s,
            "view_reports",
            user=current_user,
            layer=Layer.INCIDENTS.value,
            detail=Detail.RAW.value,
            feature_count=len(rows),
            ip=request.remote_addr,
        )
        s.commit()
    reach = current_reach()
    return render_template(
        "reports/mine.html",
        rows=rows,
        group_names=region_name(reach.codes) if reach.scope is not None and reach.several else "",
        org=org,
        everyone=everyone,
        days=LIST_DAYS,
        category_name=lambda key: category_label(key, lang),
    )


@bp.route("/<int:report_id>", methods=["GET", "POST"])
def edit(report_id: int) -> Any:
    """Correct a report of one's own organisation (another organisation's: 403)."""

    db = get_db()
    with db.session() as s:
        try:  # another municipality's report (outside the EST group): 404 like a missing one
            row = svc.get_report(s, report_id, current_user, current_reach())
        except Forbidden as exc:
            raise Forbidden(_(exc.message)) from None
        except NotFound as exc:
            raise NotFound(_(exc.message)) from None
        org_id = svc.report_organisation(s, row)
        org = s.get(Organisation, org_id) if org_id is not None else None
        errors: dict[str, str] = {}
        if request.method == "POST":
            try:
                report = svc.parse_report(
                    request.form, area=_area(s, org), srid=db.srid, need_client_id=False
                )
            except svc.ReportInputError as exc:
                errors = _translated(exc.errors)
            else:
                svc.correct_report(s, row, report)
                audit(
                    s,
                    "correct_report",
                    user=current_user,
                    layer=Layer.INCIDENTS.value,
                    detail=Detail.RAW.value,
                    feature_count=1,
                    ip=request.remote_addr,
                    extra={"incident": row.id},
                )
                s.commit()
                flash(_("Rättelsen är sparad."))
                return redirect(url_for("reports.mine"), code=303)
        if request.method == "POST":
            values: Any = request.form
        else:
            lat, lon = svc.wgs84_of(row, db.srid)
            values = {
                "lat": f"{lat:.6f}",
                "lon": f"{lon:.6f}",
                "category": row.category,
                "occurred_at": svc.local_time_value(row.occurred_at),
                "description": row.description or "",
                "address": row.address or "",
            }
        return _render(
            "reports/form.html",
            s,
            org,
            errors=errors,
            values=values,
            client_id="",
            report=row,
        ), (400 if errors else 200)
