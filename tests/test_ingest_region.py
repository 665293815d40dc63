"""Foreign data and the region/CRS settings (#11.20): a metric CRS derived from the region,
a loud warning when the two do not fit, and common date columns recognised."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tryggkarta import geo
from tryggkarta.config import load_settings
from tryggkarta.ingest import import_file, prepare

CHICAGO = "-88.0,41.6,-87.5,42.1"


@pytest.mark.parametrize(
    ("region", "epsg"),
    [
        ("SE", 3006),
        ("1495", 3006),
        ("11.0,55.3,14.5,56.5", 3006),  # Skåne as a bbox
        (CHICAGO, 32616),
        ("-96.0,29.3,-94.9,30.3", 32615),  # Houston
        ("-2.2,53.6,-1.5,54.0", 32630),  # Bradford
        ("-74.3,40.45,-73.65,40.95", 32618),  # New York
        ("151.0,-34.0,151.3,-33.7", 32756),  # Sydney: south
    ],
)
def test_region_gives_a_metric_crs(region: str, epsg: int) -> None:
    assert geo.crs_for_region(region) == epsg
    env = {"TRYGGKARTA_REGION": region, "TRYGGKARTA_SECRET_KEY": "k"}
    assert load_settings(environ=env).crs == epsg
    assert geo.crs_mismatch(epsg, region) is None


def test_a_crs_that_does_not_fit_the_region_is_warned_loudly(caplog, tmp_path: Path) -> None:
    env = {"TRYGGKARTA_REGION": CHICAGO, "TRYGGKARTA_CRS": "3006", "TRYGGKARTA_SECRET_KEY": "k"}
    with caplog.at_level(logging.WARNING, logger="tryggkarta"):
        settings = load_settings(environ=env)
    assert settings.crs == 3006  # an explicit setting is kept …
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "EPSG:3006" in text and "TRYGGKARTA_CRS=32616" in text  # … but said to be wrong
    scale = float(geo.crs_mismatch_params(3006, CHICAGO)["scale"])
    assert 1.4 < scale < 1.7
    path = tmp_path / "c.csv"
    path.write_text(
        "id,date,primary_type,description,block,latitude,longitude\n1,01/05/2018 10:00,THEFT,x,y,41.88,-87.63\n"
    )
    _gdf, report, _ = prepare(
        "incidents", path, mapping="chicago", working_crs=3006, region=CHICAGO
    )
    assert any("does not suit the region" in w for w in report.warnings)
    assert any("passar inte regionen" in w for w in report.warnings_in("sv"))


def test_foreign_data_under_the_swedish_region_says_why_every_row_is_rejected(tmp_path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "id,date,primary_type,description,block,latitude,longitude\n1,01/05/2018 10:00,THEFT,x,y,41.88,-87.63\n"
        "2,01/06/2018 11:00,BATTERY,x,y,41.89,-87.62\n"
    )
    gdf, report, _ = prepare("incidents", path, mapping="chicago")
    assert len(gdf) == 0 and report.rows_rejected == 2
    assert any(
        "TRYGGKARTA_REGION" in w and "outside the region Sverige" in w for w in report.warnings
    )


@pytest.mark.realdata
def test_readme_chicago_example_with_only_the_region_set(shared_data, tmp_path, caplog) -> None:
    """The README's example: TRYGGKARTA_REGION set, no CRS: UTM 16N is used, rows import."""
    from tryggkarta.store import Database

    settings = load_settings(
        {
            "database_url": f"sqlite:///{tmp_path / 'chicago.db'}",
            "instance_path": str(tmp_path),
            "secret_key": "k",
            "region": CHICAGO,
        }
    )
    assert settings.crs == 32616
    db = Database(settings)
    db.upgrade()
    try:
        path = shared_data / "us_crime/chicago_crimes_2017_2019_sample25k.csv.gz"
        report = import_file(db, "incidents", path, mapping="chicago", dry_run=True)
        assert report.rows_imported >= 0.99 * report.rows_read
        assert not any("does not suit" in w for w in report.warnings)
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("DateReported,Lat,Lon", "2018-03-04 10:30,58.3862,13.438", "2018-03-04 09:30"),
        ("OCCURRED_ON_DATE,Lat,Lon", "2018-03-04 10:30:00,58.3862,13.438", "2018-03-04 09:30"),
        ("dispatch_ts,Lat,Lon", "2018-03-04T10:30:00,58.3862,13.438", "2018-03-04 09:30"),
        ("date,hour,Lat,Lon", "2018-03-04,14,58.3862,13.438", "2018-03-04 13:00"),
        ("Datum,Timme,Lat,Lon", "2018-03-04,7,58.3862,13.438", "2018-03-04 06:00"),
        (
            "OCCURRED_ON_DATE,HOUR,Lat,Lon",
            "2018-03-04 10:30:00,10,58.3862,13.438",
            "2018-03-04 09:30",
        ),
    ],
)
def test_common_date_columns_and_date_hour_pairs(tmp_path, header, row, expected) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"{header}\n{row}\n{row.replace('58.3862', '58.3871')}\n", encoding="utf-8")
    gdf, report, _ = prepare("incidents", path)
    assert report.rows_rejected == 0, report.rejected
    assert gdf["occurred_at"].iloc[0].strftime("%Y-%m-%d %H:%M") == expected
