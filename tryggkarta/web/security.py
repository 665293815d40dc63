"""HTTP-level protection: request guard, body limits, rate limits, cookies, headers.

:func:`tryggkarta.web.create_app` calls :func:`install` (guard, cookies, proxies) before
CSRFProtect, then :func:`install_limiter` and :func:`install_headers`:

* :func:`guard_request` runs before any other ``before_request`` hook (CSRF included) and so
  before any body is read: a POST/PUT/PATCH/DELETE from an anonymous visitor to anything but a
  view marked :func:`~tryggkarta.web.auth.anonymous_post` gets 401 (or the login page), one
  from a user whose role the view does not admit gets 403, and a body larger than the route
  allows gets 413 — all without reading the body. Upload views
  (:func:`~tryggkarta.web.auth.accepts_upload`) may take ``max_upload_mb``; every other route
  :data:`SMALL_BODY`. CSRF-exempt views accept only a bearer token: a browser session cookie
  there would let any web page post in the user's name.
* Flask-Limiter: failed logins per username+IP and all logins per IP (checked before the
  password is hashed), and the API (``/api``, ``/ogc``) per token, user or IP.
* The session cookie is ``Secure`` (``TRYGGKARTA_SECURE_COOKIES``); ``X-Forwarded-*`` from
  ``TRYGGKARTA_TRUSTED_PROXIES`` proxies are believed (werkzeug's ProxyFix).
* Headers: a Content-Security-Policy with a per-request nonce and no ``unsafe-inline``,
  ``Cache-Control: no-store`` for logged-in users, token clients and pages that set cookies.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter, RateLimitExceeded
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from tryggkarta import policy
from tryggkarta.config import Settings
from tryggkarta.web.context import _, get_settings

log = logging.getLogger(__name__)

#: Largest body of a request that is not a file upload.
SMALL_BODY = 1024 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


# --- cookies -------------------------------------------------------------------------------


def _is_loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def cookie_secure(settings: Settings) -> bool:
    """Whether this request's session cookie gets ``Secure``.

    ``auto`` (the default): always, except for plain http to a loopback host (the demo and
    development on one's own machine). A server reached over plain http under another name
    then cannot log anyone in — on purpose: the login page says https is needed.
    """
    mode = settings.secure_cookies
    if mode == "true":
        return True
    if mode == "false":
        return False
    return request.is_secure or not _is_loopback_host(request.host)


def cookies_need_tls() -> bool:
    """True when the browser would drop our cookie: Secure cookies over plain http.

    A request that a proxy marks ``X-Forwarded-Proto: https`` came over TLS to the browser,
    so its Secure cookie works even when the proxy is not (yet) trusted; trusting it
    (``TRYGGKARTA_TRUSTED_PROXIES``) is still needed for client IPs and HSTS.
    """

    if request.is_secure or not cookie_secure(get_settings()):
        return False
    if request.headers.get("X-Forwarded-Proto", "").lower() == "https":
        log.warning(
            "X-Forwarded-Proto from an untrusted proxy: set TRYGGKARTA_TRUSTED_PROXIES so "
            "client addresses (audit log, rate limits) are the clients', not the proxy's."
        )
        return False
    return True


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session with a ``Secure`` flag decided per request."""

    def get_cookie_secure(self, app: Flask) -> bool:
        settings = app.extensions["tryggkarta.settings"]
        try:
            return cookie_secure(settings)
        except RuntimeError:  # outside a request
            return settings.secure_cookies != "false"


# --- the request guard ---------------------------------------------------------------------


def _csrf_exempt(app: Flask, view: Any) -> bool:
    from tryggkarta.web import csrf

    name = f"{view.__module__}.{view.__name__}"
    blueprint = request.blueprint
    return name in csrf._exempt_views or (
        blueprint is not None and blueprint in csrf._exempt_blueprints
    )


def _token_only() -> Any:
    """A CSRF-exempt write needs a bearer token: a browser's session cookie is not enough."""
    from tryggkarta.web.auth import bearer_token

    if bearer_token() is not None:
        return None  # checked and loaded by _bearer_user
    response = jsonify(
        {
            "code": "token_required",
            "description": "This endpoint needs an API token (Authorization: Bearer …); "
            "a browser session is not accepted here.",
        }
    )
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="tryggkarta"'
    return response


def _bearer_user() -> Any:
    """A request that sends a bearer token is that token's user, or refused with 401.

    A wrong, expired or revoked token is an error the client must see (not a silent
    downgrade to an anonymous visitor), and with a token the session cookie is not consulted.
    """
    from tryggkarta.web.auth import bearer_token, user_from_token

    token = bearer_token()
    if token is None:
        return None
    user = user_from_token(token)
    if user is None:
        response = jsonify(
            {"code": "bad_token", "description": "The API token is unknown, expired or revoked."}
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="tryggkarta", error="invalid_token"'
        return response
    g._login_user = user  # Flask-Login's per-request user
    return None


def guard_request() -> Any:
    """Refuse a write that is anonymous, of the wrong role or too large — before any read."""
    from flask import current_app

    from tryggkarta.web.auth import login_manager

    refused = _bearer_user()
    if refused is not None:
        return refused
    if request.method in SAFE_METHODS or request.endpoint is None:
        return None
    app = current_app
    view = app.view_functions.get(request.endpoint)
    if view is None:
        return None
    upload_limit = app.config.get("MAX_CONTENT_LENGTH")  # max_upload_mb unless overridden
    if getattr(view, "_tk_upload", False):
        request.max_content_length = upload_limit
    else:
        most = min(SMALL_BODY, getattr(view, "_tk_max_body", SMALL_BODY))  # a smaller limit
        request.max_content_length = min(most, upload_limit or most)
    if _csrf_exempt(app, view):
        refused = _token_only()
        if refused is not None:
            return refused
    elif not getattr(view, "_tk_anonymous_post", False) and not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not policy.route_allowed(current_user, request.endpoint):  # the one policy
        from flask import abort

        abort(403)
    length, most = request.content_length, request.max_content_length
    if length is not None and most is not None and length > most:
        raise RequestEntityTooLarge()
    return None


# --- rate limits ---------------------------------------------------------------------------


def client_key() -> str:
    """API rate-limit key: the token (hashed), else the logged-in user, else the IP address."""
    from tryggkarta.web.auth import bearer_token

    token = bearer_token()
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr or '-'}"


def _failed_login(response: Response) -> bool:
    return response.status_code in (400, 401)


def install_limiter(app: Flask, settings: Settings) -> Limiter:
    """One Flask-Limiter per app (own counters), limits on login, password change and the API."""
    from tryggkarta.web import api, auth, ogc

    limiter = Limiter(
        key_func=client_key,
        app=app,
        storage_uri=settings.ratelimit_storage,
        headers_enabled=True,
        strategy="moving-window",
        in_memory_fallback_enabled=True,  # a dead Redis falls back to per-process counters
    )

    def limit(endpoint: str, *limits: tuple[str, Any, bool]) -> None:
        view = app.view_functions[endpoint]
        for value, key, failures_only in limits:
            view = limiter.limit(
                value,
                key_func=key,
                methods=["POST"],
                deduct_when=_failed_login if failures_only else None,
            )(view)
        app.view_functions[endpoint] = view

    limit(
        "auth.login",
        (settings.login_ip_rate_limit, auth.login_ip_key, False),
        (settings.login_rate_limit, auth.login_key, True),
    )
    limit("auth.change_password", (settings.login_rate_limit, client_key, True))
    for blueprint in (api.bp, ogc.bp):
        limiter.limit(settings.api_rate_limit, key_func=client_key)(blueprint)
    view = app.view_functions["imports.api_import"]
    app.view_functions["imports.api_import"] = limiter.limit(
        settings.api_rate_limit, key_func=client_key
    )(view)
    from tryggkarta.web import survey

    limit("survey.form", (survey.RATE_LIMIT, survey.rate_key, False))
    # the form's place suggestions: as the API, keyed like the answers (a daily-salted hash)
    app.view_functions["survey.place_search"] = limiter.limit(
        settings.api_rate_limit, key_func=survey.rate_key
    )(app.view_functions["survey.place_search"])
    app.extensions["tryggkarta.limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded) -> Any:
        from tryggkarta.web.errors import wants_json

        retry = "60"
        if wants_json():
            response = jsonify(
                {
                    "code": "too_many_requests",
                    "description": f"Too many requests ({exc.description}); wait and try again.",
                }
            )
            response.status_code = 429
        elif request.endpoint == "auth.login":
            error = _("För många inloggningsförsök. Vänta en stund och försök igen.")
            response = Response(render_template("auth/login.html", error=error), status=429)
        elif request.endpoint == "auth.change_password":
            error = _("För många försök. Vänta en stund och försök igen.")
            response = Response(render_template("auth/password.html", error=error), status=429)
        else:
            response = Response(
                render_template(
                    "error.html",
                    status=429,
                    message=_("För många förfrågningar. Vänta en stund och försök igen."),
                    fallback="För många förfrågningar.",
                ),
                status=429,
            )
        response.headers.setdefault("Retry-After", retry)
        return response

    return limiter


# --- headers -------------------------------------------------------------------------------


def csp_nonce() -> str:
    """This request's Content-Security-Policy nonce (for ``<script nonce=…>``)."""
    nonce = getattr(g, "csp_nonce", None)
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def content_security_policy(settings: Settings, nonce: str) -> str:
    from tryggkarta.maps.basemap import background

    bg = background(settings.tile_url, settings.tile_attribution, settings.basemap)
    # raster tiles are images; vector tiles are fetched by protomaps-leaflet
    tile_src = f" {bg.origin}" if bg.origin and bg.kind == "raster" else ""
    connect_src = f" {bg.origin}" if bg.origin and bg.kind == "vector" else ""
    return (
        "default-src 'self'; "
        f"img-src 'self' data: blob:{tile_src}; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        f"font-src 'self' data:; connect-src 'self'{connect_src}; frame-ancestors 'self'; "
        "form-action 'self'; base-uri 'self'; object-src 'none'"
    )


#: Anonymous pages that must not be cached all the same: a share link's map (the secret is in
#: the URL, and the link may be revoked or expire).
NO_STORE_ENDPOINTS = frozenset({"shared.link"})


def _sensitive(response: Response) -> bool:
    """Must not be kept by a browser or proxy cache: a user's page, token data, auth pages."""
    if request.endpoint == "static" or request.blueprint in ("assets", "basemap"):
        return False
    # the header first: asking current_user would load a token's user again, and when the
    # database refused that once (a lock), it would wait for the lock a second time here
    if request.endpoint in NO_STORE_ENDPOINTS or request.headers.get("Authorization"):
        return True
    if current_user.is_authenticated:
        return True
    if request.blueprint == "auth" or request.method not in SAFE_METHODS:
        return True
    return any(h.lower().startswith("session=") for h in response.headers.getlist("Set-Cookie"))


def install_headers(app: Flask, settings: Settings) -> None:
    @app.after_request
    def headers(response: Response) -> Response:
        if not g.get("tk_no_csp"):  # a 304 of a kept page keeps the browser's stored policy
            response.headers.setdefault(
                "Content-Security-Policy", content_security_policy(settings, csp_nonce())
            )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if _sensitive(response):
            response.headers["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
            response.vary.update(("Cookie", "Authorization"))
        return response

    from tryggkarta.maps.page import with_nonce

    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.filters["nonced"] = lambda html: with_nonce(html, csp_nonce())


def install(app: Flask, settings: Settings) -> None:
    """Guard, cookies and proxy handling; call before CSRFProtect so the guard runs first."""
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)  # type: ignore[method-assign]
    app.session_interface = SessionInterface()
    app.before_request(guard_request)
