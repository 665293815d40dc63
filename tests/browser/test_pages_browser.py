"""Every non-map page in headless Chromium: axe-core WCAG 2.1 AA, offline, no JS errors, keyboard.

Public pages (``/publik``, ``/login``, an anonymous share link, the 404 page, ``/publik?lang=en``)
must have zero axe violations (Swedish public sector: DOS-lagen, WCAG 2.1 AA). Staff pages
(``/lagesbild``, ``/projekt/<id>/kontroll``) are held to the same bar.

One browser and one server per module. Every request that is not to 127.0.0.1 is aborted.
``TK_SCREENSHOTS=1`` also writes the review screenshots to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

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

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "tryggkarta-demo"
WCAG = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']"
require(
    [
        (Path(CHROMIUM), "install Debian's chromium"),
        (AXE, "run `python -m tryggkarta.maps.build_assets`"),
    ],
    "page browser tests",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The demo app on 127.0.0.1, with one valid and one expired share link."""
    from sqlalchemy import select

    from tryggkarta.services import sharing
    from tryggkarta.store import SharedMap
    from tryggkarta.store.models import Project, User

    settings, db = demo_database(tmp_path_factory.mktemp("pages"), "browser-pages")
    with db.session() as s:
        owner = s.scalar(select(User).where(User.username == "kommun"))
        live = SharedMap(
            name="Trygghet i centrum",
            owner_id=owner.id,
            shared_roles=["police"],
            shared_orgs=[],
            public=False,
            config={"layers": ["incidents", "survey"]},
        )
        old = SharedMap(
            name="Gammal karta",
            owner_id=owner.id,
            shared_roles=[],
            shared_orgs=[],
            public=False,
            config={"layers": ["incidents"]},
        )
        s.add_all([live, old])
        s.flush()
        token = sharing.create_link(live, 7)
        expired = sharing.create_link(old, 1, now=datetime.now(UTC) - timedelta(days=3))
        project = s.scalar(select(Project.id).where(Project.name == "Belysning Gröna gången"))
        map_id = live.id
    # offline like a police network: no tile server (the maps draw their own context)
    with serving(settings.with_overrides(tile_url="none")) as url:
        yield {"url": url, "token": token, "expired": expired, "project": project, "map_id": map_id}


class Visitor:
    """One browser context (one user); aborts and records every non-local request."""

    def __init__(self, browser, base: str, user: str | None = None) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
        self.page = self.context.new_page()
        self.base = base
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("console", self._console)
        if user:
            sign_in(self.context, base, user, PASSWORD)

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, msg) -> None:
        # The error pages themselves answer 404/410: Chromium logs that as a console error.
        if msg.type == "error" and not msg.text.startswith(
            "Failed to load resource: the server responded with a status of 4"
        ):
            self.errors.append(msg.text)

    def open(self, path: str) -> int:
        response = self.page.goto(self.base + path, wait_until="load")
        return response.status if response else 0

    def axe(self) -> list[str]:
        """axe-core WCAG 2.0/2.1 A+AA violations on the current page, one readable line each."""
        inject_script(self.page, AXE)
        result = self.page.evaluate(
            f"async () => await axe.run(document, {{runOnly: {{type: 'tag', values: {WCAG}}}}})"
        )
        assert len(result["passes"]) > 5, "axe ran no rules"  # axe really ran
        return [
            f"{v['id']} ({v['impact']}): {v['help']} -> "
            + "; ".join(" ".join(n["target"]) for n in v["nodes"][:4])
            for v in result["violations"]
        ]

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def anonymous(browser, server) -> Iterator[Visitor]:
    v = Visitor(browser, server["url"])
    yield v
    v.close()


def check_page(v: Visitor, path: str, status: int = 200, map_page: bool = False) -> None:
    """``map_page``: the page draws a map, whose background tiles (the demo's tile server on
    the internet) the offline browser refuses — those, and only those, are forgiven."""
    assert v.open(path) == status, path
    violations = v.axe()
    assert not violations, f"axe WCAG 2.1 AA violations on {path}:\n  " + "\n  ".join(violations)
    if map_page:
        assert all("tile.openstreetmap.org" in url for url in v.blocked), v.blocked
        v.errors[:] = [e for e in v.errors if "net::ERR_FAILED" not in e]
        v.blocked.clear()
    assert v.errors == [], f"JavaScript errors on {path}: {v.errors}"
    assert v.blocked == [], f"requests leaving 127.0.0.1 from {path}: {v.blocked}"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/publik", 200),
        ("/login", 200),
        ("/finns-inte", 404),
        ("/publik?lang=en", 200),
    ],
)
def test_public_page_meets_wcag21aa(anonymous: Visitor, path: str, status: int) -> None:
    check_page(anonymous, path, status)
    anonymous.open("/publik?lang=sv")  # the language sticks in the session; reset it


def test_shared_link_anonymous_meets_wcag21aa_and_expired_link_is_410(
    anonymous: Visitor, server
) -> None:
    check_page(anonymous, f"/kartor/l/{server['token']}", map_page=True)  # a shared map is a map
    assert "Allmänheten" in anonymous.page.inner_text("main")  # a link never elevates
    assert anonymous.page.locator(".leaflet-container").count() == 1
    check_page(anonymous, f"/kartor/l/{server['expired']}", 410)
    assert anonymous.page.inner_text("h1").startswith("Länken har gått ut")


def test_english_public_page_reads_english(anonymous: Visitor) -> None:
    anonymous.open("/publik?lang=en")
    assert anonymous.page.get_attribute("html", "lang") == "en"
    text = anonymous.page.inner_text("main")
    assert "Share of unsafe answers" in text or "unsafe" in text.lower()
    for swedish in ("Andel otrygga", "Åtgärder", "Ladda ned"):
        assert swedish not in text
    anonymous.open("/publik?lang=sv")


def test_skip_link_is_first_tab_stop_and_moves_focus_to_main(anonymous: Visitor) -> None:
    for path in ("/publik", "/login"):
        anonymous.open(path)
        page = anonymous.page
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        assert page.locator(".skip-link").is_visible()  # visible when focused
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"


def test_staff_pages_meet_wcag21aa(browser, server) -> None:
    police = Visitor(browser, server["url"], "polis")
    try:
        check_page(police, "/lagesbild/")
        police.page.emulate_media(media="print")
        assert police.page.locator("nav.week-nav").is_hidden()
        assert police.page.locator(".site-header").is_hidden()
        police.page.emulate_media(media="screen")
    finally:
        police.close()
    planner = Visitor(browser, server["url"], "planerare")
    try:
        check_page(planner, f"/projekt/{server['project']}/kontroll")
        assert "Belysning Gröna gången" in planner.page.inner_text("h1")
    finally:
        planner.close()


def test_write_review_screenshots(browser, server, tmp_path) -> None:
    """Every reviewed page renders; with TK_SCREENSHOTS=1 into docs/screenshots (otherwise
    each must show text in its ``main``: pictures nobody looks at cost ``make test`` time)."""
    writing = os.environ.get("TK_SCREENSHOTS") == "1"
    target = SHOTS if writing else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    shown: list[str] = []

    def shot(v: Visitor, name: str, path: str | None = None, full: bool = True) -> None:
        if path:
            v.open(path)
        shown.append(name)
        if writing:
            v.page.screenshot(path=str(target / f"{name}.png"), full_page=full)
        else:
            assert v.page.locator("main").inner_text().strip(), name

    v = Visitor(browser, server["url"])
    shot(v, "publik", "/publik")
    shot(v, "publik-en", "/publik?lang=en")
    shot(v, "lank-utgangen", f"/kartor/l/{server['expired']}", full=False)
    v.close()
    v = Visitor(browser, server["url"], "polis")
    shot(v, "lagesbild", "/lagesbild/?lang=sv", full=False)
    v.page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    v.page.emulate_media(media="print")
    shot(v, "lagesbild-print", None, full=False)
    v.close()
    v = Visitor(browser, server["url"], "planerare")
    shot(v, "projekt-kontroll", f"/projekt/{server['project']}/kontroll")
    shot(v, "uppfoljning", "/projekt/uppfoljning", full=False)
    v.close()
    v = Visitor(browser, server["url"], "kommun")
    v.open("/import/")
    v.page.set_input_files(
        "#file", str(ROOT / "tests" / "data" / "ingest" / "est_skara_utf8bom.csv")
    )
    with v.page.expect_navigation():
        v.page.click("main form button[type=submit]")
    shot(v, "import-preview")
    v.close()
    v = Visitor(browser, server["url"], "admin")
    shot(v, "admin-logg", "/admin/logg", full=False)
    v.close()
    assert len(shown) >= 9
    if writing:
        shots = list(target.glob("*.png"))
        assert all(p.stat().st_size < 400_000 for p in shots)
