"""The public survey in headless Chromium on a phone (390×844): a resident tried as a new user.

One answer by pointer (a pin on the map and a district from the list), one by keyboard only,
the started answer surviving a reload, and axe-core WCAG 2.1 AA with zero violations on the
form, the form with errors and the thank-you page. ``TK_SCREENSHOTS=1`` writes the form and
the thank-you page to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.browser.conftest import AXE, CHROMIUM, ROOT, inject_script, require, serving

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
WCAG = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']"
PHONE = {"width": 390, "height": 844}
TILE_HOST = "tile.openstreetmap.org"  # the default background tiles, blocked in these tests
require(
    [
        (Path(CHROMIUM), "install Debian's chromium"),
        (AXE, "run `python -m tryggkarta.maps.build_assets`"),
    ],
    "survey browser tests",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The demo data (Skara) with an open campaign; background tiles are blocked (a closed
    network, as on police networks): the form must work without them."""
    from tryggkarta.config import load_settings
    from tryggkarta.demo import load_demo
    from tryggkarta.services import survey as sv
    from tryggkarta.store import Database

    folder = tmp_path_factory.mktemp("survey")
    settings = load_settings(
        {
            "database_url": f"sqlite:///{folder / 'tk.db'}",
            "instance_path": str(folder),
            "secret_key": "browser-survey",
        }
    )
    db = Database(settings)
    db.upgrade()
    load_demo(db)
    with db.session() as s:
        c = sv.create_campaign(
            s,
            title="Trygg i Skara",
            starts_on=date.today() - timedelta(days=1),
            ends_on=date.today() + timedelta(days=30),
            municipality_code="1495",
            area_ids=[],
            questions={"time_of_day": True, "weekday": False, "age_band": True, "gender": True},
        )
        sv.set_status(c, "open")
        s.commit()
        slug, campaign_id = c.slug, c.id
    with serving(settings) as url:
        yield {"url": url, "slug": slug, "campaign_id": campaign_id, "db": db}


class Resident:
    """A phone browser context; every request leaving 127.0.0.1 is aborted and recorded."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport=PHONE, locale="sv-SE", has_touch=False)
        self.page = self.context.new_page()
        self.base = base
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("console", self._console)

    def _console(self, msg: Any) -> None:
        # Blocked background tiles are logged as failed loads: not an error of the page.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def _route(self, route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname
        if host == "127.0.0.1" or url.startswith("data:"):
            route.continue_()
        else:
            if host != TILE_HOST:
                self.blocked.append(url)
            route.abort()

    def open(self, path: str) -> int:
        response = self.page.goto(self.base + path, wait_until="load")
        return response.status if response else 0

    def axe(self) -> list[str]:
        inject_script(self.page, AXE)
        result = self.page.evaluate(
            f"async () => await axe.run(document, {{runOnly: {{type: 'tag', values: {WCAG}}}}})"
        )
        assert len(result["passes"]) > 5, "axe ran no rules"
        return [
            f"{v['id']} ({v['impact']}): {v['help']} -> "
            + "; ".join(" ".join(n["target"]) for n in v["nodes"][:4])
            for v in result["violations"]
        ]

    def clean(self, where: str) -> None:
        violations = self.axe()
        assert not violations, f"axe violations on {where}:\n  " + "\n  ".join(violations)
        assert self.errors == [], f"JavaScript errors on {where}: {self.errors}"
        assert self.blocked == [], f"requests leaving 127.0.0.1 from {where}: {self.blocked}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def resident(browser: Any, server: dict) -> Iterator[Resident]:
    r = Resident(browser, server["url"])
    yield r
    r.close()


def answers(server: dict) -> int:
    from tryggkarta.store import SurveyResponse

    with server["db"].session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SurveyResponse)
                .where(SurveyResponse.campaign_id == server["campaign_id"])
            )
        )


def shot(page: Any, name: str) -> None:
    if os.environ.get("TK_SCREENSHOTS") == "1":
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_a_resident_answers_by_pointer(resident: Resident, server: dict) -> None:
    page = resident.page
    before = answers(server)
    assert resident.open(f"/enkat/{server['slug']}") == 200
    resident.clean("the survey form")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the form is {width} px wide on a 390 px phone"
    box = page.locator("#survey-map").bounding_box()
    assert box and box["width"] >= 350  # the map fills the phone's width
    page.locator("#survey-map").click()  # the middle of Skara
    assert page.locator("#pin-0 .pin-where").inner_text() == "Markerad på kartan."
    assert page.locator("input[name=pin-0-lat]").input_value() != ""
    page.locator("#h-places").scroll_into_view_if_needed()
    page.evaluate(
        "window.scrollBy(0, document.getElementById('h-places').getBoundingClientRect().top - 8)"
    )
    shot(page, "survey-form")
    page.get_by_label("2 – ganska otrygg").check()
    page.get_by_label("Dålig belysning").check()
    page.get_by_label("Kväll").check()
    page.get_by_label("Kommentar (valfri)").fill("Mörkt på gång- och cykelvägen")
    page.get_by_role("button", name="Lägg till en plats till").click()
    second = page.locator("#pin-1")
    assert page.evaluate("document.activeElement.id") == "pin-1-place"
    second.locator("select").select_option(index=1)
    second.get_by_label("4 – ganska trygg").check()
    page.get_by_label("Åldersgrupp").select_option("25-44")
    page.get_by_label("Jag har läst hur svaren används").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Skicka svaret").click()
    assert page.url.endswith(f"/enkat/{server['slug']}/tack")
    resident.clean("the thank-you page")
    shot(page, "survey-thanks")
    assert answers(server) == before + 2
    stored = page.evaluate("Object.keys(localStorage)")
    assert stored == [f"tryggkarta-survey-answered-{server['slug']}"]  # the draft is gone
    with page.expect_navigation():
        page.get_by_role("link", name="Svara igen om en annan plats").click()
    assert page.locator("#repeat").input_value() == "1"  # a second answer is flagged


def test_a_resident_answers_by_keyboard_only(resident: Resident, server: dict) -> None:
    page = resident.page
    before = answers(server)
    resident.open(f"/enkat/{server['slug']}")

    def tab_to(element_id: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("pin-0-place")
    page.keyboard.press("ArrowDown")  # the first named place
    assert page.locator("#pin-0-place").input_value() != ""
    tab_to("pin-0-rating-1")
    page.keyboard.press("ArrowRight")  # radio group: 2 – ganska otrygg
    assert page.locator("#pin-0-rating-2").is_checked()
    tab_to("pin-0-reasons-belysning")
    page.keyboard.press("Space")
    assert page.locator("#pin-0-reasons-belysning").is_checked()
    tab_to("consent")
    page.keyboard.press("Space")
    tab_to("survey-submit")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/tack")
    assert answers(server) == before + 1
    resident.clean("the thank-you page after a keyboard answer")


def test_errors_are_announced_and_tied_to_their_fields(resident: Resident, server: dict) -> None:
    page = resident.page
    before = answers(server)
    resident.open(f"/enkat/{server['slug']}")
    with page.expect_navigation():
        page.get_by_role("button", name="Skicka svaret").click()
    assert page.locator("#error-summary").is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    described = page.locator("#pin-0-place").get_attribute("aria-describedby")
    assert described == "err-pin-0-place"
    assert "Markera platsen på kartan" in page.locator("#err-pin-0-place").inner_text()
    resident.clean("the form with errors")
    assert answers(server) == before


def test_a_started_answer_survives_a_reload(resident: Resident, server: dict) -> None:
    page = resident.page
    resident.open(f"/enkat/{server['slug']}")
    submission = page.locator("#submission_id").input_value()
    page.locator("#survey-map").click()
    page.get_by_label("1 – mycket otrygg").check()
    page.get_by_label("Kommentar (valfri)").fill("Halvvägs")
    page.get_by_role("button", name="Lägg till en plats till").click()
    page.locator("#pin-1-place").select_option(index=2)
    page.reload(wait_until="load")
    assert page.locator("#pin-0-rating-1").is_checked()
    assert page.locator("#pin-0-comment").input_value() == "Halvvägs"
    assert page.locator("input[name=pin-0-lat]").input_value() != ""
    assert page.locator(".leaflet-marker-icon").count() == 1
    assert page.locator("#pin-1-place").input_value() != ""
    assert page.locator("#submission_id").input_value() == submission  # one answer, one id


def test_campaign_pages_meet_wcag21aa_for_the_municipality(browser: Any, server: dict) -> None:
    r = Resident(browser, server["url"])
    try:
        page = r.page
        page.set_viewport_size({"width": 1280, "height": 900})
        r.open("/login")
        page.fill("#username", "kommun")
        page.fill("#password", "tryggkarta-demo")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        page.goto("about:blank")
        r.blocked.clear()
        r.errors.clear()
        for path in ("/enkater/", f"/enkater/{server['campaign_id']}", "/enkater/granska"):
            assert r.open(path) == 200, path
            r.clean(path)
            if path.endswith(str(server["campaign_id"])):
                assert page.get_by_role("heading", name="Resultat").is_visible()
                page.get_by_role("heading", name="Resultat").scroll_into_view_if_needed()
                shot(page, "survey-results")
    finally:
        r.close()
