"""Place search for the map pages (``/api/platser?q=…``): districts, named places, addresses.

Logic in :mod:`tryggkarta.services.places`; names and points only (public facts: no incident
or survey data), so the route is open to every role. Messages in the page's language.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from tryggkarta import params
from tryggkarta.services import places
from tryggkarta.web.context import _, get_db

bp = Blueprint("places", __name__)


@bp.route("/api/platser")
def search() -> Any:
    """``q`` (2–100 characters), ``limit`` (1–50, default 10): matches as JSON."""
    text = places.parse_search(request.args.get("q"), _)
    limit = params.parse_int(request.args.get("limit"), "limit", 1, places.MAX_RESULTS, 10, _)
    results = places.search(get_db(), text, limit)
    return jsonify({"query": text, "results": results})
