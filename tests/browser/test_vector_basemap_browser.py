"""Vector basemaps and the one background of every map, in Chromium on a closed network.

The basemaps are a tiny vector PMTiles (Protomaps schema) and a tiny vector MBTiles
(OpenMapTiles schema) built here over the demo municipality; protomaps-leaflet draws them on
canvas with the app's own style. Every request that is not to 127.0.0.1 is aborted, as on a
police network. Also: every page with a small map (survey form, report form, project
drawing, campaign pages) draws the local basemap, and without any background the same pages
draw the context (outlines and names). ``TK_SCREENSHOTS=1`` writes
``docs/screenshots/vector-basemap-desktop.png``.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.browser.conftest import AXE, demo_database, inject_script, require, serving, sign_in
from tests.browser.test_basemap_browser import DESKTOP, PHONE, Offline
from tests.test_basemap import ATTRIBUTION, make_mbtiles, make_pmtiles
from tests.test_basemap_vector import PROTOMAPS_LAYERS, mvt
from tests.test_survey_service import lonlat, parse, pin_form

pytestmark = pytest.mark.browser
require([(Path("/usr/bin/chromium"), "install Debian's chromium")], "browser tests")

PASSWORD = "tryggkarta-demo"  # the demo users' password
PLACE = "Testtorget <b>x</b>"  # markup in a name is text on the map


def omt_tile() -> bytes:
    """One MVT tile in the OpenMapTiles schema (planetiler's default profile)."""
    import mapbox_vector_tile

    layers = [
        {
            "name": "water",
            "features": [
                {"geometry": "POLYGON ((300 300, 1800 300, 1800 1600, 300 1600, 300 300))"}
            ],
        },
        {
            "name": "landcover",
            "features": [
                {
                    "geometry": "POLYGON ((2200 2200, 4000 2200, 4000 4000, 2200 4000, 2200 2200))",
                    "properties": {"class": "wood"},
                }
            ],
        },
        {
            "name": "transportation",
            "features": [
                {"geometry": "LINESTRING (0 3000, 4096 2600)", "properties": {"class": "primary"}}
            ],
        },
        {
            "name": "place",
            "features": [
                {"geometry": "POINT (2600 1200)", "properties": {"class": "town", "name": "Omtby"}}
            ],
        },
    ]
    return mapbox_vector_tile.encode(layers, default_options={"y_coord_down": True})


def xyz_tiles(bounds: tuple[float, float, float, float], zooms: range) -> list:
    """(z, x, y) of every XYZ tile over WGS84 ``bounds`` (one tile of margin)."""
    minlon, minlat, maxlon, maxlat = bounds

    def xy(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 2**z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return x, y

    out = []
    for z in zooms:
        x0, y0 = xy(minlon, maxlat, z)
        x1, y1 = xy(maxlon, minlat, z)
        out += [(z, x, y) for x in range(x0 - 1, x1 + 2) for y in range(y0 - 1, y1 + 2)]
    return out


@pytest.fixture(scope="module")
def vdemo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The demo data with an open survey campaign, and the two vector basemaps."""
    from tryggkarta.geo import to_wgs84
    from tryggkarta.services import survey as sv
    from tryggkarta.services.places import fold
    from tryggkarta.store import Filters, Place, extent

    folder = tmp_path_factory.mktemp("vector-basemap")
    settings, db = demo_database(folder, "vector-basemap-test")
    box = extent(db, "areas", Filters())
    lon, lat = to_wgs84(np.array([box[0], box[2]]), np.array([box[1], box[3]]), db.srid)
    bounds = (float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
    keys = xyz_tiles(bounds, range(8, 13))
    tile = gzip.compress(mvt("Testby"))
    pmtiles = make_pmtiles(
        folder / "kommun.pmtiles",
        dict.fromkeys(keys, mvt("Testby")),
        tile_type=1,
        gzip_tiles=True,
        vector_layers=PROTOMAPS_LAYERS,
    )
    omt_layers = [{"id": n} for n in ("water", "landcover", "transportation", "place")]
    mbtiles = make_mbtiles(
        folder / "omt.mbtiles",
        {(z, x, 2**z - 1 - y): gzip.compress(omt_tile()) for z, x, y in keys},
        format="pbf",
        minzoom="8",
        maxzoom="12",
        json=json.dumps({"vector_layers": omt_layers}),
    )
    assert tile  # the same tile everywhere: land, a lake, a road, a place
    with db.session() as s:
        c = sv.create_campaign(
            s,
            title="Trygg i Skara",
            starts_on=date.today() - timedelta(days=1),
            ends_on=date.today() + timedelta(days=30),
            municipality_code="1495",
            area_ids=[],
            questions={"time_of_day": True, "weekday": False, "age_band": False, "gender": False},
        )
        sv.set_status(c, "open")
        s.flush()
        # one walking route, so that the campaign page has its route map
        lon0, lat0 = lonlat((408_625.0, 6_472_625.0))  # Skara's centre
        route = json.dumps([[lat0, lon0], [lat0 + 0.002, lon0 + 0.003]])
        form = pin_form({"lat": lat0, "lon": lon0, "rating": 2}, route=route)
        sv.store_answer(s, c, parse(s, c, form))
        # a named place (the place search's table): labelled on maps without a background
        s.add(
            Place(
                kind="place",
                name=PLACE,
                name_key=fold(PLACE),
                x=408_625.0,
                y=6_472_625.0,
                source="test",
            )
        )
        s.commit()
        slug, campaign_id = c.slug, c.id
    return {
        "settings": settings,
        "pmtiles": pmtiles,
        "mbtiles": mbtiles,
        "slug": slug,
        "campaign_id": campaign_id,
    }


@pytest.fixture(scope="module")
def vector_server(vdemo: dict) -> Iterator[str]:
    with serving(vdemo["settings"].with_overrides(basemap=str(vdemo["pmtiles"]))) as url:
        yield url


@pytest.fixture(scope="module")
def omt_server(vdemo: dict) -> Iterator[str]:
    with serving(vdemo["settings"].with_overrides(basemap=str(vdemo["mbtiles"]))) as url:
        yield url


@pytest.fixture(scope="module")
def bare_server(vdemo: dict) -> Iterator[str]:
    with serving(vdemo["settings"].with_overrides(tile_url="none")) as url:
        yield url


@pytest.fixture
def offline(browser) -> Iterator:
    opened: list[Offline] = []

    def make(server: str, viewport: dict = DESKTOP) -> Offline:
        opened.append(Offline(browser, server, viewport))
        return opened[-1]

    yield make
    for page in opened:
        page.close()


#: Distinct colours drawn on the basemap canvases (the vector tiles, not the app's layers).
CANVAS_COLOURS = """(scope) => {
  const root = scope ? document.querySelector(scope) : document;
  const seen = new Set();
  let canvases = 0;
  for (const c of root.querySelectorAll('.leaflet-tile-pane canvas')) {
    if (!c.width || !c.height) continue;
    canvases += 1;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < data.length; i += 4 * 7) {
      if (data[i + 3] > 0) seen.add((data[i] >> 3) + ',' + (data[i + 1] >> 3) + ',' + (data[i + 2] >> 3));
    }
  }
  return {canvases: canvases, colours: seen.size};
}"""


def drawn(v: Offline, scope: str = "", minimum: int = 3) -> dict:
    """Wait until protomaps-leaflet has painted; the canvases and their distinct colours."""
    v.page.wait_for_function(
        f"() => ({CANVAS_COLOURS})({json.dumps(scope)}).colours >= {minimum}", timeout=20_000
    )
    return v.page.evaluate(f"({CANVAS_COLOURS})({json.dumps(scope)})")


def login(v: Offline, user: str = "kommun") -> None:
    sign_in(v.context, v.server, user, PASSWORD)


def axe_clean(v: Offline) -> list:
    inject_script(v.page, AXE)
    result = v.page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [(x["id"], [n["target"] for n in x["nodes"]][:3]) for x in result["violations"]]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_map_page_draws_the_vector_basemap_on_a_closed_network(
    offline, vector_server: str, viewport: dict, tmp_path: Path
) -> None:
    v = offline(vector_server, viewport)
    v.open("/")
    found = drawn(v)
    assert found["canvases"] >= 2 and found["colours"] >= 3
    assert any(u.endswith(".pbf") and "/basemap/" in u for u in v.requests)
    assert any("protomaps-leaflet.js" in u for u in v.requests)
    assert v.page.locator(".leaflet-tile-pane img").count() == 0  # no raster tiles
    assert v.blocked == [] and v.errors == []
    assert ATTRIBUTION in v.page.locator(".leaflet-control-attribution").inner_text()
    if viewport is DESKTOP:
        assert axe_clean(v) == []
        v.shoot("vector-basemap-desktop", tmp_path)


def test_the_public_map_draws_the_vector_basemap(offline, vector_server: str) -> None:
    v = offline(vector_server)
    v.open("/publik")
    found = drawn(v, ".public-map-frame")
    assert found["colours"] >= 3
    assert v.blocked == [] and v.errors == []
    assert ATTRIBUTION in v.page.locator(".leaflet-control-attribution").inner_text()


def test_an_openmaptiles_archive_is_drawn_with_the_apps_rules(offline, omt_server: str) -> None:
    v = offline(omt_server)
    v.open("/")
    assert drawn(v)["colours"] >= 3
    assert any(u.endswith(".pbf") for u in v.requests)
    assert v.blocked == [] and v.errors == []


def _small_map(v: Offline, path: str, box: str) -> None:
    v.page.goto(v.server + path, wait_until="load")
    v.page.wait_for_selector(f"{box}:not([hidden])", timeout=15_000)


SMALL_MAPS = [
    ("survey form", None, "#survey-map"),
    ("report form", "/rapport/", "#report-map"),
    ("project drawing", "/projekt/nytt", "#draw-map"),
    ("campaign form", "/enkater/", "#area-map"),
    ("campaign page", "campaign", "#route-map"),
]


@pytest.mark.parametrize(("name", "path", "box"), SMALL_MAPS, ids=[m[0] for m in SMALL_MAPS])
def test_every_small_map_uses_the_local_basemap(
    offline, vector_server: str, vdemo: dict, name: str, path: str | None, box: str, tmp_path: Path
) -> None:
    v = offline(vector_server)
    if path is None:
        path = f"/enkat/{vdemo['slug']}"
    else:
        login(v)
        if path == "campaign":
            path = f"/enkater/{vdemo['campaign_id']}"
        v.requests.clear()
    _small_map(v, path, box)
    found = drawn(v, box)
    assert found["canvases"] >= 1 and found["colours"] >= 3, name
    assert any(u.endswith(".pbf") for u in v.requests), name
    assert not any("openstreetmap" in u for u in v.blocked + v.requests), name
    assert v.blocked == [] and v.errors == [], name
    assert ATTRIBUTION in v.page.locator(f"{box} .leaflet-control-attribution").inner_text()
    v.page.locator(box).screenshot(path=str(tmp_path / "small-map.png"))


@pytest.mark.parametrize(("name", "path", "box"), SMALL_MAPS, ids=[m[0] for m in SMALL_MAPS])
def test_without_a_background_every_small_map_draws_the_context(
    offline, bare_server: str, vdemo: dict, name: str, path: str | None, box: str, tmp_path: Path
) -> None:
    v = offline(bare_server)
    if path is None:
        path = f"/enkat/{vdemo['slug']}"
    else:
        login(v)
        if path == "campaign":
            path = f"/enkater/{vdemo['campaign_id']}"
    _small_map(v, path, box)
    v.page.wait_for_selector(f"{box} .leaflet-tooltip.tk-area-label", timeout=15_000)
    labels = v.page.locator(f"{box} .leaflet-tooltip.tk-area-label")
    assert labels.count() >= 2 and labels.first.inner_text().strip(), name
    assert v.page.locator(f"{box} .leaflet-tkContext-pane path").count() >= 2, name
    assert v.page.locator(f"{box} .leaflet-tile-pane img").count() == 0
    assert v.blocked == [] and v.errors == [], name
    v.page.locator(box).screenshot(path=str(tmp_path / "small-map-context.png"))


def test_without_the_renderer_a_vector_map_falls_back_to_the_context(
    offline, vector_server: str
) -> None:
    v = offline(vector_server)
    v.page.route("**/protomaps-leaflet.js", lambda route: route.abort())  # wins: added last
    v.open("/")
    v.page.wait_for_selector(".leaflet-tooltip.tk-area-label", timeout=15_000)
    assert v.page.locator(".leaflet-tkContext-pane path").count() >= 2
    assert not any(u.endswith(".pbf") for u in v.requests)
    assert v.blocked == [] and v.errors == []


def test_place_names_appear_when_zoomed_in(offline, bare_server: str) -> None:
    from tests.test_survey_service import lonlat

    v = offline(bare_server)
    v.open("/")
    v.page.wait_for_selector(".leaflet-tooltip.tk-area-label", timeout=15_000)
    assert v.page.locator(".leaflet-tooltip.tk-place-label").count() == 0  # town view
    name = v.page.locator("section.map-frame").get_attribute("data-map")
    lon, lat = lonlat((408_625.0, 6_472_625.0))
    v.page.evaluate(f"window[{json.dumps(name)}].setView([{lat}, {lon}], 15)")
    label = v.page.locator(".leaflet-tooltip.tk-place-label", has_text="Testtorget")
    label.wait_for(timeout=10_000)
    assert label.inner_text() == PLACE and label.locator("b").count() == 0
    assert v.blocked == [] and v.errors == []
