"""The Content-Security-Policy (nonces, no 'unsafe-inline') breaks no page in Chromium.

Every page each demo role can open is loaded with a listener for ``securitypolicyviolation``
events; any refused script, style element or style attribute fails the test. Inline event
handlers are gone: the print buttons work through static/js/app.js.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import (
    AXE,
    CHROMIUM,
    demo_database,
    inject_script,
    require,
    serving,
    sign_in,
)

pytestmark = pytest.mark.browser
PASSWORD = "tryggkarta-demo"
require([(Path(CHROMIUM), "install Debian's chromium")], "CSP browser tests")

LISTEN = """
document.addEventListener('securitypolicyviolation', function (e) {
  (window.__csp = window.__csp || []).push(
    e.violatedDirective + ' ' + e.blockedURI + ' ' +
    (e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 120) : ''));
});
window.print = function () { window.__printed = (window.__printed || 0) + 1; };
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from sqlalchemy import select

    from tryggkarta.store.models import Project

    settings, db = demo_database(tmp_path_factory.mktemp("csp"), "browser-csp")
    with db.session() as s:
        project = s.scalar(select(Project.id).order_by(Project.id))
    with serving(settings) as url:
        yield {"url": url, "project": project}


def visitor(browser, base: str, user: str | None):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    context.add_init_script(LISTEN)
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
    if user:
        sign_in(context, base, user, PASSWORD)
    return context, page


def violations(page, base: str, path: str) -> list[str]:
    page.goto(base + path, wait_until="load")
    page.wait_for_timeout(300)  # the map's layers and legend are built after load
    return page.evaluate("window.__csp || []")


@pytest.mark.parametrize(
    ("user", "paths"),
    [
        (None, ["/", "/publik", "/login", "/finns-inte"]),
        ("polis", ["/", "/lagesbild/", "/import/", "/kartor/", "/konto/losenord"]),
        ("planerare", ["/projekt/", "/projekt/{project}/kontroll", "/projekt/uppfoljning"]),
        ("admin", ["/admin/", "/admin/logg", "/admin/nycklar"]),
    ],
)
def test_no_csp_violation_on_any_page(browser, server, user, paths) -> None:
    context, page = visitor(browser, server["url"], user)
    try:
        found = {
            path: v
            for path in paths
            if (v := violations(page, server["url"], path.format(project=server["project"])))
        }
        assert found == {}, found
    finally:
        context.close()


def test_print_buttons_work_without_inline_handlers(browser, server) -> None:
    context, page = visitor(browser, server["url"], "polis")
    try:
        assert violations(page, server["url"], "/lagesbild/") == []
        page.click("button[data-print]")
        assert page.evaluate("window.__printed") == 1
    finally:
        context.close()


def test_map_legend_swatches_keep_their_colours(browser, server) -> None:
    context, page = visitor(browser, server["url"], None)
    try:
        assert violations(page, server["url"], "/") == []
        page.wait_for_selector(".tk-legend .tk-swatch")
        colours = page.eval_on_selector_all(
            ".tk-legend .tk-swatch-fill",
            "els => els.map(e => getComputedStyle(e).backgroundColor)",
        )
        assert colours and all(c not in ("", "rgba(0, 0, 0, 0)") for c in colours)
    finally:
        context.close()


@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is missing (make assets)")
def test_security_pages_meet_wcag21aa(browser, server) -> None:
    """The token list, the password form and the admin's user table pass axe (WCAG 2.1 AA)."""
    context, page = visitor(browser, server["url"], "admin")
    try:
        for path in ("/admin/", "/admin/nycklar", "/konto/losenord"):
            assert violations(page, server["url"], path) == []
            inject_script(page, AXE)
            result = page.evaluate(
                "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
                "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
            )
            assert len(result["passes"]) > 5
            assert [v["id"] for v in result["violations"]] == [], path
    finally:
        context.close()
