"""The EST-group scope in headless Chromium (issue #16.1): the demo as the group Skara–Götene
(``TRYGGKARTA_REGION=1495,1471``). The municipality user picks Götene in the map's Kommun
select and the page's filter form carries ``?kommun=1471``; the import page says where the
user may import. axe-core WCAG 2.1 AA with zero violations on both. ``TK_SCREENSHOTS=1``
writes screenshots to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import AXE, CHROMIUM, ROOT, inject_script, require, serving, sign_in
from tryggkarta.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
WCAG = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']"
require(
    [
        (Path(CHROMIUM), "install Debian's chromium"),
        (AXE, "run `python -m tryggkarta.maps.build_assets`"),
    ],
    "EST-group scope browser tests",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tryggkarta.config import load_settings
    from tryggkarta.demo import load_demo
    from tryggkarta.store import Database

    folder = tmp_path_factory.mktemp("scope")
    settings = load_settings(
        {
            "database_url": f"sqlite:///{folder / 'tk.db'}",
            "instance_path": str(folder),
            "secret_key": "browser-scope",
            "region": "1495,1471",
        }
    )
    db = Database(settings)
    db.upgrade()
    load_demo(db, "1495,1471")
    with serving(settings) as url:
        yield url


def _page(browser: Any, base: str, username: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    page = context.new_page()
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlsplit(route.request.url).hostname == "127.0.0.1"
            or route.request.url.startswith("data:")
            else route.abort()
        ),
    )
    sign_in(context, base, username, DEMO_PASSWORD)
    return page


def _axe(page: Any) -> list[str]:
    inject_script(page, AXE)
    result = page.evaluate(
        f"async () => await axe.run(document, {{runOnly: {{type: 'tag', values: {WCAG}}}}})"
    )
    return [
        f"{v['id']}: {v['help']} -> " + "; ".join(" ".join(n["target"]) for n in v["nodes"][:4])
        for v in result["violations"]
    ]


def _shot(page: Any, name: str) -> None:
    if os.environ.get("TK_SCREENSHOTS") == "1":
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_the_map_kommun_select_narrows_the_map_to_one_municipality(
    browser: Any, server: str
) -> None:
    page = _page(browser, server, "kommun-gotene")
    page.goto(server + "/", wait_until="load")
    select = page.locator("#f-kommun")
    assert select.is_visible()
    options = select.locator("option").all_inner_texts()
    assert options == ["Hela EST-gruppen", "Götene", "Skara"]
    select.select_option("1471")
    with page.expect_navigation():
        page.locator("#map-filters button[type=submit]").click()
    assert parse_qs(urlsplit(page.url).query).get("kommun") == ["1471"]
    assert page.locator("#f-kommun").input_value() == "1471"
    # the save form keeps the query (every filter, kommun included)
    assert "kommun=1471" in page.locator("#map-save-form input[name=query]").input_value()
    violations = _axe(page)
    assert not violations, "axe violations on the map:\n  " + "\n  ".join(violations)
    _shot(page, "scope-map-kommun")


def test_the_import_page_says_where_the_user_may_import(browser: Any, server: str) -> None:
    page = _page(browser, server, "kommun-gotene")
    page.goto(server + "/import/", wait_until="load")
    hint = page.locator("#import-into").inner_text()
    assert hint == "Du kan importera rader i: Götene, Skara. Rader i andra kommuner avvisas."
    violations = _axe(page)
    assert not violations, "axe violations on /import:\n  " + "\n  ".join(violations)
    _shot(page, "scope-import")
