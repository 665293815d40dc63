"""The police start page of a region or the country (issue #16): when the incidents span more
than a county, the page embeds no incident cells and counts nothing when it is built — the
cell layer is drawn from the role-checked vector tiles (cells only, the page's filters on
every tile) and the map opens on the extent read from the month roll-up. A municipality's
page keeps its embedded cells. Both engines."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from tests.test_tiles import X0, Y0, tile_of
from tryggkarta.geo import to_wgs84
from tryggkarta.store import Dataset, insert_layer
from tryggkarta.store.tiles import RAW_MIN_ZOOM
from tryggkarta.web import mapview

#: Malmö (SWEREF 99 TM), ~310 km south of Skara.
MALMO = (374_000.0, 6_164_000.0)


def _add(db, xy: np.ndarray, name: str, code: str) -> gpd.GeoDataFrame:
    n = len(xy)
    rng = np.random.default_rng(n)
    gdf = gpd.GeoDataFrame(
        {
            "occurred_at": pd.Timestamp("2025-03-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 60 * 86400, n), unit="s"),
            "category": rng.choice(["klotter", "narkotika", "vald_hot"], n),
            "description": ["känslig text"] * n,
            "municipality_code": code,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=3006,
    )
    with db.session() as s:
        ds = Dataset(layer="incidents", name=name, checksum=name)
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", gdf, ds.id)
    return gdf


def _region(db) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(4)
    skara = _add(db, np.column_stack([rng.uniform(X0, X0 + 600, 300), rng.uniform(Y0, Y0 + 600, 300)]), "skara", "1495")  # fmt: skip
    malmo = _add(db, np.column_stack([rng.uniform(0, 900, 200), rng.uniform(0, 900, 200)]) + MALMO, "malmo", "1280")  # fmt: skip
    return pd.concat([skara, malmo])


def _tile_layers(html: str) -> list[dict]:
    found = re.findall(r"tryggkarta\.tileLayer\([^,]+, (\{.*?\})\);", html)
    return [json.loads(f) for f in found]


@pytest.fixture
def no_scan(monkeypatch):
    """The page must not count the incidents by cell when it is built."""

    def refuse(*_a, **_k):
        raise AssertionError("the regional page counted the incidents")

    monkeypatch.setattr(mapview, "incident_grid", refuse)


def test_a_region_s_page_draws_its_cells_from_tiles_and_counts_nothing(client, auth, db, no_scan):
    gdf = _region(db)
    auth.login("police")
    response = client.get("/?cat=klotter&hour=20")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    cells = [o for o in _tile_layers(html) if o.get("maxDetailZoom") is not None]
    assert len(cells) == 1
    opts = cells[0]
    assert opts["url"] == "/tiles/incidents/{z}/{x}/{y}.mvt"
    assert opts["maxDetailZoom"] == RAW_MIN_ZOOM - 1  # cells only, never the point tiles
    assert opts["params"] == {"cat": ["klotter"], "hour": ["20"]}
    assert len(html) < 1_000_000
    # the map opens on the data: both towns inside the bounds (from the 1 km roll-up)
    bounds = re.search(r"fitBounds\(\s*(\[\[.*?\]\])", html)
    assert bounds is not None
    (south, west), (north, east) = json.loads(bounds.group(1))
    lon, lat = to_wgs84(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy(), 3006)
    assert south <= lat.min() and lat.max() <= north and west <= lon.min() and lon.max() <= east
    assert north - south > 2.5  # Skåne to Västergötland
    # the layer's tiles: every incident counted once at region zoom, for police only
    tiles = {tile_of(x, y, 6) for x, y in ((X0, Y0), MALMO)}
    total = 0
    for tx, ty in tiles:
        got = client.get(f"/tiles/incidents/6/{tx}/{ty}.mvt")
        assert got.status_code == 200 and got.headers["X-Tile-Source"] == "years"
        from tests.test_tiles import decode

        total += sum(f["properties"]["n"] for f in decode(got.data)["cells"]["features"])
    assert total == len(gdf)


def _spy(monkeypatch) -> list[int]:
    """Counts the embedded cell layer's builds (and the cells it made)."""
    made: list[int] = []
    real = mapview.incident_grid

    def spy(*a, **k):
        fc, grid = real(*a, **k)
        made.append(len(fc["features"]))
        return fc, grid

    monkeypatch.setattr(mapview, "incident_grid", spy)
    return made


def test_a_municipality_s_page_keeps_its_embedded_cells(client, auth, db, monkeypatch):
    rng = np.random.default_rng(5)
    _add(db, np.column_stack([rng.uniform(X0, X0 + 5000, 300), rng.uniform(Y0, Y0 + 5000, 300)]), "skara", "1495")  # fmt: skip
    made = _spy(monkeypatch)
    auth.login("police")
    html = client.get("/").get_data(as_text=True)
    assert not [o for o in _tile_layers(html) if o.get("maxDetailZoom") is not None]
    assert len(made) == 1 and made[0] > 0  # the cells are in the page


def test_a_region_s_page_below_raw_detail_has_no_tiles(client, auth, db):
    _region(db)
    auth.login("planner")
    html = client.get("/").get_data(as_text=True)
    assert "tryggkarta.tileLayer(" not in html and "/tiles/incidents" not in html
    tx, ty = tile_of(X0, Y0, 6)
    assert client.get(f"/tiles/incidents/6/{tx}/{ty}.mvt").status_code == 403


def test_without_the_renderer_the_region_embeds_its_cells(client, auth, db, monkeypatch):
    from tryggkarta.maps import assets

    _region(db)
    monkeypatch.setattr(assets, "vector_tiles_available", lambda: False)
    made = _spy(monkeypatch)
    auth.login("police")
    html = client.get("/").get_data(as_text=True)
    assert not [o for o in _tile_layers(html) if o.get("maxDetailZoom") is not None]
    assert len(made) == 1 and made[0] > 0


def test_the_region_s_cell_layer_speaks_english(client, auth, db):
    _region(db)
    auth.login("police")
    html = client.get("/?lang=en").get_data(as_text=True)
    assert "Number of incidents per cell: 5 km, 1 km or 250 m by zoom." in html
    assert "Incidents per cell" in html
    assert "Antal händelser per ruta" not in html.replace("\\u00e4", "ä")


def test_roll_up_cells_equal_the_incidents_counted_by_5_km_cell(db):
    from datetime import datetime

    from tryggkarta.config import local_timezone
    from tryggkarta.services.cells import rollup_cells
    from tryggkarta.store import Filters, cellcounts

    gdf = _region(db)
    box = cellcounts.month_extent(db)
    assert box is not None
    fc = rollup_cells(db, Filters(), box, 1)
    assert fc is not None
    x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    want = pd.Series(1, index=pd.MultiIndex.from_arrays([np.floor(x / 5000), np.floor(y / 5000)]))
    want = want.groupby(level=[0, 1]).sum()
    got = sorted(f["properties"]["count"] for f in fc["features"])
    assert got == sorted(want.tolist()) and sum(got) == len(gdf)
    # k: cells under it are left out; a period that is not whole months is not answered
    assert len(rollup_cells(db, Filters(), box, int(want.max()))["features"]) == 1
    tz = local_timezone()
    assert rollup_cells(db, Filters(start=datetime(2025, 3, 3, tzinfo=tz)), box, 1) is None
    capped = rollup_cells(db, Filters(), box, 1, cell=1000.0, max_features=3)
    assert len(capped["features"]) <= 3
    assert sum(f["properties"]["count"] for f in capped["features"]) == len(gdf)


def test_a_region_s_saved_map_thumbnail_counts_nothing(client, auth, db, no_scan):
    _region(db)
    auth.login("police")
    saved = client.post("/kartor/", data={"name": "Regionen", "query": "", "zoom": "6"})
    assert saved.status_code == 302, saved.get_data(as_text=True)[:300]
    map_id = int(saved.headers["Location"].rstrip("/").split("/")[-1])
    svg = client.get(f"/kartor/{map_id}/miniatyr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.get_data(as_text=True).count("<path") >= 1
