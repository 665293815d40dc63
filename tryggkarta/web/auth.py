"""Login (Flask-Login, argon2), API tokens, and the role checks every view uses.

Anonymous visitors have the role ``public``. :func:`roles_required` guards views;
:func:`detail` answers "how much of this layer may the current user see" from the one
permission table in :mod:`tryggkarta.domain`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import (
    AnonymousUserMixin,
    LoginManager,
    UserMixin,
    current_user,
    login_user,
    logout_user,
)

from tryggkarta import accounts, policy
from tryggkarta.domain import Detail, Role
from tryggkarta.store import User
from tryggkarta.store.writes import audit

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
F = TypeVar("F", bound=Callable[..., Any])


class SessionUser(UserMixin):
    """The logged-in user as the web layer sees it (detached from the ORM session)."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.role = user.role
        self.organisation_id = user.organisation_id
        self.language = user.language

    def get_id(self) -> str:
        return str(self.id)


class Anonymous(AnonymousUserMixin):
    id = None
    username = ""
    display_name = ""
    role = Role.PUBLIC.value
    organisation_id = None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.anonymous_user = Anonymous

    @login_manager.user_loader
    def load_user(user_id: str) -> SessionUser | None:
        from tryggkarta.web import get_db

        try:
            ident = int(user_id)
        except ValueError:
            return None
        with get_db().session() as s:
            user = s.get(User, ident)
            return SessionUser(user) if user is not None and user.active else None

    @login_manager.request_loader
    def load_from_token(req: Any) -> SessionUser | None:
        header = req.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        from tryggkarta.web import get_db

        with get_db().session() as s:
            user = accounts.user_for_token(s, header[7:].strip())
            return SessionUser(user) if user is not None else None

    @login_manager.unauthorized_handler
    def unauthorized() -> Any:
        if request.path.startswith(("/api", "/ogc")):
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path))


def current_role() -> str:
    return getattr(current_user, "role", Role.PUBLIC.value) or Role.PUBLIC.value


def detail(layer: str) -> Detail:
    """How much of ``layer`` the current user may see."""
    return policy.detail(current_user, layer)


def roles_required(*roles: str) -> Callable[[F], F]:
    """Allow only logged-in users with one of ``roles`` (admin always passes)."""
    allowed = {str(r) for r in roles} | {Role.ADMIN.value}

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_role() not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("views.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("views.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    from tryggkarta.web import _, get_db

    error = None
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:80]
        password = request.form.get("password") or ""
        with get_db().session() as s:
            user = accounts.authenticate(s, username, password)
            if user is not None:
                login_user(SessionUser(user))
                audit(s, "login", user=user, ip=request.remote_addr)
                return redirect(_safe_next(request.args.get("next")))
            audit(s, "login_failed", extra={"username": username}, ip=request.remote_addr)
        error = _("Fel användarnamn eller lösenord.")
    status = 401 if error else 200
    return render_template("auth/login.html", error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    from tryggkarta.web import _

    logout_user()
    flash(_("Du är utloggad."))
    return redirect(url_for("views.index"))
