"""Saved and shared maps (``/kartor``), share links (``/kartor/l/<token>``), public map (``/publik``).

Logic in :mod:`tryggkarta.services.sharing`. The blueprint's routes carry their own prefixes because
the public map lives outside ``/kartor``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from tryggkarta import disclosure, geo, params, policy
from tryggkarta.config import local_timezone
from tryggkarta.domain import (
    INCIDENT_CATEGORIES,
    LAYER_LABELS,
    MEASURE_KINDS,
    MEASURES,
    ROLE_LABELS,
    Role,
)
from tryggkarta.errors import BadInput, Gone, NotFound
from tryggkarta.services import sharing, survey
from tryggkarta.services.thumbnail import render_svg
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


def _config_from_form(form: Any) -> dict[str, Any]:
    """The configuration a save form describes, checked with the map page's own parser.

    From the map page's button: ``query`` (the page's query string), ``extent``, ``zoom`` and
    ``shown`` (filled by the page's script). From the list page: the same names as fields.
    """
    from tryggkarta.web.mapview import KNOWN_LAYERS, parse_request

    query = (form.get("query") or "").strip()
    values = form.to_dict(flat=False)
    if query:
        values = {
            **{k: v for k, v in values.items() if k in ("extent", "zoom", "shown")},
            **{k: v for k, v in parse_qs(query.split("?", 1)[-1]).items() if k != "shown"},
        }
    config = sharing.build_config(values, known_layers=KNOWN_LAYERS)
    parse_request(_, MultiDict(list(_pairs(sharing.config_args(config)))))  # BadInput → 400
    return config


def _pairs(args: dict[str, list[str]]) -> Any:
    for key, values in args.items():
        for value in values:
            yield key, value


@bp.route(f"{PREFIX}/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    """List the maps the user may open; save a new map (POST, also from the map page)."""

    with get_db().session() as s:
        if request.method == "POST":
            form = request.form
            try:
                name = sharing.validate_name(form.get("name"))
                config = _config_from_form(form)
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
            config_layers=sharing.config_layers,
            map_layer_label=_layer_label,
            summary=_summary,
            **_form_context(s),
        )


def _layer_label(key: str) -> str:
    """A map layer's name for people (data layers, point layers, hot-spot methods)."""
    from tryggkarta import hotspot_methods

    lang = current_language()
    if key in LAYER_LABELS:
        return LAYER_LABELS[key].get(lang)
    method = key.removeprefix("hotspot_")
    if method in hotspot_methods.METHODS:
        return hotspot_methods.method(method).title(lang)
    return {"incident_points": _("Enskilda händelser"), "survey_pins": _("Enskilda enkätsvar")}.get(
        key, key
    )


def _summary(config: Any) -> list[tuple[str, str]]:
    """The saved filters as (label, value) pairs for people."""
    lang = current_language()
    args = sharing.config_args(config)
    out: list[tuple[str, str]] = []
    if args.get("cat"):
        labels = [INCIDENT_CATEGORIES[c].get(lang) for c in args["cat"] if c in INCIDENT_CATEGORIES]
        out.append((_("Kategorier"), ", ".join(labels)))
    if args.get("from") or args.get("to"):
        period = f"{(args.get('from') or ['…'])[0]} – {(args.get('to') or ['…'])[0]}"
        out.append((_("Period"), period))
    days = (_("mån"), _("tis"), _("ons"), _("tors"), _("fre"), _("lör"), _("sön"))
    if args.get("weekday"):
        shown = [days[int(d)] for d in args["weekday"] if params.is_digits(d, 1) and int(d) < 7]
        out.append((_("Veckodag"), ", ".join(shown)))
    if args.get("hour"):
        out.append((_("Timme"), ", ".join(args["hour"])))
    if args.get("district"):
        out.append((_("Stadsdel"), args["district"][0]))
    if args.get("dataset"):
        out.append((_("Import"), ", ".join(args["dataset"])))
    return out


def _open_args(shared: SharedMap) -> MultiDict:
    """The saved query as arguments; one the map page can no longer use (a day out of range,
    a category that was removed) opens without its filters, with a note."""
    from tryggkarta.web.mapview import parse_request

    args = MultiDict(list(_pairs(sharing.config_args(shared.config))))
    try:
        parse_request(_, args)
    except BadInput as exc:
        flash(
            _(
                "Kartans sparade filter går inte att använda (%(why)s); kartan visas utan dem.",
                why=exc.message,
            )
        )
        args = MultiDict([(k, v) for k, v in args.items(multi=True) if k == "layers"])
    return args


def _render_map(shared: SharedMap, via: str) -> Any:
    """The saved map on the map page's own code, with the viewer's rights (a link never
    elevates: anonymous viewers are public), then its figures per layer."""
    from tryggkarta.web.mapview import parse_request, start_page_context

    db = get_db()
    role = current_role()
    args = _open_args(shared)
    view = sharing.config_view(shared.config)
    context = start_page_context(args, extent=view["extent"])
    q = parse_request(_, args)
    layers = sharing.table_layers(shared.config)
    views = sharing.layer_views(db, layers, q.filters, role, get_settings().min_count)
    with db.session() as s:
        for item in views:
            if item["detail"] == "raw" and item["layer"] in ("incidents", "survey"):
                audit(
                    s,
                    "shared_map_view",
                    user=current_user,
                    layer=item["layer"],
                    detail="raw",
                    feature_count=len(item["rows"]),
                    ip=request.remote_addr,
                    extra={"map_id": shared.id, "via": via},
                )
    start_query = urlencode(list(args.items(multi=True)))
    return render_template(
        "shared/view.html",
        shared=shared,
        views=views,
        via=via,
        start_query=start_query,
        save_query=start_query,
        saved_view=view,
        filters_summary=_summary(shared.config),
        layer_labels=LAYER_LABELS,
        category_labels=INCIDENT_CATEGORIES,
        **context,
    )


@bp.route(f"{PREFIX}/<int:map_id>")
@login_required
def view(map_id: int) -> Any:
    """Open a saved map (shared with the user's role or organisation, or the user's own)."""

    return _render_map(_viewable(map_id), "direct")


def _viewable(map_id: int) -> SharedMap:
    with get_db().session() as s:
        shared = s.get(SharedMap, map_id)
        if shared is None:
            abort(404)
        if not sharing.can_view(shared, current_user):
            abort(403)
        s.expunge(shared)
    return shared


@bp.route(f"{PREFIX}/<int:map_id>/miniatyr.svg")
@login_required
def thumbnail(map_id: int) -> Any:
    """A small SVG of the saved map as the viewer may see it (boundary, districts, cells)."""
    from tryggkarta.web.mapview import thumbnail_layers

    shared = _viewable(map_id)
    args = _open_args(shared)
    view = sharing.config_view(shared.config)
    parts = thumbnail_layers(args, view["extent"], view["shown"])
    svg = render_svg(parts, title=shared.name)
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})


@bp.route(f"{PREFIX}/<int:map_id>/lank", methods=["POST"])
@login_required
def new_link(map_id: int) -> Any:
    """Create (or replace) the map's expiring share link; owner or admin only."""

    with get_db().session() as s:
        shared = s.get(SharedMap, map_id)
        if shared is None:
            abort(404)
        if not policy.manages(current_user, shared.owner_id):
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
        if not policy.manages(current_user, shared.owner_id):
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

    from tryggkarta.web.pagecache import cached_page

    db, settings = get_db(), get_settings()
    year = datetime.now(UTC).year
    with db.session() as s:
        measures = sharing.measures_this_year(s, year)  # not in the data version: in the key
        campaigns = survey.public_campaigns(
            s,
            datetime.now(local_timezone()).date(),
            geo.parse_region(settings.region).municipality_codes,
        )
        # opened and closed by hand, not in the data version either: in the key
        listed = [
            [(c.id, c.slug, c.name, str(c.ends_on)) for c in campaigns[k]]
            for k in ("open", "closed")
        ]
        s.expunge_all()

    def render() -> str:
        return render_template(
            "shared/public.html",
            cells=sharing.public_cells(db, settings.min_count),
            measures=measures,
            campaigns=campaigns,
            year=year,
            min_count=settings.min_count,
            measure_labels=MEASURES,
            kind_labels=MEASURE_KINDS,
            map=_public_map(db, settings.min_count),
            band=_band_text,
        )

    # the same page for every visitor who is not logged in, rendered once per data version
    return cached_page(render, extra=[year, measures, listed])


def _public_map(db: Any, min_count: int) -> Any:
    """The /publik map: only what the public role gets anywhere else
    (:func:`tryggkarta.services.sharing.public_map_layers`) on the configured background."""
    from tryggkarta import maps
    from tryggkarta.web import mapview

    lang = current_language()
    data = sharing.public_map_layers(db, min_count, lang)
    layers = []
    if data["survey"] is not None:
        layers.append(maps.survey_cells(data["survey"], _, lang, show=True))
    if data["incidents"] is not None:
        layers.append(maps.incident_cells(data["incidents"], _, lang, show=False))
    areas_fc = data["areas"] or {"features": []}
    if areas_fc["features"]:
        layers.append(maps.areas(areas_fc, _, lang))  # names: the background's context
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
