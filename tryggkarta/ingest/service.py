"""Importing a file: read, validate, then write everything in one transaction (or nothing).

>>> report = import_file(db, "incidents", "est_v47.csv", source="EST Skara")
>>> print(report.to_text())
>>> undo_import(db, report.dataset_id)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tryggkarta.domain import LAYER_FIELDS
from tryggkarta.errors import BadInput
from tryggkarta.i18n import iso_local
from tryggkarta.ingest.cleanup import sweep
from tryggkarta.ingest.files import bad, sha256_file
from tryggkarta.ingest.mapping import Mapping, load_mapping
from tryggkarta.ingest.normalise import PRESETS, default_municipality, normalise
from tryggkarta.ingest.piles import SpilledPiles
from tryggkarta.ingest.registry import FORMAT_NAMES, ReadOptions, read_table
from tryggkarta.ingest.report import ImportReport, Note
from tryggkarta.store.bulk import prefetch
from tryggkarta.store.models import LAYER_MODELS, Dataset
from tryggkarta.store.writes import LayerWriter, audit, delete_dataset, insert_layer

SENSITIVITIES = ("public", "internal", "sensitive")
#: Rejected rows kept in the dataset's stored report (the full list is in the live report).
STORED_REJECTIONS = 1000
#: Incident CSV files larger than this are imported in chunks (:func:`_import_streaming`):
#: memory stays bounded by the chunk, not the file. Smaller files go through :func:`prepare`.
STREAM_BYTES = 16 * 1024 * 1024
#: Rows per chunk of a streamed import.
STREAM_CHUNK = 100_000


def prepare(
    layer: str,
    path: str | Path,
    *,
    mapping: Mapping | str | Path | None = None,
    crs: Any = None,
    working_crs: int = 3006,
    region: str = "SE",
    municipality_code: str | None = None,
    filename: str | None = None,
    report: ImportReport | None = None,
    scope: tuple[str, ...] | None = None,
) -> tuple[Any, ImportReport, Any]:
    """Read and validate without touching the store: (GeoDataFrame, report, file row numbers).

    ``scope``: the municipalities the importer may write to (rows elsewhere are rejected)."""
    if layer not in LAYER_FIELDS:
        raise bad(f"Unknown layer {layer!r}; choose one of {', '.join(LAYER_FIELDS)}.", "bad_layer")
    path = Path(path)
    if not path.is_file():
        raise bad(f"The file {filename or path.name} does not exist.", "no_file")
    report = report or ImportReport(layer=layer, filename=filename or path.name)
    mapping = load_mapping(mapping)
    options = ReadOptions(
        sheet=mapping.sheet if mapping else None,
        encoding=mapping.encoding if mapping else None,
        delimiter=mapping.delimiter if mapping else None,
        crs=crs or (mapping.crs if mapping else None),
        filename=filename or path.name,
    )
    raw = read_table(path, options)
    report.format = FORMAT_NAMES.get(raw.format, raw.format)
    report.encoding, report.delimiter, report.sheet = raw.encoding, raw.delimiter, raw.sheet
    mapping = mapping or (PRESETS.get(raw.preset) if raw.preset else None)
    gdf, rows = normalise(
        raw,
        layer,
        report,
        mapping=mapping,
        crs=crs,
        working_crs=working_crs,
        region=region,
        municipality_code=municipality_code,
        scope=scope,
    )
    if mapping:
        report.source = report.source or mapping.source or ""
        report.licence = report.licence or mapping.licence or ""
    region_notes(report, working_crs, region)
    if layer == "incidents":
        stacked_note(report, gdf, working_crs, municipality_code or default_municipality(region))
    return gdf, report, rows


def street_xy(gdf: Any) -> tuple[Any, Any]:
    """x and y of the rows with a street-level position (numpy arrays)."""
    import numpy as np

    from tryggkarta.domain import STREET_LEVEL_PRECISIONS

    if len(gdf) == 0 or "geometry" not in gdf:
        return np.empty(0), np.empty(0)
    street = gdf["precision"].isin(STREET_LEVEL_PRECISIONS) if "precision" in gdf else None
    pts = gdf.geometry if street is None else gdf.geometry[street.to_numpy(bool)]
    return pts.x.to_numpy(float), pts.y.to_numpy(float)


def street_piles(gdf: Any) -> tuple[Any, Any]:
    """The street-level positions of ``gdf`` gathered per whole metre: (sorted keys, records
    per key), a key packing the rounded x and y into one int64 (:func:`unpack_piles`).

    A streamed import keeps these instead of every row's x and y: 8 bytes a row at most
    (less where records pile up) instead of 16, and the stacked-records rule
    (:func:`stacked_note_xy`) runs on the gathered piles at the end.
    """
    import numpy as np

    x, y = street_xy(gdf)
    ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) < 2**31 - 1) & (np.abs(y) < 2**31 - 1)
    keys = np.round(x[ok]).astype(np.int64) * 2**32 + (np.round(y[ok]).astype(np.int64) + 2**31)
    keys, counts = np.unique(keys, return_counts=True)
    return keys, counts.astype(np.int32)


def add_piles(piles: tuple[Any, Any] | None, new: tuple[Any, Any]) -> tuple[Any, Any]:
    """``new`` piles (one chunk's :func:`street_piles`) added to the sorted ``piles``
    gathered so far: counts of known keys grow in place, new keys are inserted in order.

    The gathered piles exist twice only while the new keys go in (12 bytes a pile more for a
    moment), never as a list of every chunk's piles merged at the end.
    """
    import numpy as np

    keys_new, counts_new = new
    if piles is None or len(piles[0]) == 0:
        return keys_new, counts_new.astype(np.int32)
    keys, counts = piles
    pos = np.searchsorted(keys, keys_new)
    hit = pos < len(keys)
    hit[hit] = keys[pos[hit]] == keys_new[hit]
    np.add.at(counts, pos[hit], counts_new[hit])
    miss = ~hit
    return (
        np.insert(keys, pos[miss], keys_new[miss]),
        np.insert(counts, pos[miss], counts_new[miss].astype(np.int32)),
    )


def merge_piles(parts: list[tuple[Any, Any]]) -> tuple[Any, Any]:
    """The piles of several chunks as one (sorted keys, records per key)."""
    import numpy as np

    piles = None
    for part in parts:
        piles = add_piles(piles, part)
    return piles if piles is not None else (np.empty(0, np.int64), np.empty(0, np.int32))


def unpack_piles(keys: Any) -> tuple[Any, Any]:
    """x and y (whole metres, int32: 8 bytes a pile) of :func:`street_piles` keys."""
    import numpy as np

    return (keys >> 32).astype(np.int32), ((keys & (2**32 - 1)) - 2**31).astype(np.int32)


def stacked_note(
    report: ImportReport, gdf: Any, working_crs: int = 3006, code: str | None = None
) -> None:
    """Note records stacked on one street-level coordinate (police station, geocoder
    default, the municipality centre); they are kept, and every hot spot leaves them out."""
    x, y = street_xy(gdf)
    stacked_note_xy(report, x, y, working_crs, code)


def _known_points(code: str | None, working_crs: int) -> list[list[float]] | None:
    """The municipality centre as the stacked-records rule's known default position."""
    if not code:
        return None
    from tryggkarta.errors import ConfigError
    from tryggkarta.geo import municipality

    try:
        c = municipality(code, working_crs).centroid
    except ConfigError:
        return None
    return [[c.x, c.y]]


def _stacked_warning(report: ImportReport, places: list[dict], count: int) -> None:
    if places:
        report.warn(
            Note.STACKED,
            {"count": count, "places": len(places), "top": places[0]["records"]},
        )


def stacked_note_xy(
    report: ImportReport, x: Any, y: Any, working_crs: int = 3006, code: str | None = None
) -> None:
    """:func:`stacked_note` on coordinates.
    The rule is :func:`tryggkarta.analysis.forecasting.stacked_coordinates`."""
    from tryggkarta.analysis.forecasting import stacked_coordinates

    if len(x) == 0:
        return
    stack = stacked_coordinates(x, y, known=_known_points(code, working_crs))
    _stacked_warning(report, stack.places, stack.n_flagged)


def stacked_note_piles(
    report: ImportReport,
    piles: tuple[Any, Any] | SpilledPiles,
    working_crs: int = 3006,
    code: str | None = None,
) -> None:
    """:func:`stacked_note` on the piles a streamed import gathered (:func:`merge_piles`, or
    spilled to disk, :class:`~tryggkarta.ingest.piles.SpilledPiles`): the same note, by
    :func:`tryggkarta.analysis.forecasting.stacked_piles`."""
    from tryggkarta.analysis.forecasting import stacked_piles

    known = _known_points(code, working_crs)
    median = None
    if isinstance(piles, SpilledPiles):
        # the rule's defaults: the 5 largest piles and the next one, 25 m, 3 records
        keys, counts, median = piles.reduce(top=6, known=known, radius=25.0, min_count=3)
    else:
        keys, counts = piles
    if len(keys) == 0:
        return
    x, y = unpack_piles(keys)
    stack = stacked_piles(x, y, counts, known=known, median=median)
    # street-level records only: every record of a flagged place is flagged
    _stacked_warning(report, stack.places, sum(p["records"] for p in stack.places))


def region_notes(report: ImportReport, working_crs: int, region: str) -> None:
    """Warn loudly when the working CRS does not suit the region, or no row lies in it."""
    from tryggkarta import geo
    from tryggkarta.errors import ConfigError
    from tryggkarta.ingest.report import Reason

    try:
        mismatch = geo.crs_mismatch_params(working_crs, region)
    except (ConfigError, ValueError):
        mismatch = None
    if mismatch:
        report.warn(Note.CRS_MISMATCH, mismatch)
    outside = [r for r in report.rejected if r.key == Reason.OUTSIDE]
    if report.rows_read and len(outside) == report.rows_read:
        report.warn(Note.ALL_OUTSIDE, {"area": outside[0].params.get("area")})


def _finish(
    session: Any,
    dataset: Any,
    report: ImportReport,
    inserted: int,
    skipped: int,
    *,
    layer: str,
    user: Any,
    sensitivity: str,
) -> None:
    """Record the outcome on the report and the dataset row, and audit the import."""
    report.rows_imported = inserted
    report.rows_duplicate += skipped
    if skipped:
        report.warn(Note.ALREADY_STORED, {"count": skipped})
    dataset.rows_imported = inserted
    dataset.rows_rejected = report.rows_rejected
    dataset.rows_duplicate = report.rows_duplicate
    stored = report.to_dict()
    stored["rejected"] = stored["rejected"][:STORED_REJECTIONS]
    dataset.report = stored
    audit(
        session,
        "import",
        user=user,
        layer=layer,
        detail=sensitivity,
        feature_count=inserted,
        extra={
            "dataset_id": dataset.id,
            "filename": report.filename,
            "checksum": report.checksum,
            "rejected": report.rows_rejected,
            "duplicates": report.rows_duplicate,
        },
    )


def import_file(
    db: Any,
    layer: str,
    path: str | Path,
    *,
    mapping: Mapping | str | Path | None = None,
    crs: Any = None,
    dry_run: bool = False,
    strict: bool = False,
    user: Any = None,
    organisation_id: int | None = None,
    source: str | None = None,
    licence: str | None = None,
    sensitivity: str = "internal",
    municipality_code: str | None = None,
    filename: str | None = None,
    scope: tuple[str, ...] | None = None,
) -> ImportReport:
    """Import one file into ``layer`` atomically and idempotently.

    Parameters
    ----------
    db : tryggkarta.store.Database
    layer : {"incidents", "survey", "projects", "areas"}
    path : the file (CSV, XLSX, GeoJSON, GeoPackage, zipped Shapefile, KML, Polisen JSON, …)
    mapping : a :class:`Mapping`, a TOML path or a packaged mapping name
    crs : EPSG of the coordinates when the file does not say (overrides inference)
    dry_run : read and validate only; nothing is written
    strict : refuse the whole file when any row is rejected
    municipality_code : accept only rows within this municipality (+1 km); tag incidents
    scope : the municipalities the importing user may write to (their EST group,
        :func:`tryggkarta.policy.raw_scope`); a row of another municipality is rejected with
        its reason (``strict`` refuses the file), ``None``: anywhere in the installation

    Returns
    -------
    ImportReport
        With ``dataset_id`` set when something was written, ``already_imported`` when the
        same file was imported before (then nothing is written).

    Raises
    ------
    BadInput
        For file-level problems (empty, unreadable, no coordinates, unsafe zip …), with
        ``details["code"]``. The store is unchanged.
    """
    if sensitivity not in SENSITIVITIES:
        raise bad(f"Sensitivity must be one of {', '.join(SENSITIVITIES)}.", "bad_sensitivity")
    path = Path(path)
    if not path.is_file():
        raise bad(f"The file {filename or path.name} does not exist.", "no_file")
    report = ImportReport(
        layer=layer,
        filename=filename or path.name,
        dry_run=dry_run,
        source=source or "",
        licence=licence or "",
    )
    report.checksum = sha256_file(path)
    sweep(db)  # staging files of killed imports, expired previews
    with db.session() as session:
        earlier = (
            session.execute(
                select(Dataset.id)
                .where(Dataset.checksum == report.checksum, Dataset.layer == layer)
                .order_by(Dataset.id)
            )
            .scalars()
            .first()
        )
    if earlier is not None:
        report.already_imported = int(earlier)
        report.warn(f"This file was already imported as dataset {earlier}; nothing was written.")
        return report
    settings = db.settings
    if _streams(layer, path, filename):
        return _import_streaming(
            db,
            layer,
            path,
            report,
            mapping=mapping,
            crs=crs,
            dry_run=dry_run,
            strict=strict,
            user=user,
            organisation_id=organisation_id,
            sensitivity=sensitivity,
            municipality_code=municipality_code,
            filename=filename,
            scope=scope,
        )
    gdf, report, _rows = prepare(
        layer,
        path,
        mapping=mapping,
        crs=crs,
        working_crs=db.srid,
        region=settings.region,
        municipality_code=municipality_code,
        filename=filename,
        report=report,
        scope=scope,
    )
    if strict and report.rows_rejected:
        report.strict_refused = True
        return report
    if len(gdf) == 0:
        report.warn(Note.NOTHING_IMPORTED)
        return report
    if dry_run:
        report.rows_imported, report.rows_duplicate = _would_insert(
            db, layer, gdf, report.rows_duplicate
        )
        return report
    with db.session() as session:
        dataset = Dataset(
            layer=layer,
            name=report.filename[:300],
            source=report.source[:300],
            licence=report.licence[:200],
            sensitivity=sensitivity,
            organisation_id=organisation_id,
            imported_by=getattr(user, "id", None),
            imported_at=datetime.now(UTC),
            checksum=report.checksum,
            filename=report.filename[:300],
            format=report.format[:40],
            crs=(report.crs or "")[:40],
            encoding=(report.encoding or "")[:40],
            rows_read=report.rows_read,
            municipality_code=municipality_code or default_municipality(settings.region),
        )
        session.add(dataset)
        session.flush()
        inserted, skipped = insert_layer(session, layer, gdf, dataset.id)
        report.dataset_id = int(dataset.id)
        _finish(
            session,
            dataset,
            report,
            inserted,
            skipped,
            layer=layer,
            user=user,
            sensitivity=sensitivity,
        )
    return report


def _expected_rows(path: Path) -> int:
    """Rows a large CSV probably holds, from its size and its first 1 MiB (a hint only)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(1 << 20)
    lines = head.count(b"\n")
    return int(size / max(len(head), 1) * lines) if lines else 0


def _streams(layer: str, path: Path, filename: str | None) -> bool:
    """Whether this import goes in chunks: a large delimited-text file of incidents."""
    from tryggkarta.ingest.registry import file_type

    try:
        kind = file_type(filename or path.name)
    except BadInput:
        return False
    return (
        layer == "incidents"
        and kind in ("csv", "tsv", "txt")
        and path.stat().st_size > STREAM_BYTES
    )


class _Refused(Exception):
    """Raised inside the import transaction to roll it back (strict refusal, nothing kept)."""


def _import_streaming(
    db: Any,
    layer: str,
    path: Path,
    report: ImportReport,
    *,
    mapping: Any,
    crs: Any,
    dry_run: bool,
    strict: bool,
    user: Any,
    organisation_id: int | None,
    sensitivity: str,
    municipality_code: str | None,
    filename: str | None,
    chunksize: int | None = None,
    scope: tuple[str, ...] | None = None,
) -> ImportReport:
    """:func:`import_file` for a CSV read, validated and written ``chunksize`` rows at a time.

    Same result as reading the whole file first (same rows, dedup keys, rejections with file
    row numbers, report totals and warnings), with memory bounded by one chunk: every chunk is
    written within one transaction as soon as it is validated. Whole-file decisions (CRS and
    a column swap, date formats, whether "time" is a clock time) are made on the first chunk
    (100,000 rows). Strict mode stops writing at the first rejection, validates the rest for
    the report and rolls everything back; so does a file where no row could be kept.
    """
    from tryggkarta.ingest import csv as csv_reader
    from tryggkarta.ingest.coords import target_area
    from tryggkarta.ingest.normalise import StreamState

    settings = db.settings
    mapping = load_mapping(mapping)
    options = ReadOptions(
        sheet=None,
        encoding=mapping.encoding if mapping else None,
        delimiter=mapping.delimiter if mapping else None,
        crs=crs or (mapping.crs if mapping else None),
        filename=filename or path.name,
    )
    state = StreamState()
    area = target_area(db.srid, settings.region, municipality_code)
    kept = 0
    would_new = 0
    # street-level piles so far, for the stacked note: on disk, not in memory (ingest.piles)
    folder = settings.instance_path if Path(settings.instance_path).is_dir() else None
    street = SpilledPiles(folder=folder) if layer == "incidents" else None

    def chunks():  # noqa: ANN202 - normalised chunks
        nonlocal mapping, kept
        for i, raw in enumerate(csv_reader.read_chunks(path, options, chunksize or STREAM_CHUNK)):
            if i == 0:
                report.format = FORMAT_NAMES.get(raw.format, raw.format)
                report.encoding, report.delimiter, report.sheet = (
                    raw.encoding,
                    raw.delimiter,
                    raw.sheet,
                )
                mapping = mapping or (PRESETS.get(raw.preset) if raw.preset else None)
            gdf, _rows = normalise(
                raw,
                layer,
                report,
                mapping=mapping,
                crs=crs,
                working_crs=db.srid,
                region=settings.region,
                municipality_code=municipality_code,
                state=state,
                area=area,
                scope=scope,
            )
            kept += len(gdf)
            if street is not None:
                street.add(*street_piles(gdf))
            yield gdf
        if state.crs is None:
            raise bad("No row of the file has usable coordinates.", "no_coordinates")
        state.finish(report)
        region_notes(report, db.srid, settings.region)
        if street is not None:
            with street:  # the files go once the note is made (or with ``street`` on an error)
                stacked_note_piles(
                    report,
                    street,
                    db.srid,
                    municipality_code or default_municipality(settings.region),
                )
        if mapping:
            report.source = report.source or mapping.source or ""
            report.licence = report.licence or mapping.licence or ""

    if dry_run:
        for gdf in chunks():
            if not (strict and report.rows_rejected):
                new, _found = _would_insert(db, layer, gdf, 0)
                would_new += new
                report.rows_duplicate += len(gdf) - new
        if strict and report.rows_rejected:
            report.strict_refused = True
        elif kept == 0:
            report.warn(Note.NOTHING_IMPORTED)
        else:
            report.rows_imported = would_new
        return report
    try:
        with db.session() as session:
            dataset = Dataset(
                layer=layer,
                name=report.filename[:300],
                sensitivity=sensitivity,
                organisation_id=organisation_id,
                imported_by=getattr(user, "id", None),
                imported_at=datetime.now(UTC),
                checksum=report.checksum,
                filename=report.filename[:300],
            )
            session.add(dataset)
            session.flush()
            writer = LayerWriter(session, layer, dataset.id, expected_rows=_expected_rows(path))

            def prepared():  # noqa: ANN202 - read, validate and prepare: a worker thread
                for gdf in chunks():
                    if strict and report.rows_rejected:
                        continue  # refused in the end: validate the rest for the report only
                    yield writer.prepare(gdf)

            # The next chunk is read, validated and prepared while the store writes this one.
            for piece in prefetch(prepared()):
                writer.write(piece)
                del piece
            if (strict and report.rows_rejected) or kept == 0:
                raise _Refused
            inserted, skipped = writer.finish()
            report.dataset_id = int(dataset.id)
            dataset.source, dataset.licence = report.source[:300], report.licence[:200]
            dataset.format, dataset.crs = report.format[:40], (report.crs or "")[:40]
            dataset.encoding, dataset.rows_read = (report.encoding or "")[:40], report.rows_read
            dataset.municipality_code = municipality_code or default_municipality(settings.region)
            _finish(
                session,
                dataset,
                report,
                inserted,
                skipped,
                layer=layer,
                user=user,
                sensitivity=sensitivity,
            )
    except _Refused:
        if strict and report.rows_rejected:
            report.strict_refused = True
        else:
            report.warn(Note.NOTHING_IMPORTED)
    return report


def preview_against_store(db: Any, layer: str, path: str | Path, gdf: Any, report: Any) -> None:
    """What confirming would do, for the preview: ``already_imported`` when the same file is
    a dataset already, and how many valid rows are stored already (``rows_duplicate``) or new
    (``rows_imported``, as in a dry run)."""
    report.checksum = report.checksum or sha256_file(Path(path))
    with db.session() as session:
        earlier = session.execute(
            select(func.min(Dataset.id)).where(
                Dataset.checksum == report.checksum, Dataset.layer == layer
            )
        ).scalar()
    report.already_imported = int(earlier) if earlier is not None else None
    report.rows_imported, report.rows_duplicate = _would_insert(
        db, layer, gdf, report.rows_duplicate
    )


def _would_insert(db: Any, layer: str, gdf: Any, duplicates: int) -> tuple[int, int]:
    """For a dry run: how many rows would be new, how many are already stored."""
    if len(gdf) == 0:
        return 0, duplicates
    table = LAYER_MODELS[layer].__table__
    keys = gdf["dedup_key"].tolist()
    found = 0
    with db.engine.connect() as conn:
        for start in range(0, len(keys), 5000):
            chunk = keys[start : start + 5000]
            found += conn.execute(
                select(func.count()).select_from(table).where(table.c.dedup_key.in_(chunk))
            ).scalar_one()
    return len(gdf) - int(found), duplicates + int(found)


def undo_import(db: Any, dataset_id: int, *, user: Any = None) -> dict[str, int]:
    """Delete dataset ``dataset_id`` and all its rows; returns rows deleted per layer."""
    with db.session() as session:
        deleted = delete_dataset(session, int(dataset_id))
        audit(
            session,
            "import_undo",
            user=user,
            layer=next(iter(deleted), None),
            feature_count=sum(deleted.values()),
            extra={"dataset_id": int(dataset_id)},
        )
    return deleted


def list_datasets(db: Any, layer: str | None = None) -> list[dict[str, Any]]:
    """The imported datasets, newest first, as plain dicts."""
    stmt = select(Dataset).order_by(Dataset.id.desc())
    if layer:
        stmt = stmt.where(Dataset.layer == layer)
    with db.session() as session:
        return [
            {
                "id": d.id,
                "layer": d.layer,
                "name": d.name,
                "source": d.source,
                "licence": d.licence,
                "sensitivity": d.sensitivity,
                "imported_at": iso_local(d.imported_at) if d.imported_at else None,
                "rows_read": d.rows_read,
                "rows_imported": d.rows_imported,
                "rows_rejected": d.rows_rejected,
                "rows_duplicate": d.rows_duplicate,
                "format": d.format,
                "crs": d.crs,
                "checksum": d.checksum,
            }
            for d in session.execute(stmt).scalars()
        ]


__all__ = ["BadInput", "import_file", "list_datasets", "prepare", "undo_import"]
