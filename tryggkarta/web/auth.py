"""Login (Flask-Login, argon2), API tokens, and the role checks every view uses.

Anonymous visitors have the role ``public``. Which routes a role may use and how much of a
layer it sees are answered by :mod:`tryggkarta.policy` (checked for every request in
:mod:`tryggkarta.web.access`; :func:`detail` is the current user's shortcut).

Sessions live on the server: the cookie holds ``<user id>:<random session id>`` and the
session id's hash is a row in ``user_sessions`` (:mod:`tryggkarta.services.accounts`). Logout deletes
the row, a password change all of the user's rows, so a copied cookie is dead afterwards.
A bearer token (``Authorization: Bearer tk_…``) authenticates API clients; endpoints exempt
from CSRF accept only a token (see :func:`tryggkarta.web.security.guard_request`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import (
    AnonymousUserMixin,
    LoginManager,
    UserMixin,
    current_user,
    login_user,
    logout_user,
)

from tryggkarta import policy
from tryggkarta.domain import Detail, Role
from tryggkarta.services import accounts
from tryggkarta.services.municipalities import scope_for
from tryggkarta.store import User
from tryggkarta.store.writes import audit
from tryggkarta.web.context import _, get_db, get_settings

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
login_manager = LoginManager()
F = TypeVar("F", bound=Callable[..., Any])


class SessionUser(UserMixin):
    """The logged-in user as the web layer sees it (detached from the ORM session).

    ``sid`` is the login session's random id (``None`` for a bearer token); ``via_token``
    tells a token-authenticated request from a browser session.
    """

    def __init__(
        self,
        user: User | accounts.TokenUser,
        sid: str | None = None,
        via_token: bool = False,
        municipality_codes: tuple[str, ...] | None = None,
    ) -> None:
        self.id = user.id
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.role = user.role
        self.organisation_id = user.organisation_id
        self.language = user.language
        self.sid = sid
        self.via_token = via_token
        #: the municipalities whose raw records this user may read (None = the installation)
        self.municipality_codes = municipality_codes

    def get_id(self) -> str:
        return f"{self.id}:{self.sid}" if self.sid else str(self.id)


class Anonymous(AnonymousUserMixin):
    id = None
    username = ""
    display_name = ""
    role = Role.PUBLIC.value
    organisation_id = None
    sid = None
    via_token = False
    municipality_codes = None


#: Password checks (argon2: 64 MiB and ~0.1–0.3 s of a core each) running at once in this
#: process: half the cores. More wait briefly and are then turned away, so a flood of logins
#: cannot take every server thread and core, and the other pages keep answering.
#: ``tryggkarta serve`` with N worker processes sets TRYGGKARTA_PASSWORD_CHECKS so that all of
#: them together keep to about half the cores.
PASSWORD_CHECKS = int(os.environ.get("TRYGGKARTA_PASSWORD_CHECKS") or 0) or max(
    1, (os.cpu_count() or 2) // 2
)
PASSWORD_WAIT_S = 0.05
_password_checks = threading.BoundedSemaphore(PASSWORD_CHECKS)


def _settings() -> Any:

    return get_settings()


def bearer_token(req: Any = None) -> str | None:
    """The bearer token of the request, if it sends one."""
    header = (req or request).headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return header[7:].strip() or None


def user_from_token(token: str) -> SessionUser | None:
    """The user of an API token (every API and OGC request with one): Core statements on one
    connection in one transaction, no ORM session."""
    with get_db().engine.begin() as s:
        user = accounts.user_for_token(s, token)
        if user is None:
            return None
        return SessionUser(user, via_token=True, municipality_codes=scope_for(s, user))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.anonymous_user = Anonymous

    @login_manager.user_loader
    def load_user(user_id: str) -> SessionUser | None:

        ident, _sep, sid = user_id.partition(":")
        if not ident.isdigit() or not sid:
            return None  # a cookie from before server-side sessions: log in again
        max_age = timedelta(hours=_settings().session_hours)
        with get_db().session() as s:
            user = accounts.user_for_session(s, int(ident), sid, max_age)
            if user is None:
                return None
            return SessionUser(user, sid=sid, municipality_codes=scope_for(s, user))

    @login_manager.request_loader
    def load_from_token(req: Any) -> SessionUser | None:
        token = bearer_token(req)
        return user_from_token(token) if token else None

    @login_manager.unauthorized_handler
    def unauthorized() -> Any:
        if request.path.startswith(("/api", "/ogc", "/tiles")):
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path))


def current_role() -> str:
    return getattr(current_user, "role", Role.PUBLIC.value) or Role.PUBLIC.value


def detail(layer: str) -> Detail:
    """How much of ``layer`` the current user may see."""
    return policy.detail(current_user, layer)


def accepts_upload(view: F) -> F:
    """Mark a view that takes a file upload: its body may be as large as the upload limit.

    Every other POST gets :data:`tryggkarta.web.security.SMALL_BODY` bytes at most.
    """
    view._tk_upload = True  # type: ignore[attr-defined]
    return view


def anonymous_post(view: F) -> F:
    """Mark a view that anonymous visitors may POST to (login); all others need a login."""
    view._tk_anonymous_post = True  # type: ignore[attr-defined]
    return view


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("views.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("views.index")
    return target


def _start_session(s: Any, user: User) -> None:
    """Log ``user`` in on this browser with a new server-side session (no fixation)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    max_age = timedelta(hours=_settings().session_hours)
    sid = accounts.start_session(s, user, request.remote_addr, max_age)
    login_user(SessionUser(user, sid=sid, municipality_codes=scope_for(s, user)))


def login_key() -> str:
    """Rate-limit key of a login attempt: the username (case-folded) and the client's IP."""
    username = (request.form.get("username") or "").strip()[:80].casefold()
    return f"login:{username}|{request.remote_addr or '-'}"


def login_ip_key() -> str:
    return f"login-ip:{request.remote_addr or '-'}"


@bp.route("/login", methods=["GET", "POST"])
@anonymous_post
def login() -> Any:
    from tryggkarta.web.security import cookies_need_tls

    error = None
    status = 200
    if request.method == "POST":
        if cookies_need_tls():
            log.warning(
                "Login refused over plain http to %s: session cookies are Secure. Serve over "
                "https (TRYGGKARTA_TRUSTED_PROXIES behind a TLS proxy) or, on a trusted "
                "network only, set TRYGGKARTA_SECURE_COOKIES=false.",
                request.host,
            )
            error = _(
                "Inloggning kräver en krypterad anslutning (https). Öppna sidan med https://."
            )
            return render_template("auth/login.html", error=error), 400
        username = (request.form.get("username") or "").strip()[:80]
        password = request.form.get("password") or ""
        if not _password_checks.acquire(timeout=PASSWORD_WAIT_S):
            error = _("Många inloggningar pågår just nu. Vänta några sekunder och försök igen.")
            return render_template("auth/login.html", error=error), 429, {"Retry-After": "5"}
        try:
            with get_db().session() as s:
                user = accounts.authenticate(s, username, password)
                if user is not None:
                    _start_session(s, user)
                    audit(s, "login", user=user, ip=request.remote_addr)
                    return redirect(_safe_next(request.args.get("next")))
                audit(s, "login_failed", extra={"username": username}, ip=request.remote_addr)
        finally:
            _password_checks.release()
        error = _("Fel användarnamn eller lösenord.")
        status = 401
    return render_template("auth/login.html", error=error), status


@bp.route("/logout", methods=["POST"])
@anonymous_post
def logout() -> Any:

    sid = getattr(current_user, "sid", None)
    if sid:
        with get_db().session() as s:
            accounts.end_session(s, sid)
            audit(s, "logout", user=current_user, ip=request.remote_addr)
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Du är utloggad."))
    return redirect(url_for("views.index"))


@bp.route("/konto/losenord", methods=["GET", "POST"])
def change_password() -> Any:
    """Change one's own password; every other session of the user ends."""

    if not current_user.is_authenticated or getattr(current_user, "via_token", False):
        return login_manager.unauthorized()
    error = None
    if request.method == "POST":
        form = request.form
        new = form.get("new_password") or ""
        if new != (form.get("new_password2") or ""):
            error = _("De två nya lösenorden är inte lika.")
        elif len(new) < accounts.MIN_PASSWORD:
            error = _("Ett lösenord behöver minst %(n)s tecken.", n=accounts.MIN_PASSWORD)
        elif not _password_checks.acquire(timeout=PASSWORD_WAIT_S):
            error = _("Många inloggningar pågår just nu. Vänta några sekunder och försök igen.")
        else:
            try:
                with get_db().session() as s:
                    user = s.get(User, current_user.id)
                    if user is None or not accounts.verify_password(
                        user.password_hash, form.get("password") or ""
                    ):
                        error = _("Det nuvarande lösenordet är fel.")
                        audit(s, "password_change_failed", user=user, ip=request.remote_addr)
                    else:
                        ended = accounts.set_password(s, user, new)
                        audit(
                            s,
                            "password_changed",
                            user=user,
                            ip=request.remote_addr,
                            extra={"sessions_ended": ended},
                        )
                        _start_session(s, user)
            finally:
                _password_checks.release()
            if error is None:
                flash(_("Lösenordet är bytt. Du är utloggad på alla andra enheter."))
                return redirect(url_for("views.index"))
    return render_template("auth/password.html", error=error), 400 if error else 200
