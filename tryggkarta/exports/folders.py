"""Export folders: one audience per folder.

A folder published for one audience (say, an open-data web folder) must never receive files of
an export for another (raw incidents for the police): that is how a public ``latest.geojson``
once came to hold every raw incident. Two exports conflict when their audiences differ and one
folder is the other, or lies inside it (a web server publishing a folder publishes its
subfolders). Checked against the schedules in the database and against the manifests found
in the folder, which also catch exports of another installation or of a deleted schedule.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tryggkarta.errors import BadInput
from tryggkarta.store import ExportSchedule


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def folder_conflicts(
    session: Session, name: str, audience: str, target: Path
) -> list[ExportSchedule]:
    """Schedules for another audience whose folder is ``target``, inside it, or around it."""
    target = Path(target).resolve()
    rows = session.scalars(
        select(ExportSchedule).where(
            ExportSchedule.name != name, ExportSchedule.audience != audience
        )
    ).all()
    return [r for r in rows if _overlap(Path(r.target_dir).resolve(), target)]


def check_folder(session: Session, name: str, audience: str, target: Path) -> None:
    """:class:`BadInput` when an export for another audience writes to ``target`` (or a folder
    inside or around it), according to the schedules and to the manifests in the folder."""
    target = Path(target).resolve()
    for other in folder_conflicts(session, name, audience, target):
        raise BadInput(
            f"The {other.audience} export {other.name!r} writes to {other.target_dir}; a "
            f"{audience} export cannot write to {target}, the same folder or one inside or "
            "around it. Choose a folder of its own."
        )
    if not target.is_dir():
        return
    for path in sorted(target.glob("*manifest.json")):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict):
            continue
        other_audience, other_name = manifest.get("audience"), manifest.get("name")
        if other_audience and other_audience != audience and other_name != name:
            raise BadInput(
                f"The folder {target} holds files of the {other_audience} export "
                f"{other_name!r} ({path.name}); a {audience} export cannot write there. "
                "Choose a folder of its own."
            )
