"""Screenshot gallery (issue #13): every page of the app, desktop (1366×900) and phone
(390×844), on a test raster MBTiles basemap and without any background.

One browser; the demo data behind two servers (the background is a server setting: one with
the basemap built here, one with none); one browser context per screen size, signed in as
each role in turn. Every page must load without JavaScript or console errors, and no
request may leave 127.0.0.1. ``TK_SCREENSHOTS=1`` writes the screenshots to
``docs/screenshots/gallery/<page>-<width>-<basemap|nobasemap>.png`` (squeezed with
``pngquant`` when it is installed) for the README's table; otherwise no picture is taken
(each page must still show text in its ``main``), which keeps ``make test`` within its time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.browser.conftest import (
    CHROMIUM,
    ROOT,
    Quiet,
    demo_database,
    require,
    serving,
    sign_in,
)
from tests.browser.test_basemap_browser import tiles_for
from tests.test_basemap import make_mbtiles

pytestmark = pytest.mark.browser
require([(Path(CHROMIUM), "install Debian's chromium")], "screenshot gallery")

GALLERY = ROOT / "docs" / "screenshots" / "gallery"
PASSWORD = "tryggkarta-demo"
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
MAP = "window[document.querySelector('[data-map]').dataset.map]"
POINTS = ".leaflet-tkTiles-pane circle.leaflet-interactive"
TILES_ON = """() => Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
    .find((l) => l.textContent.includes('Enskilda händelser')).querySelector('input').click()"""


@dataclass(frozen=True)
class Page:
    """One gallery page: file name stem, who looks at it, and where."""

    name: str
    user: str | None
    path: str
    #: the page draws a Leaflet map (wait for it to be drawn)
    map: bool = False
    #: switch the vector-tile layer of raw incidents on (the police map)
    tiles: bool = False


def pages(ids: dict) -> list[Page]:
    """Every page of the app, grouped by user (one sign-in per user and screen size)."""
    return [
        Page("karta-publik", None, "/", map=True),
        Page("publik", None, "/publik", map=True),
        Page("inloggning", None, "/login"),
        Page("enkat", None, f"/enkat/{ids['slug']}", map=True),
        Page("enkat-resultat", None, f"/enkat/{ids['closed_slug']}/resultat"),  # SVG map
        Page("karta-polis", "polis", "/", map=True, tiles=True),
        Page("lagesbild", "polis", "/lagesbild/"),  # SVG maps (printable)
        Page("insatser", "polis", "/insatser/"),
        Page("medborgarloften", "polis", "/medborgarloften/"),
        Page("projekt-kontroll", "planerare", f"/projekt/{ids['project']}/kontroll", map=True),
        Page("projekt-rita", "planerare", "/projekt/nytt", map=True),
        Page("delade-kartor", "kommun", "/kartor/"),
        Page("delad-karta", "kommun", f"/kartor/{ids['map_id']}", map=True),
        Page("kampanj", "kommun", f"/enkater/{ids['campaign_id']}", map=True),
        Page("rapport", "fastighet", "/rapport/", map=True),
        Page("admin", "admin", "/admin/"),
    ]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The demo data with an open and a closed survey campaign and a saved map, served with
    the test basemap and without any background."""
    from sqlalchemy import select

    from tests.test_survey_results import answer_many
    from tests.test_survey_service import lonlat, parse, pin_form
    from tryggkarta.geo import to_wgs84
    from tryggkarta.services import survey as sv
    from tryggkarta.services.sharing import config_from_query
    from tryggkarta.store import Filters, SharedMap, extent
    from tryggkarta.store.models import Project, User

    folder = tmp_path_factory.mktemp("gallery")
    settings, db = demo_database(folder, "browser-gallery")
    box = extent(db, "areas", Filters())
    lon, lat = to_wgs84(np.array([box[0], box[2]]), np.array([box[1], box[3]]), db.srid)
    bounds = (float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
    mbtiles = make_mbtiles(
        folder / "kommun.mbtiles", tiles_for(bounds, range(9, 15)), minzoom="9", maxzoom="14"
    )
    with db.session() as s:
        open_c = sv.create_campaign(
            s,
            title="Trygg i Skara",
            starts_on=date.today() - timedelta(days=1),
            ends_on=date.today() + timedelta(days=30),
            municipality_code="1495",
            area_ids=[],
            questions={"time_of_day": True, "weekday": False, "age_band": True, "gender": True},
        )
        sv.set_status(open_c, "open")
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
        centre = (408_625.0, 6_472_625.0)  # Skara's centre
        spots = [(centre[0] + 9 * (i % 6), centre[1] + 9 * (i // 6)) for i in range(18)]
        spots += [(centre[0] + 500 + 9 * (i % 4), centre[1] - 700 + 9 * (i // 4)) for i in range(9)]
        answer_many(s, done, spots, tag="gallery")
        answer_many(s, open_c, spots[:12], tag="gallery-open")
        # a walking route, so that the campaign page shows its route map
        lon, lat = lonlat(centre)
        form = pin_form(
            {"lat": lat, "lon": lon, "rating": 2},
            route=json.dumps([[lat, lon], [lat + 0.002, lon + 0.003], [lat + 0.003, lon + 0.001]]),
        )
        sv.store_answer(s, open_c, parse(s, open_c, form))
        done.status = "closed"
        owner = s.scalar(select(User).where(User.username == "kommun"))
        saved = SharedMap(
            name="Narkotika i Centrum",
            owner_id=owner.id,
            shared_roles=["police"],
            shared_orgs=[],
            public=False,
            config=config_from_query(
                "cat=narkotika&layers=incidents,areas&extent=13.42,58.38,13.46,58.395&zoom=15"
            ),
        )
        s.add(saved)
        s.flush()
        ids = {
            "slug": open_c.slug,
            "closed_slug": done.slug,
            "campaign_id": open_c.id,
            "map_id": saved.id,
            "project": s.scalar(select(Project.id).where(Project.name == "Belysning Gröna gången")),
        }
        s.commit()
    with (
        serving(settings.with_overrides(basemap=str(mbtiles))) as with_basemap,
        serving(settings.with_overrides(tile_url="none")) as without,
    ):
        yield {"basemap": with_basemap, "nobasemap": without, "ids": ids}


class Screen:
    """One browser context of one size: every request recorded, anything not to 127.0.0.1
    aborted, page and console errors collected."""

    def __init__(self, browser, size: dict) -> None:
        self.context = browser.new_context(viewport=size, locale="sv-SE")
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.quiet = Quiet(self.page)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on(
            "console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}")
        )

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            self.requests.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def sign_in(self, base: str, user: str | None) -> None:
        """Sign out, then in as ``user`` (both servers share the session: same secret, host)."""
        self.context.clear_cookies()
        if user is not None:
            sign_in(self.context, base, user, PASSWORD)

    def wait(self, selector: str, timeout: float = 10) -> int:
        # polled here: wait_for_function uses eval(), which the page's CSP forbids
        deadline = time.monotonic() + timeout
        while (n := self.page.locator(selector).count()) == 0 and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        return n

    def show(self, base: str, page: Page, background: str) -> str:
        """Open ``page``; wait until its map is drawn. Returns what went wrong ('' if nothing)."""
        self.errors.clear()
        self.blocked.clear()
        response = self.page.goto(base + page.path, wait_until="load")
        if response is None or response.status != 200:
            return f"status {response.status if response else None}"
        if page.map:
            if not self.wait(".leaflet-container"):
                return "no map"
            self.wait(".leaflet-overlay-pane path, .leaflet-marker-icon", timeout=5)
            if background == "basemap" and not self.wait(".leaflet-tile-loaded"):
                return "no background tile drawn"
        if page.tiles:
            # through the DOM: on a phone the layer list is folded behind its button
            self.page.evaluate(TILES_ON)
            if not self.wait(POINTS):
                return "no vector tile features drawn"
        if page.map:  # tiles and lazily fetched layers still arriving after "load"
            self.quiet.wait(timeout=10)
        problems = list(self.errors)
        if self.blocked:
            problems.append(f"left 127.0.0.1: {self.blocked[:3]}")
        return "; ".join(problems)

    def close(self) -> None:
        self.context.close()


def squeeze(written: list[Path]) -> None:
    """Quantise this test's PNGs to 256 colours when ``pngquant`` is there (a map screenshot
    has few colours; the gallery stays a few MB in git). Only its own: the other size's test
    may be checking its files at the same moment."""
    tool = shutil.which("pngquant")
    files = sorted(str(p) for p in written)
    if tool and files:
        subprocess.run(  # noqa: S603 - fixed arguments, our own files
            [tool, "--force", "--skip-if-larger", "--ext", ".png", "--quality", "60-90", *files],
            check=False,
        )


@pytest.mark.parametrize(
    "size_name", list(SIZES)
)  # one test per size: xdist runs them side by side
def test_gallery_every_page_with_and_without_basemap(browser, servers, tmp_path, size_name):
    out = GALLERY if os.environ.get("TK_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    gallery = pages(servers["ids"])
    # The README's screenshots (TK_SCREENSHOTS=1): every page on both servers. Otherwise every
    # page is checked without a picture: on a desktop a map page on both servers, a page
    # without a map on one (it is the same page on either); on a phone every page once, with
    # the basemap (the phone's map without one: test_basemap_browser, test_pagemaps_browser).
    both = out == GALLERY
    twice = both or size_name == "desktop"
    failures: dict[str, str] = {}
    written: list[Path] = []
    for size in [SIZES[size_name]]:
        screen = Screen(browser, size)
        try:
            user: object = "nobody yet"
            for page in gallery:
                if page.user != user:
                    screen.sign_in(servers["basemap"], page.user)
                    user = page.user
                for background in (
                    ("basemap", "nobasemap") if twice and (both or page.map) else ("basemap",)
                ):
                    problem = screen.show(servers[background], page, background)
                    target = out / f"{page.name}-{size['width']}-{background}.png"
                    if both:  # the README's pictures
                        screen.page.screenshot(path=str(target))
                        written.append(target)
                    elif not problem and not screen.page.locator("main").inner_text().strip():
                        problem = "the page is empty"
                    if problem:
                        failures[target.name] = problem
        finally:
            screen.close()
    assert failures == {}, json.dumps(failures, indent=1, ensure_ascii=False)
    if both:
        assert len(written) == len(gallery) * 2
        # every shot is a real page: not blank (a PNG of one flat colour is a few kB)
        assert all(p.stat().st_size > 8_000 for p in written), [
            p.name for p in written if p.stat().st_size <= 8_000
        ]
        squeeze(written)
