"""Writing exports: GeoJSON or GeoPackage files, a manifest, and ``<name>-latest.*`` on change.

An export run writes its layer as a dated file (``<name>-<YYYYmmddTHHMMZ>.<format>``); when
the content differs from the previous run it also replaces ``<name>-latest.<format>`` and
``<name>-manifest.json`` — every name belongs to one export, so two exports can share a folder
only when they are for the same audience. A folder that an export for another audience writes
to (the same folder, or one inside the other) is refused when the schedule is added and again
at every run.

Raw layers are streamed: features are written as they come from the database, 20,000 at a
time, so memory stays flat however large the layer. Every row the schedule selects is
written — the count from the same database snapshot is checked — or the run fails, leaves
the published files as they were, and says so. Every run, failed or not, is audit-logged.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
from sqlalchemy import select

from tryggkarta import __version__
from tryggkarta.errors import BadInput, TryggkartaError
from tryggkarta.exports import files, gpkg
from tryggkarta.exports.folders import check_folder
from tryggkarta.geojson import join_texts, normalise_features
from tryggkarta.services import ogc_core
from tryggkarta.services.public import AUDIENCE_ROLE, COLLECTIONS, allowed, collection
from tryggkarta.store import Database, ExportRun, ExportSchedule, audit

FORMATS = ("geojson", "gpkg")
CHUNK_ROWS = 20_000


class ExportFailed(TryggkartaError):
    code = "ExportFailed"
    default_message = "The export could not be written."


def latest_name(schedule: ExportSchedule) -> str:
    return f"{schedule.name}-latest.{schedule.format}"


def manifest_name(schedule: ExportSchedule) -> str:
    return f"{schedule.name}-manifest.json"


# --- content ---------------------------------------------------------------------------------


class _Sink:
    """Writes bytes to the temp file (GeoJSON) and hashes them; counts features."""

    def __init__(self, handle: BinaryIO | None) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.features = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        if self.handle is not None:
            self.handle.write(data)

    def features_chunk(self, texts: pa.Array) -> None:
        if len(texts) == 0:
            return
        if self.features:
            self.write(b",")
        self.write(join_texts(texts).encode("utf-8"))
        self.features += len(texts)


@contextlib.contextmanager
def _chunks(
    db: Database, schedule: ExportSchedule
) -> Iterator[tuple[int, Iterator[tuple[Any, pa.Array]]]]:
    """``(expected features, iterator of (rows, feature texts))`` of the schedule's layer."""
    if schedule.layer in ogc_core.RAW_COLLECTIONS:
        role = AUDIENCE_ROLE.get(schedule.audience)
        if role is None or not allowed(schedule.layer, role):
            raise BadInput(
                f"The collection {schedule.layer!r} holds raw records and cannot be given to "
                f"the audience {schedule.audience!r}."
            )
        with ogc_core.stream(
            db, schedule.layer, ogc_core.region_filters(db), chunk_rows=CHUNK_ROWS
        ) as (matched, pairs):
            yield matched, pairs
        return
    fc = collection(db, schedule.layer, audience=schedule.audience, params=schedule.params or {})
    features = normalise_features(fc["features"])
    texts = pa.array(
        [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features], pa.string()
    )
    yield len(features), iter([(features, texts)] if features else [])


def _write_content(
    db: Database, schedule: ExportSchedule, target: Path, mode: int
) -> tuple[Path, str, int]:
    """Write the layer to a new temp file in ``target``; (temp path, content sha256, features).

    The checksum is that of the GeoJSON text of the features in either format, so a
    GeoPackage counts as changed exactly when its features do.
    """
    geojson = schedule.format == "geojson"
    tmp, handle = files.new_temp(target, schedule.name, mode, "" if geojson else ".gpkg")
    try:
        if not geojson:
            handle.close()
            tmp.unlink()  # GDAL creates the GeoPackage itself
        sink = _Sink(handle if geojson else None)
        pool = pa.default_memory_pool()
        sink.write(b'{"type":"FeatureCollection","features":[')
        wrote_layer = False
        with _chunks(db, schedule) as (expected, chunks):
            for rows, texts in chunks:
                sink.features_chunk(texts)
                if not geojson:
                    frame = gpkg.chunk_frame(rows, schedule, db.srid)
                    gpkg.write_chunk(tmp, frame, schedule, append=wrote_layer)
                    wrote_layer = True
                del rows, texts
                # Arrow's allocator keeps freed chunks for reuse; hand them back, so the
                # export's memory is one chunk's, not the largest few chunks' together
                pool.release_unused()
        sink.write(f'],"numberReturned":{sink.features}}}'.encode())
        if sink.features != expected:
            raise ExportFailed(
                f"The export {schedule.name!r} wrote {sink.features:,} of {expected:,} features; "
                "nothing was published. Run it again."
            )
        if geojson:
            files.finish(handle)
        else:
            if not wrote_layer:
                gpkg.write_chunk(tmp, gpkg.empty_frame(schedule), schedule, append=False)
            os.chmod(tmp, mode)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        return tmp, sink.digest.hexdigest(), sink.features
    except BaseException:
        with contextlib.suppress(OSError):
            handle.close()
        for path in files.stale_temps(target, schedule.name):
            if path.name.startswith(tmp.name):
                path.unlink(missing_ok=True)
        raise


# --- a run -----------------------------------------------------------------------------------


def _who(user: Any) -> dict[str, str]:
    if user is not None:
        return {}
    try:
        return {"os_user": getpass.getuser()}
    except (KeyError, OSError):
        return {"os_user": str(os.getuid())}


def run_export(
    db: Database, schedule: ExportSchedule, *, now: datetime | None = None, user: Any = None
) -> ExportRun:
    """Run one export schedule now; returns the recorded :class:`ExportRun`.

    Raises :class:`BadInput` (refused: unknown layer, a shared folder, a bad name) or
    :class:`ExportFailed` (could not write everything); both are recorded and audit-logged,
    and the published files stay as they were.
    """
    now = now or datetime.now(UTC)
    started = datetime.now(UTC)
    target = Path(schedule.target_dir)
    try:
        files.check_name(schedule.name)
        if schedule.layer not in COLLECTIONS:
            raise BadInput(
                f"Unknown export layer {schedule.layer!r}; choose one of {', '.join(COLLECTIONS)}."
            )
        if schedule.format not in FORMATS:
            raise BadInput(f"Unknown export format {schedule.format!r}; choose geojson or gpkg.")
        with db.session() as s:
            check_folder(s, schedule.name, schedule.audience, target)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"Cannot create the export folder {target}: {exc.strerror}.") from None
        if not os.access(target, os.W_OK):
            raise BadInput(f"The export folder {target} is not writable.")
        lock_dir = Path(db.settings.instance_path) / "export-locks"
        with files.run_lock(lock_dir, schedule.name):
            removed = files.remove_stale_temps(target, schedule.name)
            return _run_locked(db, schedule, target, now, started, user, removed)
    except (TryggkartaError, OSError) as exc:
        message = exc.message if isinstance(exc, TryggkartaError) else _os_message(exc, target)
        _record_failure(db, schedule, now, started, user, message)
        if isinstance(exc, OSError):
            raise ExportFailed(message) from None
        raise


def _os_message(exc: OSError, target: Path) -> str:
    return f"Writing the export to {target} failed: {exc.strerror or exc}."


def _run_locked(
    db: Database,
    schedule: ExportSchedule,
    target: Path,
    now: datetime,
    started: datetime,
    user: Any,
    removed: list[str],
) -> ExportRun:
    mode = db.settings.export_file_mode
    tmp, checksum, count = _write_content(db, schedule, target, mode)
    latest = target / latest_name(schedule)
    try:
        with db.session() as s:
            previous = s.scalar(
                select(ExportRun)
                .where(
                    ExportRun.schedule_id == schedule.id,
                    ExportRun.status == "ok",
                    ExportRun.changed.is_(True),
                )
                .order_by(ExportRun.id.desc())
            )
            changed = previous is None or previous.checksum != checksum or not latest.exists()
            path = None
            if changed:
                stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
                path = target / f"{schedule.name}-{stamp}.{schedule.format}"
                os.replace(tmp, path)
                files.sync_folder(target)
                files.publish_copy(path, latest, schedule.name, mode)
                _write_manifest(target, schedule, path, checksum, count, now, mode)
            else:
                tmp.unlink()
            message = "written" if changed else "unchanged since the last export; nothing written"
            if removed:
                message += f"; removed {len(removed)} temp file(s) of a crashed run"
            run = ExportRun(
                schedule_id=schedule.id,
                started_at=started,
                finished_at=datetime.now(UTC),
                status="ok",
                path=str(path) if path else None,
                checksum=checksum,
                feature_count=count,
                changed=changed,
                message=message,
            )
            s.add(run)
            row = s.get(ExportSchedule, schedule.id)
            if row is not None:
                row.last_run_at = now
            audit(
                s,
                "export",
                user=user,
                layer=schedule.layer,
                detail=schedule.audience,
                feature_count=count,
                extra={
                    "schedule": schedule.name,
                    "status": "ok",
                    "changed": changed,
                    "format": schedule.format,
                    "folder": str(target),
                    "file": path.name if path else None,
                    **_who(user),
                },
            )
            s.flush()
            s.expunge(run)
    finally:
        tmp.unlink(missing_ok=True)
    return run


def _record_failure(
    db: Database,
    schedule: ExportSchedule,
    now: datetime,
    started: datetime,
    user: Any,
    message: str,
) -> None:
    with db.session() as s:
        exists = schedule.id is not None and s.get(ExportSchedule, schedule.id) is not None
        s.add(
            ExportRun(
                schedule_id=schedule.id if exists else None,
                started_at=started,
                finished_at=datetime.now(UTC),
                status="failed",
                feature_count=None,
                changed=False,
                message=message,
            )
        )
        audit(
            s,
            "export",
            user=user,
            layer=schedule.layer,
            detail=schedule.audience,
            feature_count=0,
            extra={
                "schedule": schedule.name,
                "status": "failed",
                "message": message,
                "folder": str(schedule.target_dir),
                **_who(user),
            },
        )


def _write_manifest(
    target: Path,
    schedule: ExportSchedule,
    path: Path,
    checksum: str,
    features: int,
    now: datetime,
    mode: int,
) -> None:
    info = COLLECTIONS[schedule.layer]
    manifest_path = target / manifest_name(schedule)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    previous = manifest.get("files", []) if isinstance(manifest, dict) else []
    entries = [
        f
        for f in previous
        if isinstance(f, dict)
        and f.get("file") != path.name
        and (target / str(f.get("file", ""))).is_file()
    ]
    file_sum = checksum if schedule.format == "geojson" else files.file_sha256(path)
    entries.append(
        {
            "file": path.name,
            "sha256": file_sum,
            "features": features,
            "created": now.isoformat(),
        }
    )
    manifest = {
        "name": schedule.name,
        "layer": schedule.layer,
        "title": info.title_sv,
        "title_en": info.title_en,
        "description": info.description,
        "audience": schedule.audience,
        "format": schedule.format,
        "crs": "EPSG:4326",
        "latest": latest_name(schedule),
        "latest_sha256": file_sum,
        "content_sha256": checksum,
        "features": features,
        "complete": True,
        "updated": now.isoformat(),
        "generator": f"tryggkarta {__version__}",
        "files": entries[-52:],
    }
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    files.atomic_write(manifest_path, data, schedule.name, mode)


def due_schedules(db: Database, now: datetime | None = None) -> list[ExportSchedule]:
    from tryggkarta.exports.schedule import parse_schedule

    now = now or datetime.now(UTC)
    with db.session() as s:
        rows = s.scalars(
            select(ExportSchedule)
            .where(ExportSchedule.active.is_(True))
            .order_by(ExportSchedule.id)
        ).all()
        for row in rows:
            s.expunge(row)
    return [r for r in rows if parse_schedule(r.schedule).is_due(r.last_run_at, now)]
