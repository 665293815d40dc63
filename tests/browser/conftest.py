"""Shared browser-test pieces: Debian's Chromium via Playwright, the demo app on 127.0.0.1."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tryggkarta" / "static" / "vendor" / "axe" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require(paths: list[tuple[Path, str]], what: str) -> None:
    """Skip the module with the reason when a prerequisite is missing — fail under CI=true."""
    for path, how in paths:
        if not path.is_file():
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{path} is missing ({how}); CI must run the {what}", pytrace=False)
            pytest.skip(f"{path} is missing: {how} to run the {what}", allow_module_level=True)


def inject_script(page: Any, path: Path) -> None:
    """Run a local script file in the page (as ``add_script_tag`` did).

    ``add_script_tag`` inserts an inline ``<script>``, which the app's Content-Security-Policy
    (nonces, no 'unsafe-inline') rightly refuses; the DevTools protocol's evaluate is not
    subject to the page's CSP (``void 0``: the file is run, not called).
    """
    page.evaluate(path.read_text(encoding="utf-8") + "\n;void 0")


def demo_database(folder: Path, secret: str) -> tuple[Any, Any]:
    """(settings, database) of a new SQLite database in ``folder`` with the demo data."""
    from tests.demodata import demo_sqlite_file
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    settings = load_settings(
        {
            "database_url": f"sqlite:///{folder / 'tk.db'}",
            "instance_path": str(folder),
            "secret_key": secret,
        }
    )
    demo_sqlite_file(folder / "tk.db")
    db = Database(settings)
    db.upgrade()
    return settings, db


class Quiet:
    """Waits until every request the page made has ended and none began for a while.

    Playwright's ``networkidle`` once timed out in CI after 20 s while none of the page's own
    requests was open (what it waited for was never reported to the test). The browser tests
    wait on what the page itself asked for instead, and a timeout names what is still open.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self.open: Counter[str] = Counter()
        self.changed = time.monotonic()
        page.on("request", self._began)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _began(self, request: Any) -> None:
        self.open[request.url] += 1
        self.changed = time.monotonic()

    def _ended(self, request: Any) -> None:
        self.open[request.url] -= 1
        if self.open[request.url] <= 0:
            del self.open[request.url]
        self.changed = time.monotonic()

    def wait(self, timeout: float = 20.0, quiet: float = 0.3) -> None:
        """Return once nothing is open and nothing began for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        while self.open or time.monotonic() - self.changed < quiet:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"requests still open after {timeout} s: {list(self.open)[:10]}"
                )
            self.page.wait_for_timeout(50)  # lets Playwright deliver the request events


#: Session cookies of each (server, user) signed in once in this test process.
_SIGNED_IN: dict[tuple[str, str], list[dict]] = {}


def sign_in(context: Any, base: str, username: str, password: str = "tryggkarta-demo") -> None:
    """Sign ``context`` in as ``username`` on the server at ``base``.

    The first time per server and user it goes through the login form (to ``/healthz``, not
    the start page's map), so every module's server is signed in to through the form once;
    later contexts get that session's cookies. No browser test signs out, so a session stays
    valid for the module's server.
    """
    key = (base, username)
    if key not in _SIGNED_IN:
        page = context.new_page()
        try:
            page.goto(base + "/login?next=/healthz", wait_until="load")
            page.fill("#username", username)
            page.fill("#password", password)
            with page.expect_navigation(wait_until="load"):
                page.click("main form button[type=submit]")
            assert page.url.endswith("/healthz"), f"{username} was not signed in: {page.url}"
        finally:
            page.close()
        _SIGNED_IN[key] = context.cookies(base)
    else:
        context.add_cookies(_SIGNED_IN[key])


@contextmanager
def serving(settings: Any) -> Iterator[str]:
    """The app for ``settings`` served on a free 127.0.0.1 port in a thread; yields its URL."""
    from werkzeug.serving import make_server

    from tryggkarta.web import create_app

    app = create_app({"settings": settings, "WTF_CSRF_ENABLED": False})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"
    try:
        yield base
    finally:
        srv.shutdown()
        for key in [k for k in _SIGNED_IN if k[0] == base]:  # the port may serve another app
            del _SIGNED_IN[key]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each browser module's tests on one pytest-xdist worker (``--dist loadgroup``): its
    servers, demo database and basemap files are made once, not once per worker. The
    gallery is left to spread: its two screen sizes are the two longest browser tests."""
    for item in items:
        module = item.path.stem
        if item.path.parent.name == "browser" and module != "test_gallery_browser":
            item.add_marker(pytest.mark.xdist_group(module))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium (Debian's, never a downloaded one) per test process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
