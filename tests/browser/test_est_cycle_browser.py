"""The EST cycle in headless Chromium on a phone (390×844), on the demo data: a reporter files
a report, then one without network that is sent once when the network returns; the measure
with an effect shows an estimate with an interval; the citizen promise's follow-up prints on
A4. axe-core WCAG 2.1 AA with zero violations on the report form. ``TK_SCREENSHOTS=1`` writes
screenshots to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
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
from tryggkarta.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
WCAG = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']"
PHONE = {"width": 390, "height": 844}
require(
    [
        (Path(CHROMIUM), "install Debian's chromium"),
        (AXE, "run `python -m tryggkarta.maps.build_assets`"),
    ],
    "EST cycle browser tests",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    settings, db = demo_database(tmp_path_factory.mktemp("est"), "browser-est")
    with serving(settings) as url:
        yield {"url": url, "db": db}


class User:
    """A logged-in phone browser; requests leaving 127.0.0.1 are aborted."""

    def __init__(self, browser: Any, base: str, username: str, **options: Any) -> None:
        self.context = browser.new_context(viewport=PHONE, locale="sv-SE", **options)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        sign_in(self.context, base, username, DEMO_PASSWORD)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            route.continue_()
        else:
            route.abort()

    def open(self, path: str) -> int:
        response = self.page.goto(self.base + path, wait_until="load")
        return response.status if response else 0

    def axe(self) -> list[str]:
        inject_script(self.page, AXE)
        result = self.page.evaluate(
            f"async () => await axe.run(document, {{runOnly: {{type: 'tag', values: {WCAG}}}}})"
        )
        return [
            f"{v['id']}: {v['help']} -> " + "; ".join(" ".join(n["target"]) for n in v["nodes"][:4])
            for v in result["violations"]
        ]


def shot(page: Any, name: str, full: bool = False) -> None:
    if os.environ.get("TK_SCREENSHOTS") == "1":
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def until(page: Any, expression: str, seconds: float = 15) -> None:
    """Wait for ``expression`` to be true (``wait_for_function`` evaluates a string, which the
    page's CSP refuses)."""
    for _ in range(int(seconds * 10)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after {seconds} s: {expression}")


def form_reports(server: dict) -> int:
    from tryggkarta.store import Incident

    with server["db"].session() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Incident).where(Incident.source_type == "form")
            )
        )


def test_a_reporter_files_a_report_online_and_offline(browser: Any, server: dict) -> None:
    user = User(browser, server["url"], "fastighet")
    page = user.page
    try:
        assert user.open("/rapport/") == 200
        violations = user.axe()
        assert not violations, "axe violations on /rapport:\n  " + "\n  ".join(violations)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the form is {width} px wide on a 390 px phone"
        page.set_viewport_size({"width": 360, "height": 740})  # the smallest phone asked for
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the form is {width} px wide on a 360 px phone"
        page.set_viewport_size(PHONE)
        n0 = form_reports(server)
        page.locator("#report-map").click()  # the middle of Skara
        assert page.locator("#place-status").inner_text() == "Platsen är markerad."
        page.get_by_label("Vad hände?").select_option("klotter")
        page.get_by_label("Kort beskrivning").fill("Klotter på busskuren vid Resecentrum")
        shot(page, "report-form")
        page.get_by_role("button", name="Skicka rapporten").click()
        until(page, "document.getElementById('report-status').textContent.includes('sparad')")
        assert form_reports(server) == n0 + 1
        assert page.locator("#category").input_value() == ""  # ready for the next report

        user.context.set_offline(True)
        page.locator("#report-map").click()
        page.get_by_label("Vad hände?").select_option("skadegorelse")
        page.get_by_label("Kort beskrivning").fill("Krossad lampa i cykelgaraget")
        page.get_by_role("button", name="Skicka rapporten").click()
        assert "Inte uppkopplad" in page.locator("#report-status").inner_text()
        assert page.locator("#report-queue li").count() == 1
        assert page.evaluate("JSON.parse(localStorage['tryggkarta-report-queue']).length") == 1
        shot(page, "report-offline", full=True)
        assert form_reports(server) == n0 + 1  # nothing reached the server
        user.context.set_offline(False)  # the "online" event sends the queue
        until(page, "JSON.parse(localStorage['tryggkarta-report-queue'] || '[]').length === 0")
        assert form_reports(server) == n0 + 2
        assert page.locator("#queue-box").is_hidden()
        page.reload()  # a reload does not send anything again
        page.wait_for_load_state("load")
        assert form_reports(server) == n0 + 2
        assert user.open("/rapport/mina") == 200
        assert "Krossad lampa i cykelgaraget" in page.content()
        assert user.errors == []
    finally:
        user.context.close()


def test_the_measure_shows_its_effect_and_the_promise_prints(browser: Any, server: dict) -> None:
    from tryggkarta.store import Intervention, Promise

    with server["db"].session() as s:
        measure = s.scalar(
            select(Intervention.id).where(Intervention.title.like("Fältassistenter%"))
        )
        promise = s.scalar(select(Promise.id).limit(1))
    user = User(browser, server["url"], "kommun")
    page = user.page
    try:
        assert user.open(f"/insatser/{measure}") == 200
        text = page.locator("main").inner_text()
        assert re.search(r"95 % intervall \d+,\d\d–\d+,\d\d", text), text[:2000]
        shot(page, "measure-effect")
        assert user.open(f"/medborgarloften/{promise}/uppfoljning") == 200
        assert "Kommunen lovar" in page.content()
        shot(page, "promise-follow-up", full=True)
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=False)
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        assert 1 <= pages <= 3, f"the follow-up prints on {pages} A4 pages"
        assert user.errors == []
    finally:
        user.context.close()


def test_the_group_decides_a_measure_marks_it_done_and_sees_its_effect(
    browser: Any, server: dict
) -> None:
    """Issue #15's done-when walk on a phone: in the weekly picture the group notes an action
    for the first hot spot and makes it a measure, fills in its kind and owner, marks it done,
    and its page shows the effect as an estimate with an interval."""
    from tryggkarta.store import Decision, Intervention

    user = User(browser, server["url"], "kommun")
    page = user.page
    try:
        assert user.open("/lagesbild/") == 200
        action = "Belysningen lagas och buskarna klipps"
        page.locator("#text-1").fill(action)
        shot(page, "weekly-decision")
        with page.expect_navigation():
            page.locator("#text-1").locator("xpath=..").get_by_role(
                "button", name="Spara åtgärd"
            ).click()
        assert "Åtgärden är sparad." in page.content()
        with server["db"].session() as s:
            decision = s.scalar(select(Decision).where(Decision.text == action))
            assert decision is not None and decision.municipality_code == "1495"
            decision_id = decision.id
        made = page.locator(f"form:has(input[name=decision_id][value='{decision_id}'])")
        with page.expect_navigation():
            made.get_by_role("button", name="Gör till insats").click()
        assert re.search(r"/insatser/\d+/andra$", page.url), page.url
        page.select_option("#kind", "belysning")
        page.select_option("#owner_org_id", label="Skara kommun")
        with page.expect_navigation():
            page.get_by_role("button", name="Spara insats").click()
        assert "Insatsen är sparad." in page.content()
        with page.expect_navigation():
            page.get_by_role("button", name="Markera som klar").click()
        text = page.locator("main").inner_text()
        assert "Insatsen är markerad som klar." in page.content()
        assert re.search(r"95 % intervall \d+,\d\d–\d+,\d\d", text), text[:2000]
        assert "Skillnad i skillnader (WDD)" in text
        with server["db"].session() as s:
            row = s.scalar(select(Intervention).where(Intervention.decision_id == decision_id))
            assert (row.status, row.measure, row.origin) == ("klar", "belysning", "decision")
            assert row.ended_at is not None
        shot(page, "decision-measure-effect", full=True)
        # the weekly picture now links the decision to its measure
        assert user.open("/lagesbild/") == 200
        assert page.get_by_role("link", name="Visa insatsen").count() >= 1
        assert user.errors == []
    finally:
        user.context.close()


def test_a_reporter_files_a_report_by_keyboard_only(browser: Any, server: dict) -> None:
    """Tab to *Använd min position* (the phone's position, granted), Enter; the category by
    arrow keys; the description typed; Enter on *Skicka rapporten*. No pointer at all."""
    user = User(
        browser,
        server["url"],
        "fritid",
        geolocation={"latitude": 58.3875, "longitude": 13.4385},
        permissions=["geolocation"],
    )
    page = user.page
    try:
        assert user.open("/rapport/") == 200
        n0 = form_reports(server)

        def tab_to(element_id: str) -> None:
            for _ in range(60):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.id") == element_id:
                    return
            raise AssertionError(f"#{element_id} is not reached by Tab")

        tab_to("use-position")
        page.keyboard.press("Enter")
        until(page, "document.getElementById('place-status').textContent.includes('markerad')")
        tab_to("category")
        page.keyboard.press("ArrowDown")  # the first category
        assert page.locator("#category").input_value() != ""
        tab_to("description")
        page.keyboard.type("Trasig belysning vid gångtunneln")
        tab_to("report-submit")
        page.keyboard.press("Enter")
        until(page, "document.getElementById('report-status').textContent.includes('sparad')")
        assert form_reports(server) == n0 + 1
        assert user.errors == []
    finally:
        user.context.close()
