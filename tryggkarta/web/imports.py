"""Upload and import of files: form → preview → confirm, plus a JSON endpoint.

The uploaded file waits in ``<instance>/uploads/<random token>`` between preview and
confirm, with a small JSON note of what was chosen and by whom; the client only ever sends
the token back, never a path. Reading and validating is :mod:`tryggkarta.ingest`'s job.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path, PurePosixPath
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request
from flask_login import current_user
from markupsafe import Markup
from werkzeug.datastructures import FileStorage

from tryggkarta import geo, policy
from tryggkarta.domain import LAYER_FIELDS, LAYER_LABELS
from tryggkarta.errors import BadInput, TryggkartaError
from tryggkarta.services import municipalities
from tryggkarta.services.releases import after_import
from tryggkarta.web.auth import accepts_upload
from tryggkarta.web.context import _, current_language, current_reach, get_db, get_settings

bp = Blueprint("imports", __name__)
PREVIEW_ROWS = 20
_TOKEN = re.compile(r"^[0-9a-f]{32}$")

#: Swedish sentences for the file-level error codes (the English message is the fallback).
ERRORS_SV: dict[str, str] = {
    "bad_crs": "Koordinatsystemet är okänt; ange en EPSG-kod, till exempel 3006.",
    "bad_csv": "Filen kunde inte läsas som CSV.",
    "bad_encoding": "Filens teckenkodning är felaktig (ogiltiga tecken).",
    "bad_gis_file": "Filen kunde inte öppnas som GIS-data.",
    "bad_gzip": "Filen är inte en giltig gzip-fil.",
    "bad_json": "Filen är inte giltig JSON eller varken GeoJSON eller en lista med poster.",
    "bad_layer": "Okänt lager.",
    "bad_mapping": "Kolumnmappningen är felaktig.",
    "bad_municipality": "Okänd kommunkod.",
    "bad_sensitivity": "Ogiltig känslighetsnivå.",
    "bad_xlsx": "Filen är ingen läsbar Excel-arbetsbok.",
    "bad_zip": "Filen är inte en giltig zip-fil.",
    "binary_file": "Filen är inte en textfil (den ser ut som binärdata).",
    "compression_bomb": "Filen packas upp till orimligt mycket data och avvisades.",
    "crs_unknown": "Koordinatsystemet går inte att avgöra; ange det (EPSG-kod).",
    "empty_file": "Filen är tom.",
    "header_only": "Filen har en rubrikrad men inga datarader.",
    "no_coordinates": "Filen saknar användbara koordinater (lat/lon, x/y, E/N).",
    "no_date_column": "Filen saknar datumkolumn.",
    "no_file": "Filen finns inte.",
    "no_geometry": "Lagret kräver polygoner (GeoPackage, GeoJSON, Shapefile, KML).",
    "no_rating_column": "En enkätfil måste ha en kolumn med betyg (1–5).",
    "no_rows": "Filen har inga datarader.",
    "no_sheet": "Arbetsboken saknar det angivna bladet.",
    "shapefile_no_prj": "Shapefilen saknar .prj-fil; ange koordinatsystemet.",
    "single_column": "Filen har bara en kolumn; avgränsaren ska vara ;, komma eller tabb.",
    "too_many_columns": "Filen har för många kolumner för att vara en tabell med poster.",
    "too_many_rows": "Filen har fler rader än vad som får importeras på en gång; dela upp den.",
    "json_too_large": "JSON-filen är större än vad som får importeras.",
    "json_too_deep": "JSON-filen är för djupt nästlad för att vara en datafil.",
    "unsupported_format": "Filtypen kan inte importeras.",
    "xml_entities": "Arbetsboken innehåller XML-entiteter och avvisades som osäker.",
    "zip_no_data": "Zip-filen innehåller ingen shapefil, GeoPackage, GeoJSON eller KML.",
    "zip_several": "Zip-filen innehåller flera datafiler; zippa en i taget.",
    "zip_unsafe_path": "Zip-filen innehåller osäkra sökvägar och avvisades.",
}
#: Codes whose English message names the specific problem (a column, a sheet, the parser's
#: complaint): the Swedish page shows it after the Swedish sentence.
ERRORS_WITH_DETAIL = frozenset(
    {
        "bad_csv",
        "bad_gis_file",
        "bad_json",
        "bad_mapping",
        "bad_municipality",
        "crs_unknown",
        "no_coordinates",
        "no_sheet",
        "zip_several",
    }
)


def _db() -> Any:

    return get_db()


def _lang() -> str:

    return current_language()


#: Swedish sentences with the specifics of the error (its details), used instead of the
#: English message in parentheses when the details hold them.
ERRORS_SV_DETAIL: dict[str, str] = {
    "no_coordinates": "Filen saknar koordinatkolumner (lat/lon, x/y, E/N); dess kolumner är: "
    "%(columns)s.",
    "crs_unknown": "Koordinatsystemet går inte att avgöra från värdena (runt %(values)s); "
    "ange det som EPSG-kod, till exempel 3006 för SWEREF 99 TM eller 3021 för RT90.",
    "no_sheet": "Arbetsboken saknar det angivna bladet; den har: %(sheets)s.",
    "zip_several": "Zip-filen innehåller flera datafiler (%(files)s); zippa en i taget.",
    "too_many_columns": "Filen har fler kolumner än de %(limit)s som tillåts; den ser inte ut "
    "som en tabell med poster.",
    "too_many_rows": "Filen har fler rader än de %(limit)s som får importeras på en gång; "
    "dela upp den.",
}


def _error_text(exc: TryggkartaError) -> str:
    code = (exc.details or {}).get("code") if isinstance(exc.details, dict) else None
    if _lang() == "sv" and code in ERRORS_SV_DETAIL:
        try:
            return ERRORS_SV_DETAIL[code] % exc.details
        except (KeyError, TypeError, ValueError):
            pass  # details without the specifics: the general sentence below
    if _lang() == "sv" and code in ERRORS_SV:
        if code in ERRORS_WITH_DETAIL:
            return f"{ERRORS_SV[code]} ({exc.message})"
        return ERRORS_SV[code]
    return exc.message


def _uploads() -> Path:

    folder = Path(get_settings().instance_path).resolve() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _suffix(filename: str) -> str:
    """The file's type suffixes (``.csv.gz``), restricted to safe characters."""
    suffixes = "".join(PurePosixPath(filename).suffixes[-2:]).lower()
    return suffixes if re.fullmatch(r"(\.[a-z0-9]{1,8}){1,2}", suffixes) else ""


def _save_upload(
    upload: FileStorage, mapping: FileStorage | None, form: dict[str, str]
) -> tuple[str, dict]:
    token = secrets.token_hex(16)
    folder = _uploads()
    name = PurePosixPath(upload.filename or "upload").name[:200]
    path = folder / f"{token}{_suffix(name)}"
    upload.save(path)
    note = {
        "path": path.name,
        "filename": name,
        "user_id": getattr(current_user, "id", None),
        **form,
    }
    if mapping is not None and mapping.filename:
        mpath = folder / f"{token}.mapping.toml"
        mapping.save(mpath)
        note["mapping"] = mpath.name
    (folder / f"{token}.note").write_text(json.dumps(note), encoding="utf-8")
    return token, note


def _load_note(token: str) -> dict:
    if not _TOKEN.match(token or ""):
        abort(400)
    note_path = _uploads() / f"{token}.note"
    if not note_path.is_file():
        abort(410)
    note = json.loads(note_path.read_text(encoding="utf-8"))
    if note.get("user_id") != getattr(current_user, "id", None):
        abort(403)
    return note


def _cleanup(token: str) -> None:
    for f in _uploads().glob(f"{token}*"):
        f.unlink(missing_ok=True)


def _form_options() -> dict[str, str]:
    layer = request.form.get("layer", "incidents")
    if layer not in LAYER_FIELDS:
        abort(400)
    return {
        "layer": layer,
        "crs": (request.form.get("crs") or "").strip().removeprefix("EPSG:")[:12],
        "municipality": (request.form.get("municipality") or "").strip()[:4],
        "source": (request.form.get("source") or "").strip()[:300],
        "licence": (request.form.get("licence") or "").strip()[:200],
    }


def _scope() -> tuple[str, ...] | None:
    """The municipalities the user may import rows into (None: the whole installation)."""
    return policy.raw_scope(current_user)


def _check_municipality(code: str) -> None:
    """A chosen municipality (``Kommunkod``) outside the user's EST group is refused with a
    sentence before the file is read (a bad code is the reader's ``bad_municipality``)."""
    if code in geo.municipality_codes() and not current_reach().admits(code):
        raise BadInput(
            _("Kommunen %(code)s ingår inte i de kommuner du får importera till.", code=code)
        )


def _import_into() -> list[municipalities.Municipality] | None:
    """The municipalities the import page says the user may import into (None: every
    municipality of the installation, or anywhere for a whole-country installation)."""
    reach = current_reach()
    if reach.scope is None:
        return None
    return municipalities.municipalities(reach.codes or ())


def _upload_page(error: str | None = None, status: int = 200) -> Any:
    page = render_template(
        "imports/upload.html",
        layers=LAYER_LABELS,
        lang=_lang(),
        error=error,
        import_into=_import_into(),
    )
    return (page, status) if status != 200 else page


def _kwargs(note: dict) -> dict[str, Any]:
    folder = _uploads()
    return {
        "mapping": folder / note["mapping"] if note.get("mapping") else None,
        "crs": note.get("crs") or None,
        "municipality_code": note.get("municipality") or None,
        "filename": note["filename"],
    }


def preview_svg(gdf: Any, width: int = 480, height: int = 320) -> Markup:
    """A small self-contained SVG of the features (no map tiles, no scripts)."""
    from shapely import affinity

    if len(gdf) == 0:
        return Markup("")
    sample = gdf.geometry.iloc[:2000]
    minx, miny, maxx, maxy = sample.total_bounds
    span = max(maxx - minx, maxy - miny, 1.0)
    scale = min(width, height) * 0.9 / span
    parts = []
    for geom in sample:
        g = affinity.affine_transform(
            geom, [scale, 0, 0, -scale, -minx * scale + 10, maxy * scale + 10]
        )
        if g.geom_type == "Point":
            parts.append(f'<circle cx="{g.x:.1f}" cy="{g.y:.1f}" r="3" class="pt"/>')
        else:
            parts.append(g.svg(scale_factor=0.5))
    body = "".join(parts)
    # Only numbers we computed go into this markup; no user text.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width + 20} {height + 20}" role="img" '
        f'class="import-preview-map" width="{width + 20}" height="{height + 20}">'
        f"{body}</svg>"
    )


@bp.before_app_request
def _sweep_imports() -> None:
    """The timer of :mod:`tryggkarta.ingest.cleanup`: stale staging files, expired previews."""
    from tryggkarta.ingest.cleanup import maybe_sweep

    maybe_sweep(_db, get_settings())


@bp.route("/import/", methods=["GET"])
def upload() -> Any:
    return _upload_page()


@bp.route("/import/preview", methods=["POST"])
@accepts_upload
def preview() -> Any:
    from tryggkarta.ingest import prepare

    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        return _upload_page("Välj en fil." if _lang() == "sv" else "Choose a file.", 400)
    options = _form_options()
    try:
        _check_municipality(options["municipality"])
    except BadInput as exc:
        return _upload_page(exc.message, 400)
    from tryggkarta.ingest.cleanup import sweep

    db = _db()
    sweep(db, get_settings())  # stale staging files, expired previews
    token, note = _save_upload(upload_file, request.files.get("mapping"), options)
    try:
        gdf, report, _rows = prepare(
            options["layer"],
            _uploads() / note["path"],
            working_crs=db.srid,
            region=db.settings.region,
            scope=_scope(),
            **_kwargs(note),
        )
    except TryggkartaError as exc:
        _cleanup(token)
        return _upload_page(_error_text(exc), 400)
    from tryggkarta.ingest.display import field_label, value_labels
    from tryggkarta.ingest.service import preview_against_store

    preview_against_store(db, options["layer"], _uploads() / note["path"], gdf, report)
    head = gdf.head(PREVIEW_ROWS).drop(columns=["geometry", "dedup_key"])
    return render_template(
        "imports/preview.html",
        report=report,
        token=token,
        layer=options["layer"],
        lang=_lang(),
        columns=list(head.columns),
        column_label=lambda c: field_label(c, _lang()),
        rows=value_labels(
            options["layer"],
            list(head.columns),
            [[("" if v is None or v != v else v) for v in r] for r in head.itertuples(index=False)],
            _lang(),
        ),
        svg=preview_svg(gdf),
        kept=len(gdf),
    )


@bp.route("/import/confirm", methods=["POST"])
def confirm() -> Any:
    from tryggkarta.ingest import import_file

    token = request.form.get("token", "")
    note = _load_note(token)
    try:
        report = import_file(
            _db(),
            note["layer"],
            _uploads() / note["path"],
            user=current_user,
            organisation_id=getattr(current_user, "organisation_id", None),
            source=note.get("source") or None,
            licence=note.get("licence") or None,
            strict=bool(request.form.get("strict")),
            scope=_scope(),
            **_kwargs(note),
        )
    except TryggkartaError as exc:
        return _upload_page(_error_text(exc), 400)
    finally:
        _cleanup(token)
    after_import(_db(), report)  # committed first; its own time, never fails the import
    return render_template("imports/result.html", report=report, lang=_lang())


def may_download_rejected(user: Any, dataset: Any, importer_org: int | None) -> bool:
    """The rejected rows are raw rows of the file (descriptions, addresses, names): asked of
    :func:`tryggkarta.policy.may_read_import_rows`."""
    org = dataset.organisation_id if dataset.organisation_id is not None else importer_org
    return policy.may_read_import_rows(
        user, layer=dataset.layer, importer_id=dataset.imported_by, organisation_id=org
    )


@bp.route("/import/rejected/<int:dataset_id>.csv")
def rejected_csv(dataset_id: int) -> Response:
    """The rejected rows of an import as CSV: raw data, so owner-checked and audit-logged."""
    from tryggkarta.ingest import ImportReport
    from tryggkarta.store import Dataset, User
    from tryggkarta.store.writes import audit

    with _db().session() as s:
        dataset = s.get(Dataset, dataset_id)
        if dataset is None or not dataset.report:
            abort(404)
        importer = s.get(User, dataset.imported_by) if dataset.imported_by else None
        if not may_download_rejected(
            current_user, dataset, importer.organisation_id if importer else None
        ):
            audit(
                s,
                "download_refused",
                user=current_user,
                layer=dataset.layer,
                detail="raw",
                ip=request.remote_addr,
                extra={"what": "rejected_rows", "dataset_id": dataset_id},
            )
            s.commit()
            abort(403)
        report = ImportReport.from_dict(dataset.report)
        audit(
            s,
            "download_rejected_rows",
            user=current_user,
            layer=dataset.layer,
            detail="raw",
            feature_count=len(report.rejected),
            ip=request.remote_addr,
            extra={"dataset_id": dataset_id, "filename": dataset.filename},
        )
    return Response(
        "\ufeff" + report.rejected_csv(lang=_lang()),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="rejected_{dataset_id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/api/import/<layer>", methods=["POST"])
@accepts_upload
def api_import(layer: str) -> Any:
    from tryggkarta.ingest import import_file

    if layer not in LAYER_FIELDS:
        return jsonify({"error": f"Unknown layer {layer!r}.", "code": "bad_layer"}), 404
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        return jsonify(
            {"error": "Send the file as multipart field 'file'.", "code": "no_file"}
        ), 400
    options = {
        "layer": layer,
        "crs": request.args.get("crs", ""),
        "municipality": request.args.get("municipality", ""),
        "source": request.args.get("source", ""),
        "licence": request.args.get("licence", ""),
    }
    try:
        _check_municipality(options["municipality"].strip()[:4])
    except BadInput as exc:
        return jsonify({"error": exc.message, "code": "municipality_not_in_scope"}), 403
    token, note = _save_upload(upload_file, request.files.get("mapping"), options)
    try:
        report = import_file(
            _db(),
            layer,
            _uploads() / note["path"],
            user=current_user,
            organisation_id=getattr(current_user, "organisation_id", None),
            source=options["source"] or None,
            licence=options["licence"] or None,
            dry_run=request.args.get("dry_run") in ("1", "true"),
            strict=request.args.get("strict") in ("1", "true"),
            scope=_scope(),
            **_kwargs(note),
        )
    except BadInput as exc:
        return jsonify(
            {"error": exc.message, "code": (exc.details or {}).get("code", exc.code)}
        ), 400
    finally:
        _cleanup(token)
    after_import(_db(), report)  # committed first; its own time, never fails the import
    return jsonify(report.to_dict())


def _exempt_api() -> None:
    from tryggkarta.web import csrf

    csrf.exempt(api_import)


_exempt_api()
