"""The report pages' printable maps (issue 13.2) in Chromium at 1366×900 and 390×844: the
survey campaign, the project and promise follow-ups, the measure page, and the admin page for
named places — axe-core WCAG 2.1 AA, no request off 127.0.0.1, no script error, and each
follow-up printed to A4 PDF with its map. ``TK_SCREENSHOTS=1`` writes the screenshots to
``docs/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.browser.conftest import demo_database, require, serving
from tests.browser.test_basemap_browser import DESKTOP, PHONE, Offline
from tests.browser.test_pagemaps_browser import axe_violations, login, pdf_pages
from tests.test_places import PLACES_CSV

pytestmark = pytest.mark.browser
require([(Path("/usr/bin/chromium"), "install Debian's chromium")], "browser tests")
VIEWPORTS = [DESKTOP, PHONE]
IDS = ["desktop", "phone"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The demo data with a closed campaign of 27 answers (two published cells) and a measure
    with a place and a period; no background map (the report maps need none)."""
    import shapely
    from sqlalchemy import select

    from tests.test_survey_results import answer_many
    from tryggkarta.services import survey as sv
    from tryggkarta.services.measures import MeasureData, save_measure
    from tryggkarta.store import Promise

    folder = tmp_path_factory.mktemp("report-maps")
    settings, db = demo_database(folder, "report-maps")
    with db.session() as s:
        c = sv.create_campaign(
            s,
            title="Trygg i Skara",
            starts_on=date.today() - timedelta(days=40),
            ends_on=date.today() - timedelta(days=10),
            municipality_code="1495",
            area_ids=[],
            questions={"time_of_day": True, "weekday": False, "age_band": False, "gender": False},
        )
        s.flush()
        centre = (408_625.0, 6_472_625.0)
        spots = [(centre[0] + 9 * (i % 6), centre[1] + 9 * (i // 6)) for i in range(18)]
        answer_many(s, c, spots, tag="maps")
        more = [(centre[0] + 500 + 9 * (i % 4), centre[1] - 700 + 9 * (i // 4)) for i in range(9)]
        answer_many(s, c, more, rating=4, tag="maps-calm")
        c.status = "closed"
        measure = save_measure(
            s,
            MeasureData(
                kind="belysning",
                title="Ny belysning i gångtunneln",
                start=date(2026, 6, 1),
                end=date(2026, 8, 31),
                place=shapely.LineString([(408_990.0, 6_472_300.0), (409_110.0, 6_472_400.0)]),
            ),
        ).id
        promise = s.scalar(select(Promise.id).order_by(Promise.id).limit(1))
        campaign = c.id
    with serving(settings.with_overrides(tile_url="none")) as url:
        yield {"url": url, "campaign": campaign, "measure": measure, "promise": promise}


PAGES = {
    "enkat-karta": ("kommun", "/enkater/{campaign}", "svg.page-map-svg"),
    "projekt-uppfoljning": ("planerare", "/projekt/uppfoljning", "svg.page-map-svg"),
    "projekt-uppfoljning-polis": ("polis", "/projekt/uppfoljning", "svg.page-map-svg"),
    "medborgarlofte-karta": (
        "kommun",
        "/medborgarloften/{promise}/uppfoljning",
        "svg.page-map-svg",
    ),
    "insats-karta": ("polis", "/insatser/{measure}", ".leaflet-overlay-pane path"),
    "admin-platser": ("admin", "/admin/platser", "form[enctype]"),
}


def _open(browser, site: dict, key: str, viewport: dict) -> Offline:
    user, path, ready = PAGES[key]
    v = Offline(browser, site["url"], viewport)
    login(v, user)
    v.page.goto(site["url"] + path.format(**site), wait_until="load")
    v.page.wait_for_selector(ready, timeout=15_000)
    v.quiet.wait()
    return v


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=IDS)
@pytest.mark.parametrize("key", sorted(PAGES))
def test_report_maps_on_screen(browser, site: dict, key: str, viewport: dict, tmp_path) -> None:
    v = _open(browser, site, key, viewport)
    try:
        figure = v.page.locator("figure.page-map")
        if key.startswith("insats"):
            assert figure.is_hidden()  # the SVG is the print version; the screen has Leaflet
            v.page.locator(".map-inset").scroll_into_view_if_needed()
        elif key != "admin-platser":
            figure.scroll_into_view_if_needed()
            box = v.page.locator("svg.page-map-svg").bounding_box()
            assert box and box["width"] <= viewport["width"] and box["height"] > 150
            assert v.page.locator(".map-key li").count() >= 2
        wide = v.page.evaluate(
            "() => document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
        assert wide, "the page is wider than the screen"
        assert v.blocked == [] and v.errors == []
        assert axe_violations(v.page) == []
        size = "phone" if viewport is PHONE else "desktop"
        v.shoot(f"{key}-{size}", tmp_path)
    finally:
        v.close()


def test_the_admin_previews_a_places_file(browser, site: dict, tmp_path: Path) -> None:
    for viewport in VIEWPORTS:
        v = _open(browser, site, "admin-platser", viewport)
        try:
            src = tmp_path / "platser.csv"
            src.write_text(PLACES_CSV, "utf-8")
            v.page.set_input_files("#file", str(src))
            with v.page.expect_navigation():
                v.page.get_by_role("button", name="Förhandsgranska").click()
            assert "4 platser (Namngivna platser) kan importeras" in v.page.inner_text("main")
            assert v.page.locator("svg.places-preview").is_visible()
            v.page.locator("svg.places-preview").scroll_into_view_if_needed()
            assert axe_violations(v.page) == []
            size = "phone" if viewport is PHONE else "desktop"
            v.shoot(f"admin-platser-forhandsgranska-{size}", tmp_path)
        finally:
            v.close()


@pytest.mark.parametrize(
    ("key", "most"),
    [
        ("projekt-uppfoljning", 2),
        ("medborgarlofte-karta", 3),
        ("insats-karta", 3),
        ("enkat-karta", 4),
    ],
)
def test_the_report_pages_print_their_map_on_a4(
    browser, site: dict, key: str, most: int, tmp_path: Path
) -> None:
    v = _open(browser, site, key, DESKTOP)
    try:
        v.page.set_viewport_size({"width": 680, "height": 1000})  # A4 less 15 mm margins
        v.page.emulate_media(media="print")
        svg = v.page.locator("figure.page-map svg.page-map-svg")
        assert svg.is_visible()
        box = svg.bounding_box()
        assert box and box["width"] <= 680
        assert v.page.locator(".leaflet-container:visible").count() == 0 or key == "enkat-karta"
        v.page.screenshot(path=str(tmp_path / f"{key}-print.png"), full_page=True)
        pdf = v.page.pdf(format="A4", print_background=True)
        (tmp_path / f"{key}.pdf").write_bytes(pdf)
        assert 1 <= pdf_pages(pdf) <= most, pdf_pages(pdf)
    finally:
        v.close()
