"""Issue #14 item by item on both engines: the typed address or place instead of a pin, the
bad input the issue lists (500 pins, a 50,000-character comment, script, a personnummer, a
forged, closed or unknown campaign link, a replayed answer), nothing about the client stored
with an answer, and one campaign walked end to end: created and opened by the municipality,
answered on the public form, aggregated on the campaign page, closed by its end date with no
one pressing a button, then in the public result, the design hot spots and the planner's
check."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import shapely
from sqlalchemy import select, text

from tests.test_survey_results import CELL, answer_many, near
from tests.test_survey_service import TOWN, add_district, lonlat, make_campaign, parse, pin_form
from tests.test_survey_web import answer, campaign_row, count, create, opened
from tryggkarta.services import survey as sv
from tryggkarta.services.places import fold
from tryggkarta.store import Dataset, Place, SurveyCampaign, SurveyResponse

#: Invented names at points of Skara's centre (EPSG:3006), and one in Falköping.
NAMES = [
    ("place", "Stora torget", (TOWN[0] + 20, TOWN[1] + 15)),
    ("address", "Skolgatan 3", (TOWN[0] + 120, TOWN[1] - 60)),
    ("address", "Skolgatan 30", (TOWN[0] + 180, TOWN[1] - 90)),
    ("address", "Storgatan 1, Falköping", (420_000.0, 6_450_000.0)),
]


def add_names(s) -> dict[str, tuple[float, float]]:
    for kind, name, (x, y) in NAMES:
        s.add(Place(kind=kind, name=name, name_key=fold(name), municipality_code="1495", x=x, y=y))
    s.flush()
    return {name: xy for _, name, xy in NAMES}


def stored_points(db) -> list[tuple[float, float]]:
    with db.session() as s:
        return [(r.x, r.y) for r in s.execute(select(SurveyResponse.x, SurveyResponse.y)).all()]


# --- the typed address or place (the accessible alternative to a pin) ------------------------


def test_find_places_offers_addresses_places_and_districts_in_the_area_only(db) -> None:
    with db.session() as s:
        add_names(s)
        add_district(s, "Centrum", TOWN)
        c = make_campaign(s)
        polygon = sv.area_polygon(s, c, 3006)
        districts = sv.places(s, c, 3006)
        names = [p.name for p in sv.find_places(s, polygon, "skolgatan", districts)]
        assert names == ["Skolgatan 3", "Skolgatan 30"]  # the shorter (closer) name first
        assert [p.kind for p in sv.find_places(s, polygon, "  STORA torget ", districts)] == [
            "place"
        ]
        assert sv.find_places(s, polygon, "centr", districts)[0].name == "Centrum"
        assert sv.find_places(s, polygon, "Storgatan 1", districts) == []  # in Falköping
        assert sv.find_places(s, polygon, "%", districts) == []  # LIKE wildcards are text
        assert sv.find_places(s, polygon, "s", districts) == []  # too short to search
        assert sv.resolve_place(s, polygon, "skolgatan 3", districts).name == "Skolgatan 3"
        with pytest.raises(sv.SurveyInputError, match="Flera adresser"):
            sv.resolve_place(s, polygon, "Skolgatan", districts)
        with pytest.raises(sv.SurveyInputError, match="ingen adress eller plats"):
            sv.resolve_place(s, polygon, "Storgatan 1, Falköping", districts)


def test_a_typed_address_is_stored_at_its_point_without_javascript(client, auth, db) -> None:
    with db.session() as s:
        points = add_names(s)
        s.commit()
    c = opened(client, auth, db)
    data = answer(0, 0, **{"pin-0-address": "Skolgatan 3"})
    del data["pin-0-lat"], data["pin-0-lon"]
    assert client.post(f"/enkat/{c.slug}", data=data).status_code == 303
    assert stored_points(db) == [pytest.approx(points["Skolgatan 3"])]
    with db.session() as s:  # the typed text is not kept: only the point, as for a pin
        row = s.scalar(select(SurveyResponse))
        assert "Skolgatan" not in repr([row.comment, row.held_comment, row.reasons])


def test_an_unknown_or_ambiguous_address_is_tied_to_its_field(client, auth, db) -> None:
    with db.session() as s:
        add_names(s)
        s.commit()
    c = opened(client, auth, db)
    for typed, message in (
        ("Kvarngatan 99", "Vi hittade ingen adress eller plats med det namnet"),
        ("Skolgatan", "Flera adresser eller platser passar"),
    ):
        data = answer(0, 0, **{"pin-0-address": typed})
        del data["pin-0-lat"], data["pin-0-lon"]
        response = client.post(f"/enkat/{c.slug}", data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 400 and message in page
        assert 'aria-describedby="pin-0-address-hint err-pin-0-address"' in page
        assert 'href="#pin-0-address"' in page  # the error summary leads to the field
        assert f'value="{typed}"' in page  # the text is kept for correcting
    english = client.post(f"/enkat/{c.slug}?lang=en", data=data).get_data(as_text=True)
    assert "Several addresses or places match" in english
    assert count(db) == 0


def test_the_forms_suggestions_are_places_inside_an_open_campaigns_area(client, auth, db) -> None:
    with db.session() as s:
        points = add_names(s)
        s.commit()
    c = opened(client, auth, db)
    body = client.get(f"/enkat/{c.slug}/platser?q=skolgatan").get_json()
    assert [r["name"] for r in body["results"]] == ["Skolgatan 3", "Skolgatan 30"]
    lon, lat = lonlat(points["Skolgatan 3"])
    assert body["results"][0]["kind"] == "address"
    assert body["results"][0]["lat"] == pytest.approx(lat, abs=1e-6)
    assert body["results"][0]["lon"] == pytest.approx(lon, abs=1e-6)
    assert client.get(f"/enkat/{c.slug}/platser?q=Storgatan 1").get_json()["results"] == []
    short = client.get(f"/enkat/{c.slug}/platser?q=s")
    assert short.status_code == 400 and "minst 2 tecken" in short.get_json()["description"]
    with db.session() as s:
        s.get(SurveyCampaign, c.id).status = "closed"
        s.commit()
    assert client.get(f"/enkat/{c.slug}/platser?q=skolgatan").status_code == 404


def test_the_suggestions_are_rate_limited_like_the_api(client, auth, db) -> None:
    import dataclasses

    from tryggkarta.web import create_app

    c = opened(client, auth, db)
    settings = dataclasses.replace(db.settings, api_rate_limit="3 per minute")
    app = create_app({"settings": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = db
    resident = app.test_client()
    codes = [resident.get(f"/enkat/{c.slug}/platser?q=torget").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


# --- bad input (the list) --------------------------------------------------------------


def test_five_hundred_pins_in_one_answer_are_refused_in_swedish(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    data = {"submission_id": "many-pins-0123456789", "consent": "1"}
    for i in range(500):
        data |= {f"pin-{i}-lat": f"{lat:.6f}", f"pin-{i}-lon": f"{lon:.6f}", f"pin-{i}-rating": "1"}
    response = client.post(f"/enkat/{c.slug}", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Du kan markera högst 20 platser per svar." in page
    shown = re.findall(r'<fieldset class="pin" id="pin-\d+"', page)
    assert len(shown) == 20  # the form shows at most 20 places again
    assert count(db) == 0


def test_a_50000_character_comment_is_refused_and_kept_for_correcting(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    response = client.post(
        f"/enkat/{c.slug}", data=answer(lat, lon, **{"pin-0-comment": "Mörkt. " * 7143})
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Kommentaren får vara högst 2000 tecken." in page
    assert 'aria-invalid="true"' in page
    assert count(db) == 0


@pytest.mark.parametrize(
    "comment",
    [
        "<script>alert(1)</script>",
        "Titta här <img src=x onerror=alert(1)>",
        "Klicka javascript:alert(1)",
    ],
)
def test_script_in_a_comment_is_refused_and_never_echoed(client, auth, db, comment) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    response = client.post(f"/enkat/{c.slug}", data=answer(lat, lon, **{"pin-0-comment": comment}))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Kommentaren får inte innehålla HTML-kod eller skript." in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert count(db) == 0


def test_a_personnummer_is_held_and_shown_nowhere_public(client, auth, db) -> None:
    c = opened(client, auth, db)
    comment = "Min granne 850709-9805 står här varje kväll"
    for i in range(6):  # enough for a published cell
        lon, lat = lonlat((CELL[0] + 5 * i, CELL[1]))
        data = answer(lat, lon, submission_id=f"pnr-answer-{i:010d}", **{"pin-0-comment": comment})
        assert client.post(f"/enkat/{c.slug}", data=data).status_code == 303
    with db.session() as s:
        rows = s.scalars(select(SurveyResponse)).all()
        assert {(r.comment, r.review_status) for r in rows} == {(None, "review")}
        assert all(r.held_comment == comment for r in rows)
        s.get(SurveyCampaign, c.id).status = "closed"
        s.commit()
    for path in (
        f"/enkat/{c.slug}/resultat",
        f"/enkat/{c.slug}/resultat.geojson",
        "/publik",
        "/api/survey-pins",
        "/ogc/collections/survey_responses/items",
    ):
        assert "850709" not in client.get(path).get_data(as_text=True), path


def test_forged_closed_and_unknown_campaign_links(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    forged = client.post(f"/enkat/{c.slug}", data=answer(lat, lon, campaign="AbCdEfGhIjKl"))
    assert forged.status_code == 400
    assert "Svaret hör till en annan enkät. Ladda om sidan." in forged.get_data(as_text=True)
    unknown = client.get("/enkat/AbCdEfGhIjKl")
    assert unknown.status_code == 404
    assert "Det finns ingen enkät med den här länken." in unknown.get_data(as_text=True)
    assert client.get("/enkat/%3Cscript%3E").status_code == 404
    with db.session() as s:
        s.get(SurveyCampaign, c.id).status = "closed"
        s.commit()
    closed = client.post(f"/enkat/{c.slug}", data=answer(lat, lon))
    assert closed.status_code == 410
    assert "Enkäten är stängd och tar inte emot fler svar." in closed.get_data(as_text=True)
    assert count(db) == 0
    english = client.get("/enkat/AbCdEfGhIjKl?lang=en").get_data(as_text=True)
    assert "There is no survey at this link." in english


def test_a_replayed_answer_is_stored_once_on_both_engines(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    second = {"pin-1-lat": f"{lat:.6f}", "pin-1-lon": f"{lon:.6f}", "pin-1-rating": "4"}
    data = answer(lat, lon, **second)
    for _ in range(3):
        assert client.post(f"/enkat/{c.slug}", data=data).status_code == 303
    assert count(db) == 2  # one answer of two pins


def test_nothing_about_the_client_is_stored_with_an_answer(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    address, agent = "203.0.113.77", "SpionBrowser/9.9 (tk-test)"
    response = client.post(
        f"/enkat/{c.slug}",
        data=answer(lat, lon),
        environ_base={"REMOTE_ADDR": address, "HTTP_USER_AGENT": agent},
    )
    assert response.status_code == 303 and count(db) == 1
    with db.engine.connect() as conn:
        tables = [
            t
            for t in db.engine.dialect.get_table_names(conn)
            if not t.startswith(("spatial_ref_sys", "geometry_columns", "sqlite_", "alembic"))
        ]
        for table in tables:
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            dump = repr(rows)
            assert address not in dump, table
            assert agent not in dump and "SpionBrowser" not in dump, table


# --- one campaign end to end -----------------------------------------------------------------


def test_a_campaign_walked_end_to_end(client, auth, db) -> None:
    from tryggkarta.disclosure import Rule
    from tryggkarta.services.projectcheck import released_survey_summary
    from tryggkarta.services.targets import design_layer
    from tryggkarta.store.queries import Filters

    with db.session() as s:
        add_names(s)
        s.commit()
    auth.login("municipality")
    ends = date.today() + timedelta(days=10)
    create(client, title="Trygg i centrum", ends_on=ends.isoformat())
    c = campaign_row(db)
    assert client.post(f"/enkater/{c.id}/status", data={"status": "open"}).status_code == 302
    auth.logout()
    # residents answer: pins on the map by one browser each, and one typed place
    for i, xy in enumerate(near(CELL, 9, step=9.0)):
        lon, lat = lonlat(xy)
        data = answer(lat, lon, submission_id=f"walk-answer-{i:010d}")
        response = client.post(
            f"/enkat/{c.slug}", data=data, environ_base={"REMOTE_ADDR": f"198.51.100.{i}"}
        )
        assert response.status_code == 303
    typed = answer(0, 0, submission_id="walk-typed-00000001", **{"pin-0-address": "Stora torget"})
    del typed["pin-0-lat"], typed["pin-0-lon"]
    assert client.post(f"/enkat/{c.slug}", data=typed).status_code == 303
    with db.session() as s:  # in survey_responses with the campaign id, source = form
        rows = s.scalars(select(SurveyResponse)).all()
        assert len(rows) == 10 and {r.campaign_id for r in rows} == {c.id}
        assert {s.get(Dataset, r.dataset_id).source for r in rows} == {"form"}
    with db.session() as s:  # other residents, elsewhere, feel safe: the design baseline
        campaign = s.get(SurveyCampaign, c.id)
        answer_many(s, campaign, near((TOWN[0] - 1500, TOWN[1] - 1200), 60, 120.0), rating=5)
        s.commit()
    # the municipality sees them aggregated while the campaign runs
    auth.login("municipality")
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    assert "70 platser markerade, varav 10 otrygga" in page
    assert "Dålig belysning" in page
    auth.logout()
    assert client.get(f"/enkat/{c.slug}/resultat").status_code == 404  # not published yet
    # the end date passes: the campaign is closed for everyone, no one pressed a button
    with db.session() as s:
        row = s.get(SurveyCampaign, c.id)
        row.starts_on, row.ends_on = date.today() - timedelta(30), date.today() - timedelta(1)
        s.commit()
    assert client.post(f"/enkat/{c.slug}", data=answer(1, 1)).status_code == 410
    result = client.get(f"/enkat/{c.slug}/resultat").get_data(as_text=True)
    assert "Omkring 70 platser markerades i enkäten." in result
    assert "Stora torget" not in result and "070" not in result
    # the new answers are in the design hot spots and the planner's check
    layer = design_layer(db, Filters(municipality_code="1495"))
    assert layer.summary["n_answers"] == 70
    measures = {m["key"] for f in layer.features for m in f["properties"]["measures"]}
    assert "belysning" in measures
    summary = released_survey_summary(db, shapely.Point(CELL).buffer(150), Rule(5, 5))
    assert summary["n"] == 10 and summary["reasons"][0][0] == "belysning"
    # and the next staff visit stores the closing
    auth.login("municipality")
    client.get("/enkater/")
    assert campaign_row(db).status == "closed"
    with db.session() as s:
        assert s.get(SurveyCampaign, c.id).status == "closed"


def test_a_typed_place_parses_like_a_pin(db) -> None:
    """The service alone: ``lookup`` turns ``pin-<i>-address`` into the place's point."""
    with db.session() as s:
        points = add_names(s)
        c = make_campaign(s)
        polygon = sv.area_polygon(s, c, 3006)
        form = pin_form({"address": "stora torget", "rating": 2})
        got = sv.parse_answer(
            form,
            c,
            polygon=polygon,
            place_points={},
            srid=3006,
            lookup=lambda t: sv.resolve_place(s, polygon, t),
        )
        assert (got.pins[0].x, got.pins[0].y) == points["Stora torget"]
        without = pin_form({"address": "stora torget", "rating": 2})
        with pytest.raises(sv.SurveyInputError) as info:
            parse(s, c, without)  # no lookup given: the place is missing
        assert "skriv en adress" in info.value.errors["pin-0-place"]
