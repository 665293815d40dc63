"""Raw incidents as vector tiles: ``/tiles/incidents/<z>/<x>/<y>.mvt`` (Mapbox Vector Tile).

For roles that see incidents at raw detail only (:func:`tryggkarta.policy.detail`); anyone
else gets 403 (401 when not signed in). The same query parameters as the API's features
(period, category, …) filter the tile. What a tile holds is described in
:mod:`tryggkarta.store.tiles`: points from zoom 13, counts per 250 m / 1 km / 5 km cell
further out. Every tile of raw points is written to the audit log with its feature count,
like a raw read of the API.

Tiles are cached in the process (keyed by the data version, so an import or a delete is
seen at once) and carry an ETag (304 for a client that revalidates). The app's headers
mark signed-in responses ``no-store``: no shared or disk cache keeps raw data.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from flask import Blueprint, Response, abort, request
from flask_login import current_user

from tryggkarta.domain import Detail, Layer
from tryggkarta.errors import Forbidden
from tryggkarta.i18n import translate
from tryggkarta.store import audit
from tryggkarta.store.queries import data_version
from tryggkarta.store.tiles import Tile, check_tile, incident_tile
from tryggkarta.web.auth import detail
from tryggkarta.web.context import get_db
from tryggkarta.web.mapview import parse_request

bp = Blueprint("tiles", __name__, url_prefix="/tiles")

MIMETYPE = "application/vnd.mapbox-vector-tile"
_CACHE: OrderedDict[str, Tile] = OrderedDict()
_CACHE_SIZE = 512
_LOCK = threading.Lock()


@bp.route("/incidents/<int:z>/<int:x>/<int:y>.mvt", endpoint="incidents")
def incidents(z: int, x: int, y: int) -> Any:
    """One tile of incidents (points or cells); 204 when it holds nothing."""
    if detail(Layer.INCIDENTS) != Detail.RAW:
        if not current_user.is_authenticated:
            abort(401)
        raise Forbidden("Vector tiles of incidents are for roles that see raw incidents.")
    check_tile(z, x, y)
    db = get_db()
    q = parse_request(lambda text, **p: translate(text, "en", **p))
    version = data_version(db, (Layer.INCIDENTS,))
    blob = [str(db.engine.url), id(db), z, x, y, q.filters.cache_dict(), *version]
    key = hashlib.sha256(json.dumps(blob, default=str).encode()).hexdigest()[:32]
    with _LOCK:
        tile = _CACHE.get(key)
        if tile is not None:
            _CACHE.move_to_end(key)
    if tile is None:
        tile = incident_tile(db, z, x, y, q.filters)
        with _LOCK:
            _CACHE[key] = tile
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    response = Response(tile.data, status=200 if tile.features else 204, mimetype=MIMETYPE)
    response.headers["X-Tile-Kind"] = tile.kind
    if tile.cell:
        response.headers["X-Tile-Cell"] = str(int(tile.cell))
        response.headers["X-Tile-Source"] = tile.source
    if tile.features:
        response.set_etag(key)
        response = response.make_conditional(request)
    if tile.kind == "points" and tile.features and response.status_code == 200:
        with db.session() as s:
            audit(
                s,
                "tile_incidents",
                user=current_user,
                layer=Layer.INCIDENTS,
                feature_count=tile.features,
                detail=str(Detail.RAW),
                ip=request.remote_addr,
                extra={"tile": f"{z}/{x}/{y}", "query": request.query_string.decode()[:500]},
            )
    return response
