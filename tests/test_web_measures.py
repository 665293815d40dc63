"""The /insatser pages: list, form, mark done, "Gör till insats", the evaluation page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.test_services_measures import X0, Y0, add_incidents
from tests.test_web_lagesbild import fake_service  # noqa: F401 - a fixture
from tryggkarta.store import Decision, Intervention


@pytest.fixture
def db(sqlite_db):
    """Web tests run on SQLite only (the service tests cover both engines)."""
    return sqlite_db


FORM = {
    "title": "Lampor vid gångtunneln",
    "kind": "belysning",
    "status": "pagaende",
    "start": "2026-03-02",
    "end": "2026-03-15",
    "due": "2026-04-01",
    "place": "58.3498, 13.4525",
    "categories": ["narkotika"],
    "description": "Byt armaturer <b>nu</b>",
}


def _measure(db) -> Intervention:
    with db.session() as s:
        row = s.scalars(select(Intervention)).one()
        s.expunge(row)
        return row


def test_create_list_show_and_mark_done(client, auth, db) -> None:
    auth.login("municipality")
    r = client.post("/insatser/ny", data=FORM)
    assert r.status_code == 302, r.data[:400]
    row = _measure(db)
    assert row.measure == "belysning" and row.categories == "narkotika"
    page = client.get("/insatser/").get_data(as_text=True)
    assert "Lampor vid gångtunneln" in page and "Lagad belysning" in page
    assert 'class="map-frame map-inset"' in page and "js/map.js" in page  # the map layer
    show = client.get(f"/insatser/{row.id}").get_data(as_text=True)
    assert "&lt;b&gt;nu&lt;/b&gt;" in show  # escaped
    assert "Inga händelser i insatsens område" in show
    assert client.post(f"/insatser/{row.id}/klar").status_code == 302
    assert _measure(db).status == "klar"
    assert "Markera som klar" not in client.get(f"/insatser/{row.id}").get_data(as_text=True)


def test_end_before_start_comes_back_with_the_typed_values(client, auth, db) -> None:
    auth.login("police")
    r = client.post("/insatser/ny", data={**FORM, "start": "2026-03-15", "end": "2026-03-01"})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert "kan inte sluta (2026-03-01) innan den börjar (2026-03-15)" in body
    assert 'value="Lampor vid gångtunneln"' in body  # nothing typed is lost
    with db.session() as s:
        assert s.scalars(select(Intervention)).all() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"place": "norr om kyrkan"}, "Platsen går inte att läsa"),
        ({"start": "2026-02-30"}, "Ogiltigt datum"),
        ({"categories": ["bogus"]}, "Okänd kategori"),
        ({"kind": ""}, "Välj vilken sorts insats"),
        ({"owner_org_id": "abc"}, "Ogiltigt värde"),
    ],
)
def test_bad_form_values_get_a_sentence(client, auth, changes, message) -> None:
    auth.login("police")
    r = client.post("/insatser/ny", data={**FORM, **changes})
    assert r.status_code == 400
    assert message in r.get_data(as_text=True)


def test_edit_keeps_the_place(client, auth, db) -> None:
    auth.login("police")
    client.post("/insatser/ny", data=FORM)
    row = _measure(db)
    form = client.get(f"/insatser/{row.id}/andra").get_data(as_text=True)
    place = re.search(r'<textarea id="place" name="place"[^>]*>([^<]*)<', form).group(1)
    assert place == "58.349800, 13.452500"
    r = client.post(f"/insatser/{row.id}/andra", data={**FORM, "place": place, "title": "Ny"})
    assert r.status_code == 302
    after = _measure(db)
    assert after.title == "Ny" and after.x == pytest.approx(row.x, abs=0.5)


def test_evaluation_page_shows_estimate_and_interval(client, auth, db) -> None:
    add_incidents(db, "2026-02-20T12:00Z", 30)
    add_incidents(db, "2026-03-05T12:00Z", 5)
    add_incidents(db, "2026-02-20T12:00Z", 40, dx=700)
    add_incidents(db, "2026-03-05T12:00Z", 40, dx=700)
    auth.login("police")
    from tryggkarta.geo import to_wgs84

    lon, lat = to_wgs84([X0], [Y0], db.srid)
    client.post("/insatser/ny", data={**FORM, "place": f"{lat[0]:.7f}, {lon[0]:.7f}"})
    row = _measure(db)
    body = client.get(f"/insatser/{row.id}").get_data(as_text=True)
    assert "Händelserna minskade i insatsens område" in body
    assert "95 % intervall" in body
    assert 'aria-label="Karta över områdena" data-map="map_' in body
    assert "<script>" not in body  # every inline script carries the nonce
    # comparison ring 350..1150 m holds the 40 + 40
    assert re.search(r"Jämförelsering</th><td class=\"num\">40</td><td class=\"num\">40", body)
    district = client.get(f"/insatser/{row.id}?comparison=district").get_data(as_text=True)
    assert "ligger inte i någon stadsdel" in district
    bad = client.get(f"/insatser/{row.id}?radius=nan")
    assert bad.status_code == 400


def test_decision_becomes_a_measure_from_the_weekly_picture(client, auth, db) -> None:
    with db.session() as s:
        d = Decision(
            week="2026-W10", hotspot_key="hs-1", title="Torget", text="Patrull", x=X0, y=Y0
        )
        s.add(d)
        s.flush()
        did = d.id
    auth.login("police")
    r = client.post("/insatser/fran-beslut", data={"decision_id": str(did)})
    assert r.status_code == 302 and "/andra" in r.headers["Location"]
    again = client.post("/insatser/fran-beslut", data={"decision_id": str(did)})
    assert again.headers["Location"] == r.headers["Location"]
    row = _measure(db)
    assert row.origin == "decision" and row.decision_id == did
    assert client.post("/insatser/fran-beslut", data={"decision_id": "x"}).status_code == 400
    assert client.post("/insatser/fran-beslut", data={"decision_id": "999"}).status_code == 404


@pytest.mark.parametrize("role", ["planner", "partner"])
def test_non_staff_roles_are_refused(client, auth, role) -> None:
    auth.login(role)
    assert client.get("/insatser/").status_code == 403
    assert client.post("/insatser/ny", data=FORM).status_code == 403


def test_anonymous_is_sent_to_login(client) -> None:
    r = client.get("/insatser/")
    assert r.status_code in (302, 401)


@pytest.mark.usefixtures("fake_service")
def test_weekly_picture_offers_make_it_a_measure_then_links_to_it(client, auth, db) -> None:
    from tryggkarta.services import lagesbild as lb

    week = lb.last_complete_week()
    auth.login("police")
    client.post(
        "/lagesbild/beslut",
        data={
            "week": week.key,
            "hotspot_key": "hs-resecentrum",
            "title": "Resecentrum",
            "x": str(X0),
            "y": str(Y0),
            "text": "Extra patrull",
        },
    )
    with db.session() as s:
        did = s.scalar(select(Decision.id))
    html = client.get(f"/lagesbild/?week={week.key}").get_data(as_text=True)
    assert "Gör till insats" in html and f'name="decision_id" value="{did}"' in html
    client.post("/insatser/fran-beslut", data={"decision_id": str(did)})
    row = _measure(db)
    html = client.get(f"/lagesbild/?week={week.key}").get_data(as_text=True)
    assert "Gör till insats" not in html
    assert f'href="/insatser/{row.id}"' in html and "Visa insatsen" in html


def test_a_project_measure_becomes_a_measure_from_the_project_page(client, auth, db) -> None:
    """The project page offers "Gör till insats" on each included safety measure to those
    who keep the register, creates it once (audited) and then links the measure instead."""
    import shapely

    from tests.test_services_measures import add_project
    from tryggkarta.store.models import AuditLog

    area = shapely.box(X0 - 100, Y0 - 100, X0 + 100, Y0 + 100)
    pid, (pmid,) = add_project(db, "Torgets ombyggnad", area, [("siktlinjer", "")])
    auth.login("planner")  # a planner ticks measures but does not keep the register
    html = client.get(f"/projekt/{pid}").get_data(as_text=True)
    assert "Gör till insats" not in html
    assert (
        client.post("/insatser/fran-projekt", data={"project_measure_id": str(pmid)}).status_code
        == 403
    )
    auth.login("municipality")
    html = client.get(f"/projekt/{pid}").get_data(as_text=True)
    assert f'name="project_measure_id" value="{pmid}"' in html
    r = client.post("/insatser/fran-projekt", data={"project_measure_id": str(pmid)})
    row = _measure(db)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/insatser/{row.id}/andra")
    assert (row.origin, row.project_id, row.measure) == ("project", pid, "siktlinjer")
    again = client.post("/insatser/fran-projekt", data={"project_measure_id": str(pmid)})
    assert again.status_code == 302 and _measure(db).id == row.id  # still one
    html = client.get(f"/projekt/{pid}").get_data(as_text=True)
    assert "Gör till insats" not in html and f'href="/insatser/{row.id}"' in html
    with db.session() as s:
        audited = s.scalars(select(AuditLog).where(AuditLog.action == "measure_saved")).all()
        assert [a.extra.get("project_id") for a in audited] == [pid]
    assert (
        client.post("/insatser/fran-projekt", data={"project_measure_id": "x"}).status_code == 400
    )
    assert (
        client.post("/insatser/fran-projekt", data={"project_measure_id": "99999"}).status_code
        == 404
    )
