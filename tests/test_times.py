"""Times people see are local (TRYGGKARTA_TIMEZONE, default Europe/Stockholm); machine outputs
carry ISO 8601 with the offset. A row imported as "2024-06-15 05:27" shows 05:27 everywhere."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from tryggkarta.config import load_settings, local_timezone
from tryggkarta.errors import ConfigError
from tryggkarta.i18n import format_datetime, iso_local, iso_local_series
from tryggkarta.ingest.service import import_file

ROOT = Path(__file__).resolve().parents[1]
BBOX = "13.38,58.36,13.48,58.41"
CSV = (
    "Datum;Tid;Kategori;Beskrivning;Adress;Latitud;Longitud\n"
    "2024-06-15;05:27;Klotter;Sommar;Storgatan 1;58,3862;13,4380\n"
    "2024-01-15;05:27;Klotter;Vinter;Storgatan 2;58,3871;13,4412\n"
)
EXPECTED = {"Sommar": "2024-06-15T05:27:00+02:00", "Vinter": "2024-01-15T05:27:00+01:00"}


@pytest.fixture
def imported(db, tmp_path):
    path = tmp_path / "est.csv"
    path.write_text(CSV, encoding="utf-8")
    report = import_file(db, "incidents", path, source="test")
    assert report.rows_imported == 2, report
    return db


def test_import_stores_utc_and_the_api_answers_local_time_with_offset(imported, client, auth):
    from tryggkarta.store import Incident

    with imported.session() as s:
        stored = {i.description: i.occurred_at for i in s.scalars(select(Incident)).all()}
    assert stored["Sommar"] == datetime(2024, 6, 15, 3, 27, tzinfo=UTC)
    assert stored["Vinter"] == datetime(2024, 1, 15, 4, 27, tzinfo=UTC)
    auth.login("police")
    body = client.get(f"/api/layers/incidents/features?bbox={BBOX}").get_json()
    got = {f["properties"]["description"]: f["properties"]["occurred_at"] for f in body["features"]}
    assert got == EXPECTED
    # OGC API Features (and the exports, which write the same collections)
    ogc = client.get(f"/ogc/collections/incidents/items?bbox={BBOX}").get_json()
    got = {f["properties"]["description"]: f["properties"]["occurred_at"] for f in ogc["features"]}
    assert got == EXPECTED


def test_shared_map_and_audit_times_are_local(imported, client, auth):
    from tryggkarta.store import SharedMap, User

    auth.login("police")
    with imported.session() as s:
        owner = s.scalar(select(User.id).where(User.username == "test_police"))
        shared = SharedMap(name="Tider", owner_id=owner, config={"layers": ["incidents"]})
        s.add(shared)
        s.flush()
        map_id = shared.id
    html = client.get(f"/kartor/{map_id}").get_data(as_text=True)
    assert "05:27" in html and "03:27" not in html and "04:27" not in html


def test_formatting_helpers_summer_and_winter() -> None:
    summer = datetime(2024, 6, 15, 3, 27, tzinfo=UTC)
    winter = datetime(2024, 1, 15, 4, 27, tzinfo=UTC)
    assert format_datetime(summer, "sv") == "2024-06-15 05:27"
    assert format_datetime(winter, "sv") == "2024-01-15 05:27"
    assert iso_local(summer) == "2024-06-15T05:27:00+02:00"
    assert iso_local(datetime(2024, 1, 15, 4, 27)) == "2024-01-15T05:27:00+01:00"  # naive = UTC
    series = pd.Series(pd.to_datetime([summer, winter, None], utc=True))
    assert iso_local_series(series).tolist() == [
        "2024-06-15T05:27:00+02:00",
        "2024-01-15T05:27:00+01:00",
        None,
    ]
    assert iso_local_series(pd.Series(["x"])).tolist() == ["x"]


def test_the_time_zone_is_one_setting(monkeypatch) -> None:
    settings = load_settings(
        {"secret_key": "x"}, environ={"TRYGGKARTA_TIMEZONE": "America/Chicago"}
    )
    try:
        assert settings.timezone == "America/Chicago"
        assert local_timezone().key == "America/Chicago"
        summer = datetime(2024, 6, 15, 3, 27, tzinfo=UTC)
        assert iso_local(summer) == "2024-06-14T22:27:00-05:00"
        assert format_datetime(summer, "en").startswith("14/06/2024")
    finally:
        load_settings({"secret_key": "x"}, environ={})
    assert local_timezone().key == "Europe/Stockholm"
    with pytest.raises(ConfigError, match="TRYGGKARTA_TIMEZONE 'Mars/Olympus' is not a time zone"):
        load_settings({"secret_key": "x"}, environ={"TRYGGKARTA_TIMEZONE": "Mars/Olympus"})


def test_no_module_repeats_the_time_zone() -> None:
    """The zone is read from config.local_timezone(); only the setting's default names it."""
    offenders = []
    for path in (ROOT / "tryggkarta").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        code = "\n".join(
            line for line in text.splitlines() if not line.lstrip().startswith(("#", '"', "``"))
        )
        if rel in ("tryggkarta/config.py", "tryggkarta/demo/generate.py"):
            continue  # the default; the synthetic Skara data is generated in Swedish time
        if 'ZoneInfo("' in code or '"Europe/Stockholm"' in code:
            offenders.append(rel)
    assert offenders == []


JS_HARNESS = r"""
function Node(tag) { this.tag = tag; this.children = []; this.textContent = ""; }
Node.prototype.appendChild = function (c) { this.children.push(c); return c; };
Node.prototype.setAttribute = function () {};
function text(n) { return n.children.length ? n.children.map(text).join("|") : n.textContent; }
global.document = {createElement: function (t) { return new Node(t); }};
global.window = global;
require(process.argv[2]);
var tk = global.tryggkarta;
var labels = {title: "Händelse", category: "Kategori", when: "Tid"};
var opts = {lang: "sv", timeZone: "Europe/Stockholm", categories: {}, labels: labels};
console.log(JSON.stringify({
  popup: text(tk.popupFor({occurred_at: process.argv[3]}, opts)),
  utc: tk.formatTime("2024-06-15T03:27:00+00:00", opts),
  winter: tk.formatTime("2024-01-15T04:27:00Z", opts),
  browser: Intl.DateTimeFormat().resolvedOptions().timeZone
}));
"""


@pytest.mark.parametrize("browser_zone", ["UTC", "America/New_York", "Europe/Stockholm"])
def test_browser_popup_shows_local_time_whatever_the_browsers_zone(tmp_path, browser_zone):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    harness = tmp_path / "harness.js"
    harness.write_text(JS_HARNESS, encoding="utf-8")
    out = subprocess.run(
        [node, str(harness), str(ROOT / "tryggkarta/static/js/map.js"), EXPECTED["Sommar"]],
        capture_output=True,
        text=True,
        check=True,
        env={"TZ": browser_zone, "PATH": "/usr/bin:/bin"},
    )
    result = json.loads(out.stdout)
    assert result["browser"] in (browser_zone, "Etc/UTC")
    assert result["popup"] == "Händelse|Tid|2024-06-15 05:27"
    assert result["utc"] == "2024-06-15 05:27" and result["winter"] == "2024-01-15 05:27"


def test_incident_point_layer_tells_the_browser_the_zone() -> None:
    from tryggkarta.maps.builders import incident_points

    layer = incident_points("/api/x", lambda s, **k: s, "sv", params={})
    assert layer.layer.options["timeZone"] == "Europe/Stockholm"


def test_command_line_lists_show_local_time(imported, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from tryggkarta import cli
    from tryggkarta.ingest.service import list_datasets
    from tryggkarta.store import ExportSchedule

    row = list_datasets(imported, "incidents")[0]
    when = datetime.fromisoformat(row["imported_at"])
    assert when.utcoffset() == when.astimezone(local_timezone()).utcoffset()  # not +00:00
    with imported.session() as s:
        s.add(
            ExportSchedule(
                name="veckan",
                layer="survey_cells",
                format="geojson",
                audience="public",
                schedule="MON 06:00",
                target_dir=str(tmp_path),
                last_run_at=datetime(2024, 6, 17, 4, 0, tzinfo=UTC),
            )
        )
    monkeypatch.setattr(cli, "get_database", lambda **_: imported)
    result = CliRunner().invoke(cli.main, ["exports", "list"])
    assert "last run 2024-06-17 06:00" in result.output, result.output
