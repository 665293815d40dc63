"""The users' days (design/SCENARIOS.md 1, 2, 3, 5, 6) walked through the test client on
the synthetic Skara demo data, logged in as the demo users (password "tryggkarta-demo").

Hotspots come from the real :mod:`tryggkarta.services.hotspots` layers; every scenario runs
on SQLite and on PostGIS.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from sqlalchemy import select

from tryggkarta.config import local_timezone
from tryggkarta.demo import COMMENTS, DEMO_PASSWORD
from tryggkarta.services import lagesbild as lb
from tryggkarta.store import AuditLog, Decision, Filters, Project, ProjectMeasure, count

TOWN = (408_672.0, 6_472_746.0)
RESE = (TOWN[0] + 350, TOWN[1] - 420)


@pytest.fixture
def demo(db):
    from tests.demodata import demo_into

    demo_into(db)
    return db


def login(client, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]


def logout(client) -> None:
    client.post("/logout")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_scenario_1_monday_est_meeting(client, demo) -> None:
    """Upload a week's reports, read the weekly picture, decide, see next week if it helped."""
    login(client, "kommun")
    decided = lb.last_complete_week() - 1
    friday = decided.start + timedelta(days=4, hours=20)  # Fri 21:00 local
    csv_text = "datum;tid;kategori;beskrivning;latitud;longitud\n" + "".join(
        f"{(friday + timedelta(minutes=10 * i)).astimezone(local_timezone()):%Y-%m-%d;%H:%M};"
        f"narkotika;Langning vid busshållplatsen {i};58,3824;13,4444\n"
        for i in range(6)
    )
    r = client.post(
        "/import/preview",
        data={
            "layer": "incidents",
            "file": (io.BytesIO(csv_text.encode("utf-8-sig")), "est_v.csv"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    token = re.search(r'name="token" value="([^"]+)"', r.get_data(as_text=True)).group(1)
    r = client.post("/import/confirm", data={"token": token})
    assert r.status_code == 200
    assert (
        count(
            demo,
            "incidents",
            Filters(categories=("narkotika",), start=friday, end=friday + timedelta(hours=2)),
        )
        >= 6
    )
    logout(client)

    login(client, "polis")
    page = client.get(f"/lagesbild/?week={decided.key}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    body = text_of(html)
    assert f"Lägesbild vecka {decided.number}" in body
    assert "Nya och ökande brännpunkter" in body and "Händelser per kategori" in body
    assert "Per område" in body and "Centrum" in body  # demo district
    hotspots, _ = lb.week_hotspots(demo, decided)
    assert hotspots, "the demo week must show at least one hotspot"
    first = hotspots[0]
    assert first.name in body
    if first.peak:
        assert f"När: {first.peak}" in body
    rows = {r.key: r for r in lb.category_table(demo, decided)}
    narkotika = rows["narkotika"]
    assert narkotika.count >= 6
    assert f'Narkotika</th><td class="num">{narkotika.count}</td>' in html

    action = "Extra patrull fre/lör 20–02 vid Resecentrum"
    r = client.post(
        "/lagesbild/beslut",
        data={
            "week": decided.key,
            "hotspot_key": first.key,
            "title": first.name,
            "x": first.x,
            "y": first.y,
            "text": action,
        },
    )
    assert r.status_code == 302
    assert action in client.get(f"/lagesbild/?week={decided.key}").get_data(as_text=True)
    with demo.session() as s:
        stored = s.scalar(select(Decision))
        assert (stored.week, stored.text) == (decided.key, action)

    following = text_of(client.get(f"/lagesbild/?week={(decided + 1).key}").get_data(as_text=True))
    assert action in following
    area = shapely.Point(first.x, first.y).buffer(lb.FOLLOW_UP_RADIUS)
    before = count(demo, "incidents", Filters(polygon=area, start=decided.start, end=decided.end))
    after = count(
        demo, "incidents", Filters(polygon=area, start=(decided + 1).start, end=(decided + 1).end)
    )
    assert f"händelser i närheten: {before} → {after}" in following
    assert ("minskade inte" in following) == (after >= before)


def test_scenario_2_planner_checks_a_project(client, demo) -> None:
    login(client, "planerare")
    with demo.session() as s:
        pid = s.scalar(select(Project.id).where(Project.name == "Belysning Gröna gången"))
    assert "Belysning Gröna gången" in client.get("/projekt/").get_data(as_text=True)
    html = text_of(client.get(f"/projekt/{pid}/kontroll").get_data(as_text=True))
    assert re.search(
        r"Projektet ligger (i|intill) en brännpunkt \([^)]+\) där enkätsvaren "
        r"anger \d+(–\d+)? % dålig belysning",
        html,
    )
    assert "Bättre belysning" in html and "Röj vegetation, öppna siktlinjer" in html
    assert "av de otrygga svaren i området anger" in html  # local survey evidence
    for texts in COMMENTS.values():  # the planner sees aggregates, never comments
        assert all(t not in html for t in texts)
    r = client.post(f"/projekt/{pid}/kontroll", data={"measures": ["belysning", "siktlinjer"]})
    assert r.status_code == 302
    printed = text_of(client.get(r.headers["Location"]).get_data(as_text=True))
    assert "Projektet innehåller: Bättre belysning, Röj vegetation" in printed
    assert "Skriv ut" in printed


def test_scenario_3_medborgarlofte_follow_up(client, demo) -> None:
    login(client, "kommun")
    before = text_of(client.get("/projekt/uppfoljning").get_data(as_text=True))
    m = re.search(
        r"Av (\d+) aktiva plan- och gestaltningsprojekt berörde (\d+) brännpunkter, "
        r"och (\d+) av dem",
        before,
    )
    assert m, before[:500]
    active, touched, with_measures = map(int, m.groups())
    assert active == 7 and touched >= 1 and with_measures == 0
    with demo.session() as s:
        pid = s.scalar(select(Project.id).where(Project.name == "Belysning Gröna gången"))
    client.post(f"/projekt/{pid}/kontroll", data={"measures": ["belysning"]})
    after = text_of(client.get("/projekt/uppfoljning").get_data(as_text=True))
    assert f"berörde {touched} brännpunkter, och 1 av dem" in after
    csv_body = client.get("/projekt/uppfoljning.csv").get_data(as_text=True)
    assert "Belysning Gröna gången" in csv_body and "belysning" in csv_body
    geo = client.get("/projekt/uppfoljning.geojson").get_json(force=True)
    assert geo["summary"]["n_touched_with_measures"] == 1 and len(geo["features"]) == 7


def test_scenario_5_resident_public_map(client, demo) -> None:
    login(client, "planerare")
    with demo.session() as s:
        pid = s.scalar(select(Project.id).where(Project.name == "Belysning Gröna gången"))
    client.post(f"/projekt/{pid}/kontroll", data={"measures": ["belysning"]})
    logout(client)
    r = client.get("/publik")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    body = text_of(html)
    assert "Andel otrygga svar per ruta" in body
    assert f"Åtgärder {datetime.now(UTC).year}" in body
    assert re.search(r"Belysning Gröna gången ?: Bättre belysning", body)
    for texts in COMMENTS.values():
        assert all(t not in html for t in texts)
    assert "Langning" not in html and "Beskrivning" not in html
    numbers = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', html)]
    assert numbers and min(numbers) >= 5  # no cell with fewer than five answers
    assert client.get("/lagesbild/").status_code == 302  # the picture needs a login


def test_scenario_6_administrator(client, demo) -> None:
    login(client, "polis")
    client.get(f"/lagesbild/?week={lb.last_complete_week().key}")
    r = client.post(
        "/kartor/", data={"name": "Helgkvällar", "layers": ["incidents"], "roles": ["police"]}
    )
    client.get(r.headers["Location"])
    logout(client)

    login(client, "admin")
    r = client.post(
        "/admin/organisationer", data={"name": "Grannsamverkan Skara Norr", "kind": "partner"}
    )
    assert r.status_code == 302
    with demo.session() as s:
        from tryggkarta.store import Organisation

        org_id = s.scalar(
            select(Organisation.id).where(Organisation.name == "Grannsamverkan Skara Norr")
        )
    r = client.post(
        "/admin/anvandare",
        data={
            "username": "gs-norr",
            "password": "grannar-123",
            "role": "partner",
            "organisation_id": org_id,
        },
    )
    assert r.status_code == 302
    admin_page = text_of(client.get("/admin/").get_data(as_text=True))
    assert "gs-norr" in admin_page and "Grannsamverkan Skara Norr" in admin_page

    today = datetime.now(local_timezone()).date()
    log = client.get(
        f"/admin/logg?layer=incidents&detail=raw&user=polis"
        f"&from={(today - timedelta(days=31)).isoformat()}&to={today.isoformat()}"
    )
    table = log.get_data(as_text=True).split('<table class="audit">')[1]
    assert "view_lagesbild" in table and "shared_map_view" in table
    with demo.session() as s:
        rows = s.scalars(
            select(AuditLog).where(AuditLog.username == "polis", AuditLog.detail == "raw")
        ).all()
    assert {r.action for r in rows} >= {"view_lagesbild", "shared_map_view"}
    assert "kommun" not in text_of(table).split()
    with demo.session() as s:
        assert s.scalar(select(ProjectMeasure)) is None  # nothing else was touched
