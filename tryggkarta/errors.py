"""Domain errors that know their answer.

Raised deep in the code, turned into a page, a JSON/OGC error or a CLI message in one place
per interface. ``message`` is safe to show to a user; ``http_status`` is the HTTP answer.
"""

from __future__ import annotations


class TryggkartaError(Exception):
    http_status = 500
    code = "ServerError"
    default_message = "Something went wrong."

    def __init__(self, message: str | None = None, *, details: object = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class ConfigError(TryggkartaError):
    code = "ConfigError"
    default_message = "The configuration is invalid."


class StoreError(TryggkartaError):
    http_status = 503
    code = "StoreUnavailable"
    default_message = "The database cannot be used."


class BadInput(TryggkartaError):
    http_status = 400
    code = "InvalidParameterValue"
    default_message = "The input is invalid."


class NotFound(TryggkartaError):
    http_status = 404
    code = "NotFound"
    default_message = "Not found."


class Forbidden(TryggkartaError):
    http_status = 403
    code = "Forbidden"
    default_message = "You do not have access to this."


class Gone(TryggkartaError):
    http_status = 410
    code = "Gone"
    default_message = "This link has expired."


class TooLarge(TryggkartaError):
    http_status = 413
    code = "PayloadTooLarge"
    default_message = "The upload is too large."
