"""Writing exports: GeoJSON or GeoPackage files, a manifest, and ``latest.*`` only on change.

An export run writes the layer as a dated file (``<name>-<YYYYmmddTHHMM>.geojson``); when its
content differs from the previous run it also replaces ``latest.geojson`` atomically and
updates ``manifest.json`` — so an open-data portal that polls ``latest.geojson`` picks it up
only when something changed. An unchanged run writes nothing and is recorded as unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tryggkarta import __version__
from tryggkarta.errors import BadInput
from tryggkarta.services.public import COLLECTIONS, collection
from tryggkarta.store import Database, ExportRun, ExportSchedule, audit

FORMATS = ("geojson", "gpkg")


def canonical_bytes(fc: dict[str, Any]) -> bytes:
    """The FeatureCollection as stable JSON (sorted keys): equal content, equal bytes."""
    return json.dumps(fc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _gpkg_bytes(fc: dict[str, Any], layer: str) -> bytes:
    import geopandas as gpd

    frame = (
        gpd.GeoDataFrame.from_features(fc["features"], crs=4326)
        if fc["features"]
        else gpd.GeoDataFrame({"count": []}, geometry=[], crs=4326)
    )
    for col in frame.columns:
        if col != "geometry" and frame[col].map(lambda v: isinstance(v, (list, dict))).any():
            frame[col] = frame[col].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
            )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.gpkg"
        frame.to_file(path, layer=layer, driver="GPKG")
        return path.read_bytes()


def run_export(
    db: Database, schedule: ExportSchedule, *, now: datetime | None = None, user: Any = None
) -> ExportRun:
    """Run one export schedule now; returns the recorded :class:`ExportRun`."""
    now = now or datetime.now(UTC)
    if schedule.layer not in COLLECTIONS:
        raise BadInput(
            f"Unknown export layer {schedule.layer!r}; choose one of {', '.join(COLLECTIONS)}."
        )
    if schedule.format not in FORMATS:
        raise BadInput(f"Unknown export format {schedule.format!r}; choose geojson or gpkg.")
    target = Path(schedule.target_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"Cannot create the export folder {target}: {exc.strerror}.") from None
    if not os.access(target, os.W_OK):
        raise BadInput(f"The export folder {target} is not writable.")

    fc = collection(db, schedule.layer, audience=schedule.audience, params=schedule.params or {})
    content = canonical_bytes(fc)
    checksum = hashlib.sha256(content).hexdigest()
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
        changed = (
            previous is None
            or previous.checksum != checksum
            or not (target / f"latest.{schedule.format}").exists()
        )
        path = None
        if changed:
            stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
            path = target / f"{schedule.name}-{stamp}.{schedule.format}"
            data = content if schedule.format == "geojson" else _gpkg_bytes(fc, schedule.layer)
            _atomic_write(path, data)
            _atomic_write(target / f"latest.{schedule.format}", data)
            _write_manifest(target, schedule, path, checksum, len(fc["features"]), now)
        run = ExportRun(
            schedule_id=schedule.id,
            started_at=now,
            finished_at=datetime.now(UTC),
            status="ok",
            path=str(path) if path else None,
            checksum=checksum,
            feature_count=len(fc["features"]),
            changed=changed,
            message="written" if changed else "unchanged since the last export; nothing written",
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
            feature_count=len(fc["features"]),
            extra={"schedule": schedule.name, "changed": changed},
        )
        s.flush()
        s.expunge(run)
    return run


def _write_manifest(
    target: Path, schedule: ExportSchedule, path: Path, checksum: str, features: int, now: datetime
) -> None:
    info = COLLECTIONS[schedule.layer]
    manifest_path = target / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    files = [f for f in manifest.get("files", []) if (target / f.get("file", "")).exists()]
    files.append(
        {"file": path.name, "sha256": checksum, "features": features, "created": now.isoformat()}
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
        "latest": f"latest.{schedule.format}",
        "latest_sha256": checksum,
        "updated": now.isoformat(),
        "generator": f"tryggkarta {__version__}",
        "files": files[-52:],
    }
    _atomic_write(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))


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
