"""One place that turns errors into answers: an HTML page, or JSON for /api and /ogc."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
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

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("Unhandled error on %s", request.path)
        return respond(500, "ServerError", None)
