"""Rendered public pages, kept per data version: the start page and ``/publik`` for visitors.

Under load the public start page spent its time building the same folium map and Jinja page
for every visitor (8 clients: 3 req/s, p50 0.8 s on a loaded machine). For an anonymous
visitor these pages depend only on the data, the language, the query string and the day, so
one rendering serves everyone until an import changes the data.

What must not be shared between visitors, and how it is kept out:

* **The CSP nonce.** The page is rendered with a per-process random placeholder instead of a
  nonce (:data:`PLACEHOLDER`); each answer gets a fresh nonce put in its place, and the
  ``Content-Security-Policy`` header names that fresh nonce. The placeholder is secret and
  random, so no stored text (an area's name, a project's description) can contain it and be
  given a nonce.
* **Anything of a session.** Only visitors who are not logged in, send no ``Authorization``
  and have no flashed messages waiting are served from the cache; a rendering that changed
  the session (a CSRF token made, a flash read) is not kept.

The key holds the data version (every dataset's id, checksum, import time and rows, as
:func:`tryggkarta.store.queries.data_version`, plus the stored settings, the analysis runs
and the drawn projects: :func:`_stored_state`), read from the database on each request: an
import made by another server process changes it, so every process's cache is right without
any message between them.

Logged-in users get their own page each time, around a map part kept per rights (role,
raw-data scope, organisation), query, language and data version (:func:`cached_context`).

Answers carry an ``ETag`` and ``Cache-Control: no-cache`` (a browser asks again each time;
``304 Not Modified`` when nothing changed). A 304 carries no ``Content-Security-Policy``: the
browser keeps the stored page with the stored header, whose nonce matches that page.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flask import Response, g, request, session
from flask_login import current_user

from tryggkarta import __version__
from tryggkarta.web.context import current_language, get_db, get_settings

#: Stands for the nonce in a stored page; random per process, never sent to anyone.
PLACEHOLDER = secrets.token_urlsafe(18)
#: Rendered pages kept per process (about 0.3 MB each at 1M incidents).
CACHE_SIZE = 32

_CACHE: OrderedDict[str, tuple[str, str]] = OrderedDict()
_LOCK = threading.Lock()
#: A lock per page being rendered now (see :func:`cached_page`).
_BUILDING: dict[str, threading.Lock] = {}


def shareable() -> bool:
    """True when this request's page may come from (and go into) the shared cache."""
    return (
        request.method in ("GET", "HEAD")
        and not current_user.is_authenticated
        and not request.headers.get("Authorization")
        and "_flashes" not in session
    )


def _stored_state(db: Any) -> list[list[str]]:
    """What the public pages show, as cheap facts: every dataset (id, layer, checksum, import
    time, rows: imports, undos and the web forms that add rows change it), every stored
    setting (the demo flag), the analysis runs (a computed forecast layer goes on the start
    page) and the drawn projects (they have no dataset; they are only ever added)."""
    from sqlalchemy import func, select

    from tryggkarta.store.models import AnalysisRun, Dataset, Project, Setting

    with db.session() as s:
        rows = s.execute(
            select(
                Dataset.id,
                Dataset.layer,
                Dataset.checksum,
                Dataset.imported_at,
                Dataset.rows_imported,
            ).order_by(Dataset.id)
        ).all()
        stored = s.execute(select(Setting.key, Setting.value).order_by(Setting.key)).all()
        runs = s.execute(select(func.count(), func.max(AnalysisRun.id))).all()
        drawn = s.execute(select(func.count(), func.max(Project.id))).all()
    return [[str(v) for v in row] for row in [*rows, *stored, *runs, *drawn]]


def page_key(extra: Sequence[Any] = ()) -> str:
    """What a public page depends on: path, query, language, day, data version and ``extra``."""
    from tryggkarta.config import local_timezone

    settings = get_settings()
    db = get_db()
    blob = json.dumps(
        [
            request.script_root,
            request.path,
            sorted(request.args.items(multi=True)),
            current_language(),
            # releases are cut at weeks and years in local time: a new day may change them
            datetime.now(local_timezone(settings)).date().isoformat(),
            str(db.engine.url),
            repr(settings),  # one per process in production; tests make apps of many kinds
            _stored_state(db),
            list(extra),
        ],
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _answer(html: str, etag: str) -> Response:
    from tryggkarta.web.security import csp_nonce

    if request.if_none_match.contains(etag):
        response = Response(status=304)
        g.tk_no_csp = True  # the stored page keeps its own header (see the module docstring)
    else:
        response = Response(html.replace(PLACEHOLDER, csp_nonce()), mimetype="text/html")
    response.set_etag(etag)
    # a visitor's first ?lang= sets their cookie: such an answer is theirs alone
    response.headers["Cache-Control"] = "private, no-cache" if session.modified else "no-cache"
    response.vary.add("Cookie")
    return response


def cached_page(render: Callable[[], str], extra: Sequence[Any] = ()) -> Response:
    """The page ``render()`` makes, from the shared cache when the visitor may share it.

    ``extra``: anything else the page shows that the data version does not cover (e.g. the
    measures listed on ``/publik``).
    """

    if not shareable():
        return Response(render(), mimetype="text/html")
    key = page_key(extra)
    hit = _lookup(key)
    if hit is None:
        # one thread renders a page, the others wait for it: eight visitors arriving at a
        # cold page made eight renderings at once, each eight times slower (60 s under load)
        with _LOCK:
            building = _BUILDING.setdefault(key, threading.Lock())
        with building:
            hit = _lookup(key)
            if hit is None:
                try:
                    return _render_and_keep(key, render)
                finally:
                    with _LOCK:
                        _BUILDING.pop(key, None)
    g.tk_page_cache = "hit"
    return _answer(*hit)


def _lookup(key: str) -> tuple[str, str] | None:
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
        return hit


def _render_and_keep(key: str, render: Callable[[], str]) -> Response:
    """Render with the placeholder nonce, keep the page unless it touched the session."""
    from tryggkarta.web.security import csp_nonce

    before = session.modified
    real_nonce = g.pop("csp_nonce", None)
    g.csp_nonce = PLACEHOLDER
    try:
        html = render()
    finally:
        g.pop("csp_nonce", None)
        if real_nonce is not None:
            g.csp_nonce = real_nonce
    if session.modified and not before:
        # the page wrote to this visitor's session (a CSRF token, a flash): not for others
        return Response(html.replace(PLACEHOLDER, csp_nonce()), mimetype="text/html")
    # from the key, not the text: folium gives its elements random ids, so two workers'
    # renderings of the same data differ in bytes but not in meaning, and a browser switching
    # between workers should still get its 304
    etag = hashlib.sha256(f"{__version__}:{key}".encode()).hexdigest()[:32]
    with _LOCK:
        _CACHE[key] = (html, etag)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    g.tk_page_cache = "miss"
    return _answer(html, etag)


_CONTEXTS: OrderedDict[str, dict[str, Any]] = OrderedDict()


def rights_key(user: Any) -> list[Any]:
    """What a logged-in user's map depends on besides the data: role, raw-data scope and
    organisation (never the user's name or session)."""
    from tryggkarta import policy

    codes = getattr(user, "municipality_codes", None)
    return [
        getattr(user, "role", None),
        sorted(codes) if codes is not None else None,
        getattr(user, "organisation_id", None),
        repr(policy.raw_scope(user)),
    ]


def cached_context(
    build: Callable[[], dict[str, Any]], extra: Sequence[Any] = ()
) -> dict[str, Any]:
    """A logged-in user's start-page context (the map's parts, filters, notes), kept per rights,
    query, language and data version; the page around it (their name, CSRF token, nonce) is
    rendered for each request. Users with the same rights share it: it holds nothing else."""
    key = page_key([*rights_key(current_user), *extra])
    with _LOCK:
        context = _CONTEXTS.get(key)
        if context is not None:
            _CONTEXTS.move_to_end(key)
            return context
        building = _BUILDING.setdefault("ctx:" + key, threading.Lock())
    with building:
        with _LOCK:
            context = _CONTEXTS.get(key)
        if context is None:
            try:
                context = build()
                with _LOCK:
                    _CONTEXTS[key] = context
                    while len(_CONTEXTS) > CACHE_SIZE:
                        _CONTEXTS.popitem(last=False)
            finally:
                with _LOCK:
                    _BUILDING.pop("ctx:" + key, None)
    return context


def clear() -> None:
    """Forget every kept page (tests; the data version makes it unnecessary otherwise)."""
    with _LOCK:
        _CACHE.clear()
        _CONTEXTS.clear()
