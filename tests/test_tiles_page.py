"""The map page's raw incidents as vector tiles: the tile route honours every filter the page
sends (both engines), the page puts a tile layer on the map for raw roles only, and falls back
to the bbox GeoJSON layer when the tile renderer is not vendored."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.test_tiles import X0, Y0, decode, load, tile_of
from tryggkarta.config import local_timezone
from tryggkarta.maps import builders
from tryggkarta.store.tiles import RAW_MIN_ZOOM


def _tile_count(client, query: str, z: int = RAW_MIN_ZOOM) -> int:
    tx, ty = tile_of(X0 + 300, Y0 + 300, z)
    got = client.get(f"/tiles/incidents/{z}/{tx}/{ty}.mvt?{query}")
    assert got.status_code in (200, 204), got.data[:300]
    if got.status_code == 204:
        return 0
    layers = decode(got.data)
    if "incidents" in layers:
        return len(layers["incidents"]["features"])
    return sum(f["properties"]["n"] for f in layers["cells"]["features"])


def test_tile_route_honours_every_filter_the_map_page_sends(client, auth, db):
    gdf = load(db)
    auth.login("police")
    local = gdf["occurred_at"].dt.tz_convert(local_timezone())
    day = local.dt.date
    first, last = sorted(day.unique())[5], sorted(day.unique())[12]
    cases = {
        "cat=klotter": (gdf["category"] == "klotter"),
        f"from={first}&to={last}": (day >= first) & (day <= last),
        "weekday=0&weekday=5": local.dt.day_of_week.isin([0, 5]),
        "hour=20": local.dt.hour == 20,
        "cat=narkotika&hour=3,4,5": (gdf["category"] == "narkotika")
        & local.dt.hour.isin([3, 4, 5]),
    }
    for query, mask in cases.items():
        want = int(mask.sum())
        assert 0 < want < len(gdf), query  # each filter really selects
        assert _tile_count(client, query) == want, query
        # further out the cells count the same records
        assert _tile_count(client, query, z=9) == want, query
    assert _tile_count(client, "") == len(gdf)


def test_tile_route_honours_kommun_and_dataset(client, auth, db):
    from tryggkarta.store import Dataset, insert_layer

    gdf = load(db, n=60, seed=9)
    more = gdf.copy()
    more["municipality_code"] = "1471"
    with db.session() as s:
        ds = Dataset(layer="incidents", name="other", checksum="other")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", more, ds.id)
        other_id = ds.id
    auth.login("police")
    assert _tile_count(client, "") == 120
    assert _tile_count(client, "kommun=1471") == 60
    assert _tile_count(client, f"dataset={other_id}") == 60
    assert _tile_count(client, f"dataset={other_id + 1}") == 0
    for bad in ("kommun=9999", "kommun=abc", "cat=nope", "weekday=9", "hour=24", "dataset=-1"):
        tx, ty = tile_of(X0, Y0, RAW_MIN_ZOOM)
        got = client.get(f"/tiles/incidents/{RAW_MIN_ZOOM}/{tx}/{ty}.mvt?{bad}")
        assert got.status_code == 400, bad


def _page_options(html: str) -> str | None:
    match = re.search(r"tryggkarta\.tileLayer\([^,]+, (\{.*?\})\);", html)
    return match.group(1) if match else None


def test_police_map_page_draws_incidents_from_tiles_with_the_page_filters(client, auth, db):
    load(db)
    auth.login("police")
    html = client.get("/?cat=klotter&hour=20&kommun=1495").get_data(as_text=True)
    options = _page_options(html)
    assert options is not None
    opts = json.loads(options)
    assert opts["url"] == "/tiles/incidents/{z}/{x}/{y}.mvt"
    assert opts["params"] == {"cat": ["klotter"], "hour": ["20"], "kommun": ["1495"]}
    assert opts["itemUrl"] == "/ogc/collections/incidents/items/0"
    assert opts["pointZoom"] == RAW_MIN_ZOOM
    assert "/vendor/leaflet-vector-tile-layer/VectorTileLayer.umd.min.js" in html
    assert "tryggkarta.bboxLayer(" not in html
    # the popup's details come from the feature API by id, which a police user may read
    first = client.get("/api/layers/incidents/features?limit=1").get_json()["features"][0]
    one = client.get(f"/ogc/collections/incidents/items/{first['properties']['id']}")
    assert one.status_code == 200 and one.get_json()["properties"]["description"]


@pytest.mark.parametrize("role", ["planner", "partner"])
def test_no_tile_layer_below_raw_detail(client, auth, db, role):
    load(db)
    auth.login(role)
    html = client.get("/").get_data(as_text=True)
    assert "tryggkarta.tileLayer(" not in html and "/tiles/incidents" not in html
    assert "VectorTileLayer" not in html
    tx, ty = tile_of(X0, Y0, RAW_MIN_ZOOM)
    assert client.get(f"/tiles/incidents/{RAW_MIN_ZOOM}/{tx}/{ty}.mvt").status_code == 403


def test_without_the_vendored_renderer_the_bbox_geojson_layer_stays(client, auth, db, monkeypatch):
    from tryggkarta.maps import assets

    load(db)
    monkeypatch.setattr(assets, "vector_tiles_available", lambda: False)
    auth.login("police")
    html = client.get("/?cat=klotter").get_data(as_text=True)
    assert "tryggkarta.bboxLayer(" in html and "tryggkarta.tileLayer(" not in html


def test_tile_layer_legend_has_the_point_and_every_count_class():
    layer = builders.incident_tiles(
        "/t/{z}/{x}/{y}.mvt", "/i/0", lambda s, **p: s % p if p else s, "sv",
        params={}, point_zoom=13,
    )  # fmt: skip
    items = layer.legend.items
    assert len(items) == 1 + len(builders.TILE_CELL_BREAKS) + 1
    assert [label for _c, label in items[1:]] == [
        "1–4 händelser per ruta",
        "5–19 händelser per ruta",
        "20–99 händelser per ruta",
        "100–499 händelser per ruta",
        "500 eller fler händelser per ruta",
    ]
    assert layer.key == "incident_points" and layer.layer.options["breaks"] == [4, 19, 99, 499]
    assert layer.layer.options["timeZone"] == "Europe/Stockholm"  # popups in local time
    assert np.all(np.diff(layer.layer.options["breaks"]) > 0)


def test_tile_layer_speaks_english_with_lang_en(client, auth, db):
    load(db)
    auth.login("police")
    html = client.get("/?lang=en").get_data(as_text=True)
    opts = json.loads(_page_options(html) or "{}")
    assert opts["labels"]["cellTitle"] == "Incidents in the cell"
    assert opts["labels"]["failed"] == "The incident could not be fetched."
    assert "500 or more incidents per cell" in html and "Individual incidents" in html
    assert "händelser per ruta" not in html.replace("\\u00e4", "ä")
