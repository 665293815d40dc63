"""Hostile and awkward files on every import path: CLI, upload form, JSON API, both engines.

Every file here is generated in the test (no binaries in the repository). Each case must end
in a clear sentence (no traceback, no server path) or in the rows that are fine imported and
the others reported by row number.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tryggkarta.ingest import cli as ingest_cli
from tryggkarta.store import count

HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"
ROW = "2021-02-22 10:00;Klotter;vägg;58,3862;13,4380\n"


@dataclass
class Outcome:
    """What one import path answered: status (exit code / HTTP), the text shown, rows stored."""

    path: str
    status: int
    text: str
    stored: int


@pytest.fixture
def paths(db, runner, monkeypatch, tmp_path) -> Callable[..., list[Outcome]]:
    """Run a file through the CLI, the upload form (preview + confirm) and the API."""
    from tests.conftest import AuthActions
    from tryggkarta.store.writes import delete_dataset
    from tryggkarta.web import create_app

    monkeypatch.setattr(ingest_cli, "_database", lambda: db)
    settings = db.settings.with_overrides(instance_path=str(tmp_path / "instance"))
    app = create_app({"settings": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = db
    client = app.test_client()
    AuthActions(client, db).login("police")

    def reset(layer: str) -> int:
        stored = count(db, layer)
        with db.session() as s:
            from sqlalchemy import select

            from tryggkarta.store import Dataset

            for did in s.execute(select(Dataset.id)).scalars().all():
                delete_dataset(s, did)
        return stored

    def run(name: str, content: bytes, layer: str = "incidents", **opts: str) -> list[Outcome]:
        out = []
        file = tmp_path / name
        file.write_bytes(content)
        args = [layer, str(file)] + [a for k, v in opts.items() for a in (f"--{k}", v)]
        res = runner.invoke(ingest_cli.import_group, args)
        out.append(Outcome("cli", res.exit_code, res.output, reset(layer)))
        data = {"layer": layer, "file": (io.BytesIO(content), name), **opts}
        page = client.post("/import/preview", data=data, content_type="multipart/form-data")
        html = page.get_data(as_text=True)
        stored = 0
        if page.status_code == 200 and 'name="token"' in html:
            token = html.split('name="token" value="', 1)[1].split('"', 1)[0]
            done = client.post("/import/confirm", data={"token": token})
            html += done.get_data(as_text=True)
        stored = reset(layer)
        out.append(Outcome("form", page.status_code, html, stored))
        api = client.post(
            f"/api/import/{layer}",
            query_string=opts,
            data={"file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        out.append(Outcome("api", api.status_code, api.get_data(as_text=True), reset(layer)))
        return out

    return run


def assert_clean(outcome: Outcome, tmp_path: Path) -> None:
    """No traceback, no server path, no internal file name in what the user sees."""
    assert "Traceback" not in outcome.text, (outcome.path, outcome.text[-2000:])
    assert str(tmp_path) not in outcome.text, (outcome.path, outcome.text[-2000:])
    assert outcome.status < 500 if outcome.path != "cli" else outcome.status in (0, 1, 2)


# -- #11.9: rows with more fields than the header -----------------------------------------


@pytest.mark.parametrize("where", ["first", "middle"])
def test_row_with_more_fields_than_header_is_reported_not_shifted(
    paths, tmp_path: Path, where: str
) -> None:
    extra = "2021-02-22 11:00;Klotter;text; med semikolon;58,3862;13,4380\n"
    body = HEADER + (extra + ROW + ROW if where == "first" else ROW + extra + ROW)
    bad_line = 2 if where == "first" else 3
    for outcome in paths("est.csv", body.encode("utf-8")):
        assert_clean(outcome, tmp_path)
        assert outcome.stored == 2, outcome
        if outcome.path == "form":
            assert "fler fält än rubrikraden" in outcome.text
        elif outcome.path == "api":
            rejected = json.loads(outcome.text)["rejected"]
            assert [r["row"] for r in rejected] == [bad_line]
            assert "more fields than the header" in rejected[0]["reason"]
        else:
            assert f"row {bad_line}:" in outcome.text and "more fields than the header" in (
                outcome.text
            )


def test_row_with_more_fields_in_a_streamed_file(db, tmp_path: Path, monkeypatch) -> None:
    """The chunked path (large incident CSVs) reports the same row; nothing shifts."""
    from tryggkarta.ingest import import_file, service

    monkeypatch.setattr(service, "STREAM_BYTES", 10)
    extra = "2021-02-22 11:00;Klotter;text; med semikolon;58,3862;13,4380\n"
    path = tmp_path / "big.csv"
    path.write_text(HEADER + extra + ROW + ROW.replace("vägg", "dörr"), encoding="utf-8")
    report = import_file(db, "incidents", path)
    assert report.rows_imported == 2 and [r.row for r in report.rejected] == [2]
    assert count(db, "incidents") == 2


def test_duplicate_and_blank_header_names_keep_pandas_names(tmp_path: Path) -> None:
    from tryggkarta.ingest.csv import read
    from tryggkarta.ingest.registry import ReadOptions

    path = tmp_path / "h.csv"
    path.write_text("a;a;;lat\n1;2;3;4\n", encoding="cp1252")
    table = read(path, ReadOptions())
    assert list(table.frame.columns) == ["a", "a.1", "Unnamed: 2", "lat"]
    assert table.frame.iloc[0].tolist() == ["1", "2", "3", "4"]


# -- #11.3: planned projects ---------------------------------------------------------------


def _project_geojson(start: str, end: str) -> bytes:
    ring = [[13.43, 58.38], [13.44, 58.38], [13.44, 58.39], [13.43, 58.39], [13.43, 58.38]]
    feature = {
        "type": "Feature",
        "properties": {"Namn": "Nya torget", "Startdatum": start, "Slutdatum": end},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def test_planned_project_in_the_future_is_imported(paths, tmp_path: Path) -> None:
    for outcome in paths(
        "projekt.geojson", _project_geojson("2027-03-01", "2028-12-31"), "projects"
    ):
        assert_clean(outcome, tmp_path)
        assert outcome.stored == 1, outcome


def test_future_incident_still_rejected_with_a_clear_reason(tmp_path: Path) -> None:
    from tryggkarta.ingest import prepare

    path = tmp_path / "est.csv"
    path.write_text(HEADER + ROW + ROW.replace("2021", "2099"), encoding="utf-8")
    gdf, report, _rows = prepare("incidents", path)
    assert len(gdf) == 1 and report.rejected[0].reason == "the date is in the future"
    assert report.rejected[0].reason_in("sv") == "datumet ligger i framtiden"
