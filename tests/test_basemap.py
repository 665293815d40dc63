"""The background map: a local MBTiles file served by the app, a tile server, or none."""

from __future__ import annotations

import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import shapely
import shapely.geometry
from shapely.geometry import box

from tests.test_maps_page import X0, Y0, add
from tryggkarta.config import load_settings
from tryggkarta.errors import ConfigError
from tryggkarta.maps.basemap import MBTiles, PMTiles, background, open_basemap


def png(rgb: tuple[int, int, int], size: int = 4) -> bytes:
    """A real ``size``×``size`` PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


RED, BLUE = png((200, 0, 0)), png((0, 0, 200))
ATTRIBUTION = "© Lantmäteriet, © OpenStreetMap-bidragsgivare"


def make_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], **metadata: str) -> Path:
    """An MBTiles file; ``tiles`` keys are (zoom, column, TMS row)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE metadata (name text, value text)")
    conn.execute(
        "CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, "
        "tile_data blob)"
    )
    meta = {"name": "Testkommun", "format": "png", "attribution": ATTRIBUTION, **metadata}
    conn.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
    conn.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", [(*k, v) for k, v in tiles.items()])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def mbtiles(tmp_path: Path) -> Path:
    # zoom 1: TMS row 1 is the northern half, i.e. XYZ y=0
    return make_mbtiles(
        tmp_path / "kommun.mbtiles", {(1, 0, 1): RED, (1, 1, 0): BLUE}, minzoom="1", maxzoom="1"
    )


def test_tiles_are_read_with_the_tms_row_flipped(mbtiles: Path) -> None:
    tiles = MBTiles(mbtiles)
    assert tiles.tile(1, 0, 0).data == RED  # TMS row 1
    assert tiles.tile(1, 1, 1).data == BLUE  # TMS row 0
    assert tiles.tile(1, 0, 1) is None  # inside the grid, not in the file
    assert tiles.tile(0, 0, 0) is None and tiles.tile(1, 2, 0) is None
    assert tiles.attribution == ATTRIBUTION
    assert (tiles.min_zoom, tiles.max_zoom) == (1, 1)
    assert tiles.tile(1, 0, 0).content_type == "image/png"


def test_zoom_range_comes_from_the_tiles_when_the_metadata_has_none(tmp_path: Path) -> None:
    path = make_mbtiles(tmp_path / "z.mbtiles", {(3, 0, 0): RED, (5, 0, 0): BLUE})
    tiles = MBTiles(path)
    assert (tiles.min_zoom, tiles.max_zoom) == (3, 5)


def test_a_file_that_is_not_mbtiles_is_refused_with_a_sentence(tmp_path: Path) -> None:
    text = tmp_path / "karta.mbtiles"
    text.write_text("not a database", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not an MBTiles file"):
        MBTiles(text)
    empty = tmp_path / "empty.mbtiles"
    sqlite3.connect(empty).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(ConfigError, match="is not an MBTiles file"):
        MBTiles(empty)
    other = make_mbtiles(tmp_path / "v.mbtiles", {(0, 0, 0): b"{}"}, format="geojson")
    with pytest.raises(ConfigError, match="only raster PNG, JPEG or WebP or vector"):
        MBTiles(other)


def test_settings_check_the_basemap_file_at_start(tmp_path: Path, mbtiles: Path) -> None:
    base = {"database_url": "sqlite://", "secret_key": "x", "instance_path": str(tmp_path)}
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({**base, "basemap": str(tmp_path / "nope.mbtiles")}, environ={})
    settings = load_settings({}, environ={"TRYGGKARTA_BASEMAP": str(mbtiles), **_env(base)})
    assert settings.basemap == str(mbtiles)
    # "none" is a valid tile URL (no background); a template without {z} still is not
    assert load_settings({**base, "tile_url": "none"}, environ={}).tile_url == "none"
    with pytest.raises(ConfigError, match="must contain"):
        load_settings({**base, "tile_url": "https://example.org/tiles"}, environ={})


def _env(values: dict[str, str]) -> dict[str, str]:
    return {f"TRYGGKARTA_{k.upper()}": v for k, v in values.items()}


def test_background_choice_and_the_origin_the_csp_must_allow(mbtiles: Path) -> None:
    local = background("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "OSM", str(mbtiles))
    assert local.url == "/basemap/{z}/{x}/{y}.png" and local.origin is None
    assert local.attribution == ATTRIBUTION and local.max_zoom == 1
    remote = background("https://{s}.tiles.example.org/{z}/{x}/{y}.png", "Ex", "")
    assert remote.origin == "https://*.tiles.example.org" and remote.attribution == "Ex"
    off = background("none", "OSM", "")
    assert off.url is None and not off.enabled and off.origin is None


def _app(db, **overrides):
    from tryggkarta.web import create_app

    settings = db.settings.with_overrides(**overrides)
    app = create_app({"settings": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = db
    return app


def test_tiles_are_served_with_etag_and_cache_headers(sqlite_db, mbtiles: Path) -> None:
    client = _app(sqlite_db, basemap=str(mbtiles)).test_client()
    r = client.get("/basemap/1/0/0.png")
    assert r.status_code == 200 and r.data == RED and r.mimetype == "image/png"
    assert "public" in r.headers["Cache-Control"] and "max-age=" in r.headers["Cache-Control"]
    etag = r.headers["ETag"]
    again = client.get("/basemap/1/0/0.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/basemap/1/1/1.png").data == BLUE
    # in the grid but not in the file (outside the municipality): nothing to draw
    empty = client.get("/basemap/1/0/1.png")
    assert empty.status_code == 204 and empty.data == b""


@pytest.mark.parametrize(
    "url",
    [
        "/basemap/0/0/0.png",  # below the file's zoom range
        "/basemap/2/0/0.png",  # above it
        "/basemap/1/2/0.png",  # x outside the zoom-1 grid
        "/basemap/1/0/5.png",
        "/basemap/1/-1/0.png",
        "/basemap/1/0/0.jpg",
        "/basemap/../../etc/passwd",
        "/basemap/1/0/..%2F..%2Fkommun.png",
        "/basemap/1/0/0.png/../../../../etc/passwd",
    ],
)
def test_addresses_outside_the_file_are_404(sqlite_db, mbtiles: Path, url: str) -> None:
    client = _app(sqlite_db, basemap=str(mbtiles)).test_client()
    r = client.get(url)
    assert r.status_code == 404
    assert str(mbtiles.parent) not in r.get_data(as_text=True)


def test_no_basemap_file_means_no_tiles(sqlite_db) -> None:
    assert _app(sqlite_db).test_client().get("/basemap/1/0/0.png").status_code == 404


def test_tiles_are_open_to_every_role(sqlite_db, mbtiles: Path) -> None:
    from tests.conftest import AuthActions

    client = _app(sqlite_db, basemap=str(mbtiles)).test_client()
    AuthActions(client, sqlite_db).login("police")
    r = client.get("/basemap/1/0/0.png")
    assert r.status_code == 200 and "no-store" not in r.headers["Cache-Control"]


def test_the_csp_follows_the_background_choice(sqlite_db, mbtiles: Path) -> None:
    def img_src(**overrides) -> str:
        csp = _app(sqlite_db, **overrides).test_client().get("/").headers["Content-Security-Policy"]
        return next(p for p in csp.split(";") if p.strip().startswith("img-src")).strip()

    assert "https://tile.openstreetmap.org" in img_src()
    assert img_src(basemap=str(mbtiles)) == "img-src 'self' data: blob:"
    assert img_src(tile_url="none") == "img-src 'self' data: blob:"


def test_the_start_page_uses_the_local_basemap_and_its_attribution(
    sqlite_db, mbtiles: Path
) -> None:
    html = _app(sqlite_db, basemap=str(mbtiles)).test_client().get("/").get_data(as_text=True)
    assert "/basemap/{z}/{x}/{y}.png" in html
    assert "Lantm\\u00e4teriet" in html  # attribution from the file's metadata (as JSON)
    assert "openstreetmap.org" not in html
    # deeper zooms enlarge the last level; none are asked for below the first
    assert '"maxNativeZoom": 1' in html and '"minZoom": 1' in html
    assert "minNativeZoom" not in html


def test_without_any_background_the_districts_are_named_on_the_map(sqlite_db) -> None:
    add(
        sqlite_db,
        "areas",
        [{"name": "Kommunen", "kind": "municipality"}, {"name": "Norrmalm", "kind": "district"}],
        [box(X0, Y0, X0 + 4000, Y0 + 4000), box(X0, Y0, X0 + 1000, Y0 + 1000)],
    )
    client = _app(sqlite_db, tile_url="none").test_client()
    html = client.get("/").get_data(as_text=True)
    assert "tileLayer" not in html and "openstreetmap" not in html
    assert '"context": "/basemap/kontext.geojson"' in html  # drawn by tryggkartaPage.background
    labels = [
        f["properties"]
        for f in client.get("/basemap/kontext.geojson").get_json()["features"]
        if "label" in f["properties"]
    ]
    assert labels == [{"label": "Norrmalm", "kind": "district"}]  # the boundary needs no label
    # with a background map the names stay tooltips
    html = _app(sqlite_db).test_client().get("/").get_data(as_text=True)
    assert "_label" not in html and "Norrmalm" in html and "kontext" in html


def test_without_imported_outlines_the_context_draws_scbs(sqlite_db) -> None:
    """An installation with no municipality outline imported (a region or the country, as in
    the national bench) still gets its municipalities' outlines, from SCB's boundaries: named
    for an EST group, outlines only for the country's 290."""
    from tryggkarta.services.basemap_context import context_geojson

    def municipalities(region: str) -> list[dict]:
        return [
            f
            for f in context_geojson(sqlite_db, region)["features"]
            if f["properties"].get("kind") == "municipality"
        ]

    group = municipalities("1495,1471")
    assert sorted(f["properties"]["name"] for f in group) == ["Götene", "Skara"]
    labels = [
        f["properties"]["label"]
        for f in context_geojson(sqlite_db, "1495,1471")["features"]
        if "label" in f["properties"]
    ]
    assert sorted(labels) == ["Götene", "Skara"]
    country = context_geojson(sqlite_db, "SE")["features"]
    assert len([f for f in country if f["properties"].get("kind") == "municipality"]) == 290
    assert not [f for f in country if "label" in f["properties"]]
    skara = shapely.geometry.shape(
        group[[f["properties"]["name"] for f in group].index("Skara")]["geometry"]
    )
    assert skara.contains(shapely.Point(13.4385, 58.3866))  # Stora torget, in WGS84


def test_the_open_file_is_cached(mbtiles: Path) -> None:
    assert open_basemap(mbtiles) is open_basemap(str(mbtiles))


def test_the_attribution_in_the_file_is_shown_as_text(tmp_path: Path) -> None:
    path = make_mbtiles(
        tmp_path / "evil.mbtiles", {(0, 0, 0): RED}, attribution="<img src=x onerror=alert(1)>"
    )
    tiles = MBTiles(path)
    assert "<img" not in tiles.attribution and "onerror" not in tiles.attribution
    # nothing left of it: the map names the file instead
    assert background("", "", str(path)).attribution == "Testkommun"
    nameless = make_mbtiles(tmp_path / "n.mbtiles", {(0, 0, 0): RED}, attribution="")
    with sqlite3.connect(nameless) as conn:
        conn.execute("UPDATE metadata SET value='<b>x</b>' WHERE name='name'")
    assert background("", "", str(nameless)).attribution == "&lt;b&gt;x&lt;/b&gt;"


# --- PMTiles ------------------------------------------------------------------------------


def make_pmtiles(
    path: Path,
    tiles: dict[tuple[int, int, int], bytes],
    tile_type: int = 2,
    gzip_tiles: bool = False,
    leaf: bool = False,
    **metadata: str,
) -> Path:
    """A PMTiles v3 archive written by the ``pmtiles`` package; ``tiles`` keys are XYZ."""
    import gzip

    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    zooms = [z for z, _x, _y in tiles]
    with path.open("wb") as f:
        writer = Writer(f)
        for (z, x, y), data in sorted(tiles.items(), key=lambda kv: zxy_to_tileid(*kv[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), gzip.compress(data) if gzip_tiles else data)
        header = {
            "tile_type": TileType(tile_type),
            "tile_compression": Compression.GZIP if gzip_tiles else Compression.NONE,
            "min_zoom": min(zooms),
            "max_zoom": max(zooms),
            "min_lon_e7": int(13.0e7),
            "min_lat_e7": int(58.2e7),
            "max_lon_e7": int(13.8e7),
            "max_lat_e7": int(58.6e7),
            "center_zoom": min(zooms),
            "center_lon_e7": int(13.4e7),
            "center_lat_e7": int(58.4e7),
        }
        writer.finalize(header, {"name": "Testkommun", "attribution": ATTRIBUTION, **metadata})
    return path


@pytest.fixture
def pmtiles(tmp_path: Path) -> Path:
    return make_pmtiles(tmp_path / "kommun.pmtiles", {(1, 0, 0): RED, (1, 1, 1): BLUE})


def test_pmtiles_tiles_are_read_in_xyz_order(pmtiles: Path) -> None:
    tiles = open_basemap(pmtiles)
    assert isinstance(tiles, PMTiles)
    assert tiles.tile(1, 0, 0).data == RED and tiles.tile(1, 1, 1).data == BLUE
    assert tiles.tile(1, 0, 1) is None  # in the grid, not in the archive
    assert tiles.tile(0, 0, 0) is None and tiles.tile(1, 2, 0) is None
    assert (tiles.min_zoom, tiles.max_zoom) == (1, 1)
    assert tiles.attribution == ATTRIBUTION and tiles.name == "Testkommun"
    assert tiles.bounds == pytest.approx((13.0, 58.2, 13.8, 58.6))


def test_pmtiles_with_gzip_tiles(tmp_path: Path) -> None:
    tiles = {(6, x, y): png((x * 4, y * 4, 0)) for x in range(64) for y in range(64)}
    archive = PMTiles(make_pmtiles(tmp_path / "gz.pmtiles", tiles, gzip_tiles=True))
    for key in [(6, 0, 0), (6, 63, 63), (6, 17, 42), (6, 42, 17)]:
        assert archive.tile(*key).data == tiles[key]


def test_pmtiles_with_leaf_directories(tmp_path: Path) -> None:
    """20,000 scattered zoom-10 tiles of varied size: the root directory points to leaves."""
    rng = np.random.default_rng(10)
    xs, ys = rng.integers(0, 1024, 20_000), rng.integers(0, 1024, 20_000)
    tiles = {
        (10, int(x), int(y)): png((int(x) % 256, int(y) % 256, 1), size=1 + int(x) % 5)
        for x, y in zip(xs, ys, strict=True)
    }
    archive = PMTiles(make_pmtiles(tmp_path / "leaf.pmtiles", tiles))
    assert archive._header["leaf_directory_length"] > 0
    for key in list(tiles)[::100]:
        assert archive.tile(*key).data == tiles[key]
    assert archive.tile(10, 1023, 1023) is None or (10, 1023, 1023) in tiles


def test_pmtiles_are_served_like_mbtiles(sqlite_db, pmtiles: Path) -> None:
    client = _app(sqlite_db, basemap=str(pmtiles)).test_client()
    r = client.get("/basemap/1/0/0.png")
    assert r.status_code == 200 and r.data == RED and r.mimetype == "image/png"
    assert (
        client.get("/basemap/1/0/0.png", headers={"If-None-Match": r.headers["ETag"]}).status_code
        == 304
    )
    assert client.get("/basemap/1/0/1.png").status_code == 204
    assert client.get("/basemap/2/0/0.png").status_code == 404
    page = client.get("/").get_data(as_text=True)
    assert "/basemap/{z}/{x}/{y}.png" in page and "Lantm\\u00e4teriet" in page


def test_bad_pmtiles_files_are_refused_with_a_sentence(tmp_path: Path) -> None:
    avif = make_pmtiles(tmp_path / "v.pmtiles", {(0, 0, 0): b"\x00\x00"}, tile_type=5)
    with pytest.raises(ConfigError, match="holds avif tiles; only raster PNG, JPEG or WebP or"):
        PMTiles(avif)
    good = make_pmtiles(tmp_path / "g.pmtiles", {(0, 0, 0): RED}).read_bytes()
    truncated = tmp_path / "t.pmtiles"
    truncated.write_bytes(good[:140])
    with pytest.raises(ConfigError, match="truncated or damaged"):
        PMTiles(truncated).tile(0, 0, 0)
    version2 = tmp_path / "v2.pmtiles"
    version2.write_bytes(b"PMTiles\x02" + good[8:])
    with pytest.raises(ConfigError, match="is not a PMTiles v3 archive"):
        PMTiles(version2)
    empty = tmp_path / "empty.pmtiles"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="is empty"):
        open_basemap(empty)
    short = tmp_path / "short.pmtiles"
    short.write_bytes(b"PMTiles\x03")
    with pytest.raises(ConfigError, match="is not a PMTiles v3 archive"):
        PMTiles(short)
    # a damaged root directory: garbage where the gzip stream should be
    broken = bytearray(good)
    root = int.from_bytes(good[8:16], "little")
    broken[root : root + 4] = b"\x00\x00\x00\x00"
    damaged = tmp_path / "d.pmtiles"
    damaged.write_bytes(bytes(broken))
    with pytest.raises(ConfigError, match="damaged"):
        PMTiles(damaged).tile(0, 0, 0)
