"""JSON API (``/api``): the layers, their features by bbox, and aggregated grid cells.

Role filtering comes from the one permission table (``auth.detail``): raw features only for
RAW roles (and every raw view is audit-logged with its feature count); everyone else gets
grid cells with fewer than ``min_count`` records suppressed. Errors are JSON
``{"code", "description"}`` with 400/401/403/404 (``web.errors``). Messages are English.
Bearer tokens work through Flask-Login's request loader.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask_login import current_user

from tryggkarta import disclosure, policy
from tryggkarta.config import local_timezone
from tryggkarta.domain import LAYER_LABELS, Detail, Layer
from tryggkarta.errors import BadInput, Forbidden, NotFound
from tryggkarta.i18n import translate
from tryggkarta.store import audit, layer_frame
from tryggkarta.store.queries import Filters, points_frame
from tryggkarta.web.auth import current_role, detail
from tryggkarta.web.context import current_language, get_db, get_settings
from tryggkarta.web.mapview import (
    HOTSPOT_METHODS,
    ad_hoc_args,
    current_rule,
    frame_geojson,
    hotspot_geojson,
    hotspot_level,
    incident_grid,
    installation_code,
    parse_request,
    points_geojson,
    release_filters,
    released_incidents,
    released_survey,
    survey_grid,
    survey_pins,
)
from tryggkarta.web.query import MapQuery

bp = Blueprint("api", __name__, url_prefix="/api")
CSRF_EXEMPT = True

#: Columns a RAW caller gets per layer (the policy's list, sensitive text included).
RAW_COLUMNS: dict[str, list[str]] = {k: list(v) for k, v in policy.RAW_COLUMNS.items()}
POINT = (Layer.INCIDENTS, Layer.SURVEY)
SENSITIVE = policy.SENSITIVE_LAYERS


def _en(text: str, **params: object) -> str:
    return translate(text, "en", **params)


def _layer(layer: str) -> Detail:
    if layer not in RAW_COLUMNS:
        raise NotFound(f"There is no layer {layer[:40]!r}; see /api/layers.")
    level = detail(layer)
    if level == Detail.HIDDEN:
        if not current_user.is_authenticated:
            abort(401)
        raise Forbidden(f"Your role may not see the layer {layer!r}.")
    return level


def _query() -> MapQuery:
    return parse_request(_en)


def _cells(layer: str, q: MapQuery, level: Detail) -> dict[str, Any]:
    """Grid cells: ad hoc for raw-detail roles, the fixed release for everyone else."""

    if layer not in POINT:
        raise BadInput(
            f"Grid cells exist for point layers only ({', '.join(POINT)}), not {layer!r}."
        )
    db = get_db()
    if level != Detail.RAW:
        _no_ad_hoc()
        fc = (
            released_incidents(db, q, "en")
            if layer == Layer.INCIDENTS
            else released_survey(db, q, "en")
        )
        fc["min_count"] = fc.get("release", {}).get("min_count", get_settings().min_count)
        return fc
    k = current_rule(layer).k
    if layer == Layer.INCIDENTS:
        fc, _grid = incident_grid(db, q, k, per_category=True)
    else:
        fc = survey_grid(db, q, None, k)
    fc["min_count"] = k
    fc["cell_size"] = q.cell
    return fc


def _no_ad_hoc() -> None:
    """Roles below raw detail get fixed releases only: ad-hoc filters are refused (400)."""
    used = ad_hoc_args()
    if used:
        raise BadInput(
            f"The parameters {', '.join(used)} are for raw-detail roles. Aggregated data come "
            "as fixed releases: choose 'period' (52v, a year, a quarter such as 2025-K3) and "
            "'grupp' (a category group); see /api/releases."
        )


@bp.route("/releases")
def releases() -> Any:
    """The fixed releases an aggregated caller may ask for: periods, category groups, rules."""

    settings = get_settings()
    tz = local_timezone(settings)
    rule = disclosure.rule_for(detail(Layer.INCIDENTS), settings.min_count)
    return jsonify(
        {
            "cell_size": disclosure.RELEASE_CELL,
            "min_count": rule.k,
            "rounded_to": rule.base,
            "periods": [
                {
                    "id": p.key,
                    "title": p.label_sv,
                    "title_en": p.label_en,
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                }
                for p in disclosure.period_choices(tz=tz)
            ],
            "groups": [
                {"id": k, "title": label.sv, "title_en": label.en, "categories": list(cats)}
                for k, (label, cats) in disclosure.CATEGORY_GROUPS.items()
            ],
        }
    )


@bp.route("/layers")
def layers() -> Any:
    """The layers and how much of each the caller may see."""
    out = []
    for layer in RAW_COLUMNS:
        level = detail(layer)
        if level == Detail.HIDDEN:
            continue
        entry = {
            "id": str(layer),
            "title": LAYER_LABELS[layer].sv,
            "title_en": LAYER_LABELS[layer].en,
            "detail": str(level),
            "features": f"/api/layers/{layer}/features",
        }
        if layer in POINT:
            entry["grid"] = f"/api/layers/{layer}/grid"
        out.append(entry)
    return jsonify({"role": current_role(), "layers": out})


@bp.route("/layers/<layer>/features", endpoint="features")
def features(layer: str) -> Any:
    """GeoJSON (WGS84): raw features for RAW roles, aggregated cells for the others."""

    level = _layer(layer)
    q = _query()
    if level != Detail.RAW and layer in POINT:
        return jsonify({**_cells(layer, q, level), "detail": str(level)})
    db = get_db()
    cols = RAW_COLUMNS[layer]
    if layer in POINT:  # x/y columns, one vectorised reprojection, no GeoDataFrame
        frame = points_frame(db, layer, q.filters, columns=cols, limit=q.limit + 1)
        truncated = len(frame) > q.limit
        n = min(len(frame), q.limit)
        text, n = points_geojson(
            frame.iloc[: q.limit],
            cols,
            db.srid,
            detail=str(level),
            numberReturned=n,
            limit=q.limit,
            truncated=truncated,
        )
    else:
        frame = layer_frame(db, layer, q.filters, columns=cols, limit=q.limit + 1)
        truncated = len(frame) > q.limit
        fc = frame_geojson(frame.iloc[: q.limit], cols)
        n = len(fc["features"])
        fc.update(
            {"detail": str(level), "numberReturned": n, "limit": q.limit, "truncated": truncated}
        )
        text = None
    if layer in SENSITIVE:
        with db.session() as s:
            audit(
                s,
                "api_features",
                user=current_user,
                layer=layer,
                feature_count=n,
                detail=str(level),
                ip=request.remote_addr,
                extra={"query": request.query_string.decode("utf-8", "replace")[:500]},
            )
    if text is None:
        return jsonify(fc)
    return current_app.response_class(text, mimetype="application/json")


@bp.route("/layers/<layer>/grid", endpoint="grid")
def grid(layer: str) -> Any:
    """Aggregated cells (``?cell=`` metres); fewer than ``min_count`` records suppressed."""
    level = _layer(layer)
    return jsonify({**_cells(layer, _query(), level), "detail": "aggregated"})


@bp.route("/hotspots/<method>", endpoint="hotspot")
def hotspot(method: str) -> Any:
    """A hotspot layer for the map (loaded when switched on): features plus drawing options.

    Same rules as the page: the data's detail level decides (patrol needs RAW), features
    under ``min_count`` are dropped for aggregated roles. ``?lang=`` sets the popup language.
    """
    from tryggkarta import maps

    if method not in HOTSPOT_METHODS:
        raise NotFound(
            f"There is no hotspot method {method[:40]!r}; choose one of {', '.join(HOTSPOT_METHODS)}."
        )
    level, allowed = hotspot_level(method)
    if not allowed:
        if not current_user.is_authenticated:
            abort(401)
        raise Forbidden(f"Your role may not see the hotspot layer {method!r}.")
    q = _query()
    lang = (
        request.args.get("lang") if request.args.get("lang") in ("sv", "en") else current_language()
    )
    rule = current_rule(policy.HOTSPOT_LAYERS[method])
    if level != Detail.RAW:
        # a fixed release: every hotspot below raw detail is computed on the same data
        _no_ad_hoc()
        fixed = (
            Filters(municipality_code=installation_code())
            if method == "forecast"
            else release_filters(q)
        )
        q = replace(q, filters=fixed)
    found = hotspot_geojson(get_db(), method, q)
    if found is None:
        return jsonify({"type": "FeatureCollection", "features": [], "tk": {}})
    fc, title_sv, title_en = found
    fc = disclosure.disclose_features(fc, rule, lang)
    if method in policy.RAW_ONLY_METHODS:  # where and when police patrol: audit-logged
        with get_db().session() as s:
            audit(
                s,
                "view_raw",
                user=current_user,
                layer="incidents",
                detail=f"hotspots:{method}",
                feature_count=len(fc["features"]),
                ip=request.remote_addr,
            )

    def t(text: str, **params: object) -> str:
        return translate(text, lang, **params)

    layer = maps.hotspot_layer(
        fc,
        method,
        title_en if lang == "en" else title_sv,
        t,
        lang,
        min_count=rule.k,
    )
    return jsonify({**layer.layer.payload(), "detail": str(level)})


@bp.route("/survey-pins", endpoint="survey_pins")
def survey_pins_layer() -> Any:
    """The start page's individual survey answers (RAW survey roles), loaded when switched on.

    Embedding them made the police start page 1 MB for a layer that is off by default; the
    answers are written to the audit log when they are actually fetched.
    """
    from tryggkarta import maps

    if detail(Layer.SURVEY) != Detail.RAW:  # other roles see survey cells, never answers
        return jsonify({"type": "FeatureCollection", "features": [], "tk": {}})
    lang = (
        request.args.get("lang") if request.args.get("lang") in ("sv", "en") else current_language()
    )

    def t(text: str, **params: object) -> str:
        return translate(text, lang, **params)

    layer = maps.survey_pins(survey_pins(get_db(), _query(), current_user), t, lang)
    return jsonify(layer.layer.payload())
