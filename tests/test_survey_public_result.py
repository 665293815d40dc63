"""The survey in the product after a campaign: exports for staff, the public result once a
campaign is closed, campaigns scoped to the installation's municipality, the drawn area and
the walking route on the web forms, and closed campaigns' answers in the design hot spots
and the planner's check."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tests.test_survey_area import corners, square
from tests.test_survey_results import CELL, answer_many, near
from tests.test_survey_service import TOWN, add_district, lonlat, make_campaign
from tests.test_survey_web import answer, campaign_row, create, opened
from tryggkarta.disclosure import Rule
from tryggkarta.errors import BadInput
from tryggkarta.services import survey as sv
from tryggkarta.store import AuditLog, Dataset, SurveyCampaign, SurveyResponse
from tryggkarta.store.queries import Filters


def close(db, campaign_id: int) -> None:
    with db.session() as s:
        s.get(SurveyCampaign, campaign_id).status = "closed"
        s.commit()


def fill(client, slug: str, n: int, xy=CELL, tag="r", **extra) -> None:
    for i in range(n):
        lon, lat = lonlat((xy[0] + 5 * (i % 5), xy[1] + 5 * (i // 5)))
        data = answer(lat, lon, submission_id=f"{tag}-answer-{i:010d}", **extra)
        assert client.post(f"/enkat/{slug}", data=data).status_code == 303


# --- the drawn area and the walking route on the web forms -----------------------------------


def test_a_campaign_with_a_drawn_area_refuses_pins_outside_it(client, auth, db) -> None:
    auth.login("municipality")
    page = client.get("/enkater/").get_data(as_text=True)
    assert 'id="area-map"' in page and "js/survey_area.js" in page
    create(client, area_polygon=corners(*square()))
    c = campaign_row(db)
    assert c.area_wkb is not None and c.area_ids == []
    assert "Ritat område" in client.get(f"/enkater/{c.id}").get_data(as_text=True)
    client.post(f"/enkater/{c.id}/status", data={"status": "open"})
    auth.logout()
    lon, lat = lonlat((TOWN[0] + 800, TOWN[1]))  # in Skara, outside the drawn square
    response = client.post(f"/enkat/{c.slug}", data=answer(lat, lon))
    assert response.status_code == 400
    assert "Platsen ligger utanför enkätens område. Flytta markeringen." in response.get_data(
        as_text=True
    )
    with db.session() as s:
        assert s.scalar(select(SurveyResponse.id)) is None


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ("58.39, 13.44\nnonsense", "Området kunde inte läsas."),
        ("58.39, 13.44\n58.40, 13.45", "Ett område behöver minst tre hörn."),
    ],
)
def test_a_bad_drawn_area_is_tied_to_its_field(client, auth, db, polygon, message) -> None:
    auth.login("municipality")
    response = client.post(
        "/enkater/",
        data={
            "title": "Ritat",
            "starts_on": "2026-05-01",
            "ends_on": "2026-06-01",
            "municipality_code": "1495",
            "area_polygon": polygon,
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and 'id="err-area_polygon"' in page
    assert 'aria-describedby="area_polygon-hint err-area_polygon"' in page
    assert campaign_row(db) is None


def test_a_walking_route_is_stored_shown_to_staff_and_refused_outside(client, auth, db) -> None:
    c = opened(client, auth, db)
    page = client.get(f"/enkat/{c.slug}").get_data(as_text=True)
    assert 'id="route-draw"' in page and 'name="route"' in page
    lon, lat = lonlat(TOWN)
    lon2, lat2 = lonlat((TOWN[0] + 400, TOWN[1] + 300))
    out_lon, out_lat = lonlat((TOWN[0] + 30_000, TOWN[1]))
    bad = answer(lat, lon, route=json.dumps([[lat, lon], [out_lat, out_lon]]))
    response = client.post(f"/enkat/{c.slug}", data=bad)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Gångvägen går utanför enkätens område." in html and 'id="err-route"' in html
    good = answer(lat, lon, route=json.dumps([[lat, lon], [lat2, lon2]]))
    assert client.post(f"/enkat/{c.slug}", data=good).status_code == 303
    auth.login("municipality")
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    assert "Gångvägar: 1, sammanlagt 0,5 km" in page and 'id="route-map"' in page
    with db.session() as s:
        seen = s.scalar(select(AuditLog).where(AuditLog.detail == "routes"))
        assert seen.action == "view_raw" and seen.feature_count == 1
    data = client.get(f"/enkater/{c.id}/svar.geojson").get_json()
    assert [f["geometry"]["type"] for f in data["features"]] == ["Point", "LineString"]


# --- exports for staff -----------------------------------------------------------------------


def test_geojson_and_xlsx_exports_are_for_campaign_staff_and_audited(client, auth, db) -> None:
    c = opened(client, auth, db)
    fill(client, c.slug, 3, **{"pin-0-comment": "Ring 070-123 45 67", "age_band": "45-64"})
    auth.login("municipality")
    geo = client.get(f"/enkater/{c.id}/svar.geojson")
    assert geo.status_code == 200 and geo.mimetype == "application/geo+json"
    text = geo.get_data(as_text=True)
    assert "070-123" not in text and "45-64" not in text
    assert len(geo.get_json()["features"]) == 3
    xlsx = client.get(f"/enkater/{c.id}/svar.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    rows = list(load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True))
    assert len(rows) == 4 and "070-123" not in repr(rows)
    with db.session() as s:
        details = s.scalars(select(AuditLog.detail).where(AuditLog.action == "export")).all()
    assert sorted(details) == ["geojson", "xlsx"]
    auth.logout()
    for role in ("planner", "partner", "police"):
        auth.login(role)
        assert client.get(f"/enkater/{c.id}/svar.geojson").status_code == 403
        assert client.get(f"/enkater/{c.id}/svar.xlsx").status_code == 403
        auth.logout()
    assert client.get(f"/enkater/{c.id}/svar.geojson").status_code in (302, 401, 403)


# --- the public result of a closed campaign --------------------------------------------------


def test_the_public_result_exists_only_once_closed_and_shows_published_values(
    client, auth, db
) -> None:
    with db.session() as s:
        add_district(s, "Centrum", TOWN)
        s.commit()
    c = opened(client, auth, db)
    fill(client, c.slug, 7, **{"pin-0-comment": "Mörkt vid kiosken"})
    fill(client, c.slug, 2, xy=(TOWN[0] + 2000, TOWN[1]), tag="far")
    assert client.get(f"/enkat/{c.slug}/resultat").status_code == 404
    assert client.get(f"/enkat/{c.slug}/resultat.geojson").status_code == 404
    close(db, c.id)
    closed = client.get(f"/enkat/{c.slug}")
    assert closed.status_code == 410
    assert f"/enkat/{c.slug}/resultat" in closed.get_data(as_text=True)
    page = client.get(f"/enkat/{c.slug}/resultat")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Omkring 10 platser markerades" in html  # 9 answers rounded to a multiple of 5
    assert "Mörkt vid kiosken" not in html and "style=" not in html
    assert '<th scope="row">Centrum</th><td class="num">5</td>' in html  # 7 → 5
    assert "Ladda ned rutorna som GeoJSON" in html
    cells = client.get(f"/enkat/{c.slug}/resultat.geojson").get_json()
    assert [f["properties"]["answers"] for f in cells["features"]] == [5]
    english = client.get(f"/enkat/{c.slug}/resultat?lang=en").get_data(as_text=True)
    assert "About 10 places were marked in the survey." in english
    assert client.get("/enkat/doesnotexist/resultat").status_code == 404


def main_of(html: str) -> str:
    """The page's content (the head carries a fresh CSP nonce per request)."""
    return html[html.index("<main") : html.index("</main>")]


def test_a_published_result_cannot_be_differenced_by_reopening(client, auth, db) -> None:
    """The attack: read the result, get the campaign reopened, add a few pins, read again and
    subtract. A closed campaign with answers is not opened again, so there is one version."""
    c = opened(client, auth, db)
    fill(client, c.slug, 7)
    auth.login("municipality")
    assert client.post(f"/enkater/{c.id}/status", data={"status": "closed"}).status_code == 302
    auth.logout()
    before = main_of(client.get(f"/enkat/{c.slug}/resultat?lang=sv").get_data(as_text=True))
    cells_before = client.get(f"/enkat/{c.slug}/resultat.geojson").get_json()
    auth.login("municipality")
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    assert "Öppna enkäten" not in page and "resultatet publicerat" in page
    client.post(f"/enkater/{c.id}/status", data={"status": "open"})  # forged: no button
    shown = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    assert "Om den öppnades igen skulle den som jämför resultatet" in shown
    english = client.get(f"/enkater/{c.id}?lang=en").get_data(as_text=True)
    assert "Create a new survey for a new period." in english
    auth.logout()
    assert campaign_row(db).status == "closed"
    assert client.post(f"/enkat/{c.slug}", data=answer(58.39, 13.44)).status_code == 410
    assert main_of(client.get(f"/enkat/{c.slug}/resultat?lang=sv").get_data(as_text=True)) == before
    assert client.get(f"/enkat/{c.slug}/resultat.geojson").get_json() == cells_before
    with db.session() as s:  # the service says the same, whoever calls it
        campaign = s.get(SurveyCampaign, c.id)
        with pytest.raises(BadInput, match="Skapa en ny enkät"):
            sv.set_status(campaign, "open")


def test_a_closed_campaign_without_answers_may_be_opened_again(client, auth, db) -> None:
    c = opened(client, auth, db)
    auth.login("municipality")
    client.post(f"/enkater/{c.id}/status", data={"status": "closed"})
    assert "Öppna enkäten" in client.get(f"/enkater/{c.id}").get_data(as_text=True)
    client.post(f"/enkater/{c.id}/status", data={"status": "open"})
    assert campaign_row(db).status == "open"


def test_the_public_result_compares_with_the_previous_closed_campaign(client, auth, db) -> None:
    with db.session() as s:
        add_district(s, "Centrum", TOWN)
        before = make_campaign(
            s, title="Förra", starts_on=date(2025, 3, 1), ends_on=date(2025, 4, 1)
        )
        before.status = "closed"
        answer_many(s, before, near(CELL, 12, step=5.0), tag="b")
        s.commit()
    c = opened(client, auth, db)
    fill(client, c.slug, 6)
    close(db, c.id)
    html = client.get(f"/enkat/{c.slug}/resultat").get_data(as_text=True)
    assert "Jämfört med förra enkäten i området (Förra)" in html
    assert (
        '<th scope="row">Centrum</th><td class="num">5</td><td class="num">10</td>'
        '<td class="num">-5</td>'
    ) in html


# --- scope: the installation's municipality --------------------------------------------------


def test_campaigns_of_another_municipality_are_out_of_scope(db) -> None:
    import dataclasses

    from tests.conftest import AuthActions
    from tryggkarta.web import create_app

    with db.session() as s:
        mine = make_campaign(s, title="Skara")
        other = make_campaign(s, title="Falköping", municipality_code="1499")
        s.commit()
        mine_id, other_id, other_slug = mine.id, other.id, other.slug
    settings = dataclasses.replace(db.settings, region="1495")
    app = create_app({"settings": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = db
    client = app.test_client()
    AuthActions(client, db).login("municipality")
    page = client.get("/enkater/").get_data(as_text=True)
    assert f"/enkater/{mine_id}" in page and f"/enkater/{other_id}" not in page
    assert client.get(f"/enkater/{other_id}").status_code == 404
    assert client.get(f"/enkater/{other_id}/svar.csv").status_code == 404
    assert client.get(f"/enkat/{other_slug}").status_code == 404


def test_migration_0008_gives_campaigns_the_region(tmp_path, monkeypatch) -> None:
    from alembic import command
    from sqlalchemy import text

    from tryggkarta.config import load_settings
    from tryggkarta.store import Database
    from tryggkarta.store.engine import _alembic_config

    old = Database(
        load_settings(
            {
                "database_url": f"sqlite:///{tmp_path / 'old.db'}",
                "instance_path": str(tmp_path),
                "secret_key": "x",
            }
        )
    )
    try:
        command.upgrade(_alembic_config(old.engine, old.srid), "0007")
        with old.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO survey_campaigns (name, description, status)"
                    " VALUES ('Importerad', '', 'closed')"
                )
            )
        monkeypatch.setenv("TRYGGKARTA_REGION", "1495")
        old.upgrade()
        with old.engine.connect() as conn:
            code = conn.execute(text("SELECT municipality_code FROM survey_campaigns")).scalar()
            cols = {r[1] for r in conn.execute(text("PRAGMA table_info(survey_responses)"))}
        assert code == "1495" and "route_wkb" in cols
    finally:
        old.dispose()


# --- closed campaigns' answers reach the design hot spots and the planner's check --------------


def test_a_closed_campaigns_answers_reach_design_hotspots_and_the_planner_check(db) -> None:
    import shapely

    from tryggkarta.services.projectcheck import released_survey_summary
    from tryggkarta.services.targets import design_layer

    with db.session() as s:
        c = make_campaign(
            s, starts_on=date.today() - timedelta(days=60), ends_on=date.today() - timedelta(1)
        )
        answer_many(s, c, near(CELL, 25, step=8.0), reasons=("belysning",), tag="d")
        elsewhere = near((TOWN[0] - 1500, TOWN[1] - 1200), 60, step=120.0)  # safe: the baseline
        answer_many(s, c, elsewhere, rating=5, reasons=(), tag="safe")
        c.status = "closed"
        s.commit()
    layer = design_layer(db, Filters(municipality_code="1495"))
    assert layer.summary["n_answers"] == 85
    measures = {m["key"] for f in layer.features for m in f["properties"]["measures"]}
    assert "belysning" in measures
    area = shapely.Point(CELL).buffer(100)
    summary = released_survey_summary(db, area, Rule(5, 5))
    assert summary["n"] == 25 and summary["reasons"][0][0] == "belysning"


def test_a_drawn_area_without_a_chosen_municipality_gets_the_one_it_lies_in(
    client, auth, db
) -> None:
    auth.login("municipality")
    create(client, municipality_code="", area_polygon=corners(*square()))
    c = campaign_row(db)
    assert c.municipality_code == "1495" and c.area_wkb is not None
    with db.session() as s:  # answers carry the code of the campaign's dataset
        assert s.get(Dataset, c.dataset_id).municipality_code == "1495"


def test_the_public_page_links_open_forms_and_published_results(client, auth, db) -> None:
    done = opened(client, auth, db)
    close(db, done.id)
    auth.login("municipality")
    create(client, title="Trygg i Skara i vår")
    answering = campaign_row(db)
    client.post(f"/enkater/{answering.id}/status", data={"status": "open"})
    auth.logout()
    auth.login("municipality")
    create(client, title="Utkast som ingen ska se")
    auth.logout()
    html = client.get("/publik").get_data(as_text=True)
    assert f'href="/enkat/{answering.slug}"' in html
    assert f'href="/enkat/{done.slug}/resultat"' in html
    assert f'href="/enkat/{answering.slug}/resultat"' not in html  # not published while open
    assert "Utkast som ingen ska se" not in html
    assert "Safety surveys" in client.get("/publik?lang=en").get_data(as_text=True)
