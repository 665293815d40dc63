"""Printable maps on the report pages (issue #13.2): the survey campaign, the project and the
citizen-promise follow-ups and a measure's evaluation areas — server-side SVG with a legend,
and no raw point for a role the policy gives less than raw detail."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shapely
from sqlalchemy import select

from tests.test_survey_service import TOWN, lonlat
from tests.test_survey_web import answer, opened
from tryggkarta import policy
from tryggkarta.domain import Detail, Layer, Role
from tryggkarta.store import AuditLog

#: The colour of an unsafe raw pin / an incident dot after the cut (tryggkarta/web/pagemaps.py).
PIN_UNSAFE = 'stroke="#a4161a" stroke-width="5"'
ROLES = [r.value for r in Role]


def _svg(page: str, ident: str) -> str:
    """The ``<svg>`` of the page map ``ident`` (empty when the page has none)."""
    m = re.search(
        rf'<svg class="static-map page-map-svg"[^>]*aria-labelledby="{ident}-t.*?</svg>', page, re.S
    )
    return m.group(0) if m else ""


def _answers(client, slug: str) -> None:
    here = lonlat((TOWN[0] + 10, TOWN[1] + 10))
    far = lonlat((TOWN[0] + 2000, TOWN[1] + 2000))
    for i in range(7):
        data = answer(
            here[1],
            here[0],
            submission_id=f"pagemap-answer-{i:04d}",
            **{"pin-0-rating": "1" if i < 5 else "5"},
        )
        assert client.post(f"/enkat/{slug}", data=data).status_code == 303
    data = answer(far[1], far[0], submission_id="pagemap-answer-far1")
    assert client.post(f"/enkat/{slug}", data=data).status_code == 303


def test_the_campaign_page_maps_its_area_cells_and_pins(client, auth, db) -> None:
    c = opened(client, auth, db)
    _answers(client, c.slug)
    auth.login("municipality")
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    svg = _svg(page, "campaign-map")
    assert svg, page[:3000]
    assert '<title id="campaign-map-t">Karta: otrygghet i enkätens område</title>' in svg
    # one published cell (7 answers; the far pin's cell is suppressed), share band 50–100 %
    # → its middle 75 % → the 60–80 % colour; no grey cell
    assert svg.count('fill="#fdae61"') == 1 and "#bdbdbd" not in svg
    assert "60–80 % otrygga svar" in page
    # raw detail (municipality): the pins, red for unsafe, and the view is audit-logged
    assert PIN_UNSAFE in svg and 'stroke="#1d4e89" stroke-width="5"' in svg
    assert "Otrygg plats (betyg 1–2), ett svar" in page
    with db.session() as s:
        logged = s.scalar(
            select(AuditLog).where(AuditLog.action == "view_raw", AuditLog.detail == "pins")
        )
        assert logged is not None and logged.feature_count == 8
    en = client.get(f"/enkater/{c.id}?lang=en").get_data(as_text=True)
    assert "Map: insecurity in the survey area" in en and "60–80 % unsafe answers" in en


def test_a_campaign_without_answers_has_no_map(client, auth, db) -> None:
    c = opened(client, auth, db)
    auth.login("municipality")
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    assert _svg(page, "campaign-map") == "" and "Inga svar ännu." in page


@pytest.mark.parametrize("role", ROLES)
def test_the_campaign_map_draws_pins_only_at_raw_survey_detail(app, role: str) -> None:
    """Every role: the map builder gets the role's detail from the policy and draws a pin
    only where that is raw; the cells are the release whatever the role."""
    from tryggkarta.web import pagemaps

    area = shapely.box(TOWN[0] - 500, TOWN[1] - 500, TOWN[0] + 500, TOWN[1] + 500)
    cells = [{"x": TOWN[0], "y": TOWN[1], "size": 250.0, "n": 5, "band": (0.5, 1.0)}]
    pins = (np.array([TOWN[0] + 5.0]), np.array([TOWN[1] + 5.0]), np.array([1.0]))
    with app.test_request_context("/"):
        pm = pagemaps.campaign_map(
            area, cells, pins, level=policy.detail(role, Layer.SURVEY), min_count=5, lang="sv"
        )
    raw = policy.allowed(role, Layer.SURVEY, Detail.RAW)
    assert (PIN_UNSAFE in str(pm.svg)) is raw
    assert 'fill="#fdae61"' in str(pm.svg)


# --- the project follow-up ------------------------------------------------------------------

DEMO_PASSWORD = "tryggkarta-demo"
#: Demo users by role (tryggkarta/demo/generate.py).
DEMO_USERS = {"admin": "admin", "police": "polis", "municipality": "kommun", "planner": "planerare"}
#: An incident dot (before / after a project's start) — raw detail only.
INCIDENT_DOT = 'stroke-width="3.5"'


def _login(client, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302


@pytest.mark.parametrize("role", sorted(DEMO_USERS))
def test_the_project_follow_up_map_follows_the_viewers_detail(client, demo_db, role) -> None:
    _login(client, DEMO_USERS[role])
    page = client.get("/projekt/uppfoljning").get_data(as_text=True)
    svg = _svg(page, "projects-map")
    assert svg, page[:2000]
    rows = re.findall(r'<tr><td class="num">(\d+)</td>', page)
    markers = re.findall(r"<g><title>(\d+)\. ", svg)
    assert rows and sorted(markers, key=int) == rows  # one number per project, as in the table
    raw = policy.allowed(role, Layer.INCIDENTS, Detail.RAW)
    assert (INCIDENT_DOT in svg) is raw
    assert ("Händelse före projektets start" in page) is raw
    assert ("Ruta med publicerat antal händelser" in page) is not raw
    # patrol hot spots are police detail: never drawn for a planner
    assert ("Brännpunkt: Händelser (patrull)" in page) is raw
    assert "Buffert 100 m" in page
    with demo_db.session() as s:
        logged = s.scalar(select(AuditLog).where(AuditLog.detail == "follow_up_map"))
        assert (logged is not None) is raw


def test_released_incident_cells_for_the_follow_up_are_published_values(demo_db) -> None:
    from tryggkarta import disclosure
    from tryggkarta.services import projectcheck as pc

    with demo_db.session() as s:
        summary = pc.follow_up(demo_db, s, 100.0, detail=Detail.AGGREGATED)
    rule = disclosure.rule_for(Detail.AGGREGATED, 5)
    cells, period = pc.follow_up_cells(demo_db, summary["rows"], 100.0, rule)
    assert cells and period.key == "52v"
    assert all(c["n"] >= rule.k and c["n"] % rule.base == 0 for c in cells)
    # every cell touches a project's buffer
    buffers = shapely.union_all([r["geometry"].buffer(100.0) for r in summary["rows"]])
    assert all(
        shapely.box(c["x"], c["y"], c["x"] + c["size"], c["y"] + c["size"]).intersects(buffers)
        for c in cells
    )
    x, y, after = pc.follow_up_incidents(demo_db, summary["rows"], 100.0)
    assert len(x) and after.any() and (~after).any()
    assert shapely.contains_xy(buffers, x, y).all()


@pytest.mark.parametrize("role", ["partner", "reporter", "public"])
def test_roles_without_projects_get_no_follow_up(client, auth, role) -> None:
    if role != "public":
        auth.login(role)
    r = client.get("/projekt/uppfoljning")
    assert r.status_code in (302, 401, 403)
    assert "projects-map" not in r.get_data(as_text=True)


# --- the citizen-promise follow-up -----------------------------------------------------------


def test_the_promise_follow_up_maps_the_measures_places(client, demo_db) -> None:
    from tests.test_promises import _promise_id

    _login(client, "kommun")
    pid = _promise_id(demo_db)
    released = client.get(f"/medborgarloften/{pid}/uppfoljning").get_data(as_text=True)
    raw = client.get(f"/medborgarloften/{pid}/uppfoljning?niva=raw").get_data(as_text=True)
    svg_rel, svg_raw = _svg(released, "promise-map"), _svg(raw, "promise-map")
    assert svg_rel and svg_raw
    # the released report (for the council) leaves the police patrol's place off the map
    n_rel = len(re.findall(r"<g><title>", svg_rel))
    n_raw = len(re.findall(r"<g><title>", svg_raw))
    hidden = re.search(r"(\d+) polisiära insatser visas inte på kartan", released)
    assert hidden and n_raw == n_rel + int(hidden.group(1))
    assert "polisiära insatser visas inte" not in raw
    assert "Synlig polis" not in svg_rel
    # each activity with a place carries its map number in the table
    numbers = re.findall(
        r'<span class="map-no"><span class="visually-hidden">[^<]*</span>(\d+)', released
    )
    assert numbers and set(numbers) <= set(re.findall(r"<g><title>(\d+)\. ", svg_raw))


def test_activity_titles_are_escaped_on_the_map(app) -> None:
    from tryggkarta.web import pagemaps

    evil = "<script>alert(1)</script>"
    with app.test_request_context("/"):
        pm = pagemaps.places_map([pagemaps.PlaceOnMap(1, shapely.Point(TOWN), evil)], lang="sv")
    assert "<script>" not in str(pm.svg) and "&lt;script&gt;" in str(pm.svg)


# --- the measure page ---------------------------------------------------------------------


def test_the_measure_page_prints_its_place_and_evaluation_areas(client, demo_db) -> None:
    from tests.test_services_measures import demo_measure

    with demo_db.session() as s:
        mid = demo_measure(s)
    _login(client, "polis")
    page = client.get(f"/insatser/{mid}").get_data(as_text=True)
    svg = _svg(page, "measure-map")
    assert svg, page[:2000]
    assert '<div class="print-only" id="measure-print-map">' in page
    for label in (
        "Insatsens plats",
        "Insatsens område",
        "Runt omkring (förflyttning)",
        "Jämförelsering",
    ):
        assert f"<span>{label}</span>" in page
    # the target, the ring, the comparison area as filled paths, the place as a marker
    assert svg.count('fill="#00639c"') == 1 and svg.count('fill="#b35806"') == 1
    assert svg.count('fill="#3d4752"') == 1 and "<circle" in svg
    district = client.get(f"/insatser/{mid}?comparison=district").get_data(as_text=True)
    assert "<span>Resten av " in district
    # the on-screen (Leaflet) map has the place too: a layer in the map's script
    assert "Insatsens plats" in page.split("</main>")[1]


def test_outlines_are_only_those_reaching_into_the_map(demo_db) -> None:
    """The report maps ask for the districts around what they show, not every district of a
    county or national installation."""
    from tryggkarta.services import weekmaps

    everything = weekmaps.outlines(demo_db)
    around = weekmaps.outlines(
        demo_db, bbox=(TOWN[0] - 300, TOWN[1] - 300, TOWN[0] + 300, TOWN[1] + 300)
    )
    far = weekmaps.outlines(demo_db, bbox=(0.0, 0.0, 1000.0, 1000.0))
    assert far == [] and 0 < len(around) < len(everything)
    town = shapely.box(TOWN[0] - 300, TOWN[1] - 300, TOWN[0] + 300, TOWN[1] + 300)
    assert all(a.geometry.envelope.intersects(town) for a in around)  # by bounding box
