"""The start page in headless Chromium: renders offline, toggles, filters, popups, axe, screenshots.

One browser and one server per module. Every request that is not to 127.0.0.1 is aborted
(tiles included): the map must still draw its vectors, legend and controls.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import (
    AXE,
    ROOT,
    demo_database,
    inject_script,
    require,
    serving,
    sign_in,
)

pytestmark = pytest.mark.browser
AXE_NODE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
require([(Path("/usr/bin/chromium"), "install Debian's chromium")], "browser tests")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tryggkarta.services.forecast import forecast_layer
    from tryggkarta.store import Filters

    settings, db = demo_database(tmp_path_factory.mktemp("browser"), "browser-test")
    forecast_layer(
        db, Filters()
    )  # as `tryggkarta demo` does: the default hotspot layer is on the page
    with serving(settings) as url:
        yield url


class Visit:
    """A page with every non-local request aborted and JavaScript errors collected."""

    def __init__(self, browser, server: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="sv-SE")
        self.page = self.context.new_page()
        self.server = server
        self.local: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "console",
            lambda msg: (
                msg.type == "error"
                and "Failed to load resource" not in msg.text
                and self.errors.append(msg.text)
            ),
        )

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            self.local.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, path: str = "/") -> None:
        self.page.goto(self.server + path, wait_until="load")
        self.page.wait_for_selector(
            ".leaflet-overlay-pane path.leaflet-interactive", timeout=10_000
        )

    def paths(self) -> int:
        return self.page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()

    def login(self, username: str) -> None:
        sign_in(self.context, self.server, username)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, server: str) -> Iterator[Visit]:
    v = Visit(browser, server)
    yield v
    v.close()


def test_map_renders_offline_with_vectors_legend_and_controls(visit: Visit) -> None:
    visit.open("/")
    page = visit.page
    assert page.locator(".leaflet-container").count() == 1
    assert visit.paths() > 20
    assert page.locator(".tk-legend details:not([hidden])").count() >= 3
    assert page.locator(".leaflet-control-layers-overlays input[type=checkbox]").count() >= 5
    assert page.locator(".leaflet-control-zoom-in").is_visible()
    assert visit.errors == []
    assert visit.local and all(urlsplit(u).hostname == "127.0.0.1" for u in visit.local)
    assert {urlsplit(u).hostname for u in visit.blocked} <= {"tile.openstreetmap.org"}


def test_default_hotspot_layer_is_drawn_with_its_method_and_pai(visit: Visit) -> None:
    visit.open("/")
    page = visit.page
    legend = page.locator(".tk-legend").inner_text()
    assert "Brännpunkter (prognos)" in legend and "PAI" in legend
    overlay = page.locator(".leaflet-control-layers-overlays label", has_text="(prognos)")
    assert overlay.locator("input").is_checked()
    assert page.locator("path[stroke='#111111']").count() > 0  # the forecast cells' outlines
    assert visit.errors == []


def test_layer_toggle_hides_and_shows_paths(visit: Visit) -> None:
    visit.open("/")
    before = visit.paths()
    box = visit.page.locator(
        ".leaflet-control-layers-overlays label", has_text="Händelser per ruta"
    ).locator("input")
    box.uncheck()
    hidden = visit.paths()
    assert hidden < before
    legend = visit.page.locator(
        ".tk-legend details",
        has=visit.page.locator("summary", has_text=re.compile(r"^Händelser per ruta$")),
    )
    assert legend.is_hidden()
    box.check()
    assert visit.paths() == before and legend.is_visible()


def test_filter_form_shows_fewer_cells(visit: Visit) -> None:
    """The public form offers the fixed releases: a category group gives fewer cells."""
    visit.open("/?layers=incidents")
    before = visit.paths()
    assert visit.page.locator("input[name=cat]").count() == 0  # ad-hoc filters: raw roles only
    visit.page.select_option("#f-group", "ordning")
    visit.page.click("#map-filters button[type=submit]")
    visit.page.wait_for_url("**grupp=ordning**")
    visit.page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
    assert 0 < visit.paths() < before
    assert visit.page.input_value("#f-group") == "ordning"


def test_popup_opens_on_a_cell(visit: Visit) -> None:
    visit.open("/?layers=incidents")
    visit.page.evaluate("""() => {
        const path = document.querySelector('.leaflet-overlay-pane path.leaflet-interactive');
        path.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: 1, clientY: 1}));
    }""")
    popup = visit.page.locator(".leaflet-popup-content .tk-popup")
    popup.wait_for(timeout=5000)
    assert "Händelser i rutan" in popup.inner_text() and "Antal händelser" in popup.inner_text()
    assert visit.errors == []


def test_hotspot_layer_loads_when_switched_on(visit: Visit) -> None:
    visit.open("/")
    before = visit.paths()
    with visit.page.expect_response(lambda r: "/api/hotspots/gistar" in r.url) as resp:
        visit.page.locator(
            ".leaflet-control-layers-overlays label", has_text="Brännpunkter (Gi*)"
        ).locator("input").check()
    assert resp.value.ok
    # polled from here: wait_for_function evaluates its text with eval(), which the app's
    # Content-Security-Policy forbids (it failed whenever the first check came too early)
    deadline = time.monotonic() + 10
    while visit.paths() <= before and time.monotonic() < deadline:
        visit.page.wait_for_timeout(100)
    assert visit.paths() > before
    assert visit.errors == []


def test_browser_built_popups_are_text_only(visit: Visit) -> None:
    visit.open("/?layers=incidents")
    html = visit.page.evaluate("""() => {
        const evil = "<img src=x onerror=alert(1)><script>alert(2)</script>";
        const box = tryggkarta.templatePopup(
            {count: 3, kind: evil, categories: [[evil, 2]]},
            {lang: "sv", lookups: {}, popup: {title: evil, rows: [["Typ", "kind", "text"], ["Antal", "count", "int"]],
             lists: [[evil, "categories", {map: "category", pattern: "{label}: {n}"}]]}});
        return [box.querySelectorAll("img, script").length, box.textContent];
    }""")
    assert html[0] == 0 and "<script>alert(2)</script>" in html[1]


def test_public_start_page_passes_axe_wcag21aa(visit: Visit) -> None:
    script = AXE if AXE.is_file() else AXE_NODE
    if not script.is_file():
        pytest.skip(
            "axe-core is missing: run `make assets` (python -m tryggkarta.maps.build_assets)"
        )
    visit.open("/")
    inject_script(visit.page, script)
    result = visit.page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    violations = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
    ]
    assert violations == []


def test_screenshots_police_and_public(visit: Visit, tmp_path) -> None:
    """Screenshots render; with TK_SCREENSHOTS=1 they refresh docs/screenshots (a test run leaves the tree clean)."""

    out = ROOT / "docs" / "screenshots" if os.environ.get("TK_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    visit.open("/")
    visit.page.screenshot(path=str(out / "start-public.png"))
    visit.login("polis")
    visit.open("/")
    assert (
        visit.page.locator(
            ".leaflet-control-layers-overlays label", has_text="Enskilda händelser"
        ).count()
        == 1
    )
    visit.page.screenshot(path=str(out / "start-police.png"))
    assert visit.errors == []
    assert (out / "start-public.png").stat().st_size > 20_000
