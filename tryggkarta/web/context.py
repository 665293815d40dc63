"""The request's context for views and helpers: the database, the settings, the language.

A leaf module (as flaskr's ``db.py``): it imports nothing from the rest of ``tryggkarta.web``,
so blueprints and helpers import these at module level instead of inside functions.
"""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy import select

from tryggkarta.config import Settings
from tryggkarta.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate
from tryggkarta.services.municipalities import Reach, scope_filters
from tryggkarta.store import Database, Filters
from tryggkarta.store.models import Setting

__all__ = [
    "_",
    "current_count_scope",
    "current_language",
    "current_reach",
    "get_db",
    "get_settings",
    "is_demo",
]


def get_db() -> Database:
    """The app's database (one per app, opened by ``create_app``)."""
    return current_app.extensions["tryggkarta.db"]


def get_settings() -> Settings:
    return current_app.extensions["tryggkarta.settings"]


def current_reach() -> Reach:
    """The municipalities the signed-in user's records may belong to: the installation's,
    narrowed to their EST-group scope. Campaigns, projects, measures, promises and imports
    ask it (never a role name), so the one rule of :mod:`tryggkarta.services.municipalities`
    and :func:`tryggkarta.policy.raw_scope` decides everywhere."""
    from flask_login import current_user

    from tryggkarta import policy

    return Reach.of(get_settings().region, policy.raw_scope(current_user))


def current_count_scope() -> Filters:
    """Store filters that keep raw incident counts (a measure's evaluation, a promise's
    follow-up) to the signed-in user's municipality or EST group: a ring around a place
    near the border counts nothing in a municipality outside it."""
    from flask_login import current_user

    from tryggkarta import policy
    from tryggkarta.geo import parse_region

    return scope_filters(parse_region(get_settings().region), policy.raw_scope(current_user))


def is_demo() -> bool:
    """True when the database holds the synthetic demo data (set by ``tryggkarta demo``)."""
    try:
        with get_db().session() as s:
            return s.scalar(select(Setting.value).where(Setting.key == "demo")) == "1"
    except Exception:
        return False


def current_language() -> str:
    lang = getattr(g, "lang", None)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _(text: str, **params: object) -> str:
    """Translate a Swedish UI string into the request's language."""
    return translate(text, current_language(), **params)
