"""Raw incidents as vector tiles in Chromium: police get tiles drawn as SVG points (and count
cells further out) with popups from the feature API; planners and partners get no tile layer,
make no tile request, and are refused at /tiles. Every request stays on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import ROOT, Quiet, demo_database, require, serving, sign_in

pytestmark = pytest.mark.browser
require(
    [
        (Path("/usr/bin/chromium"), "install Debian's chromium"),
        (
            ROOT / "tryggkarta/static/vendor/leaflet-vector-tile-layer/VectorTileLayer.umd.min.js",
            "run `make assets` (python -m tryggkarta.maps.build_assets)",
        ),
    ],
    "vector tile browser tests",
)

POINTS = ".leaflet-tkTiles-pane svg.leaflet-tile circle.leaflet-interactive"
#: The centre of a drawn point that is on top where it is (not under a control or the legend).
VISIBLE_POINT = f"""() => {{
    for (const c of document.querySelectorAll('{POINTS}')) {{
        const r = c.getBoundingClientRect();
        const x = r.left + r.width / 2, y = r.top + r.height / 2;
        if (document.elementFromPoint(x, y) === c) {{ return [x, y]; }}
    }}
    return null;
}}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings, _db = demo_database(tmp_path_factory.mktemp("tiles-browser"), "tiles-test")
    with serving(settings.with_overrides(tile_url="none")) as url:
        yield url


class Session:
    """A signed-in page; every request recorded, anything not to 127.0.0.1 aborted."""

    def __init__(self, browser, server: str, username: str) -> None:
        self.context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="sv-SE")
        self.page = self.context.new_page()
        self.server = server
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.quiet = Quiet(self.page)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "console",
            lambda msg: (
                msg.type == "error"
                and "favicon" not in (msg.location or {}).get("url", "")
                and "Failed to load resource" not in msg.text
                and self.errors.append(msg.text)
            ),
        )
        sign_in(self.context, server, username)

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            self.requests.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def tiles(self) -> list[str]:
        return [u for u in self.requests if "/tiles/incidents/" in u]

    def map_name(self) -> str:
        return self.page.locator("[data-map]").get_attribute("data-map") or ""

    def wait_for(self, selector: str, more_than: int = 0, timeout: float = 15) -> int:
        # polled here: wait_for_function uses eval(), which the page's CSP forbids
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.page.locator(selector).count()
            if n > more_than:
                return n
            self.page.wait_for_timeout(100)
        return self.page.locator(selector).count()


def test_police_see_incident_tiles_drawn_with_popups_and_filters(browser, server: str) -> None:
    s = Session(browser, server, "polis")
    try:
        s.page.goto(server + "/?cat=klotter", wait_until="load")
        toggle = s.page.locator(
            ".leaflet-control-layers-overlays label", has_text="Enskilda händelser"
        ).locator("input")
        assert not toggle.is_checked()  # off until asked for: the cells layer is the overview
        assert s.tiles() == []
        toggle.check()
        m = s.map_name()
        s.page.evaluate(f"() => {m}.setZoom(14)")
        assert s.wait_for(POINTS, more_than=20) > 20  # every tile in view, not the first
        tiles = s.tiles()
        assert tiles and all("cat=klotter" in u for u in tiles)  # the page's filter on every tile
        assert all("/tiles/incidents/14/" in u for u in tiles[-4:])
        assert s.page.locator(".tk-legend", has_text="500 eller fler händelser per ruta").count()
        # a point's popup: category at once, reporter and description fetched by id
        with s.page.expect_response(lambda r: "/ogc/collections/incidents/items/" in r.url) as r:
            x, y = s.page.evaluate(VISIBLE_POINT)
            s.page.mouse.click(x, y)
        assert r.value.ok
        popup = s.page.locator(".leaflet-popup-content .tk-popup")
        deadline = time.monotonic() + 5
        while "Beskrivning" not in popup.inner_text() and time.monotonic() < deadline:
            s.page.wait_for_timeout(100)
        text = popup.inner_text()
        assert "Klotter" in text and "Beskrivning" in text
        s.page.keyboard.press("Escape")
        # further out: count cells (250 m at zoom 11), coloured by class, with a count popup
        s.page.evaluate(f"() => {m}.setZoom(11)")
        assert s.wait_for(POINTS) > 0
        deadline = time.monotonic() + 10
        while not [u for u in s.tiles() if "/tiles/incidents/11/" in u]:
            assert time.monotonic() < deadline
            s.page.wait_for_timeout(100)
        s.quiet.wait()
        fills = s.page.evaluate(
            f"() => Array.from(document.querySelectorAll('{POINTS}')).map(c => c.getAttribute('fill'))"
        )
        assert {"#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"} & set(fills)
        assert s.errors == []
        assert s.blocked == []
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in s.requests if "://" in u)
    finally:
        s.context.close()


@pytest.mark.parametrize("username", ["planerare", "grannsamverkan"])
def test_no_tiles_below_raw_detail(browser, server: str, username: str) -> None:
    s = Session(browser, server, username)
    try:
        s.page.goto(server + "/", wait_until="load")
        s.quiet.wait()
        assert s.page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() > 0
        assert (
            s.page.locator(
                ".leaflet-control-layers-overlays label", has_text="Enskilda händelser"
            ).count()
            == 0
        )
        assert s.page.locator(".leaflet-tkTiles-pane").count() == 0
        status = s.page.evaluate(
            "() => fetch('/tiles/incidents/13/4401/2450.mvt', {credentials: 'same-origin'})"
            ".then(r => r.status)"
        )
        assert status == 403
        assert [u for u in s.tiles() if "/tiles/incidents/" in u] == [
            server + "/tiles/incidents/13/4401/2450.mvt"
        ]  # only the one made by hand above
        assert s.errors == [] and s.blocked == []
    finally:
        s.context.close()


def test_a_region_s_page_draws_its_cells_from_tiles_and_never_asks_for_points(
    browser, server: str
) -> None:
    """A view wider than a county (a bbox over southern Sweden): the page's *Händelser per
    ruta* is drawn from the tiles (cells only); zoomed in to street level it still asks for
    the zoom-12 cell tiles, never a point tile, and nothing is audited as a raw read."""
    s = Session(browser, server, "polis")
    try:
        s.page.goto(server + "/?bbox=11.0,55.4,15.5,59.6&cat=klotter", wait_until="load")
        assert s.wait_for(POINTS) > 0  # cells at the region's zoom, shown without a click
        first = s.tiles()
        assert first and all("cat=klotter" in u for u in first)
        assert s.page.locator(".tk-legend", has_text="5 km, 1 km eller 250 m efter zoom").count()
        m = s.map_name()
        s.page.evaluate(f"() => {m}.setView([58.386, 13.438], 15)")  # central Skara
        deadline = time.monotonic() + 10
        while not [u for u in s.tiles() if "/tiles/incidents/12/" in u]:
            assert time.monotonic() < deadline
            s.page.wait_for_timeout(100)
        s.quiet.wait()
        assert s.wait_for(POINTS) > 0
        zooms = {int(u.split("/tiles/incidents/")[1].split("/")[0]) for u in s.tiles()}
        assert max(zooms) == 12, zooms
        assert s.errors == [] and s.blocked == []
    finally:
        s.context.close()
