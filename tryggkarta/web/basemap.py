"""The local background map: ``/basemap/<z>/<x>/<y>.png`` from ``TRYGGKARTA_BASEMAP``.

Tiles of the municipality's MBTiles file (see :mod:`tryggkarta.maps.basemap`), open to
everyone like the vendor assets: a background map holds no incident data. The URL takes
whole numbers only, so no path reaches the file system. 404 when no file is configured or
the address is outside the file's zoom range or the tile grid; 204 when the file simply has
no tile there (outside the municipality), so the browser draws nothing and retries nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, request, url_for

from tryggkarta.maps.basemap import Background, background, open_basemap
from tryggkarta.web import get_settings

bp = Blueprint("basemap", __name__)

#: A basemap changes only when the file is replaced (with a restart): cache for a day.
MAX_AGE = 24 * 3600


@bp.route("/basemap/<int:z>/<int:x>/<int:y>.png")
def tile(z: int, x: int, y: int) -> Any:
    """One background tile, 204 where the file has none, 404 outside it."""
    path = get_settings().basemap
    if not path:
        abort(404)
    tiles = open_basemap(path)
    if not tiles.covers(z, x, y):
        abort(404)
    found = tiles.tile(z, x, y)
    if found is None:
        response = Response(status=204)
    else:
        response = Response(found.data, mimetype=found.content_type)
        response.set_etag(found.etag)
        response = response.make_conditional(request)
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response


def current_background() -> Background:
    """This app's background map, with the local tile URL under the app's own prefix."""
    settings = get_settings()
    local = url_for("basemap.tile", z=0, x=0, y=0).removesuffix("0/0/0.png") + "{z}/{x}/{y}.png"
    return background(settings.tile_url, settings.tile_attribution, settings.basemap, local)
