"""One place that turns errors into answers: an HTML page, or JSON for /api and /ogc."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from tryggkarta.errors import TryggkartaError

log = logging.getLogger(__name__)

#: Swedish sentence per HTTP status (translated by the template's ``_``).
MESSAGES = {
    400: "Felaktig begäran.",
    401: "Logga in för att se fler lager.",
    403: "Du har inte behörighet till det här.",
    404: "Sidan finns inte.",
    410: "Länken har gått ut.",
    413: "Filen är för stor.",
    503: "Databasen kan inte nås just nu.",
}


def wants_json() -> bool:
    if request.path.startswith(("/api", "/ogc")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def respond(status: int, code: str, message: str | None) -> Any:
    if wants_json():
        return jsonify({"code": code, "description": message or MESSAGES.get(status, "")}), status
    return render_template(
        "error.html",
        status=status,
        message=message,
        fallback=MESSAGES.get(status, "Något gick fel"),
    ), status


#: PostgreSQL: statement_timeout (57014), lock_timeout (55P03); SQLite: the progress handler.
LIMIT_STATES = ("57014", "55P03")


def over_limit(exc: BaseException) -> bool:
    """Whether ``exc`` is a statement or lock-wait limit of :class:`~tryggkarta.store.engine.Limits`."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    text = str(orig or exc).lower()
    return state in LIMIT_STATES or "interrupted" in text or "database is locked" in text


def init_app(app: Flask) -> None:
    @app.errorhandler(TryggkartaError)
    def domain_error(exc: TryggkartaError) -> Any:
        if exc.http_status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return respond(exc.http_status, exc.code, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        return respond(400, "CSRF", "Sessionen har gått ut, försök igen.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        return respond(status, exc.name.replace(" ", ""), None)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_busy(exc: Exception) -> Any:
        """A statement over its time limit, a lock wait given up (a bulk import holds the
        table), no free connection, or the database gone: 503 and "try again", not a hang."""
        if isinstance(exc, PoolTimeout) or over_limit(exc):
            log.warning("database busy on %s: %s", request.path, str(exc).splitlines()[0][:200])
        else:
            log.exception("database error on %s", request.path)
        response = make_response(respond(503, "DatabaseBusy", None))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("Unhandled error on %s", request.path)
        return respond(500, "ServerError", None)
