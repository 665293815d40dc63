"""The forms' small maps (survey form, report form) draw the installation's background: the
local MBTiles file with its zoom range when one is set, nothing at all for ``tile_url=none``
— never the raw ``tile_url`` setting (it sent an offline police network to a tile server,
and ``none`` became a relative tile URL answered with 404s)."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from html import unescape

import pytest

from tests.test_basemap import make_mbtiles
from tests.test_survey_service import make_campaign
from tryggkarta.services import survey as sv
from tryggkarta.web import create_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _client(db, **overrides):
    app = create_app(
        {
            "settings": db.settings.with_overrides(**overrides),
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
        }
    )
    app.extensions["tryggkarta.db"] = db
    return app.test_client()


def _map_attrs(html: str, box: str) -> dict[str, str]:
    """The small map's background as tiles / attribution / zooms ("" where there is none)."""
    tag = re.search(rf'<div id="{box}"[^>]*>', html)
    assert tag, box
    found = re.search(r'data-background="([^"]*)"', tag.group(0))
    assert found, tag.group(0)
    bg = json.loads(unescape(found.group(1)))
    if bg["kind"] == "none":
        return {"tiles": "", "attribution": "", "zooms": ""}
    zooms = f"{bg.get('minZoom', 0)},{bg.get('maxNativeZoom', bg['maxZoom'])}"
    return {"tiles": bg["url"], "attribution": bg["attribution"], "zooms": zooms}


@pytest.fixture
def campaign_slug(db) -> str:
    with db.session() as s:
        c = make_campaign(
            s, starts_on=date.today() - timedelta(days=1), ends_on=date.today() + timedelta(days=9)
        )
        sv.set_status(c, "open")
        s.commit()
        return c.slug


def test_forms_draw_the_local_basemap_with_its_zooms(db, campaign_slug, tmp_path):
    mbtiles = make_mbtiles(tmp_path / "k.mbtiles", {(9, 0, 0): PNG}, minzoom="9", maxzoom="14")
    client = _client(db, basemap=str(mbtiles), tile_url="https://tiles.example.org/{z}/{x}/{y}.png")
    attrs = _map_attrs(client.get(f"/enkat/{campaign_slug}").get_data(as_text=True), "survey-map")
    assert attrs["tiles"] == "/basemap/{z}/{x}/{y}.png" and attrs["zooms"] == "9,14"
    assert "example.org" not in attrs["tiles"]


def test_forms_draw_no_background_for_none(db, campaign_slug, auth):
    client = _client(db, tile_url="none")
    attrs = _map_attrs(client.get(f"/enkat/{campaign_slug}").get_data(as_text=True), "survey-map")
    assert attrs["tiles"] == "" and attrs["attribution"] == ""


def test_report_form_follows_the_tile_server_setting(db):
    from tests.conftest import AuthActions

    client = _client(db, tile_url="https://tiles.example.org/{z}/{x}/{y}.png")
    AuthActions(client, db).login("reporter")
    attrs = _map_attrs(client.get("/rapport/").get_data(as_text=True), "report-map")
    assert attrs["tiles"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    assert attrs["zooms"] == "0,19"
    client = _client(db, tile_url="none")
    AuthActions(client, db).login("reporter")
    assert _map_attrs(client.get("/rapport/").get_data(as_text=True), "report-map")["tiles"] == ""
