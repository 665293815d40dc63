"""Administration (role admin): organisations, users, and the audit log with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import and_, select

from tryggkarta import params
from tryggkarta.config import local_timezone
from tryggkarta.domain import LAYER_LABELS, ROLE_LABELS
from tryggkarta.errors import BadInput
from tryggkarta.services import accounts
from tryggkarta.store import AuditLog, Organisation, User
from tryggkarta.store.writes import audit
from tryggkarta.web.context import _, get_db

bp = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_LIMIT = 500
ORG_KINDS = ("municipality", "police", "partner", "other")


def _translated(exc: BadInput) -> BadInput:

    return BadInput(_(exc.message))


@bp.route("/")
def index() -> Any:
    """Organisations and users, with forms to add them."""

    with get_db().session() as s:
        orgs = s.scalars(select(Organisation).order_by(Organisation.name)).all()
        users = s.scalars(select(User).order_by(User.username)).all()
        org_names = {o.id: o.name for o in orgs}
        return render_template(
            "admin/index.html",
            orgs=orgs,
            users=users,
            org_names=org_names,
            sessions=accounts.session_counts(s),
            org_kinds=ORG_KINDS,
            roles={k: v for k, v in ROLE_LABELS.items() if k != "public"},
        )


@bp.route("/organisationer", methods=["POST"])
def create_organisation() -> Any:

    name = (request.form.get("name") or "").strip()
    kind = request.form.get("kind") or "municipality"
    code = (request.form.get("municipality_code") or "").strip() or None
    with get_db().session() as s:
        if kind not in ORG_KINDS:
            raise _translated(BadInput("Okänd typ av organisation."))
        if len(name) > 200:
            raise _translated(BadInput("Namnet får vara högst 200 tecken."))
        if code and not (params.is_digits(code) and len(code) == 4):
            raise _translated(BadInput("Kommunkoden är fyra siffror."))
        if s.scalar(select(Organisation).where(Organisation.name == name)) is not None:
            raise _translated(BadInput("Organisationen finns redan."))
        try:
            org = accounts.get_or_create_organisation(s, name, kind, code)
        except BadInput:
            raise _translated(BadInput("Organisationen behöver ett namn.")) from None
        audit(
            s,
            "admin_create_organisation",
            user=current_user,
            ip=request.remote_addr,
            extra={"organisation": org.name},
        )
    flash(_("Organisationen %(name)s är skapad.", name=name))
    return redirect(url_for("admin.index"))


@bp.route("/anvandare", methods=["POST"])
def create_user() -> Any:

    form = request.form
    with get_db().session() as s:
        org = None
        if params.is_digits(form.get("organisation_id")):
            found = s.get(Organisation, int(form["organisation_id"]))
            if found is None:
                raise _translated(BadInput("Okänd organisation."))
            org = found.name
        try:
            user = accounts.create_user(
                s,
                (form.get("username") or "").strip(),
                form.get("password") or "",
                form.get("role") or "",
                organisation=org,
                display_name=(form.get("display_name") or "").strip()[:200],
                email=(form.get("email") or "").strip() or None,
            )
        except BadInput as exc:
            raise BadInput(exc.message) from None
        audit(
            s,
            "admin_create_user",
            user=current_user,
            ip=request.remote_addr,
            extra={"username": user.username, "role": user.role},
        )
        name = user.username
    flash(_("Användaren %(name)s är skapad.", name=name))
    return redirect(url_for("admin.index"))


@bp.route("/anvandare/<int:user_id>/aktiv", methods=["POST"])
def set_active(user_id: int) -> Any:
    """Deactivate (``active=0``) or reactivate a user; admins cannot deactivate themselves."""

    active = request.form.get("active") == "1"
    with get_db().session() as s:
        user = s.get(User, user_id)
        if user is None:
            abort(404)
        if user.id == current_user.id and not active:
            raise _translated(BadInput("Du kan inte inaktivera dig själv."))
        user.active = active
        ended = 0 if active else accounts.end_all_sessions(s, user.id)
        audit(
            s,
            "admin_user_active" if active else "admin_user_deactivated",
            user=current_user,
            ip=request.remote_addr,
            extra={"username": user.username, **({} if active else {"sessions_ended": ended})},
        )
        name = user.username
    flash(
        _("%(name)s är aktiverad.", name=name)
        if active
        else _("%(name)s är inaktiverad.", name=name)
    )
    return redirect(url_for("admin.index"))


def _days(args: Any) -> tuple[datetime | None, datetime | None]:
    """The ``from``/``to`` local days (``to`` inclusive) as UTC bounds; end exclusive."""

    first, last = params.parse_day_range(args.get("from"), args.get("to"), _)
    start, end = params.day_bounds(first, last)
    return (
        start.astimezone(UTC) if start else None,
        end.astimezone(UTC) if end else None,
    )


@bp.route("/nycklar")
def tokens() -> Any:
    """Every user's API tokens: name, created, expires, last used, status; revoke buttons."""

    now = datetime.now(UTC)
    with get_db().session() as s:
        rows = [
            {
                "id": t.id,
                "username": u.username,
                "name": t.name,
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "last_used_at": t.last_used_at,
                "revoked": t.revoked,
                "expired": t.expires_at is not None and t.expires_at < now,
            }
            for t, u in accounts.list_tokens(s)
        ]
    return render_template("admin/tokens.html", rows=rows)


@bp.route("/nycklar/<int:token_id>/aterkalla", methods=["POST"])
def revoke_token(token_id: int) -> Any:
    """Revoke one API token; it stops working on its next request. Audit-logged."""
    from tryggkarta.errors import NotFound

    with get_db().session() as s:
        try:
            token = accounts.revoke_token(s, token_id)
        except NotFound:
            abort(404)
        owner = s.get(User, token.user_id)
        audit(
            s,
            "admin_revoke_token",
            user=current_user,
            ip=request.remote_addr,
            extra={
                "token_id": token.id,
                "token_name": token.name,
                "username": owner.username if owner else None,
            },
        )
        name, username = token.name, owner.username if owner else ""
    flash(_("Nyckeln %(name)s för %(user)s är återkallad.", name=name, user=username))
    return redirect(url_for("admin.tokens"))


@bp.route("/anvandare/<int:user_id>/utloggning", methods=["POST"])
def end_sessions(user_id: int) -> Any:
    """Log a user out on every device (a lost phone, a shared computer). Audit-logged."""

    with get_db().session() as s:
        user = s.get(User, user_id)
        if user is None:
            abort(404)
        ended = accounts.end_all_sessions(s, user.id)
        audit(
            s,
            "admin_end_sessions",
            user=current_user,
            ip=request.remote_addr,
            extra={"username": user.username, "sessions_ended": ended},
        )
        name = user.username
    flash(_("%(name)s är utloggad på alla enheter (%(n)s inloggningar).", name=name, n=ended))
    return redirect(url_for("admin.index"))


@bp.route("/logg")
def audit_log() -> Any:
    """The audit log, filtered by user, action, layer, detail and date range (local days)."""

    args = request.args
    start, end = _days(args)
    clauses = []
    if args.get("user"):
        clauses.append(AuditLog.username == args["user"])
    if args.get("action"):
        clauses.append(AuditLog.action == args["action"])
    if args.get("layer"):
        clauses.append(AuditLog.layer == args["layer"])
    if args.get("detail"):
        clauses.append(AuditLog.detail == args["detail"])
    if start:
        clauses.append(AuditLog.at >= start)
    if end:
        clauses.append(AuditLog.at < end)
    with get_db().session() as s:
        stmt = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc())
        if clauses:
            stmt = stmt.where(and_(*clauses))
        rows = s.scalars(stmt.limit(AUDIT_LIMIT + 1)).all()
        actions = s.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)).all()
        usernames = s.scalars(select(User.username).order_by(User.username)).all()
        today = datetime.now(local_timezone()).date()
        last_month_end = today.replace(day=1) - timedelta(days=1)
        return render_template(
            "admin/audit.html",
            rows=rows[:AUDIT_LIMIT],
            more=len(rows) > AUDIT_LIMIT,
            actions=actions,
            usernames=usernames,
            layers=LAYER_LABELS,
            args=args,
            last_month=(last_month_end.replace(day=1).isoformat(), last_month_end.isoformat()),
        )
