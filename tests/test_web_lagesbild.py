"""The EST weekly picture: weeks, tables, hotspots with profiles, decisions and follow-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import shapely
from sqlalchemy import select

from tryggkarta.errors import BadInput
from tryggkarta.geo import to_wgs84
from tryggkarta.services import hotspots as service
from tryggkarta.services import lagesbild as lb
from tryggkarta.store import Dataset, Decision, insert_layer


@pytest.fixture
def db(sqlite_db):
    """Web tests run on SQLite only (the store tests cover both engines)."""
    return sqlite_db


X0, Y0 = 408_672.0, 6_472_746.0


def fake_layer(
    key: str = "hs-resecentrum",
    name: str = "Resecentrum",
    count: int = 9,
    x: float = X0,
    y: float = Y0,
    trend: str = "up",
) -> service.HotspotLayer:
    lon, lat = to_wgs84([x - 50, x + 50], [y - 50, y + 50], 3006)
    ring = [
        [lon[0], lat[0]],
        [lon[1], lat[0]],
        [lon[1], lat[1]],
        [lon[0], lat[1]],
        [lon[0], lat[0]],
    ]
    profile = [[0] * 24 for _ in range(7)]
    profile[4][21] = 5
    profile[5][22] = 4
    props = {
        "key": key,
        "name": name,
        "count": count,
        "baseline": 2.5,
        "trend": trend,
        "trend_label_sv": "ökar",
        "trend_label_en": "increasing",
        "profile": profile,
        "peak_sv": "fre–lör 20–02",
        "peak_en": "Fri–Sat 20–02",
        "top_categories": [["narkotika", 4], ["ordningsstorning", 3]],
    }
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": props,
            }
        ],
    }
    return service.HotspotLayer(method="patrol", title_sv="Patrull", title_en="Patrol", geojson=fc)


@pytest.fixture
def fake_service(monkeypatch):
    calls = {}

    def patrol_layer(db, filters, *, now=None, recent_weeks=4, baseline_weeks=12):
        calls["patrol"] = (filters, now, recent_weeks)
        return fake_layer()

    def emerging_layer(db, filters, *, step="week", now=None):
        layer = fake_layer("em-1", "Idrottsplatsen", 4, X0 + 1500, Y0 + 300)
        layer.geojson["features"][0]["properties"].update(
            category="new", trend_z=2.5, recent=4, label_sv="Ny", label_en="New"
        )
        # Gi* can flag an empty cell beside a busy one: such a cell must not become a line
        empty = fake_layer("em-2", "Tomma rutan", 0, X0 + 3000, Y0 + 3000)
        empty.geojson["features"][0]["properties"].update(category="new", trend_z=-1.0, recent=0)
        layer.geojson["features"].append(empty.geojson["features"][0])
        return layer

    monkeypatch.setattr(service, "patrol_layer", patrol_layer)
    monkeypatch.setattr(service, "emerging_layer", emerging_layer)
    return calls


def add_incidents(db, times: list[datetime], x: float = X0, y: float = Y0, category="narkotika"):
    import geopandas as gpd

    with db.session() as s:
        ds = Dataset(layer="incidents", name="t", checksum=f"t{len(times)}{x}")
        s.add(ds)
        s.flush()
        gdf = gpd.GeoDataFrame(
            {
                "occurred_at": pd.to_datetime(times, utc=True),
                "category": category,
                "description": "secret",
            },
            geometry=[shapely.Point(x + i, y) for i in range(len(times))],
            crs=3006,
        )
        insert_layer(s, "incidents", gdf, ds.id)


# --- pure logic -------------------------------------------------------------------------


def test_parse_week_and_default() -> None:
    now = datetime(2026, 11, 25, 10, tzinfo=UTC)  # Wednesday of week 48
    assert lb.parse_week(None, now).key == "2026-W47"
    assert lb.parse_week("2026-W5", now).key == "2026-W05"
    week = lb.parse_week("2026-W47", now)
    assert week.start == datetime(2026, 11, 15, 23, tzinfo=UTC)  # Monday 00:00 CET
    assert (week + 1).key == "2026-W48" and (week - 47).key == "2025-W52"
    for bad in ("47", "2026-47", "2026-W54", "W47-2026"):
        with pytest.raises(BadInput):
            lb.parse_week(bad, now)
    with pytest.raises(BadInput, match="inte börjat"):
        lb.parse_week("2026-W50", now)


def test_change_row_arrows() -> None:
    assert lb.ChangeRow("a", "A", 10, 4.0, 4.0).arrow == "up"
    assert lb.ChangeRow("a", "A", 1, 6.0, 4.0).arrow == "down"
    assert lb.ChangeRow("a", "A", 4, 4.0, 4.0).arrow == "flat"


def test_category_table_counts_week_against_mean(db) -> None:
    week = lb.Week(2026, 47)
    add_incidents(db, [week.start + timedelta(hours=h) for h in (20, 21, 22)])
    add_incidents(db, [(week - 2).start + timedelta(hours=20)], x=X0 + 10)
    rows = {r.key: r for r in lb.category_table(db, week)}
    assert rows["narkotika"].count == 3
    assert rows["narkotika"].mean4 == pytest.approx(0.25)
    assert rows["narkotika"].label == "Narkotika"


# --- the page ---------------------------------------------------------------------------


def test_page_shows_hotspot_profile_and_tables(client, auth, db, fake_service) -> None:
    auth.login("police")
    week = lb.last_complete_week()
    add_incidents(db, [week.start + timedelta(hours=21)] * 1 + [week.start + timedelta(hours=22)])
    r = client.get("/lagesbild/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f"Lägesbild vecka {week.number}" in html
    assert "Nya och ökande brännpunkter" in html
    assert "Resecentrum" in html and "Idrottsplatsen" in html  # patrol + emerging "new"
    assert "Tomma rutan" not in html  # no incidents lately, falling: not a hotspot
    assert "När: fre–lör 20–02" in html
    assert 'role="img"' in html and "Flest händelser: fre–lör 20–02" in html
    assert "Händelser per kategori" in html and "Narkotika" in html
    assert "Per område" in html and "Skriv ut" in html
    assert fake_service["patrol"][1] == week.end and fake_service["patrol"][2] == lb.RECENT_WEEKS


def test_decision_is_stored_escaped_and_followed_up_next_week(client, auth, db, fake_service):
    auth.login("municipality")
    week = lb.last_complete_week() - 1
    add_incidents(db, [week.start + timedelta(hours=h) for h in (20, 21, 22, 23)])
    add_incidents(db, [(week + 1).start + timedelta(hours=21)], x=X0 + 20)
    r = client.post(
        "/lagesbild/beslut",
        data={
            "week": week.key,
            "hotspot_key": "hs-resecentrum",
            "title": "Resecentrum",
            "x": str(X0),
            "y": str(Y0),
            "text": "Extra patrull fre/lör 20–02 <script>alert(1)</script>",
        },
    )
    assert r.status_code == 302 and week.key in r.headers["Location"]
    with db.session() as s:
        row = s.scalar(select(Decision))
        assert row.week == week.key and row.hotspot_key == "hs-resecentrum"
        assert row.created_by is not None and row.created_at is not None
    html = client.get(f"/lagesbild/?week={week.key}").get_data(as_text=True)
    assert "Extra patrull fre/lör 20–02 &lt;script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "Test_Municipality" in html or "test_municipality" in html
    nxt = client.get(f"/lagesbild/?week={(week + 1).key}").get_data(as_text=True)
    assert "Förra veckans beslut" in nxt
    assert "händelser i närheten: 4 → 1" in nxt and "minskade" in nxt


def test_empty_decision_is_rejected(client, auth, fake_service) -> None:
    auth.login("police")
    week = lb.last_complete_week()
    r = client.post("/lagesbild/beslut", data={"week": week.key, "hotspot_key": "x", "text": " "})
    assert r.status_code == 400
    assert "Skriv vilken åtgärd som beslutades." in r.get_data(as_text=True)


@pytest.mark.parametrize(
    ("week", "message"),
    [("banana", "Okänd vecka"), ("2026-W60", "finns inte"), ("2999-W01", "inte börjat")],
)
def test_bad_weeks_answer_400(client, auth, fake_service, week, message) -> None:
    auth.login("police")
    r = client.get(f"/lagesbild/?week={week}")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert message in html and "Traceback" not in html


@pytest.mark.parametrize(("role", "status"), [("planner", 403), ("partner", 403)])
def test_wrong_role_is_forbidden(client, auth, role, status) -> None:
    auth.login(role)
    assert client.get("/lagesbild/").status_code == status


def test_anonymous_is_sent_to_login(client) -> None:
    r = client.get("/lagesbild/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_missing_csrf_is_400(db, fake_service) -> None:
    from tryggkarta.web import create_app

    app = create_app({"settings": db.settings, "TESTING": True})
    app.extensions["tryggkarta.db"] = db
    client = app.test_client()
    with db.session() as s:
        from tryggkarta.services.accounts import create_user

        create_user(s, "csrfpolis", "correct-horse-battery", "police")
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post(
        "/login",
        data={"username": "csrfpolis", "password": "correct-horse-battery", "csrf_token": token},
    )
    assert r.status_code == 302
    week = lb.last_complete_week()
    r = client.post("/lagesbild/beslut", data={"week": week.key, "hotspot_key": "x", "text": "y"})
    assert r.status_code == 400
    assert "Sessionen har gått ut" in r.get_data(as_text=True)
