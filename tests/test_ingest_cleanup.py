"""Leftovers of imports: staging files of killed imports, previews nobody confirmed (#11.14)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tryggkarta.ingest import cleanup

ROW = "2021-02-22 10:00;Klotter;vägg;58,3862;13,4380\n"
HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"

STAGER = """
import sys, time
import pyarrow as pa
from tryggkarta.store.bulk import SqliteStage
stage = SqliteStage(sys.argv[1])
stage.add(pa.table({"a": list(range(1000))}))
print(stage.path, flush=True)
time.sleep(600)
"""


def _killed_import_leaves(folder: Path) -> Path:
    """Start a process that stages rows next to ``folder``/db.sqlite, kill -9 it: its file."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-c", STAGER, str(folder / "db.sqlite")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        path = Path(proc.stdout.readline().strip())
        assert path.is_file() and path.parent == folder
        assert path.name.startswith(f".tk-stage-{cleanup.host_tag()}-{proc.pid}-")
        assert not cleanup.stale_stage(path)  # its import is running: never touched
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert path.is_file()  # kill -9: nobody removed it
    return path


def test_staging_file_of_a_killed_import_is_removed_by_the_next_import(
    sqlite_db, tmp_path: Path
) -> None:
    from tryggkarta.ingest import import_file

    folder = Path(cleanup.sqlite_folder(sqlite_db))
    left = _killed_import_leaves(folder)
    old_style = folder / ".tk-stage-abc123.db"
    old_style.write_bytes(b"x")
    fresh_old_style = folder / ".tk-stage-def456.db"  # maybe a running older version: kept
    fresh_old_style.write_bytes(b"x")
    day_ago = time.time() - 86400
    os.utime(old_style, (day_ago, day_ago))
    path = tmp_path / "est.csv"
    path.write_text(HEADER + ROW, encoding="utf-8")
    report = import_file(sqlite_db, "incidents", path)
    assert report.rows_imported == 1
    assert not left.exists() and not old_style.exists() and fresh_old_style.exists()
    fresh_old_style.unlink()


def test_cli_start_and_cleanup_command_remove_stale_staging_files(
    sqlite_db, runner, monkeypatch
) -> None:
    from tryggkarta.ingest import cli as ingest_cli

    monkeypatch.setattr(ingest_cli, "_database", lambda: sqlite_db)
    left = _killed_import_leaves(Path(cleanup.sqlite_folder(sqlite_db)))
    result = runner.invoke(ingest_cli.import_group, ["cleanup"])
    assert result.exit_code == 0 and "stale staging files" in result.output
    assert "Removed 0 stale" not in result.output
    assert not left.exists()


def _upload(folder: Path, token: str, hours_old: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"{token}.csv", folder / f"{token}.note", folder / f"{token}.mapping.toml"]
    when = time.time() - hours_old * 3600
    for f in files:
        f.write_text("x", encoding="utf-8")
        os.utime(f, (when, when))
    return files


def test_unconfirmed_previews_expire_on_the_next_import_and_on_the_timer(
    sqlite_app, sqlite_db, tmp_path: Path
) -> None:
    from tests.conftest import AuthActions

    settings = sqlite_db.settings.with_overrides(
        instance_path=str(tmp_path), import_preview_hours=24
    )
    sqlite_app.extensions["tryggkarta.settings"] = settings
    uploads = tmp_path / "uploads"
    old = _upload(uploads, "a" * 32, 25)
    fresh = _upload(uploads, "b" * 32, 1)
    stranger = uploads / "README"
    stranger.write_text("not an upload", encoding="utf-8")
    client = sqlite_app.test_client()
    AuthActions(client, sqlite_db).login("police")
    cleanup._last_sweep.clear()
    client.get("/import/")  # the timer: the first request of the app sweeps
    assert not any(f.exists() for f in old) and all(f.exists() for f in fresh)
    assert stranger.exists()
    older = _upload(uploads, "c" * 32, 30)
    client.get("/import/")  # the timer waits SWEEP_EVERY_S before the next sweep
    assert all(f.exists() for f in older)
    page = client.post(
        "/import/preview",
        data={"layer": "incidents", "file": (io.BytesIO((HEADER + ROW).encode()), "est.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 200
    assert not any(f.exists() for f in older) and all(f.exists() for f in fresh)


def test_preview_age_is_a_setting() -> None:
    from tryggkarta.config import load_settings
    from tryggkarta.errors import ConfigError

    env = {"TRYGGKARTA_IMPORT_PREVIEW_HOURS": "2", "TRYGGKARTA_SECRET_KEY": "k"}
    assert load_settings(environ=env).import_preview_hours == 2
    with pytest.raises(ConfigError):
        load_settings(environ={**env, "TRYGGKARTA_IMPORT_PREVIEW_HOURS": "soon"})
