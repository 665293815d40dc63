"""Saved and shared maps (``/kartor``), share links (``/kartor/l/<token>``), public map (``/publik``).

Logic in :mod:`tryggkarta.services.sharing`. The blueprint's routes carry their own prefixes because
the public map lives outside ``/kartor``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from tryggkarta import disclosure, params, policy
from tryggkarta.domain import (
    INCIDENT_CATEGORIES,
    LAYER_LABELS,
    MEASURE_KINDS,
    MEASURES,
    ROLE_LABELS,
    Role,
)
from tryggkarta.errors import BadInput, Gone, NotFound
from tryggkarta.services import sharing
from tryggkarta.store import Organisation, SharedMap
from tryggkarta.store.writes import audit
from tryggkarta.web.auth import current_role
from tryggkarta.web.context import _, current_language, get_db, get_settings

bp = Blueprint("shared", __name__)
PREFIX = "/kartor"


def _translated(exc: BadInput | NotFound | Gone) -> BadInput | NotFound | Gone:

    return type(exc)(_(exc.message))


def _form_context(s: Any) -> dict[str, Any]:
    return {
        "layer_labels": LAYER_LABELS,
        "category_labels": INCIDENT_CATEGORIES,
        "role_labels": {k: v for k, v in ROLE_LABELS.items() if k != Role.PUBLIC},
        "organisations": s.scalars(select(Organisation).order_by(Organisation.name)).all(),
    }


@bp.route(f"{PREFIX}/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    """List the maps the user may open; save a new map (POST)."""

    with get_db().session() as s:
        if request.method == "POST":
            form = request.form
            try:
                name = sharing.validate_name(form.get("name"))
                query = (form.get("query") or "").strip()
                if query:
                    config = sharing.config_from_query(query.split("?", 1)[-1])
                else:
                    config = sharing.build_config(form.to_dict(flat=False))
                orgs = [int(v) for v in form.getlist("orgs") if params.is_digits(v)]
                roles = [r for r in form.getlist("roles") if r in sharing.ROLES_SHAREABLE]
                shared = SharedMap(
                    name=name,
                    owner_id=current_user.id,
                    config=config,
                    shared_roles=roles,
                    shared_orgs=orgs,
                    public=bool(form.get("public")),
                )
                s.add(shared)
                s.flush()
                token = None
                days = (form.get("link_days") or "").strip()
                if days:
                    if not params.is_digits(days):
                        raise BadInput("Antal dagar ska vara ett heltal.")
                    token = sharing.create_link(shared, int(days))
            except BadInput as exc:
                raise _translated(exc) from None
            audit(
                s,
                "shared_map_create",
                user=current_user,
                ip=request.remote_addr,
                extra={"map_id": shared.id},
            )
            flash(_("Kartan är sparad."))
            if token:
                flash(
                    _(
                        "Delningslänk (visas bara nu): %(url)s",
                        url=url_for("shared.link", token=token, _external=True),
                    )
                )
            return redirect(url_for("shared.view", map_id=shared.id))
        maps = sharing.visible_maps(s, current_user)
        names = {o.id: o.name for o in s.scalars(select(Organisation)).all()}
        return render_template(
            "shared/index.html",
            maps=maps,
            org_names=names,
            query=request.args.get("query", ""),
            **_form_context(s),
        )


def _render_map(shared: SharedMap, via: str) -> Any:

    db = get_db()
    role = current_role()  # a link never elevates: anonymous viewers are public
    views = sharing.layer_views(db, shared.config or {}, role, get_settings().min_count)
    with db.session() as s:
        for view in views:
            if view["detail"] == "raw" and view["layer"] in ("incidents", "survey"):
                audit(
                    s,
                    "shared_map_view",
                    user=current_user,
                    layer=view["layer"],
                    detail="raw",
                    feature_count=len(view["rows"]),
                    ip=request.remote_addr,
                    extra={"map_id": shared.id, "via": via},
                )
    start_query = urlencode(
        {
            k: ",".join(map(str, v)) if isinstance(v, list) else v
            for k, v in (shared.config or {}).items()
        }
    )
    return render_template(
        "shared/view.html",
        shared=shared,
        views=views,
        via=via,
        start_query=start_query,
        layer_labels=LAYER_LABELS,
        category_labels=INCIDENT_CATEGORIES,
    )


@bp.route(f"{PREFIX}/<int:map_id>")
@login_required
def view(map_id: int) -> Any:
    """Open a saved map (shared with the user's role or organisation, or the user's own)."""

    with get_db().session() as s:
        shared = s.get(SharedMap, map_id)
        if shared is None:
            abort(404)
        if not sharing.can_view(shared, current_user):
            abort(403)
        s.expunge(shared)
    return _render_map(shared, "direct")


@bp.route(f"{PREFIX}/<int:map_id>/lank", methods=["POST"])
@login_required
def new_link(map_id: int) -> Any:
    """Create (or replace) the map's expiring share link; owner or admin only."""

    with get_db().session() as s:
        shared = s.get(SharedMap, map_id)
        if shared is None:
            abort(404)
        if shared.owner_id != current_user.id and not policy.can(current_user, policy.Action.ADMIN):
            abort(403)
        days = request.form.get("days", "")
        try:
            if not params.is_digits(days):
                raise BadInput("Antal dagar ska vara ett heltal.")
            token = sharing.create_link(shared, int(days))
        except BadInput as exc:
            raise _translated(exc) from None
        audit(
            s,
            "shared_map_link",
            user=current_user,
            ip=request.remote_addr,
            extra={"map_id": map_id, "days": int(days)},
        )
    flash(
        _(
            "Delningslänk (visas bara nu): %(url)s",
            url=url_for("shared.link", token=token, _external=True),
        )
    )
    return redirect(url_for("shared.view", map_id=map_id))


@bp.route(f"{PREFIX}/<int:map_id>/ta-bort", methods=["POST"])
@login_required
def delete(map_id: int) -> Any:
    """Delete a saved map (owner or admin). Never reads the map's data, so a map whose saved
    configuration cannot be shown can still be removed."""

    with get_db().session() as s:
        shared = s.get(SharedMap, map_id)
        if shared is None:
            abort(404)
        if shared.owner_id != current_user.id and current_role() != Role.ADMIN.value:
            abort(403)
        name = shared.name
        s.delete(shared)
        audit(
            s,
            "shared_map_delete",
            user=current_user,
            ip=request.remote_addr,
            extra={"map_id": map_id},
        )
    flash(_("Kartan %(name)s är borttagen.", name=name))
    return redirect(url_for("shared.index"))


@bp.route(f"{PREFIX}/l/<token>")
def link(token: str) -> Any:
    """Open a map by link; the viewer keeps their own rights (anonymous = public)."""

    with get_db().session() as s:
        try:
            shared = sharing.map_for_token(s, token)
        except (NotFound, Gone) as exc:
            raise _translated(exc) from None
        s.expunge(shared)
    return _render_map(shared, "link")


@bp.route("/publik")
def public() -> Any:
    """The public map: the survey and incident releases (k-anonymous, public rights whoever
    asks), the municipality and its districts on the background map, and this year's measures."""

    db, settings = get_db(), get_settings()
    cells = sharing.public_cells(db, settings.min_count)
    year = datetime.now(UTC).year
    with db.session() as s:
        measures = sharing.measures_this_year(s, year)
    return render_template(
        "shared/public.html",
        cells=cells,
        measures=measures,
        year=year,
        min_count=settings.min_count,
        measure_labels=MEASURES,
        kind_labels=MEASURE_KINDS,
        map=_public_map(db, settings.min_count),
        band=_band_text,
    )


def _public_map(db: Any, min_count: int) -> Any:
    """The /publik map: only what the public role gets anywhere else
    (:func:`tryggkarta.services.sharing.public_map_layers`) on the configured background."""
    from tryggkarta import maps
    from tryggkarta.web import mapview
    from tryggkarta.web.basemap import current_background

    lang = current_language()
    data = sharing.public_map_layers(db, min_count, lang)
    layers = []
    if data["survey"] is not None:
        layers.append(maps.survey_cells(data["survey"], _, lang, show=True))
    if data["incidents"] is not None:
        layers.append(maps.incident_cells(data["incidents"], _, lang, show=False))
    areas_fc = data["areas"] or {"features": []}
    if areas_fc["features"]:
        layers.append(maps.areas(areas_fc, _, lang, labels=not current_background().enabled))
    bounds = mapview.town_bounds(areas_fc) if areas_fc["features"] else None
    if bounds is None and not any(item.features for item in layers):
        return None
    return mapview.inset_map(layers, bounds, _)


@bp.route("/publik.geojson")
def public_geojson() -> Any:
    """The public survey cells as GeoJSON (WGS84)."""

    db = get_db()
    cells = sharing.public_cells(db, get_settings().min_count)
    return jsonify(sharing.public_cells_geojson(cells, db.srid))


def _band_text(band: list[float] | None) -> str:

    if band is None:
        return _("för få svar för en andel")
    return disclosure.band_text((band[0], band[1]), current_language()) or ""
