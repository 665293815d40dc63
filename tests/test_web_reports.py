"""The EST reporting form (/rapport): a reporter files, re-sends and corrects reports of its
own organisation; bad input gets clear messages; the weekly picture sees reports at once and
names the organisations that have not reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tryggkarta.demo import DEMO_PASSWORD
from tryggkarta.services import lagesbild as lb
from tryggkarta.services import reports
from tryggkarta.store import Dataset, Incident

#: Near Resecentrum, Skara (WGS84).
LAT, LON = "58.3870", "13.4440"
JSON = {"Accept": "application/json"}


@pytest.fixture
def db(sqlite_db):
    """Web tests run on SQLite; the service test below runs on both engines."""
    return sqlite_db


def _login(client, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302


def _report(**changes: str) -> dict[str, str]:
    local = datetime.now(UTC).astimezone(lb.local_timezone()) - timedelta(hours=1)
    data = {
        "client_id": "3f1c2a9e-0000-4000-8000-000000000001",
        "lat": LAT,
        "lon": LON,
        "category": "klotter",
        "occurred_at": local.strftime("%Y-%m-%dT%H:%M"),
        "description": "Klotter på busskuren",
        "address": "Stationsgatan",
    }
    data.update(changes)
    return data


def _form_count(db) -> int:
    with db.session() as s:
        return s.scalar(
            select(func.count()).select_from(Incident).where(Incident.source_type == "form")
        )


def test_a_report_is_stored_once_and_seen_in_the_weekly_picture_at_once(client, demo_db) -> None:
    _login(client, "fastighet")
    week = lb.week_of(datetime.now(UTC))
    before = {r.key: r.count for r in lb.category_table(demo_db, week, "sv")}
    n0 = _form_count(demo_db)
    r = client.post("/rapport/skicka", data=_report(), headers=JSON)
    assert r.status_code == 201, r.data[:300]
    body = r.get_json()
    assert body["stored"] is True and "lägesbilden" in body["message"]
    again = client.post("/rapport/skicka", data=_report(), headers=JSON)  # the offline re-send
    assert again.status_code == 200 and again.get_json() == {
        **body,
        "stored": False,
        "message": "Rapporten var redan sparad.",
    }
    assert _form_count(demo_db) == n0 + 1
    with demo_db.session() as s:
        row = s.get(Incident, body["id"])
        ds = s.get(Dataset, row.dataset_id)
        assert (row.category, row.reporter_org, ds.source) == (
            "klotter",
            "Skarabo (bostadsbolag)",
            "form",
        )
        assert row.dedup_key == "form:3f1c2a9e-0000-4000-8000-000000000001"
    after = {r.key: r.count for r in lb.category_table(demo_db, week, "sv")}
    assert after.get("klotter", 0) == before.get("klotter", 0) + 1


def test_a_plain_post_without_javascript_works(client, demo_db) -> None:
    _login(client, "fastighet")
    r = client.post(
        "/rapport/skicka", data=_report(client_id="plain-post-0001", lat="58,3870", lon="13,4440")
    )
    assert r.status_code == 303
    assert "Rapporten är sparad" in client.get("/rapport/").get_data(as_text=True)


BAD = [
    ({"lat": "59.3293", "lon": "18.0686"}, "place", "utanför kommunen"),  # Stockholm
    ({"lat": "", "lon": ""}, "place", "Markera platsen"),
    ({"lat": "nord", "lon": "13.4"}, "place", "går inte att läsa"),
    ({"lat": "1e3", "lon": "13.4"}, "place", "går inte att läsa"),
    ({"lat": "95.0", "lon": "13.4"}, "place", "går inte att läsa"),
    ({"category": ""}, "category", "Välj en kategori"),
    ({"category": "drake"}, "category", "Okänd kategori"),
    ({"occurred_at": "2999-01-01T10:00"}, "occurred_at", "i framtiden"),
    ({"occurred_at": "2026-02-30T10:00"}, "occurred_at", "går inte att läsa"),
    ({"occurred_at": "igår"}, "occurred_at", "går inte att läsa"),
    ({"occurred_at": "2001-01-01T10:00"}, "occurred_at", "äldre än ett år"),
    ({"description": "x" * 1001}, "description", "högst 1000"),
    ({"address": "x" * 301}, "address", "högst 300"),
    ({"client_id": "kort"}, "form", "Ladda om sidan"),
    ({"client_id": "<script>alert(1)</script>"}, "form", "Ladda om sidan"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD)
def test_parse_report_refuses_bad_input_with_a_message(changes, field, message) -> None:
    from tryggkarta.geo import municipality

    area = municipality("1495", 3006)
    with pytest.raises(reports.ReportInputError) as err:
        reports.parse_report(_report(**changes), area=area, srid=3006)
    assert message in err.value.errors[field]
    assert set(err.value.errors) == {field}


def test_parse_report_reads_a_good_report() -> None:
    from tryggkarta.geo import municipality

    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    got = reports.parse_report(
        _report(lat="58,3870", lon=" 13.4440 ", occurred_at="2026-11-30 09:05", category="brand"),
        area=municipality("1495", 3006),
        srid=3006,
        now=now,
    )
    assert got.category == "brand" and got.occurred_at == datetime(2026, 11, 30, 8, 5, tzinfo=UTC)
    assert 408_000 < got.x < 410_500 and 6_471_000 < got.y < 6_474_000
    empty_time = reports.parse_report(
        _report(occurred_at=""), area=municipality("1495", 3006), srid=3006, now=now
    )
    assert empty_time.occurred_at == now  # default: now


def test_bad_reports_on_the_web_store_nothing(client, demo_db) -> None:
    _login(client, "fastighet")
    n0 = _form_count(demo_db)
    for changes, field, message in (BAD[0], BAD[5], BAD[7]):
        r = client.post("/rapport/skicka", data=_report(**changes), headers=JSON)
        assert r.status_code == 400
        assert message in r.get_json()["errors"][field]
        page = client.post("/rapport/skicka", data=_report(**changes))
        assert page.status_code == 400
        html = page.get_data(as_text=True)
        assert message in html and 'id="error-summary"' in html
    english = client.post("/rapport/skicka?lang=en", data=_report(category=""), headers=JSON)
    assert english.get_json()["errors"]["category"] == "Choose a category."
    assert _form_count(demo_db) == n0


def test_a_reporter_sees_and_corrects_only_its_own_organisation(client, demo_db) -> None:
    _login(client, "fastighet")
    mine = client.get("/rapport/mina").get_data(as_text=True)
    assert "Krossad ruta" in mine and "Bråk utanför idrottshallen" not in mine
    with demo_db.session() as s:
        own = s.scalar(
            select(Incident.id).where(Incident.description == "Krossad ruta i trapphusets entré.")
        )
        other = s.scalar(select(Incident.id).where(Incident.description.like("Bråk utanför%")))
        imported = s.scalar(
            select(Incident.id).where(Incident.source_type.is_(None)).limit(1)
        ) or s.scalar(select(Incident.id).where(Incident.dedup_key.like("demo:%")).limit(1))
    refused = client.get(f"/rapport/{other}")
    assert refused.status_code == 403
    assert "annan organisation" in refused.get_data(as_text=True)
    assert client.post(f"/rapport/{other}", data=_report(category="brand")).status_code == 403
    assert client.get(f"/rapport/{imported}").status_code == 404  # not a form report
    assert client.get("/rapport/999999999").status_code == 404
    form = client.get(f"/rapport/{own}").get_data(as_text=True)
    assert "Krossad ruta" in form and "Spara rättelsen" in form
    bad = client.post(f"/rapport/{own}", data=_report(occurred_at="2999-01-01T00:00"))
    assert bad.status_code == 400 and "i framtiden" in bad.get_data(as_text=True)
    ok = client.post(
        f"/rapport/{own}", data=_report(category="brand", description="Brand i papperskorg")
    )
    assert ok.status_code == 303
    with demo_db.session() as s:
        row = s.get(Incident, own)
        assert (row.category, row.description) == ("brand", "Brand i papperskorg")
    # the other reporter sees its own, not Skarabo's; staff see all and may correct
    client.post("/logout")
    _login(client, "fritid")
    assert "Bråk utanför idrottshallen" in client.get("/rapport/mina").get_data(as_text=True)
    assert client.get(f"/rapport/{own}").status_code == 403
    client.post("/logout")
    _login(client, "kommun")
    every = client.get("/rapport/mina").get_data(as_text=True)
    assert "Brand i papperskorg" in every and "Bråk utanför idrottshallen" in every
    assert client.get(f"/rapport/{other}").status_code == 200


def test_a_reporter_reaches_nothing_else_raw(client, demo_db) -> None:
    _login(client, "fastighet")
    for url in ("/lagesbild/", "/insatser/", "/medborgarloften/", "/import/", "/admin/"):
        assert client.get(url).status_code == 403, url
    nav = client.get("/").get_data(as_text=True)
    assert 'href="/rapport/"' in nav and 'href="/insatser/"' not in nav
    client.post("/logout")
    _login(client, "grannsamverkan")  # a partner does not report through the form
    assert client.get("/rapport/").status_code == 403


def test_the_weekly_picture_names_organisations_that_have_not_reported(client, demo_db) -> None:
    _login(client, "kommun")
    week = lb.week_of(datetime.now(UTC))
    html = client.get(f"/lagesbild/?week={week.key}").get_data(as_text=True)
    assert "Rapportering från organisationerna" in html
    section = html.split('id="h-reporting"', 1)[1].split("</section>", 1)[0]
    assert "Fritidsgården Skara" in section and "senaste rapport" in section
    assert "Skarabo" not in section  # it reported this week (demo: yesterday)
