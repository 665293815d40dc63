"""Every layer stores its municipality; the installation's municipality is the default
(#11.2, #11.18), and migration 0004 fills the code on rows stored before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tryggkarta.ingest import import_file
from tryggkarta.store import Dataset, count
from tryggkarta.store.models import LAYER_MODELS
from tryggkarta.store.queries import Filters

SKARA = (13.438, 58.3862)
STOCKHOLM = (18.0686, 59.3293)


def survey_csv(tmp_path: Path, *points: tuple[float, float]) -> Path:
    rows = "".join(
        f"2024-05-0{i + 1};{i % 5 + 1};{lat};{lon}\n" for i, (lon, lat) in enumerate(points)
    )
    path = tmp_path / "enkat.csv"
    path.write_text("Datum;Betyg;Lat;Lon\n" + rows, encoding="utf-8")
    return path


def polygons(tmp_path: Path, name: str, props: dict, *centres: tuple[float, float]) -> Path:
    features = []
    for i, (lon, lat) in enumerate(centres):
        d = 0.002
        ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
        features.append(
            {
                "type": "Feature",
                "properties": {**props, "Namn": f"{props.get('Namn', 'Område')} {i}"},
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            }
        )
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def codes(db, layer: str) -> list[str | None]:
    model = LAYER_MODELS[layer]
    with db.session() as s:
        return sorted(s.execute(select(model.municipality_code)).scalars(), key=str)


@pytest.fixture
def skara_db(db, monkeypatch):
    """The test database as an installation for Skara (TRYGGKARTA_REGION=1495)."""
    monkeypatch.setattr(db, "settings", db.settings.with_overrides(region="1495"))
    return db


def test_every_layer_is_stored_with_the_installations_municipality(skara_db, tmp_path) -> None:
    db = skara_db
    import_file(db, "survey", survey_csv(tmp_path, SKARA, SKARA, (13.44, 58.39)))
    import_file(db, "projects", polygons(tmp_path, "p.geojson", {"Namn": "Torget"}, SKARA))
    import_file(db, "areas", polygons(tmp_path, "a.geojson", {"Namn": "Väster"}, SKARA))
    for layer, n in (("survey", 3), ("projects", 1), ("areas", 1)):
        assert codes(db, layer) == ["1495"] * n
        assert count(db, layer, Filters(municipality_code="1495")) == n
    with db.session() as s:
        assert set(s.execute(select(Dataset.municipality_code)).scalars()) == {"1495"}


def test_a_point_elsewhere_is_rejected_not_filed_under_the_installation(skara_db, tmp_path):
    report = import_file(skara_db, "survey", survey_csv(tmp_path, SKARA, STOCKHOLM))
    assert report.rows_imported == 1 and report.rows_rejected == 1
    assert report.rejected[0].reason == "outside the region Skara"
    assert report.rejected[0].reason_in("sv") == "utanför regionen Skara"
    assert codes(skara_db, "survey") == ["1495"]


def test_without_a_municipality_region_each_row_gets_the_one_it_lies_in(db, tmp_path) -> None:
    import_file(db, "survey", survey_csv(tmp_path, SKARA, STOCKHOLM))
    centres = (SKARA, STOCKHOLM)
    import_file(db, "projects", polygons(tmp_path, "p.geojson", {"Namn": "P"}, *centres))
    incidents = tmp_path / "est.csv"
    incidents.write_text(
        f"Datum;Kategori;Lat;Lon\n2024-01-02;Brand;{SKARA[1]};{SKARA[0]}\n"
        f"2024-01-02;Brand;{STOCKHOLM[1]};{STOCKHOLM[0]}\n",
        encoding="utf-8",
    )
    import_file(db, "incidents", incidents)
    for layer in ("survey", "projects", "incidents"):
        assert codes(db, layer) == ["0180", "1495"], layer


def test_a_chosen_municipality_wins_and_limits(db, tmp_path) -> None:
    report = import_file(
        db, "survey", survey_csv(tmp_path, SKARA, STOCKHOLM), municipality_code="0180"
    )
    assert report.rows_imported == 1 and codes(db, "survey") == ["0180"]


def test_municipality_codes_at_is_vectorised_and_uses_a_margin() -> None:
    import numpy as np

    from tryggkarta import geo

    x, y = geo.from_wgs84(
        np.array([SKARA[0], STOCKHOLM[0], 0.0]), np.array([SKARA[1], STOCKHOLM[1], 0.0]), 3006
    )
    got = geo.municipality_codes_at(x, y, 3006)
    assert got.tolist() == ["1495", "0180", None]
    # 500 m out to sea off Stockholm's coast, beyond every boundary: the nearest within 1 km
    coast = geo.municipality("0180", 3006).boundary
    far = coast.interpolate(0.5, normalized=True)
    near = geo.municipality_codes_at(np.array([far.x]), np.array([far.y]), 3006, margin=1000.0)
    assert near[0] is not None


def test_migration_0004_fills_codes_of_rows_stored_before(db, tmp_path, monkeypatch) -> None:
    """Rows stored without a code (as imports before 0004 did) get one on upgrade."""
    from alembic import command
    from sqlalchemy import update

    from tryggkarta.ingest import prepare
    from tryggkarta.store.engine import _alembic_config
    from tryggkarta.store.writes import insert_layer

    monkeypatch.setenv("TRYGGKARTA_REGION", "SE")
    gdf, _report, _rows = prepare("survey", survey_csv(tmp_path, SKARA, STOCKHOLM))
    projects, _r, _ = prepare("projects", polygons(tmp_path, "p.geojson", {"Namn": "P"}, SKARA))
    with db.session() as s:
        ds = Dataset(layer="survey", name="old", checksum="old")
        s.add(ds)
        s.flush()
        insert_layer(s, "survey", gdf.drop(columns="municipality_code"), ds.id)
        insert_layer(s, "projects", projects.drop(columns="municipality_code"), ds.id)
    with db.engine.begin() as conn:  # as 0003 left them
        for layer in ("survey", "projects"):
            conn.execute(update(LAYER_MODELS[layer].__table__).values(municipality_code=None))
    assert codes(db, "survey") == [None, None]
    cfg = _alembic_config(db.engine, db.srid)
    command.downgrade(cfg, "0003")
    command.upgrade(cfg, "head")
    assert codes(db, "survey") == ["0180", "1495"] and codes(db, "projects") == ["1495"]
