"""Background maps in Chromium: a local MBTiles basemap, none at all, desktop and phone.

Every request that is not to 127.0.0.1 is aborted, as on a closed police network. The
basemap is a tiny MBTiles file the test builds (plain PNG tiles with an outline, so the
tile grid shows in the screenshots). ``TK_SCREENSHOTS=1`` writes the screenshots to
``docs/screenshots/``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.browser.conftest import (
    AXE,
    ROOT,
    Quiet,
    demo_database,
    inject_script,
    require,
    serving,
)
from tests.test_basemap import ATTRIBUTION, make_mbtiles

pytestmark = pytest.mark.browser
require([(Path("/usr/bin/chromium"), "install Debian's chromium")], "browser tests")

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def tile_png() -> bytes:
    """A 256 px tile: pale ground, a darker outline (made without an imaging library)."""
    import struct
    import zlib

    size = 256
    img = np.full((size, size, 3), (236, 232, 222), np.uint8)
    img[:2, :], img[:, :2] = (190, 184, 170), (190, 184, 170)
    raw = b"".join(b"\x00" + img[row].tobytes() for row in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))


def tiles_for(bounds: tuple[float, float, float, float], zooms: range) -> dict:
    """Every tile (zoom, column, TMS row) over WGS84 ``bounds`` at ``zooms``."""
    minlon, minlat, maxlon, maxlat = bounds
    data, out = tile_png(), {}

    def xy(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 2**z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return x, y

    for z in zooms:
        x0, y0 = xy(minlon, maxlat, z)
        x1, y1 = xy(maxlon, minlat, z)
        for x in range(x0 - 1, x1 + 2):
            for y in range(y0 - 1, y1 + 2):
                out[(z, x, 2**z - 1 - y)] = data
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    from tryggkarta.geo import to_wgs84
    from tryggkarta.store import Filters, extent

    folder = tmp_path_factory.mktemp("basemap-browser")
    settings, db = demo_database(folder, "basemap-test")
    box = extent(db, "areas", Filters())
    lon, lat = to_wgs84(np.array([box[0], box[2]]), np.array([box[1], box[3]]), db.srid)
    bounds = (float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
    mbtiles = make_mbtiles(
        folder / "kommun.mbtiles", tiles_for(bounds, range(9, 14)), minzoom="9", maxzoom="13"
    )
    return settings, mbtiles


@pytest.fixture(scope="module")
def with_basemap(demo) -> Iterator[str]:
    settings, mbtiles = demo
    with serving(settings.with_overrides(basemap=str(mbtiles))) as url:
        yield url


@pytest.fixture(scope="module")
def without_basemap(demo) -> Iterator[str]:
    settings, _ = demo
    with serving(settings.with_overrides(tile_url="none")) as url:
        yield url


class Offline:
    """A browser page that reaches 127.0.0.1 only."""

    def __init__(self, browser, server: str, viewport: dict) -> None:
        self.context = browser.new_context(viewport=viewport, locale="sv-SE")
        self.page = self.context.new_page()
        self.server = server
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.quiet = Quiet(self.page)

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            self.requests.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, path: str = "/") -> None:
        self.page.goto(self.server + path, wait_until="load")
        self.page.wait_for_selector(".leaflet-overlay-pane path", timeout=15_000)
        self.quiet.wait()

    def shoot(self, name: str, tmp_path: Path, *, docs: bool = True) -> Path:
        refresh = docs and os.environ.get("TK_SCREENSHOTS") == "1"
        out = ROOT / "docs" / "screenshots" if refresh else tmp_path
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.png"
        self.page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline(browser) -> Iterator:
    opened: list[Offline] = []

    def make(server: str, viewport: dict) -> Offline:
        opened.append(Offline(browser, server, viewport))
        return opened[-1]

    yield make
    for page in opened:
        page.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_local_basemap_draws_on_a_closed_network(
    offline, with_basemap: str, viewport: dict, tmp_path: Path
) -> None:
    v = offline(with_basemap, viewport)
    v.open("/")
    loaded = v.page.locator(".leaflet-tile-pane img.leaflet-tile-loaded").count()
    assert loaded >= 4
    assert any("/basemap/" in url for url in v.requests)
    assert v.blocked == [] and v.errors == []
    assert ATTRIBUTION in v.page.locator(".leaflet-control-attribution").inner_text()
    v.shoot(f"basemap-{'phone' if viewport is PHONE else 'desktop'}", tmp_path)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_without_a_basemap_the_districts_are_named(
    offline, without_basemap: str, viewport: dict, tmp_path: Path
) -> None:
    v = offline(without_basemap, viewport)
    v.open("/")
    assert v.page.locator(".leaflet-tile-pane img").count() == 0
    labels = v.page.locator(".leaflet-tooltip.tk-area-label")
    assert labels.count() >= 2
    assert labels.first.inner_text().strip() != ""
    assert v.blocked == [] and v.errors == []
    phone = viewport is PHONE
    v.shoot(f"nobasemap-{'phone' if phone else 'desktop'}", tmp_path, docs=not phone)


def test_on_a_phone_the_map_fills_the_screen_and_the_controls_fold(
    offline, with_basemap: str
) -> None:
    v = offline(with_basemap, PHONE)
    v.open("/")
    frame = v.page.locator(".map-frame").bounding_box()
    # below the header (and the demo banner) the map takes the rest of the first screen
    assert frame["height"] >= 0.8 * PHONE["height"]
    assert abs(frame["y"] + frame["height"] - PHONE["height"]) <= 2
    layers = v.page.locator(".leaflet-control-layers-list")
    legend_rows = v.page.locator(".tk-legend details").first
    assert not layers.is_visible() and not legend_rows.is_visible()
    # the folded controls cover a small corner, not the map
    for selector in (".leaflet-control-layers", ".tk-legend"):
        box = v.page.locator(selector).bounding_box()
        assert box["width"] * box["height"] < 0.05 * PHONE["width"] * PHONE["height"]
    v.page.locator(".leaflet-control-layers-toggle").click()
    assert layers.is_visible()
    v.page.mouse.click(200, 500)  # a tap on the map folds it again
    assert not layers.is_visible()
    toggle = v.page.locator(".tk-legend-toggle")
    toggle.click()
    assert legend_rows.is_visible() and toggle.get_attribute("aria-expanded") == "true"


def test_the_scale_bar_is_metric(offline, with_basemap: str) -> None:
    v = offline(with_basemap, DESKTOP)
    v.open("/")
    scale = v.page.locator(".leaflet-control-scale").inner_text()
    assert ("km" in scale or " m" in scale) and "mi" not in scale and "ft" not in scale


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_public_start_page_with_basemap_passes_axe(
    offline, with_basemap: str, viewport: dict
) -> None:
    script = AXE if AXE.is_file() else ROOT / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        pytest.skip("axe-core is missing: run `make assets`")
    v = offline(with_basemap, viewport)
    v.open("/")
    inject_script(v.page, script)
    result = v.page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    assert [(x["id"], [n["target"] for n in x["nodes"]][:3]) for x in result["violations"]] == []
