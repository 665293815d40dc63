"""The local background map and the one background every map draws.

``/basemap/<z>/<x>/<y>.png`` (raster) and ``/basemap/<z>/<x>/<y>.pbf`` (vector, Mapbox
Vector Tiles) serve the tiles of ``TRYGGKARTA_BASEMAP`` (see :mod:`tryggkarta.maps.basemap`),
open to everyone like the vendor assets: a background map holds no incident data. The URL
takes whole numbers only, so no path reaches the file system. 404 when no file is configured,
the file is of the other kind, or the address is outside the file's zoom range or the tile
grid; 204 when the file simply has no tile there (outside the municipality), so the browser
draws nothing and retries nothing.

Vector tiles are stored gzipped; a browser that accepts gzip gets them as stored with
``Content-Encoding: gzip`` (it unpacks them before protomaps-leaflet sees the bytes), any
other client gets them unpacked.

``/basemap/kontext.geojson`` is what the maps draw when there is no background at all:
boundaries and the names of districts and places (:mod:`tryggkarta.services.basemap_context`).

:func:`background_options` is the one description of the background for the pages: the
templates write it with ``{{ background_attrs() }}`` as ``data-background`` and the folium
maps pass it to the same ``tryggkartaPage.background`` (``static/js/app.js``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from tryggkarta import policy
from tryggkarta.errors import ConfigError
from tryggkarta.maps.assets import available, vendor_url
from tryggkarta.maps.basemap import Background, Tile, background, open_basemap
from tryggkarta.web import get_settings
from tryggkarta.web.context import current_language

bp = Blueprint("basemap", __name__)

#: A basemap changes only when the file is replaced (with a restart): cache for a day.
MAX_AGE = 24 * 3600
#: The context changes when areas or places are imported: cache for a few minutes.
CONTEXT_MAX_AGE = 300
#: protomaps-leaflet under the vendor prefix (npm, copied by ``build_assets``).
PROTOMAPS_JS = "protomaps-leaflet/protomaps-leaflet.js"


def _file_tile(z: int, x: int, y: int, *, vector: bool) -> Tile | Response | None:
    path = get_settings().basemap
    if not path:
        abort(404)
    tiles = open_basemap(path)
    if tiles.vector is not vector or not tiles.covers(z, x, y):
        abort(404)
    try:
        return tiles.tile(z, x, y)
    except ConfigError as exc:
        # one damaged tile or directory: say so in the log, draw nothing there
        current_app.logger.warning("basemap %s/%s/%s: %s", z, x, y, exc)
        response = Response(status=404)
        response.headers["Cache-Control"] = "no-store"
        return response


def _cached(response: Response) -> Response:
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response


@bp.route("/basemap/<int:z>/<int:x>/<int:y>.png")
def tile(z: int, x: int, y: int) -> Any:
    """One raster background tile, 204 where the file has none, 404 outside it."""
    found = _file_tile(z, x, y, vector=False)
    if isinstance(found, Response):
        return found
    if found is None:
        return _cached(Response(status=204))
    response = Response(found.data, mimetype=found.content_type)
    response.set_etag(found.etag)
    return _cached(response.make_conditional(request))


@bp.route("/basemap/<int:z>/<int:x>/<int:y>.pbf")
def vector_tile(z: int, x: int, y: int) -> Any:
    """One vector background tile (MVT): gzip as stored when the client accepts it, else
    unpacked; 204 where the file has none, 404 outside it."""
    found = _file_tile(z, x, y, vector=True)
    if isinstance(found, Response):
        return found
    if found is None:
        return _cached(Response(status=204))
    if found.encoding == "gzip" and request.accept_encodings["gzip"]:
        response = Response(found.data, mimetype=found.content_type)
        response.headers["Content-Encoding"] = "gzip"
        etag = found.etag
    else:
        try:
            data = found.decoded()
        except ConfigError as exc:
            current_app.logger.warning("basemap %s/%s/%s: %s", z, x, y, exc)
            return Response(status=404, headers={"Cache-Control": "no-store"})
        response = Response(data, mimetype=found.content_type)
        # the same tile in another encoding is another representation: another ETag
        etag = found.etag + ("-identity" if found.encoding else "")
    response.headers["Vary"] = "Accept-Encoding"
    response.set_etag(etag)
    return _cached(response.make_conditional(request))


@bp.route("/basemap/kontext.geojson")
def context() -> Any:
    """Municipality and district outlines with district and place names (WGS84), drawn by
    every map when there is no background map."""
    from tryggkarta.domain import Detail, Layer
    from tryggkarta.services.basemap_context import context_geojson
    from tryggkarta.web.context import get_db

    if policy.detail(current_user, Layer.AREAS) is Detail.HIDDEN:
        return jsonify({"type": "FeatureCollection", "features": []})
    response = jsonify(context_geojson(get_db(), get_settings().region))
    response.headers["Cache-Control"] = f"public, max-age={CONTEXT_MAX_AGE}"
    return response


def current_background() -> Background:
    """This app's background map, with the local tile URLs under the app's own prefix."""
    settings = get_settings()
    prefix = url_for("basemap.tile", z=0, x=0, y=0).removesuffix("0/0/0.png")
    return background(
        settings.tile_url,
        settings.tile_attribution,
        settings.basemap,
        prefix + "{z}/{x}/{y}.png",
        prefix + "{z}/{x}/{y}.pbf",
    )


def background_options(bg: Background | None = None) -> dict[str, Any]:
    """The background as ``tryggkartaPage.background`` reads it: kind, tile URL, escaped
    attribution, zooms; for vector tiles where protomaps-leaflet is served; without a
    background the URL of the context to draw."""
    from tryggkarta.web.mapview import vendor_prefix

    bg = bg or current_background()
    script = ""
    if bg.kind == "vector" and available(PROTOMAPS_JS):
        script = vendor_url(PROTOMAPS_JS, vendor_prefix())
    return bg.options(script=script, context=url_for("basemap.context"), lang=current_language())


def background_attrs() -> Markup:
    """`` data-background="…"`` for a small map's element (the JSON, attribute-escaped)."""
    return Markup(' data-background="%s"') % escape(json.dumps(background_options()))  # noqa: S704


@bp.app_context_processor
def _background_helpers() -> dict[str, Any]:
    return {"background_attrs": background_attrs}
