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
from tryggkarta.web.auth import accepts_upload
from tryggkarta.web.context import _, current_language, get_db

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


# --- named places for the place search (the CLI's ``tryggkarta places import``) -------------

#: Places shown by name in the preview.
PLACES_SAMPLE = 12
PLACE_KIND_LABELS = {"place": "Namngivna platser", "address": "Gatuadresser"}


def _places_page(error: str | None = None, status: int = 200) -> Any:
    from tryggkarta.services import places as svc

    return render_template(
        "admin/places.html",
        sets=svc.place_sets(get_db()),
        kinds=svc.KINDS,
        kind_labels={k: _(v) for k, v in PLACE_KIND_LABELS.items()},
        error=error,
    ), status


@bp.route("/platser")
def places() -> Any:
    """The stored places per kind and file, a form to import a file and to delete a set."""
    return _places_page()


@bp.route("/platser/forhandsgranska", methods=["POST"])
@accepts_upload
def places_preview() -> Any:
    """Read the uploaded file as the CLI would and show what an import would store; nothing
    is written until it is confirmed (the file waits under a random token, as for imports)."""
    from tryggkarta.errors import TryggkartaError
    from tryggkarta.services import places as svc
    from tryggkarta.web import imports

    upload = request.files.get("file")
    kind = request.form.get("kind", "place")
    if kind not in svc.KINDS:
        abort(400)
    if upload is None or not upload.filename:
        return _places_page(_("Välj en fil."), 400)
    crs = (request.form.get("crs") or "").strip().removeprefix("EPSG:")[:12]
    token, note = imports._save_upload(upload, None, {"kind": kind, "crs": crs})
    db = get_db()
    try:
        records, result = svc.prepare_places(
            db, imports._uploads() / note["path"], kind, crs=crs or None, source=note["filename"]
        )
    except TryggkartaError as exc:
        imports._cleanup(token)
        return _places_page(_place_error(exc), 400)
    existing = {s["kind"]: 0 for s in svc.place_sets(db)}
    for row in svc.place_sets(db):
        existing[row["kind"]] += row["n"]
    return render_template(
        "admin/places_preview.html",
        token=token,
        kind=kind,
        kind_label=_(PLACE_KIND_LABELS[kind]),
        filename=note["filename"],
        result=result,
        skipped=[(_skipped_text(reason), n) for reason, n in result.skipped.items()],
        replaced=existing.get(kind, 0),
        sample=records.head(PLACES_SAMPLE).to_dict("records"),
        preview=_places_svg(records),
    )


def _skipped_text(reason: str) -> str:
    """Why rows were skipped (the service's English reason) in the page's language."""
    if reason == "no name":
        return _("utan namn")
    if reason == "no usable coordinates":
        return _("utan användbara koordinater")
    if reason.startswith("outside "):
        return _("utanför %(region)s", region=reason.removeprefix("outside "))
    return reason


def _place_error(exc: Any) -> str:
    """The error in the page's language: the ingest readers' codes as on the import page, the
    places service's own refusals by :data:`PLACE_ERRORS` (with its specifics after them)."""
    from tryggkarta.web import imports

    code = (exc.details or {}).get("code") if isinstance(exc.details, dict) else None
    if code:
        return imports._error_text(exc)
    for start, sentence in PLACE_ERRORS.items():
        if exc.message.startswith(start):
            return f"{_(sentence)} ({exc.message})"
    return exc.message


#: The places service's own refusals (the start of its English message) → Swedish sentences.
PLACE_ERRORS = {
    "The file has no name column": "Filen saknar en kolumn med namn.",
    "The file has no coordinates": "Filen saknar koordinater: en geometri, lon/lat eller x/y "
    "behövs.",
    "The file's geometries have no CRS": "Filens geometrier saknar koordinatsystem; ange det "
    "(EPSG-kod, till exempel 3006).",
    "No row of": "Ingen rad i filen är en användbar plats, så inget har ändrats.",
    "Unknown kind of place": "Okänd sorts plats.",
}


def _places_svg(records: Any) -> Any:
    """A small map of the places to import (points only: the service keeps a point per row)."""
    import numpy as np

    from tryggkarta.maps import svg

    if records.empty:
        return None
    from tryggkarta.services import weekmaps

    x, y = records["x"].to_numpy(float), records["y"].to_numpy(float)
    cx, cy = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
    half = max(x.max() - x.min(), y.max() - y.min(), 1500.0) / 2  # the town around them
    frame = svg.Frame.around((cx - half, cy - half, cx + half, cy + half), 480, 0.08, 0.62)
    return svg.static_map(
        frame,
        areas=weekmaps.outlines(get_db(), bbox=(frame.minx, frame.miny, frame.maxx, frame.maxy)),
        title=_("Karta: platserna i filen"),
        desc=_("%(n)s platser som prickar.", n=len(records)),
        ident="places-preview",
        dots=[svg.Dots(np.asarray(x), np.asarray(y), svg.CALM, 5.0)],
        lang=current_language(),
        css_class="static-map places-preview",
    )


@bp.route("/platser/importera", methods=["POST"])
def places_confirm() -> Any:
    """Import the previewed file: the kind's stored places are replaced in one transaction."""
    from tryggkarta.errors import TryggkartaError
    from tryggkarta.services import places as svc
    from tryggkarta.web import imports

    token = request.form.get("token", "")
    note = imports._load_note(token)
    if note.get("kind") not in svc.KINDS:
        abort(400)
    try:
        result = svc.import_places(
            get_db(),
            imports._uploads() / note["path"],
            note["kind"],
            crs=note.get("crs") or None,
            source=note["filename"],
        )
    except TryggkartaError as exc:
        return _places_page(_place_error(exc), 400)
    finally:
        imports._cleanup(token)
    with get_db().session() as s:
        audit(
            s,
            "admin_places_import",
            user=current_user,
            ip=request.remote_addr,
            extra={
                "kind": note["kind"],
                "file": note["filename"],
                "added": result.added,
                "skipped": result.skipped,
            },
        )
    flash(_("%(n)s platser är importerade från %(file)s.", n=result.added, file=note["filename"]))
    return redirect(url_for("admin.places"), code=303)


@bp.route("/platser/ta-bort", methods=["POST"])
def places_delete() -> Any:
    """Delete one stored set: the places of a kind that came from one file."""
    from tryggkarta.services import places as svc

    kind = request.form.get("kind", "")
    source = request.form.get("source")
    if kind not in svc.KINDS or source is None or len(source) > 300:
        abort(400)
    n = svc.delete_places(get_db(), kind, source)
    with get_db().session() as s:
        audit(
            s,
            "admin_places_delete",
            user=current_user,
            ip=request.remote_addr,
            extra={"kind": kind, "file": source, "deleted": n},
        )
    flash(_("%(n)s platser är borttagna.", n=n))
    return redirect(url_for("admin.places"), code=303)
