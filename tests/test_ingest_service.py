"""import_file / undo_import on both engines: atomic, idempotent, strict, dry run, audit."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tryggkarta.errors import BadInput
from tryggkarta.ingest import ImportReport, import_file, list_datasets, undo_import
from tryggkarta.store import AuditLog, Dataset, count, layer_frame

DATA = Path(__file__).parent / "data" / "ingest"
HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"


def counts(db) -> tuple[int, int, int]:
    with db.session() as s:
        datasets = s.scalar(select(func.count()).select_from(Dataset))
        audits = s.scalar(select(func.count()).select_from(AuditLog))
    return count(db, "incidents"), datasets, audits


def test_import_writes_dataset_rows_and_audit(db) -> None:
    report = import_file(
        db, "incidents", DATA / "est_skara_cp1252.csv", source="EST Skara", licence="internal use"
    )
    assert report.rows_imported == 3 and report.dataset_id is not None
    frame = layer_frame(db, "incidents")
    assert sorted(frame["category"]) == ["klotter", "nedskrapning", "skadegorelse"]
    assert "Klotter på förskolans vägg – åäö ÅÄÖ" in set(frame["description"])
    with db.session() as s:
        ds = s.get(Dataset, report.dataset_id)
        assert (ds.source, ds.licence, ds.rows_imported, ds.encoding) == (
            "EST Skara",
            "internal use",
            3,
            "cp1252",
        )
        assert len(ds.checksum) == 64 and ds.report["rows_imported"] == 3
        entry = s.scalars(select(AuditLog)).one()
        assert entry.action == "import" and entry.feature_count == 3


def test_same_file_twice_adds_nothing(db) -> None:
    first = import_file(db, "incidents", DATA / "est_skara_utf8bom.csv")
    before = counts(db)
    again = import_file(db, "incidents", DATA / "est_skara_utf8bom.csv")
    assert again.already_imported == first.dataset_id and again.rows_imported == 0
    assert "already imported as dataset" in again.to_text()
    assert counts(db) == before


def test_same_rows_in_another_file_are_duplicates(db, tmp_path: Path) -> None:
    body = "2021-02-22;Brand;a;58,3862;13,438\n2021-02-22;Brand;a;58,3862;13,438\n"
    (tmp_path / "a.csv").write_text(HEADER + body)
    (tmp_path / "b.csv").write_text(HEADER + body + "2021-02-23;Brand;new;58,3862;13,438\n")
    assert import_file(db, "incidents", tmp_path / "a.csv").rows_imported == 2
    second = import_file(db, "incidents", tmp_path / "b.csv")
    assert (second.rows_imported, second.rows_duplicate) == (1, 2)
    assert count(db, "incidents") == 3


def test_overlapping_polisen_dumps_add_only_new_ids(db) -> None:
    a = import_file(db, "incidents", DATA / "polisen_dump_a.json")
    assert a.format == "Polisen events JSON" and a.rows_imported == 3
    b = import_file(db, "incidents", DATA / "polisen_dump_b.json")
    assert (b.rows_imported, b.rows_duplicate) == (1, 1)
    assert b.unknown_categories == {"Helt ny händelsetyp": 1}
    frame = layer_frame(db, "incidents").set_index("source_id")
    assert (
        frame.loc["1001", "precision"] == "municipality"
        and frame.loc["1001", "municipality_code"] == "1495"
    )
    assert (
        frame.loc["1002", "precision"] == "county" and frame.loc["1002", "category"] == "vald_hot"
    )
    assert (
        frame.loc["1004", "category"] == "ovrigt"
        and frame.loc["1004", "source_type"] == "Helt ny händelsetyp"
    )
    assert str(frame.loc["1001", "occurred_at"]) == "2025-06-01 01:12:16+00:00"
    with db.session() as s:
        keys = set(s.scalars(select(func.min(Dataset.id))))
    assert keys


@pytest.mark.parametrize(
    "content, code",
    [
        (b"", "empty_file"),
        (HEADER.encode(), "header_only"),
        (b"\x00\xff\x10\x02" * 1000, "binary_file"),
        (b"datum;kategori\n2021-01-01;Brand\n", "no_coordinates"),
    ],
)
def test_bad_files_leave_store_unchanged(db, tmp_path: Path, content: bytes, code: str) -> None:
    import_file(db, "incidents", DATA / "est_skara_utf8bom.csv")
    before = counts(db)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(BadInput) as err:
        import_file(db, "incidents", path)
    assert err.value.details["code"] == code
    assert counts(db) == before


def test_failure_during_insert_rolls_everything_back(db, monkeypatch) -> None:
    from tryggkarta.ingest import service

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "insert_layer", boom)
    with pytest.raises(RuntimeError):
        import_file(db, "incidents", DATA / "est_skara_utf8bom.csv")
    assert counts(db) == (0, 0, 0)


def test_strict_refuses_file_with_rejected_rows(db, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(HEADER + "2021-02-22;Brand;ok;58,3862;13,438\n2021-02-22;Brand;bad;x;13,438\n")
    report = import_file(db, "incidents", path, strict=True)
    assert report.strict_refused and report.rows_rejected == 1 and report.dataset_id is None
    assert counts(db) == (0, 0, 0)
    assert import_file(db, "incidents", path).rows_imported == 1


def test_dry_run_writes_nothing(db) -> None:
    report = import_file(db, "incidents", DATA / "est_skara_utf8bom.csv", dry_run=True)
    assert report.dry_run and report.rows_imported == 3 and report.dataset_id is None
    assert counts(db) == (0, 0, 0)


def test_undo_removes_dataset_and_rows(db) -> None:
    report = import_file(db, "survey", DATA / "survey_skara.csv")
    assert count(db, "survey") == 3
    assert undo_import(db, report.dataset_id) == {"survey": 3}
    assert count(db, "survey") == 0 and list_datasets(db) == []
    # after undo the same file can be imported again
    assert import_file(db, "survey", DATA / "survey_skara.csv").rows_imported == 3


def test_all_rows_rejected_writes_nothing(db, tmp_path: Path) -> None:
    path = tmp_path / "paris.csv"
    path.write_text(
        HEADER + "2021-02-22;Brand;Paris;48,85;2,35\n2021-02-22;Brand;Paris;48,86;2,35\n"
    )
    report = import_file(db, "incidents", path)
    assert report.rows_imported == 0 and report.rows_rejected == 2
    assert counts(db) == (0, 0, 0)


def test_formula_text_stored_as_text_and_escaped_in_rejected_csv(db, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        HEADER + '2021-02-22;Brand;=HYPERLINK("http://x");58,3862;13,438\n'
        "2021-02-22;Brand;+x;=1+2;13,438\n"
        "2021-02-22;Brand;ok;@SUM(A1);-1\n"
    )
    report = import_file(db, "incidents", path)
    assert set(layer_frame(db, "incidents")["description"]) == {'=HYPERLINK("http://x")'}
    rows = list(csv.reader(io.StringIO(report.rejected_csv())))
    assert rows[0] == ["Row", "Column", "Value", "Reason"]
    values = [r[2] for r in rows[1:]]
    assert values == ["'=1+2", "'@SUM(A1)"]
    sv = report.rejected_csv(lang="sv").splitlines()[0]
    assert sv == "Rad,Kolumn,Värde,Orsak"


def test_report_round_trips_as_json(db) -> None:
    import json

    report = import_file(db, "incidents", DATA / "est_skara_utf8bom.csv")
    data = json.loads(json.dumps(report.to_dict()))
    assert ImportReport.from_dict(data).to_dict() == report.to_dict()
    assert (
        data["encoding"] == "utf-8-sig"
        and data["delimiter"] == ";"
        and data["crs"].startswith("EPSG:4326")
    )


def test_areas_from_geojson_in_two_crs(db, tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    gdf = gpd.GeoDataFrame(
        {"namn": ["Södermalm", "Östermalm"], "kod": ["01", "02"]},
        geometry=[box(18.05, 59.30, 18.10, 59.32), box(18.07, 59.33, 18.12, 59.35)],
        crs=4326,
    )
    gdf.to_file(tmp_path / "a.geojson")
    gdf.to_crs(3008).to_file(tmp_path / "b.gpkg")
    r1 = import_file(db, "areas", tmp_path / "a.geojson")
    r2 = import_file(db, "areas", tmp_path / "b.gpkg")
    assert r1.rows_imported == 2 and r2.crs.startswith("EPSG:3008")
    assert r2.rows_duplicate in (0, 2)  # same polygons within 1 cm → duplicates, else new rows
    frame = layer_frame(db, "areas")
    assert {"Södermalm", "Östermalm"} <= set(frame["name"])
    assert frame.total_bounds[0] > 600_000  # SWEREF 99 TM metres
