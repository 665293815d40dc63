"""Maps on the pages (issue 13.2): ``/publik``, the weekly picture and the project check in
Chromium, with the test basemap and without any, at 1366×900 and 390×844.

Every request that is not to 127.0.0.1 is aborted (a closed network). ``TK_SCREENSHOTS=1``
writes the screenshots to ``docs/screenshots/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser import test_basemap_browser as basemap_tests
from tests.browser.conftest import AXE, ROOT, inject_script, require, sign_in
from tests.browser.test_basemap_browser import DESKTOP, PHONE

# the demo app with the test MBTiles basemap / with none, and offline pages (shared fixtures)
demo = basemap_tests.demo
with_basemap = basemap_tests.with_basemap
without_basemap = basemap_tests.without_basemap
offline = basemap_tests.offline

pytestmark = pytest.mark.browser
require([(Path("/usr/bin/chromium"), "install Debian's chromium")], "browser tests")
PASSWORD = "tryggkarta-demo"
VIEWPORTS = [DESKTOP, PHONE]
IDS = ["desktop", "phone"]


def axe_violations(page) -> list:
    script = AXE if AXE.is_file() else ROOT / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        pytest.skip("axe-core is missing: run `make assets`")
    inject_script(page, script)
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [(x["id"], [n["target"] for n in x["nodes"]][:3]) for x in result["violations"]]


def _size(viewport: dict) -> str:
    return "phone" if viewport is PHONE else "desktop"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=IDS)
def test_public_page_is_a_map_on_the_local_basemap(
    offline, with_basemap: str, viewport: dict, tmp_path: Path
) -> None:
    v = offline(with_basemap, viewport)
    v.open("/publik")
    assert v.page.locator(".leaflet-tile-pane img.leaflet-tile-loaded").count() >= 4
    # survey release cells and the municipality/district outlines are drawn
    assert v.page.locator(".leaflet-overlay-pane path").count() > 20
    assert v.page.locator("details table tbody tr").count() > 0  # the text alternative
    assert v.blocked == [] and v.errors == []
    assert axe_violations(v.page) == []
    v.shoot(f"publik-basemap-{_size(viewport)}", tmp_path)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=IDS)
def test_public_page_without_a_basemap_names_the_districts(
    offline, without_basemap: str, viewport: dict, tmp_path: Path
) -> None:
    v = offline(without_basemap, viewport)
    v.open("/publik")
    assert v.page.locator(".leaflet-tile-pane img").count() == 0
    labels = v.page.locator(".leaflet-tooltip.tk-area-label")
    assert labels.count() >= 2 and labels.first.inner_text().strip()
    assert v.blocked == [] and v.errors == []
    assert axe_violations(v.page) == []
    v.shoot(f"publik-nobasemap-{_size(viewport)}", tmp_path)


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("path", ["/", "/publik"])
def test_on_a_phone_the_attribution_leaves_the_scale_bar_free(
    offline, with_basemap: str, path: str
) -> None:
    v = offline(with_basemap, PHONE)
    v.open(path)
    v.page.locator(".leaflet-control-scale").scroll_into_view_if_needed()
    scale = v.page.locator(".leaflet-control-scale").bounding_box()
    attribution = v.page.locator(".leaflet-control-attribution").bounding_box()
    legend = v.page.locator(".tk-legend").bounding_box()
    assert scale and attribution and legend
    assert not _overlap(scale, attribution)
    assert not _overlap(legend, attribution)


def login(v, user: str) -> None:
    """Sign ``v`` (an offline page) in as ``user`` of the demo data."""
    sign_in(v.context, v.server, user, PASSWORD)


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF Chromium printed (its page objects are plain dictionaries)."""
    import re

    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def test_the_weekly_picture_prints_to_at_most_two_a4_pages(
    offline, with_basemap: str, tmp_path: Path
) -> None:
    v = offline(with_basemap, DESKTOP)
    login(v, "polis")
    v.page.goto(v.server + "/lagesbild/", wait_until="load")
    assert v.errors == [] and v.blocked == []
    assert v.page.locator("svg.overview-map").count() == 1
    assert v.page.locator("svg.hotspot-map").count() == v.page.locator("section.hotspot").count()
    v.shoot("lagesbild-desktop", tmp_path, docs=False)
    v.page.set_viewport_size({"width": 680, "height": 1000})  # A4 less 15 mm margins
    v.page.emulate_media(media="print")
    v.page.screenshot(path=str(tmp_path / "lagesbild-print-full.png"), full_page=True)
    pdf = v.page.pdf(format="A4", print_background=True)
    (tmp_path / "lagesbild.pdf").write_bytes(pdf)
    assert 1 <= pdf_pages(pdf) <= 2, pdf_pages(pdf)


def _project_id(demo) -> int:
    from sqlalchemy import select

    from tryggkarta.store import Database, Project

    settings, _mbtiles = demo
    with Database(settings).session() as s:
        return int(s.scalar(select(Project.id).where(Project.name == "Belysning Gröna gången")))


@pytest.mark.parametrize(
    ("background", "viewport"),
    [("with", DESKTOP), ("with", PHONE), ("without", DESKTOP), ("without", PHONE)],
    ids=["basemap-desktop", "basemap-phone", "nobasemap-desktop", "nobasemap-phone"],
)
def test_the_project_check_shows_project_buffer_hot_spots_and_cells_on_one_map(
    offline,
    demo,
    with_basemap: str,
    without_basemap: str,
    background: str,
    viewport: dict,
    tmp_path: Path,
) -> None:
    server = with_basemap if background == "with" else without_basemap
    v = offline(server, viewport)
    login(v, "planerare")
    v.open(f"/projekt/{_project_id(demo)}/kontroll")
    layers = v.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    text = " ".join(layers)
    assert "Plan- och gestaltningsprojekt" in text and "Buffert" in text
    assert "Trygghetsundersökning per ruta" in text
    assert "Patrull" not in text  # a planner never sees police patrol hot spots
    assert v.page.locator(".leaflet-overlay-pane path").count() > 3
    assert v.blocked == [] and v.errors == []
    assert axe_violations(v.page) == []
    v.shoot(f"projekt-kontroll-{background}-{_size(viewport)}", tmp_path)
    legend = v.page.locator(".tk-legend").inner_text()
    assert "Händelser (patrull)" not in legend  # the legend names only what is drawn


@pytest.mark.parametrize(
    ("background", "viewport"),
    [("with", DESKTOP), ("with", PHONE), ("without", DESKTOP), ("without", PHONE)],
    ids=["basemap-desktop", "basemap-phone", "nobasemap-desktop", "nobasemap-phone"],
)
def test_the_weekly_picture_has_its_maps_on_every_screen(
    offline,
    with_basemap: str,
    without_basemap: str,
    background: str,
    viewport: dict,
    tmp_path: Path,
) -> None:
    v = offline(with_basemap if background == "with" else without_basemap, viewport)
    login(v, "polis")
    v.page.goto(v.server + "/lagesbild/", wait_until="load")
    overview = v.page.locator("svg.overview-map").bounding_box()
    assert overview and overview["width"] <= viewport["width"]
    names = v.page.locator("table.meeting tbody td:nth-child(2)").all_inner_texts()
    assert names and not [n for n in names if re.match(r"^[A-Za-z]+ ?\d|^[PE]\d+_", n)]
    assert v.page.locator("td.spark svg.sparkline").count() == len(names)
    # nothing wider than the screen but the scrollable tables
    wide = v.page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert wide
    assert v.blocked == [] and v.errors == []
    assert axe_violations(v.page) == []
    v.shoot(f"lagesbild-{background}-{_size(viewport)}", tmp_path)
