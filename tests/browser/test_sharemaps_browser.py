"""Saved maps, place search and drawing a project, in headless Chromium (offline).

A map saved with the map page's button opens for a recipient with the same filters, layers,
centre and zoom; the place search zooms to an imported place; a project drawn with
Leaflet-Geoman is saved and opens in Kontrollera projekt. ``TK_SCREENSHOTS=1`` writes the
screenshots to ``docs/screenshots/`` (otherwise to the test's temporary folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import AXE, CHROMIUM, ROOT, demo_database, require, serving
from tests.browser.test_pages_browser import Visitor

pytestmark = pytest.mark.browser
GEOMAN = ROOT / "tryggkarta" / "static" / "vendor" / "leaflet-geoman" / "leaflet-geoman.min.js"
require(
    [
        (Path(CHROMIUM), "install Debian's chromium"),
        (AXE, "run `python -m tryggkarta.maps.build_assets`"),
        (GEOMAN, "run `python -m tryggkarta.maps.build_assets`"),
    ],
    "saved-map browser tests",
)
MAP = "window[document.querySelector('[data-map]').dataset.map]"
PLACES = "namn;kategori;lat;lon\nStora torget;torg;58.3866;13.4385\nSkara domkyrka;kyrka;58.3862;13.4379\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tryggkarta.services import places

    folder = tmp_path_factory.mktemp("sharemaps")
    settings, db = demo_database(folder, "browser-sharemaps")
    csv = folder / "platser.csv"
    csv.write_text(PLACES, "utf-8")
    places.import_places(db, csv, "place")
    with serving(settings) as url:
        yield url


def problems(v: Visitor) -> list[str]:
    """Page errors, leaving out the background tiles the offline browser refuses (the demo's
    configured tile server is on the internet; every other request stays on 127.0.0.1)."""
    assert all("tile.openstreetmap.org" in url for url in v.blocked), v.blocked
    return [e for e in v.errors if "net::ERR_FAILED" not in e]


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return ROOT / "docs" / "screenshots" if os.environ.get("TK_SCREENSHOTS") else tmp_path


def test_save_button_and_the_recipient_opens_the_same_map(browser, server, shots) -> None:
    kommun = Visitor(browser, server, "kommun")
    try:
        kommun.open("/?cat=narkotika&from=2026-11-01&district=Centrum")
        page = kommun.page
        page.wait_for_function(f"() => {MAP} && {MAP}.getZoom() > 0")
        page.evaluate(f"() => {MAP}.setView([58.3866, 13.4385], 16)")
        page.click("#map-save summary")
        page.fill("#save-name", "Narkotika i Centrum")
        page.check("#map-save-form input[name=roles][value=police]")
        page.screenshot(path=str(shots / "spara-karta.png"))
        with page.expect_navigation():
            page.click("#map-save-form button[type=submit]")
        assert "/kartor/" in page.url
        map_path = page.url.split(server, 1)[1]
        assert problems(kommun) == []
    finally:
        kommun.close()
    polis = Visitor(browser, server, "polis")
    try:
        assert polis.open(map_path) == 200
        page = polis.page
        page.wait_for_function(f"() => {MAP} && {MAP}.getZoom() === 16")
        center = page.evaluate(f"() => {MAP}.getCenter()")
        assert abs(center["lat"] - 58.3866) < 1e-3 and abs(center["lng"] - 13.4385) < 1e-3
        assert page.is_checked("input[name=cat][value=narkotika]")
        assert page.eval_on_selector_all("input[name=cat]:checked", "els => els.length") == 1
        assert page.input_value("#f-from") == "2026-11-01"
        assert page.input_value("#district-search") == "Centrum"
        assert page.locator("h1").inner_text() == "Narkotika i Centrum"
        page.screenshot(path=str(shots / "delad-karta-mottagare.png"))
        assert problems(polis) == []
        assert polis.axe() == []
        polis.open("/kartor/")
        thumb = polis.page.locator("img.map-thumb").first
        polis.page.wait_for_function(
            "() => [...document.querySelectorAll('img.map-thumb')].every(i => i.complete)"
        )
        assert thumb.evaluate("img => img.naturalWidth") > 0
        polis.page.screenshot(path=str(shots / "delade-kartor-lista.png"))
        assert polis.axe() == []
    finally:
        polis.close()


def test_place_search_zooms_to_an_imported_place(browser, server) -> None:
    v = Visitor(browser, server, "kommun")
    try:
        v.open("/")
        page = v.page
        page.wait_for_function(f"() => {MAP} && {MAP}.getZoom() > 0")
        page.fill("#place-search", "stora")
        page.wait_for_selector("#place-results button")
        assert "Stora torget" in page.inner_text("#place-results")
        page.press("#place-search", "Enter")
        page.wait_for_function(f"() => {MAP}.getZoom() >= 17")
        center = page.evaluate(f"() => {MAP}.getCenter()")
        assert abs(center["lat"] - 58.3866) < 1e-3 and abs(center["lng"] - 13.4385) < 1e-3
        assert "/?" not in page.url.split(server, 1)[1]  # Enter picked, did not submit
        assert problems(v) == []
    finally:
        v.close()


def test_a_planner_draws_a_project_and_it_is_checked(browser, server, shots) -> None:
    v = Visitor(browser, server, "planerare")
    try:
        assert v.open("/projekt/nytt") == 200
        page = v.page
        page.wait_for_function("() => window.tryggkartaDrawMap && window.tryggkartaDrawMap.pm")
        page.evaluate("() => window.tryggkartaDrawMap.setView([58.3866, 13.4385], 16)")
        page.click(".leaflet-pm-icon-polygon")
        box = page.locator("#draw-map").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        corners = [(-90, -60), (90, -60), (90, 60), (-90, 60)]
        for dx, dy in corners:
            page.mouse.click(cx + dx, cy + dy)
            page.wait_for_timeout(150)
        page.mouse.click(cx + corners[0][0], cy + corners[0][1])  # close the ring
        page.wait_for_function("() => document.getElementById('project-geometry').value !== ''")
        assert "4" in page.inner_text("#draw-status")
        page.fill("#p-name", "Ritad park")
        page.select_option("#p-kind", "park")
        page.fill("#p-start", "2027-03-01")
        page.fill("#p-end", "2027-10-31")
        page.screenshot(path=str(shots / "rita-projekt.png"), full_page=True)
        assert v.axe() == []
        with page.expect_navigation():
            page.click("#project-form button[type=submit]")
        assert "/kontroll" in page.url
        assert "Ritad park" in page.inner_text("main")
        assert problems(v) == []
    finally:
        v.close()
