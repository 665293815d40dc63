"""OGC API – Features (Part 1: Core, GeoJSON) at ``/ogc`` for QGIS, ArcGIS and portals.

Public collections are aggregated and k-anonymous; raw collections (incidents, survey
answers) need a police or municipality login or an API token (``Authorization: Bearer …``)
and every read is audit-logged. The blueprint only parses and renders; the collections are
built by :mod:`tryggkarta.services.public`.

Raw collections page by key: a page's ``next`` link carries an opaque ``cursor`` (the last
id, signed with the secret key together with the collection and the filters it was made
for), so page 10 000 costs what page 1 costs on 15M rows. ``offset`` still works up to
:data:`MAX_OFFSET` for clients that build their own links. ``numberMatched`` is given when
it is at most :data:`tryggkarta.store.paging.COUNT_CAP` (counting 15M rows for every page
took seconds) and left out above, as OGC API – Features allows. ``bbox`` and ``datetime``
(RFC 3339 instant or interval, ``..`` for an open end) become SQL conditions that the
partitions' GiST and time indexes answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, url_for
from flask_login import current_user

from tryggkarta import params, policy
from tryggkarta.domain import Detail
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.geo import from_wgs84, parse_region
from tryggkarta.i18n import translate
from tryggkarta.services import ogc_core
from tryggkarta.services.ogc_core import RAW_COLLECTIONS
from tryggkarta.services.public import COLLECTIONS, allowed, collection
from tryggkarta.store import audit
from tryggkarta.web.auth import current_role
from tryggkarta.web.context import current_language, get_db, get_settings

bp = Blueprint("ogc", __name__, url_prefix="/ogc")
CSRF_EXEMPT = True

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT, MAX_LIMIT = 1000, 10_000
#: ``offset`` is read up to here (it walks that many rows); further on, follow ``next`` links.
MAX_OFFSET = 100_000
CURSOR_SALT = "tryggkarta.ogc.items.cursor"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _link(href: str, rel: str, type_: str, title: str = "") -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _visible(name: str) -> bool:
    return allowed(name, current_role())


def _collection_doc(name: str) -> dict[str, Any]:

    info = COLLECTIONS[name]
    region = parse_region(get_settings().region)
    return {
        "id": name,
        "title": info.title_en if current_language() == "en" else info.title_sv,
        "description": info.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [list(region.bbox)], "crs": CRS84}},
        "links": [
            _link(
                url_for("ogc.items", name=name, _external=True),
                "items",
                "application/geo+json",
                "Features",
            ),
            _link(
                url_for("ogc.one_collection", name=name, _external=True), "self", "application/json"
            ),
        ],
    }


@bp.route("")
@bp.route("/")
def landing() -> Any:
    return jsonify(
        {
            "title": "tryggkarta OGC API – Features",
            "description": "Aggregated safety-map layers; raw layers for police and municipality with an API token.",
            "links": [
                _link(url_for("ogc.landing", _external=True), "self", "application/json"),
                _link(
                    url_for("ogc.conformance", _external=True), "conformance", "application/json"
                ),
                _link(url_for("ogc.collections", _external=True), "data", "application/json"),
                _link(
                    url_for("ogc.api_document", _external=True),
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.0",
                ),
            ],
        }
    )


@bp.route("/conformance")
def conformance() -> Any:
    return jsonify({"conformsTo": CONFORMANCE})


@bp.route("/api")
def api_document() -> Any:
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Landing page", "responses": {"200": {"description": "Links"}}}},
        "/conformance": {
            "get": {"summary": "Conformance classes", "responses": {"200": {"description": "OK"}}}
        },
        "/collections": {
            "get": {"summary": "Collections", "responses": {"200": {"description": "OK"}}}
        },
    }
    params = [
        {
            "name": "bbox",
            "in": "query",
            "schema": {"type": "string"},
            "description": "minlon,minlat,maxlon,maxlat (CRS84)",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        },
        {
            "name": "datetime",
            "in": "query",
            "schema": {"type": "string"},
            "description": "RFC 3339 instant or interval (start/end, '..' open); raw collections",
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string"},
            "description": "opaque; from a 'next' link of a raw collection",
        },
    ]
    for name in COLLECTIONS:
        paths[f"/collections/{name}/items"] = {
            "get": {
                "summary": COLLECTIONS[name].title_en,
                "parameters": params,
                "responses": {"200": {"description": "GeoJSON"}},
            }
        }
    return jsonify(
        {
            "openapi": "3.0.3",
            "info": {"title": "tryggkarta OGC API – Features", "version": "1.0"},
            "paths": paths,
        }
    )


@bp.route("/collections")
def collections() -> Any:
    names = [n for n in COLLECTIONS if _visible(n)]
    return jsonify(
        {
            "collections": [_collection_doc(n) for n in names],
            "links": [
                _link(url_for("ogc.collections", _external=True), "self", "application/json")
            ],
        }
    )


@bp.route("/collections/<name>")
def one_collection(name: str) -> Any:
    _check(name)
    return jsonify(_collection_doc(name))


def _check(name: str) -> None:
    if name not in COLLECTIONS:
        raise NotFound(f"There is no collection {name[:40]!r}.")
    if not _visible(name):
        if not current_user.is_authenticated:
            abort(401)
        abort(403)


def _en(text: str, **values: object) -> str:
    return translate(text, "en", **values)


def _int(value: str | None, name: str, lo: int, hi: int, default: int) -> int:
    return params.parse_int(value, name, lo, hi, default, _en)


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None

    minx, miny, maxx, maxy = params.parse_bbox(value, _en)  # type: ignore[misc]
    region = parse_region(get_settings().region)
    rx0, ry0, rx1, ry1 = region.bbox
    if maxx < rx0 or minx > rx1 or maxy < ry0 or miny > ry1:
        raise BadInput(f"'bbox' lies outside the installation's region ({region.name}).")
    srid = get_settings().crs
    xs, ys = from_wgs84([minx, maxx, minx, maxx], [miny, miny, maxy, maxy], srid)
    return float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))


def _instant(text: str, end: bool) -> datetime:
    """One end of a ``datetime`` value: RFC 3339 with an offset (or ``Z``), or a calendar
    day (local time; as an end, the whole day is included)."""
    try:
        if len(text) == 10:
            day = params.parse_day(text, "datetime", _en)
            assert day is not None
            return params.local_midnight(day + timedelta(days=1) if end else day)
        if len(text) > 40:
            raise ValueError(text)
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or not 1900 <= when.year <= 2199:
        raise BadInput(
            f"'datetime' needs RFC 3339 times with a time zone, e.g. 2025-03-01T00:00:00Z or "
            f"2025-03-01T00:00:00Z/2025-04-01T00:00:00Z ('..' for an open end), not "
            f"{params.shown(text)!r}."
        )
    return when + timedelta(microseconds=1) if end else when


def _datetime(value: str | None) -> tuple[datetime | None, datetime | None]:
    """``datetime`` as [start, end) (end exclusive; the interval's end is inclusive in OGC)."""
    if value is None or not value.strip():
        return None, None
    text = value.strip()
    if "/" not in text:
        if text == "..":
            raise BadInput("'datetime' as one instant cannot be '..'.")
        return _instant(text, False), _instant(text, True)
    parts = text.split("/")
    if len(parts) != 2 or parts == ["..", ".."] or parts == ["", ""]:
        raise BadInput("'datetime' takes one instant or one interval start/end.")
    start = None if parts[0] in ("", "..") else _instant(parts[0], False)
    end = None if parts[1] in ("", "..") else _instant(parts[1], True)
    if start is not None and end is not None and start >= end:
        raise BadInput("'datetime': the interval ends before it starts.")
    return start, end


def _serializer() -> Any:
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(get_settings().secret_key, salt=CURSOR_SALT)


def _fingerprint(name: str) -> list[str]:
    """What a cursor is bound to: the collection and the filters of the request."""
    return [name, request.args.get("bbox", ""), request.args.get("datetime", "")]


def _cursor(value: str | None, name: str) -> int | None:
    """The last id of the previous page from a ``cursor`` this server signed, or None."""
    if value is None:
        return None
    from itsdangerous import BadSignature

    try:
        data = _serializer().loads(value) if len(value) <= 2000 else None
    except BadSignature:
        data = None
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not isinstance(data[1], int)
        or isinstance(data[1], bool)
    ):
        raise BadInput(
            "'cursor' is not one this server gave out: follow the 'next' link as it is, "
            "or start again from the first page."
        )
    if data[0] != _fingerprint(name):
        raise BadInput(
            "'cursor' belongs to another collection, bbox or datetime: keep the filters of the "
            "page it came from, or start again from the first page."
        )
    return data[1]


def _next_args(name: str, limit: int) -> dict[str, str | int]:
    kept = {
        k: request.args[k] for k in ("bbox", "datetime", "period", "grupp") if request.args.get(k)
    }
    return {"limit": limit, **kept}


@bp.route("/collections/<name>/items")
def items(name: str) -> Any:

    _check(name)
    limit = _int(request.args.get("limit"), "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
    offset = _int(request.args.get("offset"), "offset", 0, MAX_OFFSET, 0)
    bbox = _bbox(request.args.get("bbox"))
    start, end = _datetime(request.args.get("datetime"))
    db = get_db()
    next_href = None
    if name in RAW_COLLECTIONS:  # paged by key in SQL, counted up to a cap
        after = _cursor(request.args.get("cursor"), name)
        if after is not None and offset:
            raise BadInput("'offset' and 'cursor' cannot be combined: the cursor says where.")
        where = ogc_core.region_filters(db, bbox, scope=policy.raw_scope(current_user))
        got = ogc_core.items(
            db, name, where.replace(start=start, end=end), limit, offset, after=after
        )
        features, matched, returned = got.features, got.matched, got.returned
        if got.more and got.last_id is not None:
            token = _serializer().dumps([_fingerprint(name), got.last_id])
            next_href = url_for(
                "ogc.items", name=name, cursor=token, _external=True, **_next_args(name, limit)
            )
    else:
        if request.args.get("cursor") is not None:
            raise BadInput("'cursor' pages raw collections only; this one pages with 'offset'.")
        if start is not None or end is not None:
            raise BadInput(
                "'datetime' filters raw collections only; this one is aggregated per period "
                "('period')."
            )
        fc = collection(
            db,
            name,
            audience=_audience(name),
            bbox=bbox,
            params={k: request.args[k] for k in ("period", "grupp") if request.args.get(k)},
            page=(offset, limit),
        )
        if "numberMatched" in fc:  # built for this page only (release cells)
            page, matched = fc["features"], int(fc["numberMatched"])
        else:
            page, matched = fc["features"][offset : offset + limit], len(fc["features"])
        for i, feat in enumerate(page, start=offset):
            feat.setdefault("id", feat.get("properties", {}).get("id", i))
        features, returned = _dumps(page), len(page)
        if offset + limit < matched and offset + limit <= MAX_OFFSET:
            next_href = url_for(
                "ogc.items",
                name=name,
                offset=offset + limit,
                _external=True,
                **_next_args(name, limit),
            )
    if not COLLECTIONS[name].public:
        _audit_raw(name, returned)
    links = [_link(request.url, "self", "application/geo+json")]
    if next_href:
        links.append(_link(next_href, "next", "application/geo+json"))
    members: dict[str, Any] = {"numberReturned": returned, "links": links}
    if matched is not None:
        members = {"numberMatched": matched, **members}
    body = '{"type":"FeatureCollection","features":' + features + "," + _dumps(members)[1:]
    return Response(body, mimetype="application/geo+json")


@bp.route("/collections/<name>/items/<fid>")
def item(name: str, fid: str) -> Any:

    _check(name)
    if name in RAW_COLLECTIONS:  # by primary key in SQL
        text = ogc_core.item(get_db(), name, fid, scope=policy.raw_scope(current_user))
        if text is not None:
            _audit_raw(name, 1)
            return Response(text, mimetype="application/geo+json")
        raise NotFound(f"There is no feature {fid[:40]!r} in {name!r}.")
    fc = collection(get_db(), name, audience=_audience(name))
    for i, feat in enumerate(fc["features"]):
        if str(feat.get("properties", {}).get("id", i)) == fid:
            feat.setdefault("id", fid)
            if not COLLECTIONS[name].public:
                _audit_raw(name, 1)
            return Response(_dumps(feat), mimetype="application/geo+json")
    raise NotFound(f"There is no feature {fid[:40]!r} in {name!r}.")


def _audit_raw(name: str, count: int) -> None:
    """One audit row per raw read, committed before the response leaves (one INSERT on a
    connection of its own: no ORM session for a request that writes nothing else)."""
    with get_db().engine.begin() as conn:
        audit(
            conn,
            "view_raw",
            user=current_user,
            layer=COLLECTIONS[name].layer,
            detail=f"ogc:{name}",
            feature_count=count,
            ip=request.remote_addr,
            now=True,
        )


def _audience(name: str) -> str:
    """The export audience whose rule applies to the current user for collection ``name``."""
    level = policy.detail(current_user, COLLECTIONS[name].layer)
    return "internal" if level is Detail.RAW else "public"


def _dumps(body: Any) -> str:
    import json

    return json.dumps(body, ensure_ascii=False, default=str)
