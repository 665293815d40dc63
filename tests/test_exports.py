"""Scheduled exports: schedules, change detection, manifest, privacy (scenario 4)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from tryggkarta.errors import BadInput
from tryggkarta.exports.schedule import parse_schedule
from tryggkarta.exports.writer import due_schedules, run_export
from tryggkarta.services.public import collection
from tryggkarta.store import AuditLog, ExportRun, ExportSchedule


@pytest.mark.parametrize(
    ("text", "now", "last", "due"),
    [
        ("MON 06:00", "2026-11-23T05:30:00+00:00", None, True),  # never run
        (
            "MON 06:00",
            "2026-11-23T05:30:00+00:00",
            "2026-11-23T05:00:00+00:00",
            False,
        ),  # Mon 06:00 CET = 05:00 UTC
        (
            "MON 06:00",
            "2026-11-23T04:59:00+00:00",
            "2026-11-16T05:00:00+00:00",
            False,
        ),  # before this week's slot
        (
            "MON 06:00",
            "2026-11-25T12:00:00+00:00",
            "2026-11-16T05:00:00+00:00",
            True,
        ),  # missed Monday, catch up
        (
            "DAILY 06:00",
            "2026-06-02T04:00:00+00:00",
            "2026-06-01T04:00:00+00:00",
            True,
        ),  # summer time: 06:00 = 04:00 UTC
        ("HOURLY", "2026-06-02T04:30:00+00:00", "2026-06-02T04:00:00+00:00", False),
    ],
)
def test_schedule_due(text, now, last, due):
    sched = parse_schedule(text)
    last_dt = datetime.fromisoformat(last) if last else None
    assert sched.is_due(last_dt, datetime.fromisoformat(now)) is due


@pytest.mark.parametrize("bad", ["", "MONDAY 6", "MON 25:00", "every day", "MON 06:61"])
def test_bad_schedules(bad):
    with pytest.raises(BadInput):
        parse_schedule(bad)


def _schedule(db, tmp_path, layer="survey_cells", audience="public", fmt="geojson"):
    with db.session() as s:
        row = ExportSchedule(
            name=f"open-{layer}",
            layer=layer,
            format=fmt,
            audience=audience,
            schedule="MON 06:00",
            target_dir=str(tmp_path / "opendata"),
        )
        s.add(row)
        s.flush()
        s.expunge(row)
    return row


def test_export_writes_latest_only_on_change(demo_db, tmp_path):
    sched = _schedule(demo_db, tmp_path)
    first = run_export(demo_db, sched, now=datetime(2026, 11, 23, 5, 0, tzinfo=UTC))
    folder = tmp_path / "opendata"
    latest = folder / "open-survey_cells-latest.geojson"
    assert first.changed and latest.exists()
    fc = json.loads(latest.read_text(encoding="utf-8"))
    assert fc["features"], "the demo survey has cells with at least k answers"
    assert all(f["properties"]["count"] >= 5 for f in fc["features"])
    manifest = json.loads((folder / "open-survey_cells-manifest.json").read_text(encoding="utf-8"))
    assert manifest["latest"] == latest.name and manifest["crs"] == "EPSG:4326"
    assert manifest["features"] == len(fc["features"]) and manifest["complete"] is True
    mtime = latest.stat().st_mtime_ns
    second = run_export(demo_db, sched, now=datetime(2026, 11, 30, 5, 0, tzinfo=UTC))
    assert second.changed is False and second.path is None
    assert latest.stat().st_mtime_ns == mtime
    assert len(list(folder.glob("open-survey_cells-2*.geojson"))) == 1
    with demo_db.session() as s:
        assert s.query(AuditLog).filter_by(action="export").count() == 2


def test_public_exports_hold_no_sensitive_fields(demo_db):
    for name in (
        "incident_cells",
        "survey_cells",
        "design_hotspots",
        "projects",
        "areas",
        "gistar_hotspots",
    ):
        text = json.dumps(collection(demo_db, name, audience="public"), ensure_ascii=False)
        for field in ("description", "comment", "syntetisk demohändelse", "reporter_org"):
            assert field not in text, (name, field)


def test_raw_layers_cannot_go_public(demo_db):
    with pytest.raises(BadInput, match="raw records"):
        collection(demo_db, "incidents", audience="public")
    assert collection(demo_db, "incidents", audience="internal")["features"]


def test_geopackage_export(demo_db, tmp_path):
    import geopandas as gpd

    sched = _schedule(demo_db, tmp_path, layer="projects", fmt="gpkg")
    run = run_export(demo_db, sched)
    frame = gpd.read_file(run.path)
    assert len(frame) == 7 and frame.crs.to_epsg() == 4326


def test_due_schedules_and_cli(demo_db, tmp_path, monkeypatch):
    from tryggkarta import cli

    monkeypatch.setattr(cli, "get_database", lambda **_: demo_db)
    runner = CliRunner()
    target = tmp_path / "out"
    result = runner.invoke(
        cli.main, ["exports", "add", "hotspots", "--layer", "design_hotspots", "--dir", str(target)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli.main, ["exports", "add", "raw", "--layer", "incidents", "--dir", str(target)]
    )
    assert result.exit_code == 2 and "cannot be exported for the public" in result.output
    assert [s.name for s in due_schedules(demo_db)] == ["hotspots"]
    result = runner.invoke(cli.main, ["exports", "run", "--due"])
    assert result.exit_code == 0 and "wrote" in result.output
    assert due_schedules(demo_db) == []
    result = runner.invoke(cli.main, ["exports", "run", "hotspots"])
    assert "unchanged" in result.output
    result = runner.invoke(cli.main, ["exports", "list"])
    assert "hotspots" in result.output


# --- folders shared between audiences (issue 10.3) ---------------------------------------


def _add(db, tmp_path, name, layer, audience, folder, fmt="geojson"):
    with db.session() as s:
        row = ExportSchedule(
            name=name,
            layer=layer,
            format=fmt,
            audience=audience,
            schedule="MON 06:00",
            target_dir=str(folder),
        )
        s.add(row)
        s.flush()
        s.expunge(row)
    return row


def test_adding_an_export_refuses_a_folder_of_another_audience(db, tmp_path, monkeypatch):
    from tryggkarta import cli

    monkeypatch.setattr(cli, "get_database", lambda **_: db)
    runner = CliRunner()
    shared = tmp_path / "share"

    def add(name, layer, audience, folder):
        args = ["exports", "add", name, "--layer", layer, "--dir", str(folder)]
        return runner.invoke(cli.main, [*args, "--audience", audience])

    assert add("open-cells", "survey_cells", "public", shared).exit_code == 0
    assert add("open-areas", "areas", "public", shared).exit_code == 0  # same audience: fine
    for folder in (shared, shared / "internal", tmp_path):  # same, inside, around
        result = add("raw", "incidents", "internal", folder)
        assert result.exit_code == 2, (folder, result.output)
        assert "'open-cells' writes to" in result.output and "Traceback" not in result.output
    assert add("raw", "incidents", "internal", tmp_path / "police").exit_code == 0
    with db.session() as s:
        assert s.query(ExportSchedule).count() == 3


@pytest.mark.parametrize("bad", ["../escape", "a/b", "latest name", ".hidden", "x~y", ""])
def test_export_names_are_file_names(db, tmp_path, monkeypatch, bad):
    from tryggkarta import cli

    monkeypatch.setattr(cli, "get_database", lambda **_: db)
    args = ["exports", "add", bad, "--layer", "areas", "--dir", str(tmp_path / "out")]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2 and "cannot be used as a file name" in result.output


def test_a_run_refuses_a_folder_shared_with_another_audience(demo_db, tmp_path):
    """The measured leak: a public and an internal export in one folder shared latest.geojson,
    which then held every raw incident. A schedule that got there anyway (added before this
    check, or edited in the database) is refused at run time, recorded and audit-logged."""
    folder = tmp_path / "opendata"
    public = _add(demo_db, tmp_path, "open-cells", "survey_cells", "public", folder)
    assert run_export(demo_db, public).changed
    internal = _add(demo_db, tmp_path, "raw", "incidents", "internal", folder)
    with pytest.raises(BadInput, match="'open-cells' writes to"):
        run_export(demo_db, internal)
    with pytest.raises(BadInput, match="'raw' writes to"):  # and the public one stops too
        run_export(demo_db, public)
    text = "".join(p.read_text(encoding="utf-8") for p in folder.iterdir())
    assert "syntetisk demohändelse" not in text and not list(folder.glob("raw-*"))
    with demo_db.session() as s:
        failed = s.query(ExportRun).filter_by(status="failed").order_by(ExportRun.id).all()
        assert len(failed) == 2 and all("writes to" in f.message for f in failed)
        entries = s.query(AuditLog).filter_by(action="export").order_by(AuditLog.id).all()
        assert [(e.extra["schedule"], e.extra["status"]) for e in entries] == [
            ("open-cells", "ok"),
            ("raw", "failed"),
            ("open-cells", "failed"),
        ]


def test_a_run_refuses_a_folder_whose_manifest_is_of_another_audience(demo_db, tmp_path):
    """Files of an export that is no longer scheduled here (another installation, a deleted
    schedule) still mark the folder as theirs."""
    folder = tmp_path / "opendata"
    folder.mkdir()
    (folder / "raw-manifest.json").write_text(
        json.dumps({"name": "raw", "audience": "internal"}), encoding="utf-8"
    )
    public = _add(demo_db, tmp_path, "open-cells", "survey_cells", "public", folder)
    with pytest.raises(BadInput, match="holds files of the internal export 'raw'"):
        run_export(demo_db, public)
    assert sorted(p.name for p in folder.iterdir()) == ["raw-manifest.json"]


def test_exports_sharing_a_folder_keep_their_own_latest_and_manifest(demo_db, tmp_path):
    folder = tmp_path / "opendata"
    cells = _add(demo_db, tmp_path, "cells", "survey_cells", "public", folder)
    areas = _add(demo_db, tmp_path, "areas", "areas", "public", folder)
    run_export(demo_db, cells)
    run_export(demo_db, areas)
    names = sorted(p.name for p in folder.iterdir())
    assert "latest.geojson" not in names and "manifest.json" not in names
    for name, layer in (("cells", "survey_cells"), ("areas", "areas")):
        manifest = json.loads((folder / f"{name}-manifest.json").read_text(encoding="utf-8"))
        assert manifest["layer"] == layer and manifest["latest"] == f"{name}-latest.geojson"
        assert all(f["file"].startswith(f"{name}-2") for f in manifest["files"])
    areas_fc = json.loads((folder / "areas-latest.geojson").read_text(encoding="utf-8"))
    assert len(areas_fc["features"]) == 8


# --- files: mode, atomicity, leftovers (issue 11.14, 11.15) -------------------------------


def test_export_files_are_readable_by_others_whatever_the_umask(demo_db, tmp_path):
    folder = tmp_path / "opendata"
    sched = _add(demo_db, tmp_path, "cells", "survey_cells", "public", folder)
    old = os.umask(0o077)
    try:
        run_export(demo_db, sched)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert len(modes) == 3 and set(modes.values()) == {0o644}, modes


def test_export_file_mode_is_configurable(db, tmp_path):
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    settings = load_settings(
        {"database_url": db.settings.url, "instance_path": str(tmp_path / "inst")},
        environ={"TRYGGKARTA_EXPORT_FILE_MODE": "0640"},
    )
    custom = Database(settings)
    try:
        sched = _add(custom, tmp_path, "areas", "areas", "public", tmp_path / "out")
        run = run_export(custom, sched)
        assert stat.S_IMODE(os.stat(run.path).st_mode) == 0o640
    finally:
        custom.dispose()


def test_a_crashed_run_leaves_the_published_files_and_its_temp_files_go(db, tmp_path, monkeypatch):
    """A run that dies while writing publishes nothing and leaves no temp file; temp files a
    killed run left behind are removed by the next run of the same export, and only those."""
    from bulk_rows import insert_incidents

    from tryggkarta.exports import writer
    from tryggkarta.exports.writer import ExportFailed

    insert_incidents(db, 300)
    folder = tmp_path / "police"
    sched = _add(db, tmp_path, "raw", "incidents", "internal", folder)
    first = run_export(db, sched)
    latest = folder / "raw-latest.geojson"
    before = latest.read_bytes()
    insert_incidents(db, 100, seed=9)  # new rows: the next run has something to write
    killed = folder / ".tryggkarta-tmp~raw~0123456789ab"
    killed.write_bytes(b'{"type":"FeatureCollection","features":[{"type":')
    other = folder / ".tryggkarta-tmp~raw-2~0123456789ab"  # another export's: not ours
    other.write_bytes(b"{")

    monkeypatch.setattr(writer, "CHUNK_ROWS", 100)
    real = writer.files.finish

    def disk_full(handle):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer.files, "finish", disk_full)
    with pytest.raises(ExportFailed, match="No space left on device"):
        run_export(db, sched)
    assert latest.read_bytes() == before
    assert not killed.exists() and other.exists()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == [other.name]

    monkeypatch.setattr(writer.files, "finish", real)
    killed.write_bytes(b"{")
    second = run_export(db, sched)
    assert second.changed and "removed 1 temp file" in second.message
    assert not killed.exists() and other.exists()
    assert len(json.loads(latest.read_bytes())["features"]) == 400 and first.feature_count == 300
    with db.session() as s:
        statuses = [e.extra["status"] for e in s.query(AuditLog).filter_by(action="export")]
        assert statuses == ["ok", "failed", "ok"]


def test_an_export_that_loses_rows_fails_loudly(db, tmp_path, monkeypatch):
    """Fewer features written than the snapshot counted: no file is published."""
    from bulk_rows import insert_incidents

    from tryggkarta.exports import writer
    from tryggkarta.exports.writer import ExportFailed
    from tryggkarta.services import ogc_core

    insert_incidents(db, 250)
    real = ogc_core.stream

    @contextlib.contextmanager
    def lossy(*args, **kwargs):
        with real(*args, **kwargs) as (matched, pairs):
            yield matched, (pair for i, pair in enumerate(pairs) if i != 1)

    monkeypatch.setattr(writer, "CHUNK_ROWS", 100)
    monkeypatch.setattr(writer.ogc_core, "stream", lossy)
    sched = _add(db, tmp_path, "raw", "incidents", "internal", tmp_path / "police")
    with pytest.raises(ExportFailed, match="wrote 150 of 250 features"):
        run_export(db, sched)
    assert list((tmp_path / "police").iterdir()) == []


# --- every row, streamed (issue 11.6) ------------------------------------------------------


@pytest.mark.slow
def test_raw_export_writes_every_row_beyond_100000(db, tmp_path):
    """The measured truncation: 1M incidents exported as 100,000 without a word. 100,050
    stored rows give 100,050 features, each once, in id order, and the manifest says so."""
    from bulk_rows import insert_incidents

    n = insert_incidents(db, 100_050)
    sched = _add(db, tmp_path, "raw", "incidents", "internal", tmp_path / "police")
    run = run_export(db, sched)
    fc = json.loads((tmp_path / "police" / "raw-latest.geojson").read_bytes())
    ids = [f["id"] for f in fc["features"]]
    assert run.feature_count == n == 100_050 == len(ids) == fc["numberReturned"]
    assert ids == sorted(set(ids))
    manifest = json.loads((tmp_path / "police" / "raw-manifest.json").read_bytes())
    assert manifest["features"] == 100_050 and manifest["complete"] is True
    first = fc["features"][0]
    assert set(first["properties"]) >= {"description", "occurred_at", "category"}
    assert first["properties"]["description"] == 'citat "x"\nrad två'


def test_raw_geopackage_export_is_streamed_and_complete(db, tmp_path, monkeypatch):
    import geopandas as gpd
    from bulk_rows import insert_incidents

    from tryggkarta.exports import writer

    insert_incidents(db, 230)
    monkeypatch.setattr(writer, "CHUNK_ROWS", 100)  # three chunks appended to one layer
    sched = _add(db, tmp_path, "raw", "incidents", "internal", tmp_path / "police", fmt="gpkg")
    run = run_export(db, sched)
    frame = gpd.read_file(run.path)
    assert len(frame) == 230 and frame.crs.to_epsg() == 4326
    assert frame["id"].is_unique and str(frame["occurred_at"].dtype).startswith("datetime64")
    again = run_export(db, sched)
    assert again.changed is False


@pytest.mark.parametrize(
    ("text", "mode"), [("0644", 0o644), ("640", 0o640), ("0o600", 0o600), ("rw-r--r--", None)]
)
def test_export_file_mode_setting(text, mode, tmp_path):
    from tryggkarta.config import load_settings
    from tryggkarta.errors import ConfigError

    env = {"TRYGGKARTA_EXPORT_FILE_MODE": text}
    if mode is None:
        with pytest.raises(ConfigError, match="EXPORT_FILE_MODE must be octal"):
            load_settings({"instance_path": str(tmp_path)}, environ=env)
    else:
        assert load_settings({"instance_path": str(tmp_path)}, environ=env).export_file_mode == mode


def test_cli_run_goes_on_after_a_failed_export_and_says_so(demo_db, tmp_path, monkeypatch):
    from tryggkarta import cli

    monkeypatch.setattr(cli, "get_database", lambda **_: demo_db)
    _add(demo_db, tmp_path, "open-cells", "survey_cells", "public", tmp_path / "open")
    _add(demo_db, tmp_path, "raw", "incidents", "internal", tmp_path / "open" / "police")
    _add(demo_db, tmp_path, "areas", "areas", "partner", tmp_path / "partner")
    result = CliRunner().invoke(cli.main, ["exports", "run"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "open-cells: FAILED" in result.output and "raw: FAILED" in result.output
    assert "areas: 8 features, wrote" in result.output
    assert "2 of 3 exports failed: open-cells, raw." in result.output
    assert (tmp_path / "partner" / "areas-latest.geojson").exists()
