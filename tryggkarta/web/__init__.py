"""The Flask application factory.

``create_app(config)`` builds the app from a mapping of settings overrides (same keys as
:class:`tryggkarta.config.Settings`, plus Flask keys in upper case). Nothing happens at
import time. The database is opened once per app and kept in ``app.extensions``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import Flask, g, request, session
from flask_wtf.csrf import CSRFProtect

from tryggkarta import __version__
from tryggkarta.config import load_settings
from tryggkarta.domain import ROLE_LABELS
from tryggkarta.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    format_date,
    format_datetime,
    format_number,
)
from tryggkarta.paths import static_dir, templates_dir
from tryggkarta.store import Database
from tryggkarta.web.context import (  # re-exported: the request context lives there
    _,
    current_language,
    get_db,
    get_settings,
    is_demo,
)

__all__ = ["_", "create_app", "csrf", "current_language", "get_db", "get_settings", "is_demo"]

log = logging.getLogger(__name__)
csrf = CSRFProtect()

#: Blueprint modules, each exposing ``bp``. Registered in this order.
BLUEPRINTS = (
    "tryggkarta.web.auth",
    "tryggkarta.web.views",
    "tryggkarta.web.assets",
    "tryggkarta.web.basemap",
    "tryggkarta.web.tiles",
    "tryggkarta.web.api",
    "tryggkarta.web.imports",
    "tryggkarta.web.lagesbild",
    "tryggkarta.web.measures",
    "tryggkarta.web.reports",
    "tryggkarta.web.promises",
    "tryggkarta.web.shared",
    "tryggkarta.web.projects",
    "tryggkarta.web.ogc",
    "tryggkarta.web.admin",
    "tryggkarta.web.survey",
    "tryggkarta.web.places",
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides settings (``database_url``, ``crs``, …) and Flask keys."""
    config = dict(config or {})
    settings = config.pop("settings", None) or load_settings(
        {k: v for k, v in config.items() if not k.isupper()}
    )
    app = Flask(
        "tryggkarta",
        template_folder=str(templates_dir()),
        static_folder=str(static_dir()),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in config.items() if k.isupper()})
    if settings.extra.get("secret_key_generated") and not app.testing:
        log.warning("TRYGGKARTA_SECRET_KEY is not set: sessions will not survive a restart.")

    app.extensions["tryggkarta.settings"] = settings
    # bounded: statement and lock-wait limits, so one slow request cannot hold the site
    app.extensions["tryggkarta.db"] = Database(settings, bounded=True)

    from tryggkarta.web import auth, errors, security

    security.install(app, settings)  # its request guard must run before CSRF reads a body
    csrf.init_app(app)
    from tryggkarta.web import access

    auth.init_app(app)
    access.init_app(app)
    errors.init_app(app)
    for name in BLUEPRINTS:
        module = importlib.import_module(name)
        app.register_blueprint(module.bp)
        if getattr(module, "CSRF_EXEMPT", False):
            csrf.exempt(module.bp)

    _install_i18n(app)
    security.install_limiter(app, settings)
    security.install_headers(app, settings)
    return app


def _background() -> Any:
    """The installation's background map (see :func:`tryggkarta.web.basemap.current_background`):
    the forms' small maps draw the same one as the map pages, never a configured tile server
    when a local MBTiles file is set, and nothing at all for ``none``."""
    from tryggkarta.web.basemap import current_background

    return current_background()


def _install_i18n(app: Flask) -> None:
    @app.before_request
    def choose_language() -> None:
        wanted = request.args.get("lang")
        if wanted in LANGUAGES:
            session["lang"] = wanted
        g.lang = session.get("lang") or DEFAULT_LANGUAGE

    @app.context_processor
    def i18n_helpers() -> dict[str, Any]:
        lang = current_language()
        return {
            "_": _,
            "lang": lang,
            "other_lang": "en" if lang == "sv" else "sv",
            "fmt_number": lambda v, digits=1: format_number(v, lang, digits),
            "fmt_date": lambda v, fmt="medium": format_date(v, lang, fmt),
            "fmt_datetime": lambda v, fmt="short": format_datetime(v, lang, fmt),
            "app_version": __version__,
            "settings": get_settings(),
            # the background map for the forms' small maps (local MBTiles, tile server, none)
            "background": _background,
            "url_rules": app.view_functions.keys(),
            "role_label": lambda role: ROLE_LABELS[role].get(lang) if role in ROLE_LABELS else role,
            "demo_mode": is_demo(),
        }
