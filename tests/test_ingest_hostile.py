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
    from sqlalchemy import select as _select

    from tryggkarta.services.accounts import create_token
    from tryggkarta.store import User

    with db.session() as s:  # the API takes a token, never the browser session
        api_token = create_token(
            s, s.scalar(_select(User).where(User.username == "test_police")), "t"
        )
    api_client = app.test_client()

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
        api = api_client.post(
            f"/api/import/{layer}",
            headers={"Authorization": f"Bearer {api_token}"},
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


# -- #11.10: JSON depth, size and shape -------------------------------------------------------


NESTED_GEOJSON = (
    b'{"type": "FeatureCollection", "features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("nested.geojson", NESTED_GEOJSON, "json_too_deep"),  # the 200 KB file of the issue
        ("nested.json", b"[" * 100_000 + b"]" * 100_000, "json_too_deep"),
        (
            "deep_props.json",
            b'[{"a": ' + b'{"b": ' * 200 + b"1" + b"}" * 201 + b"]",
            "json_too_deep",
        ),
        ("features.geojson", b'{"type": "FeatureCollection", "features": 5}', "bad_json"),
        ("scalar.json", b"42", "bad_json"),
        ("mixed.json", b'[{"a": 1}, 2]', "bad_json"),
    ],
)
def test_hostile_json_fails_cleanly_on_every_path(
    paths, tmp_path: Path, name: str, content: bytes, code: str
) -> None:
    for outcome in paths(name, content):
        assert_clean(outcome, tmp_path)
        assert outcome.stored == 0
        if outcome.path == "api":
            assert outcome.status == 400 and json.loads(outcome.text)["code"] == code
        elif outcome.path == "form":
            assert outcome.status == 400
        else:
            assert outcome.status == 2 and outcome.text.startswith("Error: ")


def test_json_depth_ignores_brackets_in_strings() -> None:
    from tryggkarta.ingest.files import json_depth

    text = b'{"a": [1, [2]], "b": "[[[[\\"[[{{", "c": "\\\\"}'
    assert json_depth(text) == 3
    assert json_depth(text, block=4) == 3  # the same across block boundaries
    assert json_depth(b"[" * 5000 + b"]" * 5000, block=1000) == 5000


def test_polisen_feed_with_a_later_event_of_another_shape(tmp_path: Path) -> None:
    """Only the first 20 events decide it is the feed; a 25th odd one is a row, not a crash."""
    from tryggkarta.ingest import prepare

    event = {
        "id": 1,
        "datetime": "2024-06-15 05:27:00 +02:00",
        "name": "15 juni 05.27, Brand, Skara",
        "summary": "Brand i förråd.",
        "url": "/aktuellt/1",
        "type": "Brand",
        "location": {"name": "Skara", "gps": "58.386,13.438"},
    }
    events = [dict(event, id=i) for i in range(24)]
    events.append(dict(event, id=99, location=["Skara"]))
    events.append(dict(event, id=100, location={"name": "Skara", "gps": 58.3}))
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events), encoding="utf-8")
    gdf, report, _rows = prepare("incidents", path)
    assert len(gdf) == 24 and report.rows_rejected == 2


def test_deeply_nested_mapping_is_refused_cleanly(tmp_path: Path) -> None:
    from tryggkarta.errors import BadInput
    from tryggkarta.ingest.mapping import load_mapping

    path = tmp_path / ("0" * 32 + ".mapping.toml")
    path.write_text("a = " + "[" * 50_000 + "]" * 50_000, encoding="utf-8")
    with pytest.raises(BadInput) as err:
        load_mapping(path)
    assert "nested" in err.value.message and "0" * 32 not in err.value.message
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(BadInput):
        load_mapping(path)


# -- #11.12: limits before reading a file whole --------------------------------------------


def _geoparquet_of(rows: int, path: Path) -> None:
    """A tiny GeoParquet file that unpacks to ``rows`` identical points (dictionary-encoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    wkb = shapely.to_wkb(shapely.Point(13.438, 58.386))
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
    }
    table = pa.table(
        {
            "Datum": pa.array(["2024-01-01"], pa.string()).take(pa.array([0] * rows)),
            "geometry": pa.array([wkb], pa.binary()).take(pa.array([0] * rows)),
        }
    ).replace_schema_metadata({"geo": json.dumps(geo)})
    pq.write_table(table, path, compression="zstd", row_group_size=rows)


def test_geoparquet_bomb_refused_from_its_metadata(paths, tmp_path: Path) -> None:
    """The issue's 39 KB file of 3,000,000 rows: refused before a row is read."""
    import tracemalloc

    from tryggkarta.errors import BadInput
    from tryggkarta.ingest.registry import ReadOptions
    from tryggkarta.ingest.vector import read_parquet

    bomb = tmp_path / "bomb.parquet"
    _geoparquet_of(3_000_000, bomb)
    assert bomb.stat().st_size < 200_000
    tracemalloc.start()
    with pytest.raises(BadInput) as err:
        read_parquet(bomb, ReadOptions())
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert err.value.details["code"] == "too_many_rows" and "3,000,000 rows" in err.value.message
    assert peak < 50 * 1024**2
    for outcome in paths("bomb.parquet", bomb.read_bytes(), "projects"):
        assert_clean(outcome, tmp_path)
        assert outcome.stored == 0 and outcome.status in (2, 400)


@pytest.mark.parametrize("kind", ["csv", "xlsx", "gpkg", "json", "geojson", "kml", "zip"])
def test_row_limit_checked_before_reading_every_format(
    tmp_path: Path, monkeypatch, kind: str
) -> None:
    import geopandas as gpd
    import shapely

    from tryggkarta.errors import BadInput
    from tryggkarta.ingest import files, prepare

    monkeypatch.setattr(files, "MAX_ROWS", 5)
    n = 8
    gdf = gpd.GeoDataFrame(
        {"Datum": ["2024-01-01"] * n, "Kategori": ["Brand"] * n},
        geometry=[shapely.Point(13.438, 58.386)] * n,
        crs=4326,
    )
    path = tmp_path / f"many.{kind}"
    if kind == "csv":
        path.write_text(HEADER + ROW * n, encoding="utf-8")
    elif kind == "xlsx":
        import openpyxl

        wb = openpyxl.Workbook()
        wb.active.append(["Datum", "Kategori", "Lat", "Lon"])
        for _ in range(n):
            wb.active.append(["2024-01-01", "Brand", 58.386, 13.438])
        wb.save(path)
    elif kind == "json":
        path.write_text(json.dumps([{"datum": "2024-01-01", "lat": 58.3, "lon": 13.4}] * n))
    elif kind == "zip":
        import zipfile

        inner = tmp_path / "inner.gpkg"
        gdf.to_file(inner, driver="GPKG")
        with zipfile.ZipFile(path, "w") as zf:
            zf.write(inner, "data.gpkg")
    else:
        driver = {"gpkg": "GPKG", "geojson": "GeoJSON", "kml": "KML"}[kind]
        gdf.to_file(path, driver=driver)
    with pytest.raises(BadInput) as err:
        prepare("incidents", path)
    assert err.value.details["code"] == "too_many_rows", err.value.message


def test_a_million_columns_is_too_many_columns_not_no_data_rows(paths, tmp_path: Path) -> None:
    header = ";".join(f"c{i}" for i in range(1_000_000)) + "\n"
    content = (header + ";".join("1" for _ in range(1_000_000)) + "\n").encode()
    for outcome in paths("wide.csv", content):
        assert_clean(outcome, tmp_path)
        if outcome.path == "api":
            assert json.loads(outcome.text)["code"] == "too_many_columns"
        elif outcome.path == "form":
            assert "fler kolumner än de 1000 som tillåts" in outcome.text
        else:
            assert "1,000,000 columns" in outcome.text


# -- #11.15: no server paths, right reasons, mixed encodings ----------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.gpkg", b"SQLite format 3\x00" + b"\x00" * 200),  # GDAL names the file it opened
        ("broken.parquet", b"PAR1" + b"\x00" * 100 + b"PAR1"),
        ("broken.zip", b"PK\x03\x04 not a zip"),
        ("empty.csv.gz", b""),
        ("broken.kml", b"<kml><Document><Placemark>"),
    ],
)
def test_error_messages_never_show_server_paths(paths, tmp_path: Path, name, content) -> None:
    for outcome in paths(name, content, "projects"):
        assert_clean(outcome, tmp_path)
        assert "uploads" not in outcome.text and "/tmp/" not in outcome.text, outcome
        if outcome.path == "api":
            message = json.loads(outcome.text)["error"]
            assert name in message or "file" in message.lower(), message


def test_a_valid_date_after_the_sample_is_not_rejected(tmp_path: Path) -> None:
    """500 ISO dates decide the formats tried first; "22/2 2021" later is still a date."""
    from tryggkarta.ingest import prepare

    body = "".join(f"2021-02-{i % 27 + 1:02d};Brand;rad {i};58,3862;13,4380\n" for i in range(600))
    path = tmp_path / "est.csv"
    path.write_text(HEADER + body + "22/2 2021;Klotter;sen;58,3862;13,4380\n", encoding="utf-8")
    gdf, report, _rows = prepare("incidents", path)
    assert report.rows_rejected == 0 and len(gdf) == 601
    assert str(gdf["occurred_at"].iloc[-1]) == "2021-02-21 23:00:00+00:00"


def test_rt90_coordinates_are_recognised(tmp_path: Path) -> None:
    from tryggkarta.ingest import prepare

    path = tmp_path / "rt90.csv"
    path.write_text(
        "Datum;Kategori;X;Y\n2021-02-22;Brand;1361861;6476651\n2021-02-22;Brand;1362400;6477700\n",
        encoding="utf-8",
    )
    gdf, report, _rows = prepare("incidents", path)
    assert len(gdf) == 2 and report.crs.startswith("EPSG:3021")
    given, _report, _ = prepare("incidents", path, crs=3021)
    assert gdf.geometry.equals(given.geometry)
    assert 408_000 < gdf.geometry.x[0] < 410_000  # Skara in SWEREF 99 TM


def test_mixed_encodings_are_read_per_row_with_a_warning(paths, tmp_path: Path) -> None:
    utf8 = (HEADER + "2021-02-22 10:00;Klotter;Åsgatan;58,3862;13,4380\n").encode("utf-8")
    cp = "2021-02-22 11:00;Klotter;Östra källan;58,3862;13,4380\n".encode("cp1252")
    content = utf8 + cp + "2021-02-22 12:00;Brand;Ängen;58,3862;13,4380\n".encode()
    from tryggkarta.ingest import prepare

    file = tmp_path / "mixed.csv"
    file.write_bytes(content)
    gdf, report, _rows = prepare("incidents", file)
    assert list(gdf["description"]) == ["Åsgatan", "Östra källan", "Ängen"]
    assert any("Windows-1252" in w and "rows 3" in w for w in report.warnings), report.warnings
    for outcome in paths("mixed.csv", content):
        assert_clean(outcome, tmp_path)
        assert outcome.stored == 3
        if outcome.path == "form":
            assert "Windows-1252-text" in outcome.text and "raderna 3" in outcome.text


def test_every_reason_and_note_has_an_english_translation() -> None:
    from tryggkarta.i18n import catalogue
    from tryggkarta.ingest.coords import WHY
    from tryggkarta.ingest.report import Note, Reason

    keys = [v for c in (Reason, Note) for k, v in vars(c).items() if k.isupper()]
    keys += list(WHY.values())
    missing = [k for k in keys if k not in catalogue("en")]
    assert not missing, missing
    assert all(catalogue("en")[w] == en for en, w in WHY.items())


def test_import_screens_are_swedish(paths, tmp_path: Path) -> None:
    body = (
        HEADER
        + ROW
        + "2021-02-22 11:00;Okänd sak;x;58,3862;13,4380\n"
        + ROW.replace("58,3862", "48,85")
    )
    for outcome in paths("est.csv", body.encode("utf-8")):
        if outcome.path == "form":
            html = outcome.text
            assert "Koordinatsystemet gissades" in html and "härlett från värdena" in html
            assert "utanför regionen Sverige" in html and "sparades som övrigt" in html
            assert "CRS guessed" not in html and "outside the region" not in html
        elif outcome.path == "api":
            data = json.loads(outcome.text)
            assert data["rejected"][0]["reason"] == "outside the region Sverige"
            assert any(w.startswith("CRS guessed") for w in data["warnings"])


# -- #11.17: duplicates in the preview, the result's map link ---------------------------------


def test_preview_shows_stored_rows_and_a_reupload_before_confirming(db, tmp_path: Path) -> None:
    from tests.conftest import AuthActions
    from tryggkarta.web import create_app

    settings = db.settings.with_overrides(instance_path=str(tmp_path / "instance"))
    app = create_app({"settings": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = db
    client = app.test_client()
    AuthActions(client, db).login("police")
    first = (HEADER + ROW + ROW.replace("vägg", "dörr")).encode()

    def preview(content: bytes, name: str = "est.csv") -> str:
        data = {"layer": "incidents", "file": (io.BytesIO(content), name)}
        page = client.post("/import/preview", data=data, content_type="multipart/form-data")
        assert page.status_code == 200
        return page.get_data(as_text=True)

    html = preview(first)
    token = html.split('name="token" value="', 1)[1].split('"', 1)[0]
    done = client.post("/import/confirm", data={"token": token}).get_data(as_text=True)
    assert "Visa på kartan" in done and "dataset=1" in done
    for dataset, n in (("1", 2), ("99", 0)):
        api = client.get("/api/layers/incidents/features", query_string={"dataset": dataset})
        assert len(api.get_json()["features"]) == n
    again = preview(first)
    assert "redan importerad som datamängd 1" in again and "varav redan i databasen" in again
    token = again.split('name="token" value="', 1)[1].split('"', 1)[0]
    result = client.post("/import/confirm", data={"token": token}).get_data(as_text=True)
    assert "redan importerad som datamängd 1" in result and "Lästa rader" not in result
    overlap = (HEADER + ROW + ROW.replace("vägg", "staket")).encode()
    page = preview(overlap, "est2.csv")
    assert "redan importerad" not in page
    assert "varav redan i databasen (hoppas över)</p>" not in page  # the sentence has numbers
    assert "varav redan i databasen (hoppas över): 1 · nya: 1" in page


def test_map_filtered_to_one_import(db) -> None:
    """``dataset=`` in the map's query string: only that import's rows (the result's link)."""
    from tryggkarta.errors import BadInput
    from tryggkarta.geo import parse_region
    from tryggkarta.web.query import parse_query

    q = parse_query(
        {"dataset": "12,7"},
        region=parse_region("SE"),
        srid=3006,
        t=lambda s, **k: s % k,
        known_layers=("incidents",),
    )
    assert q.filters.dataset_ids == (7, 12) and q.args["dataset"] == ["12", "7"]
    with pytest.raises(BadInput):
        parse_query(
            {"dataset": "x"},
            region=parse_region("SE"),
            srid=3006,
            t=lambda s, **k: s % k,
            known_layers=("incidents",),
        )


def test_preview_shows_labels_not_internal_keys(paths, tmp_path: Path) -> None:
    body = "Datum;Betyg;Orsaker;Lat;Lon\n2024-05-02;2;belysning;58,3862;13,4380\n"
    for outcome in paths("enkat.csv", body.encode(), "survey"):
        if outcome.path == "form":
            html = outcome.text.split("</thead>", 1)[0]
            assert "Besvarad" in html and "Betyg" in html
            assert "answered_at" not in html and "<code" not in html
    for outcome in paths("est.csv", (HEADER + ROW).encode()):
        if outcome.path == "form":
            table = outcome.text.split('class="preview"', 1)[1]
            assert "<td>Klotter</td>" in table and "<td>Exakt</td>" in table
            assert "<td>exact</td>" not in table


def test_every_field_label_has_an_english_translation() -> None:
    from tryggkarta.domain import LAYER_FIELDS
    from tryggkarta.i18n import catalogue
    from tryggkarta.ingest.display import FIELD_LABELS

    fields = {f for fs in LAYER_FIELDS.values() for f in fs} | {"municipality_code"}
    assert fields <= set(FIELD_LABELS)
    assert all(label in catalogue("en") for label in FIELD_LABELS.values())


@pytest.mark.parametrize(
    ("content", "swedish", "english"),
    [
        (b"Datum;Kategori\n2021-01-01;Brand\n", "dess kolumner är: Datum, Kategori", "The file"),
        (b"Datum;X;Y\n2021-01-01;5000000;900000000\n", "runt (5000000, 900000000)", "cannot"),
        (
            b"a;" + b";".join(b"c%d" % i for i in range(2000)) + b"\n1;2\n",
            "fler kolumner",
            "columns",
        ),
    ],
)
def test_file_errors_on_the_swedish_page_are_swedish_with_specifics(
    paths, tmp_path: Path, content: bytes, swedish: str, english: str
) -> None:
    for outcome in paths("fil.csv", content):
        assert_clean(outcome, tmp_path)
        if outcome.path == "form":
            assert swedish in outcome.text and english not in outcome.text
        elif outcome.path == "api":
            assert english in json.loads(outcome.text)["error"]
