"""Kontrollera projekt, measures, and the medborgarlöfte follow-up (CSV/GeoJSON exports)."""

from __future__ import annotations

import csv
import io
import json

import pytest
import shapely
from sqlalchemy import select

from tryggkarta.errors import BadInput
from tryggkarta.geo import to_wgs84
from tryggkarta.services import hotspots as service
from tryggkarta.services import projectcheck as pc
from tryggkarta.store import Dataset, Project, ProjectMeasure, insert_layer

TOWN = (408_672.0, 6_472_746.0)
GRONA = (TOWN[0] - 700, TOWN[1] + 520)
RESE = (TOWN[0] + 350, TOWN[1] - 420)


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


def square(x: float, y: float, half: float) -> dict:
    lon, lat = to_wgs84([x - half, x + half], [y - half, y + half], 3006)
    ring = [
        [lon[0], lat[0]],
        [lon[1], lat[0]],
        [lon[1], lat[1]],
        [lon[0], lat[1]],
        [lon[0], lat[0]],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def design_fc() -> dict:
    props = {
        "key": "design-grona",
        "name": "Gröna gången",
        "unsafe_share": 0.62,
        "n_answers": 45,
        "n_unsafe": 28,
        "reasons": [["belysning", 0.4], ["vegetation", 0.35], ["folktomt", 0.1]],
        "measures": [
            {
                "key": "belysning",
                "evidence_sv": "40 % anger dålig belysning",
                "evidence_en": "40 % name poor lighting",
                "strength": 0.4,
            },
            {
                "key": "siktlinjer",
                "evidence_sv": "35 % anger dålig sikt",
                "evidence_en": "35 % name poor sight lines",
                "strength": 0.35,
            },
        ],
    }
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": square(*GRONA, 150), "properties": props}],
    }


def patrol_fc() -> dict:
    props = {
        "key": "patrol-rese",
        "name": "Resecentrum",
        "count": 14,
        "baseline": 2.0,
        "trend": "up",
        "trend_label_sv": "ökar",
        "trend_label_en": "increasing",
        "peak_sv": "fre–lör 20–02",
        "peak_en": "Fri–Sat 20–02",
        "profile": [[0] * 24 for _ in range(7)],
        "top_categories": [["narkotika", 5]],
    }
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": square(*RESE, 120), "properties": props}],
    }


@pytest.fixture
def fake_hotspots(monkeypatch):
    def design_layer(db, filters=None, **kw):
        return service.HotspotLayer("design", "Utformning", "Design", design_fc())

    def patrol_layer(db, filters=None, **kw):
        return service.HotspotLayer("patrol", "Patrull", "Patrol", patrol_fc())

    monkeypatch.setattr(service, "design_layer", design_layer)
    monkeypatch.setattr(service, "patrol_layer", patrol_layer)


def add_project(
    db, name: str, x: float, y: float, status: str = "pagaende", kind: str = "detaljplan"
) -> int:
    import geopandas as gpd

    with db.session() as s:
        ds = Dataset(layer="projects", name=name, checksum=name)
        s.add(ds)
        s.flush()
        gdf = gpd.GeoDataFrame(
            {
                "name": [name],
                "case_number": ["SBN 2026/1"],
                "kind": [kind],
                "status": [status],
                "start_date": ["2026-01-01"],
                "end_date": ["2027-06-30"],
            },
            geometry=[shapely.box(x - 40, y - 40, x + 40, y + 40)],
            crs=3006,
        )
        insert_layer(s, "projects", gdf, ds.id)
        return s.scalar(select(Project.id).where(Project.name == name))


# --- pure logic -------------------------------------------------------------------------


def test_parse_buffer() -> None:
    assert pc.parse_buffer(None) == 100.0 and pc.parse_buffer("250") == 250.0
    for bad in ("-1", "5000", "abc", "nan"):
        with pytest.raises(BadInput):
            pc.parse_buffer(bad)


def test_safe_cell_prefixes_formulas() -> None:
    assert pc.safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert pc.safe_cell("+1") == "'+1" and pc.safe_cell("-1") == "'-1"
    assert pc.safe_cell("@SUM") == "'@SUM" and pc.safe_cell("Park") == "Park"


def test_recommend_uses_local_survey_and_incident_evidence() -> None:
    survey = {"reasons": [("vegetation", 0.5), ("trafik", 0.05)]}
    recs = {r.key: r for r in pc.recommend([], survey, {"klotter": 4, "trafik": 1})}
    assert set(recs) == {"siktlinjer", "stadning"}
    assert (
        "50 % av de otrygga svaren i området anger igenvuxet, dålig sikt"
        in recs["siktlinjer"].evidence_sv
    )
    assert recs["stadning"].evidence_sv == ["4 händelser med klotter senaste året"]


# --- pages ------------------------------------------------------------------------------


def test_check_page_names_hotspot_measures_and_evidence(client, auth, db, fake_hotspots):
    pid = add_project(db, "Belysning Gröna gången", *GRONA)
    auth.login("police")
    html = client.get(f"/projekt/{pid}/kontroll").get_data(as_text=True)
    assert (
        "Projektet ligger i en brännpunkt (Gröna gången) där enkätsvaren anger 40 % dålig "
        "belysning och 35 % igenvuxet, dålig sikt." in html
    )
    assert "Bättre belysning" in html and "Röj vegetation, öppna siktlinjer" in html
    assert "Gröna gången: 40 % anger dålig belysning" in html
    assert "Skriv ut" in html


def test_planner_check_page_has_only_published_values(client, auth, db, fake_hotspots):
    """A planner (aggregated detail) gets shares in bands, no patrol hot spots, no counts."""
    pid = add_project(db, "Belysning Gröna gången", *GRONA)
    auth.login("planner")
    html = client.get(f"/projekt/{pid}/kontroll?buffer=1000").get_data(as_text=True)
    # 0.4 × 28 = 11 of 28 unsafe answers → the 30–40 % band; never the exact 40 %
    assert (
        "Projektet ligger i en brännpunkt (Gröna gången) där enkätsvaren anger 30–40 % dålig "
        "belysning och 30–40 % igenvuxet, dålig sikt." in html
    )
    assert "Gröna gången: 30–40 % av de otrygga svaren anger dålig belysning" in html
    assert "40 % anger" not in html, html[html.index("40 % anger") - 300 :][:400]
    # patrol hot spots are police detail: name, count and times never reach a planner
    assert "Resecentrum" not in html and "fre–lör 20–02" not in html


def test_buffer_decides_whether_a_hotspot_is_next_to_the_project(client, auth, db, fake_hotspots):
    pid = add_project(db, "Nära", GRONA[0] + 250, GRONA[1])  # 150 + 40 + 60 m apart
    auth.login("planner")
    near = client.get(f"/projekt/{pid}/kontroll?buffer=100").get_data(as_text=True)
    assert "Projektet ligger intill en brännpunkt (Gröna gången)" in near
    far = client.get(f"/projekt/{pid}/kontroll?buffer=20").get_data(as_text=True)
    assert "Ingen brännpunkt berör projektet." in far


def test_ticking_measures_stores_them_with_evidence(client, auth, db, fake_hotspots):
    pid = add_project(db, "Belysning Gröna gången", *GRONA)
    auth.login("planner")
    r = client.post(f"/projekt/{pid}/kontroll", data={"measures": ["belysning", "siktlinjer"]})
    assert r.status_code == 302
    with db.session() as s:
        rows = s.scalars(select(ProjectMeasure).order_by(ProjectMeasure.measure)).all()
        assert [m.measure for m in rows] == ["belysning", "siktlinjer"]
        assert "30–40 % av de otrygga svaren anger dålig belysning" in rows[0].evidence
        assert rows[0].decided_by is not None
    client.post(f"/projekt/{pid}/kontroll", data={"measures": ["belysning"]})
    with db.session() as s:
        assert s.scalars(select(ProjectMeasure.measure)).all() == ["belysning"]
    html = client.get(f"/projekt/{pid}").get_data(as_text=True)
    assert "Bättre belysning" in html


def test_police_may_read_but_not_tick(client, auth, db, fake_hotspots):
    pid = add_project(db, "P", *GRONA)
    auth.login("police")
    assert client.get(f"/projekt/{pid}/kontroll").status_code == 200
    assert (
        client.post(f"/projekt/{pid}/kontroll", data={"measures": ["belysning"]}).status_code == 403
    )


def test_unknown_measure_unknown_project_bad_buffer_and_wrong_role(client, auth, db, fake_hotspots):
    pid = add_project(db, "P", *GRONA)
    auth.login("planner")
    r = client.post(f"/projekt/{pid}/kontroll", data={"measures": ["<b>x</b>"]})
    assert r.status_code == 400 and "&lt;b&gt;x&lt;/b&gt;" in r.get_data(as_text=True)
    assert client.get("/projekt/9999/kontroll").status_code == 404
    assert client.get(f"/projekt/{pid}/kontroll?buffer=abc").status_code == 400
    auth.logout()
    auth.login("partner")
    assert client.get("/projekt/").status_code == 403


def test_project_names_are_escaped(client, auth, db, fake_hotspots):
    add_project(db, "<script>alert('p')</script>", *TOWN)
    auth.login("planner")
    html = client.get("/projekt/").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_follow_up_counts_and_exports(client, auth, db, fake_hotspots):
    a = add_project(db, "Belysning Gröna gången", *GRONA)
    add_project(db, "=cmd|' /C calc'!A0", *RESE, kind="gestaltning")
    add_project(db, "Långt bort", TOWN[0] + 5000, TOWN[1])
    add_project(db, "Avslutat", *GRONA, status="avslutad")
    auth.login("municipality")
    client.post(f"/projekt/{a}/kontroll", data={"measures": ["belysning"]})
    html = client.get("/projekt/uppfoljning").get_data(as_text=True)
    assert (
        "Av 3 aktiva plan- och gestaltningsprojekt berörde 2 brännpunkter, och 1 av dem "
        "har registrerade trygghetsåtgärder."
    ) in html
    body = client.get("/projekt/uppfoljning.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:2] == ["id", "namn"]
    names = [r[1] for r in rows[1:]]
    assert "'=cmd|' /C calc'!A0" in names and "Avslutat" not in names
    geo = json.loads(client.get("/projekt/uppfoljning.geojson").get_data(as_text=True))
    assert geo["summary"] == {
        "n_active": 3,
        "n_touched": 2,
        "n_touched_with_measures": 1,
        "buffer_m": 100.0,
    }
    lon, lat = geo["features"][0]["geometry"]["coordinates"][0][0]
    assert 13 < lon < 14 and 58 < lat < 59


def test_planner_follow_up_leaves_patrol_hot_spots_out(client, auth, db, fake_hotspots):
    """Where patrol hot spots are says where police patrol: not for planners (issue #10)."""
    add_project(db, "Belysning Gröna gången", *GRONA)
    add_project(db, "Vid resecentrum", *RESE, kind="gestaltning")
    auth.login("planner")
    html = client.get("/projekt/uppfoljning").get_data(as_text=True)
    assert "berörde 1 brännpunkter" in html and "Resecentrum" not in html
    body = client.get("/projekt/uppfoljning.csv").get_data(as_text=True)
    assert "Resecentrum" not in body
    auth.logout()
    auth.login("police")
    assert "Resecentrum" in client.get("/projekt/uppfoljning.csv").get_data(as_text=True)
