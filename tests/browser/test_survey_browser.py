"""The public survey in headless Chromium on a phone (390×844): a resident tried as a new user.

One answer by pointer (a pin on the map and a district from the list), one by keyboard only
(a district from the list and a place typed and chosen from the suggestions), a typed address
found by the server, one with a walking route drawn on the map, the started answer surviving
a reload and an answer sent offline going when the network returns, a closed campaign's
public result, and axe-core WCAG 2.1 AA with zero violations on every public survey page: the
form (with suggestions, errors, a route, offline), the thank-you page, the result (Swedish and
English) and the closed, not-yet-open and unknown links. ``TK_SCREENSHOTS=1`` writes the form,
the typed place, the route, the thank-you page, the staff results and the public result to
``docs/screenshots/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.browser.conftest import (
    AXE,
    CHROMIUM,
    ROOT,
    demo_database,
    inject_script,
    require,
    serving,
    sign_in,
)
from tests.test_survey_results import answer_many
from tests.test_survey_service import lonlat, parse, pin_form

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
WCAG = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']"
PHONE = {"width": 390, "height": 844}
#: Named places and a street address for the typed alternative to a pin (the demo has none).
PLACES = (
    "namn;kategori;lat;lon\n"
    "Stora torget;torg;58.3866;13.4385\n"
    "Skara domkyrka;kyrka;58.3862;13.4379\n"
    "Skolgatan 3;adress;58.3851;13.4402\n"
)
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
    from tryggkarta.services import survey as sv

    folder = tmp_path_factory.mktemp("survey")
    settings, db = demo_database(folder, "browser-survey")
    from tryggkarta.services import places

    names = folder / "platser.csv"  # invented names at points of Skara's centre
    names.write_text(PLACES, "utf-8")
    places.import_places(db, names, "place")
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
        done = sv.create_campaign(
            s,
            title="Trygg i Skara i fjol",
            starts_on=date.today() - timedelta(days=400),
            ends_on=date.today() - timedelta(days=370),
            municipality_code="1495",
            area_ids=[],
            questions={"time_of_day": True, "weekday": False, "age_band": False, "gender": False},
        )
        s.flush()
        centre = (408_625.0, 6_472_625.0)  # Skara's centre, inside one release cell
        spots = [(centre[0] + 9 * (i % 6), centre[1] + 9 * (i // 6)) for i in range(18)]
        spots += [(centre[0] + 500 + 9 * (i % 4), centre[1] - 700 + 9 * (i // 4)) for i in range(9)]
        answer_many(s, done, spots, tag="done")
        # A walking route of its own, so that the staff page's route map does not depend on
        # another test (xdist may run that one on another worker, with another server).
        lon, lat = lonlat(centre)
        route = json.dumps([[lat, lon], [lat + 0.002, lon + 0.003]])
        form = pin_form({"lat": lat, "lon": lon, "rating": 2}, route=route)
        sv.store_answer(s, c, parse(s, c, form))
        done.status = "closed"
        draft = sv.create_campaign(
            s,
            title="Trygg i Skara nästa år",
            starts_on=date.today() + timedelta(days=60),
            ends_on=date.today() + timedelta(days=90),
            municipality_code="1495",
            area_ids=[],
            questions={},
        )
        sv.set_status(draft, "open")  # opened ahead: the posters are up before it starts
        s.commit()
        slug, campaign_id, closed_slug = c.slug, c.id, done.slug
        draft_slug = draft.slug
    with serving(settings) as url:
        yield {
            "url": url,
            "slug": slug,
            "campaign_id": campaign_id,
            "closed_slug": closed_slug,
            "draft_slug": draft_slug,
            "db": db,
        }


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
    # a second place, typed: the accessible alternative to tapping the map
    tab_to("add-pin")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "pin-1-place"
    tab_to("pin-1-address")
    page.keyboard.type("stora tor")
    page.wait_for_selector("#pin-1-address-results button")
    assert "Stora torget" in page.locator("#pin-1-address-results").inner_text()
    resident.clean("the form with place suggestions")
    page.evaluate(
        "window.scrollBy(0, document.getElementById('pin-1-address')"
        ".getBoundingClientRect().top - 330)"
    )
    shot(page, "survey-address")
    page.keyboard.press("Enter")  # the first suggestion; Enter here never sends the form
    assert page.locator("#pin-1 .pin-where").inner_text() == "Vald plats: Stora torget."
    assert page.locator("input[name=pin-1-lat]").input_value().startswith("58.386")
    assert page.evaluate("document.activeElement.id") == "pin-1-address"
    tab_to("pin-1-rating-1")
    page.keyboard.press("Space")
    tab_to("consent")
    page.keyboard.press("Space")
    tab_to("survey-submit")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/tack")
    assert answers(server) == before + 2
    resident.clean("the thank-you page after a keyboard answer")


def test_a_typed_address_without_a_choice_is_found_by_the_server(
    resident: Resident, server: dict
) -> None:
    page = resident.page
    before = answers(server)
    resident.open(f"/enkat/{server['slug']}")
    page.get_by_label("Eller skriv en adress eller en plats").fill("Kvarngatan 99")
    page.get_by_label("3 – varken eller").check()
    page.get_by_label("Jag har läst hur svaren används").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Skicka svaret").click()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    field = page.locator("#pin-0-address")
    assert field.get_attribute("aria-invalid") == "true"
    assert "err-pin-0-address" in field.get_attribute("aria-describedby")
    assert "ingen adress eller plats" in page.locator("#err-pin-0-address").inner_text()
    resident.clean("the form with an address that was not found")
    field.fill("Skolgatan 3")  # typed in full, no suggestion chosen: the server finds it
    with page.expect_navigation():
        page.get_by_role("button", name="Skicka svaret").click()
    assert page.url.endswith("/tack")
    assert answers(server) == before + 1


def test_an_answer_sent_offline_goes_when_the_network_returns(
    resident: Resident, server: dict
) -> None:
    page = resident.page
    before = answers(server)
    resident.open(f"/enkat/{server['slug']}")
    page.locator("#survey-map").click()
    page.get_by_label("2 – ganska otrygg").check()
    page.get_by_label("Jag har läst hur svaren används").check()
    resident.context.set_offline(True)
    page.get_by_role("button", name="Skicka svaret").click()
    status = page.locator("#send-status")
    assert status.is_visible() and "Du är inte uppkopplad" in status.inner_text()
    assert answers(server) == before
    resident.clean("the form offline")
    with page.expect_navigation():
        resident.context.set_offline(False)
    assert page.url.endswith("/tack")
    assert answers(server) == before + 1


@pytest.mark.parametrize(
    ("which", "status", "heading"),
    [
        ("closed_slug", 410, "Trygg i Skara i fjol"),
        ("draft_slug", 403, "Trygg i Skara nästa år"),
        (None, 404, "Sidan finns inte"),
    ],
)
def test_closed_not_yet_open_and_unknown_links_are_clear_and_accessible(
    resident: Resident, server: dict, which: str | None, status: int, heading: str
) -> None:
    slug = server[which] if which else "AbCdEfGhIjKl"
    assert resident.open(f"/enkat/{slug}") == status
    assert resident.page.get_by_role("heading", level=1).inner_text() == heading
    text = resident.page.locator("main").inner_text()
    assert {
        410: "stängd och tar inte emot fler svar",
        403: "Enkäten öppnar den",
        404: "Det finns ingen enkät med den här länken.",
    }[status] in text
    resident.clean(f"the {status} page of a survey link")


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
        sign_in(r.context, server["url"], "kommun")
        for path in ("/enkater/", f"/enkater/{server['campaign_id']}", "/enkater/granska"):
            assert r.open(path) == 200, path
            r.clean(path)
            if path.endswith(str(server["campaign_id"])):
                assert page.get_by_role("heading", name="Resultat").is_visible()
                page.evaluate(
                    "window.scrollBy(0, document.getElementById('h-results')"
                    ".getBoundingClientRect().top - 8)"
                )
                shot(page, "survey-results")
    finally:
        r.close()


def test_a_resident_draws_a_walking_route(resident: Resident, server: dict) -> None:
    from tryggkarta.store import SurveyResponse

    page = resident.page
    resident.open(f"/enkat/{server['slug']}")
    page.get_by_role("button", name="Rita gångväg").click()
    assert page.locator("#route-draw").get_attribute("aria-pressed") == "true"
    assert "Tryck på kartan" in page.locator("#route-status").inner_text()
    box = page.locator("#survey-map").bounding_box()
    assert box
    for dx, dy in ((-60, 40), (0, 0), (50, -30)):
        page.locator("#survey-map").click(
            position={"x": box["width"] / 2 + dx, "y": box["height"] / 2 + dy}
        )
    assert len(json.loads(page.locator("#route").input_value())) == 3
    assert page.locator("#route-status").inner_text() == "Gångvägen har 3 punkter."
    assert page.locator("path.leaflet-interactive, .leaflet-overlay-pane path").count() >= 2
    page.get_by_role("button", name="Klar").click()  # back to placing pins
    assert page.locator("#route-draw").get_attribute("aria-pressed") == "false"
    page.locator("#survey-map").click()
    assert page.locator("input[name=pin-0-lat]").input_value() != ""
    page.get_by_role("button", name="Ångra senaste punkten").click()
    assert len(json.loads(page.locator("#route").input_value())) == 2
    page.evaluate(
        "window.scrollBy(0, document.getElementById('survey-map').getBoundingClientRect().top - 8)"
    )
    shot(page, "survey-route")
    resident.clean("the form with a walking route")
    page.get_by_label("1 – mycket otrygg").check()
    page.get_by_label("Jag har läst hur svaren används").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Skicka svaret").click()
    assert page.url.endswith("/tack")
    with server["db"].session() as s:
        route = s.scalar(
            select(SurveyResponse.route_wkb)
            .where(SurveyResponse.route_wkb.is_not(None))
            .order_by(SurveyResponse.id.desc())
        )
    import shapely

    line = shapely.from_wkb(route)
    assert line.geom_type == "LineString" and len(line.coords) == 2


def test_a_closed_campaigns_result_is_public_and_accessible(
    resident: Resident, server: dict
) -> None:
    page = resident.page
    assert resident.open(f"/enkat/{server['closed_slug']}") == 410
    with page.expect_navigation():
        page.get_by_role("link", name="Se resultatet av enkäten").click()
    assert page.url.endswith(f"/enkat/{server['closed_slug']}/resultat")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Resultat")
    text = page.locator("main").inner_text()
    assert "Omkring 25 platser markerades i enkäten." in text  # 27 rounded to a multiple of 5
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the result is {width} px wide on a 390 px phone"
    resident.clean("the public result")
    shot(page, "survey-public-result")
    resident.open(f"/enkat/{server['closed_slug']}/resultat?lang=en")
    assert "About 25 places were marked" in page.locator("main").inner_text()
    resident.clean("the public result in English")


def test_staff_draw_a_campaign_area(browser: Any, server: dict) -> None:
    r = Resident(browser, server["url"])
    try:
        page = r.page
        page.set_viewport_size({"width": 1280, "height": 900})
        sign_in(r.context, server["url"], "kommun")
        r.open("/enkater/")
        area = page.locator("#area-map")
        area.scroll_into_view_if_needed()
        box = area.bounding_box()
        assert box
        for dx, dy in ((-40, -40), (40, -40), (40, 40), (-40, 40)):
            area.click(position={"x": box["width"] / 2 + dx, "y": box["height"] / 2 + dy})
        lines = page.locator("#area_polygon").input_value().splitlines()
        assert len(lines) == 4 and all(len(line.split(",")) == 2 for line in lines)
        page.get_by_role("button", name="Ångra senaste hörnet").click()
        assert len(page.locator("#area_polygon").input_value().splitlines()) == 3
        page.get_by_label("Rubrik").fill("Ritat område i centrum")
        page.get_by_label("Sista dag (enkäten stängs automatiskt efter den)").fill(
            (date.today() + timedelta(days=20)).isoformat()
        )
        with page.expect_navigation():
            page.get_by_role("button", name="Skapa enkät").click()
        assert "Ritat område" in page.locator("main").inner_text()
        r.clean("a campaign with a drawn area")
        r.open(f"/enkater/{server['campaign_id']}")  # the fixture's walking route
        assert page.locator("#route-map").is_visible()
        assert page.locator("#route-map path").count() >= 2  # the area and the route
        r.clean("a campaign page with walking routes")
    finally:
        r.close()
