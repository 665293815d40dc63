"""Vector basemaps (MVT in MBTiles and PMTiles), the one background description of every map
and the context drawn without any background (issue #13.1).

The archives are built here: tiles encoded with mapbox-vector-tile, PMTiles written by the
``pmtiles`` package (see :func:`tests.test_basemap.make_pmtiles`).
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from html import unescape
from pathlib import Path

import mapbox_vector_tile
import pytest
from shapely.geometry import box

from tests.test_basemap import ATTRIBUTION, RED, _app, make_mbtiles, make_pmtiles
from tests.test_maps_page import X0, Y0, add
from tryggkarta.errors import ConfigError
from tryggkarta.maps.basemap import (
    VECTOR_TYPE,
    MBTiles,
    PMTiles,
    background,
    open_basemap,
    schema_of,
)

#: Vector layers as TileJSON lists them (the Protomaps basemap schema).
PROTOMAPS_LAYERS = [{"id": name, "fields": {}} for name in ("earth", "water", "roads", "places")]
OMT_LAYERS = [{"id": name, "fields": {}} for name in ("water", "transportation", "place")]


def mvt(name: str = "Testby", extra: str = "") -> bytes:
    """One MVT tile in the Protomaps schema: land, a lake, a road and a named place."""
    layers = [
        {"name": "earth", "features": [_f("POLYGON ((0 0, 4096 0, 4096 4096, 0 4096, 0 0))")]},
        {
            "name": "water",
            "features": [
                _f("POLYGON ((500 500, 2000 500, 2000 1800, 500 1800, 500 500))", kind="water")
            ],
        },
        {
            "name": "roads",
            "features": [_f("LINESTRING (0 3000, 4096 2500)", kind="major_road", name=extra)],
        },
        {"name": "places", "features": [_f("POINT (2800 2000)", kind="locality", name=name)]},
    ]
    return mapbox_vector_tile.encode(layers, default_options={"y_coord_down": True})


def _f(wkt: str, **props: str) -> dict:
    return {"geometry": wkt, "properties": {k: v for k, v in props.items() if v}}


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def vector_mbtiles(path: Path, tiles: dict, **metadata: str) -> Path:
    """A vector MBTiles (``tiles`` keys: zoom, column, TMS row; values gzipped as stored)."""
    meta = {"format": "pbf", "json": json.dumps({"vector_layers": PROTOMAPS_LAYERS}), **metadata}
    return make_mbtiles(path, tiles, **meta)


def vector_pmtiles(path: Path, tiles: dict, gzip_tiles: bool = True, **metadata) -> Path:
    metadata.setdefault("vector_layers", PROTOMAPS_LAYERS)
    return make_pmtiles(path, tiles, tile_type=1, gzip_tiles=gzip_tiles, **metadata)


TILE_A, TILE_B = mvt("Norra staden"), mvt("Södra staden")


@pytest.fixture
def mbtiles_v(tmp_path: Path) -> Path:
    # zoom 1, TMS row 1 = XYZ y 0
    return vector_mbtiles(
        tmp_path / "v.mbtiles",
        {(1, 0, 1): gzip.compress(TILE_A), (1, 1, 0): gzip.compress(TILE_B)},
        minzoom="1",
        maxzoom="1",
    )


@pytest.fixture
def pmtiles_v(tmp_path: Path) -> Path:
    return vector_pmtiles(tmp_path / "v.pmtiles", {(1, 0, 0): TILE_A, (1, 1, 1): TILE_B})


@pytest.fixture(params=["mbtiles", "pmtiles"])
def vector_file(request: pytest.FixtureRequest, mbtiles_v: Path, pmtiles_v: Path) -> Path:
    return mbtiles_v if request.param == "mbtiles" else pmtiles_v


# --- reading -------------------------------------------------------------------------------


def test_vector_tiles_are_kept_gzipped_and_decode_to_the_layers(vector_file: Path) -> None:
    tiles = open_basemap(vector_file)
    assert tiles.vector and tiles.content_type == VECTOR_TYPE
    assert tiles.schema == "protomaps" and tiles.layers[:2] == ["earth", "water"]
    a = tiles.tile(1, 0, 0)
    assert a.encoding == "gzip" and a.data[:2] == b"\x1f\x8b"
    assert a.decoded() == TILE_A
    layers = decode(tiles.tile(1, 1, 1).decoded())
    assert set(layers) == {"earth", "water", "roads", "places"}
    assert layers["places"]["features"][0]["properties"]["name"] == "Södra staden"
    assert tiles.tile(1, 0, 1) is None  # in the grid, not in the file
    assert tiles.tile(0, 0, 0) is None and tiles.tile(2, 0, 0) is None
    assert tiles.attribution == ATTRIBUTION


def test_uncompressed_vector_tiles_are_served_as_they_are(tmp_path: Path) -> None:
    plain = PMTiles(vector_pmtiles(tmp_path / "p.pmtiles", {(3, 4, 2): TILE_A}, gzip_tiles=False))
    found = plain.tile(3, 4, 2)
    assert found.encoding is None and found.data == TILE_A and found.decoded() == TILE_A
    # an MBTiles writer of old stored zlib streams: unpacked on reading
    import zlib

    old = MBTiles(vector_mbtiles(tmp_path / "z.mbtiles", {(0, 0, 0): zlib.compress(TILE_B)}))
    assert old.tile(0, 0, 0).data == TILE_B and old.tile(0, 0, 0).encoding is None


def test_the_schema_is_read_from_the_layer_names(tmp_path: Path) -> None:
    assert schema_of(["earth", "water", "roads", "places", "landcover"]) == "protomaps"
    assert schema_of(["water", "landcover", "transportation", "place", "building"]) == (
        "openmaptiles"
    )
    assert schema_of(["kommun", "vatten"]) == ""
    omt = json.dumps({"vector_layers": OMT_LAYERS})
    tiles = MBTiles(vector_mbtiles(tmp_path / "o.mbtiles", {(0, 0, 0): TILE_A}, json=omt))
    assert tiles.schema == "openmaptiles"
    # junk where the TileJSON should be: no layers, no schema, still served
    for junk in ("not json", "[1, 2]", json.dumps({"vector_layers": [{"id": 5}, "x", None]})):
        odd = MBTiles(vector_mbtiles(tmp_path / "j.mbtiles", {(0, 0, 0): TILE_A}, json=junk))
        assert odd.layers == [] and odd.schema == "" and odd.tile(0, 0, 0).data
        odd.path.unlink()
    pm = PMTiles(vector_pmtiles(tmp_path / "j.pmtiles", {(0, 0, 0): TILE_A}, vector_layers="earth"))
    assert pm.layers == [] and pm.schema == ""


def test_bad_vector_archives_are_refused_or_answered_404(tmp_path: Path, sqlite_db) -> None:
    from pmtiles.tile import Compression

    # brotli tiles cannot be sent to every browser: refused at start with a sentence
    path = vector_pmtiles(tmp_path / "b.pmtiles", {(0, 0, 0): TILE_A}, gzip_tiles=False)
    raw = bytearray(path.read_bytes())
    raw[98] = Compression.BROTLI.value  # the header's tile_compression byte
    path.write_bytes(bytes(raw))
    with pytest.raises(ConfigError, match="compressed with brotli; only gzip or none"):
        PMTiles(path)
    # one damaged gzip tile: that tile is a 404 the browser does not keep, the others work
    broken = vector_mbtiles(
        tmp_path / "d.mbtiles",
        {(1, 0, 1): b"\x1f\x8b" + b"\x00" * 30, (1, 1, 0): gzip.compress(TILE_B)},
        minzoom="1",
        maxzoom="1",
    )
    client = _app(sqlite_db, basemap=str(broken)).test_client()
    bad = client.get("/basemap/1/0/0.pbf")  # no gzip asked for: unpacking fails
    assert bad.status_code == 404 and bad.headers["Cache-Control"] == "no-store"
    assert client.get("/basemap/1/1/1.pbf").data == TILE_B
    # a truncated archive: the tile data lies beyond the end of the file
    whole = vector_pmtiles(tmp_path / "w.pmtiles", {(0, 0, 0): TILE_A}).read_bytes()
    cut = tmp_path / "cut.pmtiles"
    cut.write_bytes(whole[:-20])
    r = _app(sqlite_db, basemap=str(cut)).test_client().get("/basemap/0/0/0.pbf")
    assert r.status_code == 404 and str(tmp_path) not in r.get_data(as_text=True)


def test_hostile_metadata_is_shown_as_text(tmp_path: Path, sqlite_db) -> None:
    evil = '<img src=x onerror=alert(1)>"><script>alert(2)</script>&lt;b&gt;bold&lt;/b&gt;'
    mb = MBTiles(vector_mbtiles(tmp_path / "e.mbtiles", {(0, 0, 0): TILE_A}, attribution=evil))
    # tags dropped, the rest (entities read) escaped: text, never markup
    assert mb.attribution == "&#34;&gt;alert(2)&lt;b&gt;bold&lt;/b&gt;"
    pm = PMTiles(vector_pmtiles(tmp_path / "e.pmtiles", {(0, 0, 0): TILE_A}, attribution=evil))
    assert pm.attribution == mb.attribution
    listed = PMTiles(
        vector_pmtiles(tmp_path / "l.pmtiles", {(0, 0, 0): TILE_A}, attribution=["<b>x</b>"])
    )
    assert listed.attribution == ""  # not text: none (the map then names the file)
    # what planetiler and the Protomaps builds write: links, shown as their text
    linked = '<a href="https://openstreetmap.org/copyright">&copy; OpenStreetMap</a>'
    osm = PMTiles(vector_pmtiles(tmp_path / "o.pmtiles", {(0, 0, 0): TILE_A}, attribution=linked))
    assert osm.attribution == "© OpenStreetMap"
    # the page: inside the folium script (JSON) and in a small map's data attribute
    html = _app(sqlite_db, basemap=str(mb.path)).test_client().get("/").get_data(as_text=True)
    assert "<img src=x" not in html and "alert(1)" not in html and "<script>alert" not in html
    assert _background_of(html)["attribution"] == mb.attribution


# --- serving -------------------------------------------------------------------------------


def test_vector_tiles_are_sent_gzipped_to_browsers_and_plain_to_others(
    sqlite_db, vector_file: Path
) -> None:
    client = _app(sqlite_db, basemap=str(vector_file)).test_client()
    r = client.get("/basemap/1/0/0.pbf", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert r.status_code == 200 and r.mimetype == "application/x-protobuf"
    assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"]
    assert gzip.decompress(r.data) == TILE_A
    assert "public" in r.headers["Cache-Control"] and "max-age=" in r.headers["Cache-Control"]
    again = client.get(
        "/basemap/1/0/0.pbf",
        headers={"Accept-Encoding": "gzip", "If-None-Match": r.headers["ETag"]},
    )
    assert again.status_code == 304 and again.data == b""
    plain = client.get("/basemap/1/0/0.pbf")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert plain.data == TILE_A and plain.headers["ETag"] != r.headers["ETag"]
    assert decode(plain.data)["places"]["features"][0]["properties"]["name"] == "Norra staden"
    # gzip refused by the client (q=0) counts as not accepted
    assert client.get("/basemap/1/0/0.pbf", headers={"Accept-Encoding": "gzip;q=0"}).data == (
        TILE_A
    )
    empty = client.get("/basemap/1/0/1.pbf")
    assert empty.status_code == 204 and empty.data == b""


@pytest.mark.parametrize(
    "url",
    [
        "/basemap/0/0/0.pbf",  # below the file's zoom range
        "/basemap/2/0/0.pbf",  # above it
        "/basemap/1/2/0.pbf",
        "/basemap/1/-1/0.pbf",
        "/basemap/1/0/0.png",  # a vector file has no raster tiles
        "/basemap/1/0/0.mvt",
        "/basemap/1/0/..%2F..%2Fv.pbf",
    ],
)
def test_vector_addresses_outside_the_file_are_404(sqlite_db, vector_file: Path, url: str) -> None:
    r = _app(sqlite_db, basemap=str(vector_file)).test_client().get(url)
    assert r.status_code == 404 and str(vector_file.parent) not in r.get_data(as_text=True)


def test_a_raster_file_has_no_vector_tiles_and_no_file_none(sqlite_db, tmp_path: Path) -> None:
    raster = make_mbtiles(tmp_path / "r.mbtiles", {(0, 0, 0): RED})
    client = _app(sqlite_db, basemap=str(raster)).test_client()
    assert client.get("/basemap/0/0/0.png").data == RED
    assert client.get("/basemap/0/0/0.pbf").status_code == 404
    assert _app(sqlite_db).test_client().get("/basemap/0/0/0.pbf").status_code == 404


def test_vector_tiles_are_open_to_every_role(sqlite_db, pmtiles_v: Path) -> None:
    from tests.conftest import AuthActions
    from tryggkarta import policy

    assert policy.ROUTES["basemap.vector_tile"] is policy.ROUTES["basemap.tile"]
    client = _app(sqlite_db, basemap=str(pmtiles_v)).test_client()
    AuthActions(client, sqlite_db).login("police")
    r = client.get("/basemap/1/0/0.pbf")
    assert r.status_code == 200 and "no-store" not in r.headers["Cache-Control"]


# --- the one background --------------------------------------------------------------------


def _background_of(html: str) -> dict:
    """The description a page passes to tryggkartaPage.background (folium map script)."""
    found = re.search(r"tryggkartaPage\.background\(\w+, (\{.*?\})\);", html)
    assert found, "no background call on the page"
    return json.loads(found.group(1))


def test_the_map_page_draws_the_vector_basemap_with_the_app_style(
    sqlite_db, pmtiles_v: Path
) -> None:
    html = _app(sqlite_db, basemap=str(pmtiles_v)).test_client().get("/").get_data(as_text=True)
    bg = _background_of(html)
    assert bg["kind"] == "vector" and bg["url"] == "/basemap/{z}/{x}/{y}.pbf"
    assert bg["schema"] == "protomaps" and bg["maxDataZoom"] == 1 and bg["minZoom"] == 1
    assert bg["attribution"] == ATTRIBUTION and bg["lang"] == "sv"
    assert bg["script"].endswith("/protomaps-leaflet/protomaps-leaflet.js")
    assert "openstreetmap" not in html and "tileLayer" not in html
    en = _app(sqlite_db, basemap=str(pmtiles_v)).test_client().get("/?lang=en")
    assert _background_of(en.get_data(as_text=True))["lang"] == "en"


def test_the_background_choice_of_the_settings(tmp_path: Path, pmtiles_v: Path) -> None:
    local = background("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "OSM", str(pmtiles_v))
    assert local.kind == "vector" and local.url.endswith(".pbf") and local.origin is None
    remote = background("https://tiles.example.org/v4/{z}/{x}/{y}.mvt", "© Ex", "")
    assert remote.kind == "vector" and remote.origin == "https://tiles.example.org"
    assert remote.options()["schema"] == "protomaps" and "minZoom" not in remote.options()
    raster = background("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "OSM", "")
    assert raster.kind == "raster" and raster.options()["url"].endswith(".png")
    off = background("none", "OSM", "")
    assert off.kind == "none" and off.options(context="/k.geojson") == {
        "kind": "none",
        "context": "/k.geojson",
        "lang": "sv",
    }


def test_a_remote_vector_server_is_allowed_to_connect_not_to_load_images(sqlite_db) -> None:
    url = "https://tiles.example.org/{z}/{x}/{y}.pbf"
    csp = _app(sqlite_db, tile_url=url).test_client().get("/").headers["Content-Security-Policy"]
    parts = {p.split()[0]: p for p in (x.strip() for x in csp.split(";")) if p}
    assert "https://tiles.example.org" in parts["connect-src"]
    assert "https://tiles.example.org" not in parts["img-src"]


def _data_background(html: str, element_id: str) -> dict:
    tag = re.search(rf'<div id="{element_id}"[^>]*>', html)
    assert tag, f"no #{element_id}"
    attr = re.search(r'data-background="([^"]*)"', tag.group(0))
    assert attr, f"#{element_id} has no data-background"
    return json.loads(unescape(attr.group(1)))


def test_the_report_form_and_project_drawing_use_the_local_basemap(
    sqlite_db, pmtiles_v: Path
) -> None:
    from tests.conftest import AuthActions

    add(
        sqlite_db,
        "areas",
        [{"name": "Skara", "kind": "municipality", "municipality_code": "1495"}],
        [box(X0, Y0, X0 + 4000, Y0 + 4000)],
    )
    client = _app(sqlite_db, basemap=str(pmtiles_v), region="1495").test_client()
    AuthActions(client, sqlite_db).login("admin")
    report = client.get("/rapport/").get_data(as_text=True)
    bg = _data_background(report, "report-map")
    assert bg["kind"] == "vector" and bg["url"].endswith(".pbf")
    assert "data-tiles" not in report and "openstreetmap" not in report
    draw = client.get("/projekt/nytt").get_data(as_text=True)
    assert '"kind": "vector"' in draw and "openstreetmap" not in draw
    # no background at all: the small maps draw the context instead of a "none" tile URL
    off = _app(sqlite_db, tile_url="none", region="1495").test_client()
    AuthActions(off, sqlite_db).login("admin")
    bg = _data_background(off.get("/rapport/").get_data(as_text=True), "report-map")
    assert bg == {"kind": "none", "context": "/basemap/kontext.geojson", "lang": "sv"}


# --- the context without a background --------------------------------------------------------


def _places(db, names: list[tuple[str, float, float]], kind: str = "place") -> None:
    from tryggkarta.services.places import fold
    from tryggkarta.store import Place

    with db.session() as s:
        for name, x, y in names:
            s.add(Place(kind=kind, name=name, name_key=fold(name), x=x, y=y, source="test"))


def test_without_a_background_every_map_draws_the_context(db) -> None:
    add(
        db,
        "areas",
        [
            {"name": "Kommunen", "kind": "municipality"},
            {"name": "Norrmalm", "kind": "district"},
            {"name": "<b>Söder</b>", "kind": "district"},
        ],
        [
            box(X0, Y0, X0 + 4000, Y0 + 4000),
            box(X0, Y0, X0 + 1000, Y0 + 1000),
            box(X0 + 2000, Y0, X0 + 3000, Y0 + 1000),
        ],
    )
    _places(db, [("Stora torget", X0 + 500, Y0 + 500), ("Resecentrum", X0 + 2500, Y0 + 200)])
    _places(db, [("Storgatan 1", X0 + 10, Y0 + 10)], kind="address")
    client = _app(db, tile_url="none").test_client()
    html = client.get("/").get_data(as_text=True)
    assert _background_of(html) == {
        "kind": "none",
        "context": "/basemap/kontext.geojson",
        "lang": "sv",
    }
    assert "tileLayer" not in html and "openstreetmap" not in html
    r = client.get("/basemap/kontext.geojson")
    assert r.status_code == 200 and r.mimetype == "application/json"
    features = r.get_json()["features"]
    outlines = {f["properties"]["name"]: f for f in features if "name" in f["properties"]}
    assert set(outlines) == {"Kommunen", "Norrmalm", "<b>Söder</b>"}
    assert outlines["Kommunen"]["geometry"]["type"] == "Polygon"
    labels = {f["properties"]["label"]: f for f in features if "label" in f["properties"]}
    # districts and named places are labelled; the municipality and addresses are not
    assert set(labels) == {"Norrmalm", "<b>Söder</b>", "Stora torget", "Resecentrum"}
    assert labels["Norrmalm"]["properties"]["kind"] == "district"
    assert labels["Resecentrum"]["properties"]["kind"] == "place"
    lon, lat = labels["Norrmalm"]["geometry"]["coordinates"]
    assert 13.3 < lon < 13.5 and 58.3 < lat < 58.5  # inside Norrmalm, near Skara
    # the folium areas layer keeps its names as tooltips: the context draws the labels
    assert '"_label"' not in html


def test_the_context_is_public_and_scbs_outlines_without_areas(sqlite_db) -> None:
    """Nothing imported: the context is SCB's outlines of the installation's municipalities
    (the whole country here, unnamed), public and cacheable."""
    from tryggkarta import policy

    assert policy.ROUTES["basemap.context"] is policy.Action.OPEN
    r = _app(sqlite_db, tile_url="none").test_client().get("/basemap/kontext.geojson")
    features = r.get_json()["features"]
    assert r.status_code == 200 and len(features) == 290
    assert {f["properties"]["kind"] for f in features} == {"municipality"}
    assert "public" in r.headers["Cache-Control"]


def test_the_context_keeps_to_the_installations_municipalities(db) -> None:
    add(
        db,
        "areas",
        [
            {"name": "Skara", "kind": "municipality", "municipality_code": "1495"},
            {"name": "Götene", "kind": "municipality", "municipality_code": "1471"},
        ],
        [box(X0, Y0, X0 + 4000, Y0 + 4000), box(X0 - 9000, Y0, X0 - 5000, Y0 + 4000)],
    )
    features = (
        _app(db, tile_url="none", region="1495")
        .test_client()
        .get("/basemap/kontext.geojson")
        .get_json()["features"]
    )
    assert [f["properties"]["name"] for f in features] == ["Skara"]


def test_mbtiles_without_a_tiles_table_row_for_zoom_zero(tmp_path: Path) -> None:
    """An empty vector MBTiles is valid (a municipality outside the extract): zoom 0-0."""
    path = vector_mbtiles(tmp_path / "empty.mbtiles", {})
    tiles = MBTiles(path)
    assert (tiles.min_zoom, tiles.max_zoom) == (0, 0) and tiles.tile(0, 0, 0) is None
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO tiles VALUES (0, 0, 0, x'')")
    assert MBTiles(path).tile(0, 0, 0) is None  # an empty blob is no tile
