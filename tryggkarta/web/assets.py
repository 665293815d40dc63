"""Self-hosted front-end assets: ``/vendor/<package>/<path>`` from XStatic packages and npm.

Police networks are closed: every script, style sheet and font a map needs comes from here
(see :mod:`tryggkarta.maps.assets`). Paths are resolved inside the package folder only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, send_file

from tryggkarta.maps.assets import resolve

bp = Blueprint("assets", __name__)

#: Vendor files change only with a package upgrade: cache for 30 days.
MAX_AGE = 30 * 24 * 3600


@bp.route("/vendor/<package>/<path:path>")
def vendor(package: str, path: str) -> Any:
    """One file of a vendored front-end package, or 404."""
    target = resolve(package, path)
    if target is None:
        abort(404)
    response = send_file(target, max_age=MAX_AGE, conditional=True)
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response
