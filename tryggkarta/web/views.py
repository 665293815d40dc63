"""HTML pages: the start page (municipality map) and the health endpoint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from tryggkarta import __version__
from tryggkarta.errors import StoreError
from tryggkarta.web.context import get_db

bp = Blueprint("views", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    """Liveness and database check for load balancers and monitoring."""

    db = get_db()
    try:
        db.check()
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except StoreError as exc:
        return jsonify({"status": "error", "database": exc.message, "version": __version__}), 503
    return jsonify({"status": "ok", "database": db.dialect, "version": __version__})


@bp.route("/")
def index() -> Any:
    from flask_login import current_user

    from tryggkarta.web import mapview
    from tryggkarta.web.pagecache import cached_context, cached_page

    if current_user.is_authenticated:
        # the map is the same for everyone with these rights; the page around it is theirs
        context = cached_context(mapview.start_page_context)
        return render_template("index.html", **context)
    # a visitor who is not logged in gets the page rendered once per data version and language
    return cached_page(lambda: render_template("index.html", **mapview.start_page_context()))
