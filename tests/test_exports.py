"""Scheduled exports: schedules, change detection, manifest, privacy (scenario 4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from tryggkarta.errors import BadInput
from tryggkarta.exports.schedule import parse_schedule
from tryggkarta.exports.writer import due_schedules, run_export
from tryggkarta.services.public import collection
from tryggkarta.store import AuditLog, ExportSchedule


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
    latest = folder / "latest.geojson"
    assert first.changed and latest.exists()
    fc = json.loads(latest.read_text(encoding="utf-8"))
    assert fc["features"], "the demo survey has cells with at least k answers"
    assert all(f["properties"]["count"] >= 5 for f in fc["features"])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["latest"] == "latest.geojson" and manifest["crs"] == "EPSG:4326"
    mtime = latest.stat().st_mtime_ns
    second = run_export(demo_db, sched, now=datetime(2026, 11, 30, 5, 0, tzinfo=UTC))
    assert second.changed is False and second.path is None
    assert latest.stat().st_mtime_ns == mtime
    assert len(list(folder.glob("open-survey_cells-*.geojson"))) == 1
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
