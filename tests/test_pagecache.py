"""Rendered public pages kept per data version (tryggkarta/web/pagecache.py), both engines.

What is shared must be the same for every visitor; what is a visitor's own (the CSP nonce, a
logged-in user's name and CSRF token, flashed messages) must never be kept or shown to others.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from tryggkarta.store import Dataset, insert_layer
from tryggkarta.web import mapview, pagecache

ROOT = Path(__file__).resolve().parents[1]
NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]+)'")


@pytest.fixture(autouse=True)
def _fresh_cache():
    pagecache.clear()
    yield
    pagecache.clear()


@pytest.fixture
def builds(monkeypatch) -> list[int]:
    """How many times the start page was built (not served from the cache)."""
    calls: list[int] = []
    real = mapview.start_page_context

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mapview, "start_page_context", counted)
    return calls


def _nonces(response) -> tuple[str, set[str]]:  # noqa: ANN001
    header = NONCE.search(response.headers["Content-Security-Policy"]).group(1)
    body = set(re.findall(r'nonce="([^"]+)"', response.get_data(as_text=True)))
    return header, body


def test_a_visitor_gets_the_kept_page_with_a_fresh_nonce(client, demo_db, builds) -> None:
    first, second = client.get("/"), client.get("/")
    assert first.status_code == second.status_code == 200
    assert len(builds) == 1  # the second visitor got the kept page
    header_1, body_1 = _nonces(first)
    header_2, body_2 = _nonces(second)
    assert body_1 == {header_1} and body_2 == {header_2}  # every script has its answer's nonce
    assert header_1 != header_2
    for response in (first, second):
        assert pagecache.PLACEHOLDER not in response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["ETag"]
    assert first.headers["ETag"] == second.headers["ETag"]
    assert "Logga in" in second.get_data(as_text=True)


def test_conditional_get_answers_304_without_a_policy(client, demo_db, builds) -> None:
    etag = client.get("/").headers["ETag"]
    again = client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    # the browser keeps its stored page with the stored policy whose nonce matches it
    assert "Content-Security-Policy" not in again.headers
    assert client.get("/", headers={"If-None-Match": '"other"'}).status_code == 200
    assert len(builds) == 1


def test_language_query_and_public_page_have_their_own_pages(client, demo_db, builds) -> None:
    sv = client.get("/").get_data(as_text=True)
    en = client.get("/?lang=en")
    assert en.headers["Cache-Control"] == "private, no-cache"  # it set this visitor's cookie
    assert '<html lang="en">' in en.get_data(as_text=True) and '<html lang="sv">' in sv
    assert client.get("/?layers=areas").status_code == 200
    assert len(builds) == 3
    first, second = client.get("/publik"), client.get("/publik")
    assert first.status_code == second.status_code == 200
    assert first.headers["ETag"] == second.headers["ETag"]
    assert _nonces(second)[1] <= {_nonces(second)[0]}


def test_logged_in_users_never_get_or_leave_a_kept_page(client, auth, demo_db, builds) -> None:
    client.get("/")
    auth.login("police", username="kommissarie")
    own = client.get("/")
    text = own.get_data(as_text=True)
    assert "kommissarie" in text and 'name="csrf_token"' in text
    assert "ETag" not in own.headers and own.headers["Cache-Control"] == "no-store"
    assert len(builds) == 2
    auth.logout()
    client.get("/")  # shows the logout's flashed message: built for this visitor alone
    built = len(builds)
    anonymous = client.get("/").get_data(as_text=True)
    assert "kommissarie" not in anonymous and 'name="csrf_token"' not in anonymous
    assert len(builds) == built  # the page kept before the login


def test_a_pending_flash_is_shown_not_kept(client, demo_db, builds) -> None:
    client.get("/")
    with client.session_transaction() as session:
        session["_flashes"] = [("message", "Sparat för dig")]
    mine = client.get("/").get_data(as_text=True)
    assert "Sparat för dig" in mine and len(builds) == 2
    other = client.application.test_client().get("/").get_data(as_text=True)
    assert "Sparat för dig" not in other


def _add_incidents(db, n: int = 40) -> None:  # noqa: ANN001
    frame = gpd.GeoDataFrame(
        {
            "occurred_at": pd.Timestamp.now(tz="UTC").floor("D") - pd.Timedelta(days=3),
            "category": "skadegorelse",
            "dedup_key": [f"pc{i}" for i in range(n)],
        },
        geometry=[Point(408_672.0 + i % 3, 6_472_746.0) for i in range(n)],
        crs=3006,
    )
    with db.session() as s:
        ds = Dataset(layer="incidents", name="kept page test", checksum="pc")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", frame, ds.id)


def test_an_import_changes_the_kept_page(client, demo_db, builds) -> None:
    before = client.get("/").headers["ETag"]
    _add_incidents(demo_db)  # as an import would, through another connection
    after = client.get("/")
    assert after.status_code == 200 and after.headers["ETag"] != before and len(builds) == 2
    assert client.get("/", headers={"If-None-Match": before}).status_code == 200


def test_an_import_in_another_process_changes_the_kept_page(client, db, builds) -> None:
    before = client.get("/").headers["ETag"]
    code = (
        "import sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r});"
        "from tryggkarta.config import load_settings; from tryggkarta.store import Database;"
        "from test_pagecache import _add_incidents;"
        "_add_incidents(Database(load_settings({{'database_url': {url!r}, "
        "'instance_path': {inst!r}}})))"
    ).format(
        root=str(ROOT),
        tests=str(ROOT / "tests"),
        url=db.settings.url,
        inst=db.settings.instance_path,
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
    after = client.get("/")
    assert after.status_code == 200 and after.headers["ETag"] != before and len(builds) == 2


def test_a_page_that_writes_the_session_is_not_kept(app, db) -> None:  # noqa: ANN001
    from flask import session

    with app.test_request_context("/"):
        app.preprocess_request()

        def render() -> str:
            session["x"] = "mine"
            return "<p>mine</p>"

        assert pagecache.cached_page(render).status_code == 200
    assert pagecache._CACHE == {}


def test_a_drawn_project_and_a_computed_layer_change_the_kept_page(client, demo_db) -> None:
    """Neither has a dataset: a drawn project is stored alone, a forecast run in analysis_runs."""
    import shapely

    from tryggkarta.services.forecast import forecast_layer
    from tryggkarta.store import Filters, Project

    before = client.get("/").headers["ETag"]
    forecast_layer(demo_db, Filters())
    computed = client.get("/").headers["ETag"]
    assert computed != before
    square = shapely.box(408_600.0, 6_472_700.0, 408_700.0, 6_472_800.0)
    with demo_db.session() as s:
        s.add(
            Project(
                dedup_key="drawn-pagecache",
                name="Ritat torg",
                minx=408_600.0,
                miny=6_472_700.0,
                maxx=408_700.0,
                maxy=6_472_800.0,
                geom_wkb=shapely.to_wkb(square),
            )
        )
    drawn = client.get("/")
    assert drawn.headers["ETag"] != computed and "Ritat torg" in drawn.get_data(as_text=True)


def test_users_with_the_same_rights_share_the_map_not_the_page(app, auth, demo_db, builds) -> None:
    """The map part is kept per role, scope and organisation; name and CSRF token are each
    user's own, and another role gets its own map."""
    first = app.test_client()
    type(auth)(first, demo_db).login("police", username="polis_ett")
    one = first.get("/").get_data(as_text=True)
    second = app.test_client()
    type(auth)(second, demo_db).login("police", username="polis_tva")
    two = second.get("/").get_data(as_text=True)
    assert len(builds) == 1
    assert "polis_ett" in one and "polis_ett" not in two and "polis_tva" in two
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    assert token.search(one).group(1) != token.search(two).group(1)
    third = app.test_client()
    type(auth)(third, demo_db).login("planner", username="planerare_ett")
    assert third.get("/").status_code == 200 and len(builds) == 2
