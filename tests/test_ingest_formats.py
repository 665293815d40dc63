"""XLSX, GeoPackage, zipped Shapefile, KML, JSON: readers and their refusals."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from tryggkarta.errors import BadInput
from tryggkarta.ingest import prepare
from tryggkarta.ingest.registry import READERS, file_type

SKARA = (13.438, 58.3862)


def points_gdf(n: int = 3, crs: int = 4326) -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(
        {
            "datum": ["2021-02-22 10:00"] * n,
            "kategori": ["Klotter"] * n,
            "text": ["Tåg- och väggklotter"] * n,
        },
        geometry=[Point(SKARA[0] + i * 0.001, SKARA[1]) for i in range(n)],
        crs=4326,
    )
    return gdf.to_crs(crs)


def test_registry_keys_by_file_type() -> None:
    assert {"csv", "xlsx", "geojson", "gpkg", "zip", "kml", "json", "parquet"} <= set(READERS)
    assert file_type("a.CSV.gz") == "csv" and file_type("x.json.gz") == "json"
    with pytest.raises(BadInput) as err:
        file_type("evil.exe")
    assert err.value.details["code"] == "unsupported_format"


def test_xlsx_formulas_never_evaluated(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Datum", "Kategori", "Beskrivning", "Lat", "Lon"])
    ws.append(
        ["2021-02-22", "Brand", '=HYPERLINK("http://evil.example","klicka")', 58.3862, 13.438]
    )
    ws.append(["2021-02-23", "Klotter", "=cmd|' /C calc'!A0", "58,3871", "13,4412"])
    second = wb.create_sheet("Blad2")
    second.append(["x"])
    wb.save(tmp_path / "est.xlsx")
    gdf, report, rows = prepare("incidents", tmp_path / "est.xlsx")
    assert report.sheet == "Sheet" and list(rows) == [2, 3]
    assert list(gdf["description"]) == [
        '=HYPERLINK("http://evil.example","klicka")',
        "=cmd|' /C calc'!A0",
    ]


def test_xlsx_with_entity_expansion_refused(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    wb.active.append(["x", "y"])
    wb.save(tmp_path / "ok.xlsx")
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        "<si><t>&lol2;</t></si></sst>"
    )
    with (
        zipfile.ZipFile(tmp_path / "ok.xlsx") as src,
        zipfile.ZipFile(tmp_path / "evil.xlsx", "w") as dst,
    ):
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/sharedStrings.xml", laughs)
    with pytest.raises(BadInput) as err:
        prepare("incidents", tmp_path / "evil.xlsx")
    assert err.value.details["code"] == "xml_entities"


def test_geopackage_in_sweref_13_30(tmp_path: Path) -> None:
    points_gdf(crs=3008).to_file(tmp_path / "p.gpkg")
    gdf, report, _ = prepare("incidents", tmp_path / "p.gpkg")
    assert report.crs.startswith("EPSG:3008") and report.crs_note == "declared in the file"
    assert gdf.crs.to_epsg() == 3006 and gdf.geometry.x[0] == pytest.approx(408_670, abs=50)


def test_kml(tmp_path: Path) -> None:
    points_gdf().to_file(tmp_path / "p.kml", driver="KML")
    gdf, _, _ = prepare("incidents", tmp_path / "p.kml")
    assert len(gdf) == 3


def zip_shapefile(
    tmp_path: Path,
    gdf: gpd.GeoDataFrame,
    *,
    drop: tuple[str, ...] = (),
    encoding: str | None = None,
) -> Path:
    folder = tmp_path / "shp"
    folder.mkdir(exist_ok=True)
    kwargs = {"encoding": encoding} if encoding else {}
    gdf.to_file(folder / "data.shp", **kwargs)
    target = tmp_path / "data.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in folder.iterdir():
            if f.suffix not in drop:
                zf.write(f, f"data/{f.name}")
    return target


def test_zipped_shapefile_cp1252_without_cpg(tmp_path: Path) -> None:
    path = zip_shapefile(tmp_path, points_gdf(crs=3006), drop=(".cpg",), encoding="cp1252")
    gdf, report, _ = prepare("incidents", path)
    assert report.format.startswith("ESRI Shapefile") and report.encoding == "cp1252"
    assert gdf["description"][0] == "Tåg- och väggklotter"


def test_shapefile_without_prj_needs_crs(tmp_path: Path) -> None:
    path = zip_shapefile(tmp_path, points_gdf(crs=3006), drop=(".prj",))
    with pytest.raises(BadInput) as err:
        prepare("incidents", path)
    assert err.value.details["code"] == "shapefile_no_prj" and ".prj" in err.value.message
    gdf, report, _ = prepare("incidents", path, crs=3006)
    assert len(gdf) == 3 and report.crs_note == "given"


def test_zip_slip_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../etc/data.shp", b"x")
    with pytest.raises(BadInput) as err:
        prepare("incidents", path)
    assert err.value.details["code"] == "zip_unsafe_path"
    assert not (tmp_path.parent.parent / "etc" / "data.shp").exists()


def test_zip_bomb_refused_from_directory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.geojson", b" " * (50 * 1024 * 1024))
    with pytest.raises(BadInput) as err:
        prepare("incidents", path)
    assert err.value.details["code"] == "compression_bomb"


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"PK not really")
    with pytest.raises(BadInput) as err:
        prepare("incidents", path)
    assert err.value.details["code"] == "bad_zip"


def test_json_records_and_bad_json(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(
        '[{"date": "2021-02-22T10:00:00", "type": "graffiti", "lat": "58.3862", "lon": "13.438"}]'
    )
    gdf, report, _ = prepare("incidents", tmp_path / "r.json")
    assert report.format == "JSON records" and gdf["category"][0] == "klotter"
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(BadInput) as err:
        prepare("incidents", tmp_path / "b.json")
    assert err.value.details["code"] == "bad_json"


def test_polygon_layer_from_csv_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("namn;lat;lon\nx;58.3;13.4\n")
    with pytest.raises(BadInput) as err:
        prepare("areas", tmp_path / "a.csv")
    assert err.value.details["code"] == "no_geometry"


def test_projects_mapping_toml(tmp_path: Path) -> None:
    from shapely.geometry import box

    gdf = gpd.GeoDataFrame(
        {
            "Projektnamn": ["Torget"],
            "Dnr": ["KS 2024/12"],
            "Typ": ["Gestaltningsprojekt"],
            "Skede": ["Pågående"],
            "Startdatum": ["2024-03-01"],
        },
        geometry=[box(408_000, 6_472_000, 408_300, 6_472_200)],
        crs=3006,
    )
    gdf.to_file(tmp_path / "p.gpkg")
    out, _report, _ = prepare("projects", tmp_path / "p.gpkg")
    row = out.iloc[0]
    assert (row["name"], row["case_number"], row["kind"], row["status"]) == (
        "Torget",
        "KS 2024/12",
        "gestaltning",
        "pagaende",
    )
    assert str(row["start_date"]) == "2024-03-01"
    mapping = tmp_path / "m.toml"
    mapping.write_text('kind = "park"\n[columns]\nname = "Dnr"\n')
    out, _, _ = prepare("projects", tmp_path / "p.gpkg", mapping=mapping)
    assert out.iloc[0]["name"] == "KS 2024/12" and out.iloc[0]["kind"] == "gestaltning"


def test_mapping_save_and_reload(tmp_path: Path) -> None:
    from tryggkarta.ingest import load_mapping, save_mapping

    mapping = load_mapping("chicago")
    path = save_mapping(mapping, tmp_path / "chicago.toml")
    again = load_mapping(path)
    assert again.columns == mapping.columns and again.categories == mapping.categories
    assert again.timezone == "America/Chicago"
    with pytest.raises(BadInput):
        load_mapping(tmp_path / "missing.toml")
