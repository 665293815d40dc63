"""tryggkarta.params: one parser per kind of value; hostile values are 400s with a sentence."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tryggkarta import params
from tryggkarta.errors import BadInput
from tryggkarta.services import sharing
from tryggkarta.store import AuditLog, SharedMap


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9999-12-31", "ligger utanför 1900-01-01–2199-12-31"),
        ("0000-01-01", "Skriv datum som ÅÅÅÅ-MM-DD"),
        ("10000-01-01", "Skriv datum som ÅÅÅÅ-MM-DD"),
        ("2025-02-30", "Skriv datum som ÅÅÅÅ-MM-DD"),
        ("2025-1-5", "Skriv datum som ÅÅÅÅ-MM-DD"),
        ("٢٠٢٥-٠١-٠١", "Skriv datum som ÅÅÅÅ-MM-DD"),  # Arabic-Indic digits
        ("2025-01-01\n", None),  # surrounding white space is fine
    ],
)
def test_days(value: str, message: str | None) -> None:
    if message is None:
        assert params.parse_day(value, "to") == date(2025, 1, 1)
        return
    with pytest.raises(BadInput, match=message):
        params.parse_day(value, "to")


def test_day_bounds_are_local_midnights_in_summer_and_winter() -> None:
    start, end = params.day_bounds(date(2024, 6, 15), date(2024, 12, 15))
    assert start.astimezone(UTC) == datetime(2024, 6, 14, 22, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2024, 12, 15, 23, tzinfo=UTC)
    last, after = params.day_bounds(None, params.MAX_DAY)
    assert last is None and after.year == 2200


@pytest.mark.parametrize(
    "value", ["nan", "inf", "-inf", "1e309", "abc", "9" * 50, "1" * 41, "", "  "]
)
def test_floats_are_finite_and_in_range(value: str) -> None:
    if not value.strip():
        assert params.parse_float(value, "x", 0, 1, None) is None
        return
    with pytest.raises(BadInput, match="Ogiltigt värde i 'x'"):
        params.parse_float(value, "x", -1e8, 1e8, None)


def test_ints_bboxes_and_keys() -> None:
    assert params.parse_int(" 250 ", "cell", 50, 2000, 1) == 250
    assert params.parse_int(None, "cell", 50, 2000, 7) == 7
    for bad in ("-5", "99999999999999999999", "2.5", "1e3", "١٢"):
        with pytest.raises(BadInput, match="Tillåtet: 50–2000"):
            params.parse_int(bad, "cell", 50, 2000, 250)
    assert params.parse_ints(["4", "4", "1"], "weekday", 0, 6) == (1, 4)
    assert params.parse_bbox("13.3,58.3,13.5,58.4") == (13.3, 58.3, 13.5, 58.4)
    for bad in (
        "nan,nan,nan,nan",
        "-inf,-inf,inf,inf",
        "13.5,58.3,13.3,58.4",
        "1,2,3",
        "200,1,201,2",
    ):
        with pytest.raises(BadInput, match="Ogiltig bbox"):
            params.parse_bbox(bad)
    assert params.parse_key("E812_12944", "hotspot_key") == "E812_12944"
    for bad in ("a\nb", "a\rb", "", "x" * 101, "<script>"):
        with pytest.raises(BadInput, match="Ogiltig nyckel"):
            params.parse_key(bad, "hotspot_key")
    assert params.shown("a\nb\x00" + "x" * 50) == "a?b?" + "x" * 36 + "…"


@pytest.mark.parametrize(
    "path", ["/", "/api/layers/incidents/grid", "/api/layers/incidents/features"]
)
@pytest.mark.parametrize("value", ["9999-12-31", "0000-01-01", "10000-01-01", "2025-02-30"])
def test_bad_to_is_a_400_in_the_callers_language(sqlite_app, path: str, value: str) -> None:
    client = sqlite_app.test_client()
    response = client.get(path, query_string={"to": value})
    assert response.status_code == 400
    if path.startswith("/api"):
        assert "'to'" in response.get_json()["description"]
        assert "date" in response.get_json()["description"]
    else:
        assert "Ogiltigt datum i" in response.get_data(as_text=True) or "ligger utanför" in (
            response.get_data(as_text=True)
        )


def test_audit_log_rejects_bad_days(sqlite_app, sqlite_db) -> None:
    from tests.conftest import AuthActions

    client = sqlite_app.test_client()
    AuthActions(client, sqlite_db).login("admin")
    for value in ("9999-12-31", "0000-01-01", "2025-02-30"):
        response = client.get("/admin/logg", query_string={"to": value})
        assert response.status_code == 400, value
    ok = client.get("/admin/logg", query_string={"from": "2026-01-01", "to": "2026-01-31"})
    assert ok.status_code == 200


def test_a_shared_map_saved_with_a_bad_date_opens_and_can_be_deleted(sqlite_app, sqlite_db):
    from tests.conftest import AuthActions

    client = sqlite_app.test_client()
    AuthActions(client, sqlite_db).login("police")
    with sqlite_db.session() as s:
        owner = s.scalar(select(SharedMap.owner_id))  # none yet
        from tryggkarta.store import User

        owner = s.scalar(select(User.id).where(User.username == "test_police"))
        shared = SharedMap(
            name="Hela tiden",
            owner_id=owner,
            config={"layers": ["incidents"], "start": "2020-01-01", "end": "9999-12-31"},
        )
        s.add(shared)
        s.flush()
        map_id = shared.id
    page = client.get(f"/kartor/{map_id}")
    assert page.status_code == 200 and "Hela tiden" in page.get_data(as_text=True)
    assert client.post(f"/kartor/{map_id}/ta-bort").status_code == 302
    with sqlite_db.session() as s:
        assert s.get(SharedMap, map_id) is None
        assert s.scalar(select(AuditLog).where(AuditLog.action == "shared_map_delete"))
    assert client.get(f"/kartor/{map_id}").status_code == 404
    # and a new one cannot be saved with that date any more
    with pytest.raises(BadInput, match="ligger utanför"):
        sharing.build_config({"end": ["9999-12-31"]})


def test_only_owner_or_admin_deletes_a_shared_map(sqlite_app, sqlite_db) -> None:
    from tests.conftest import AuthActions

    with sqlite_db.session() as s:
        shared = SharedMap(name="Andras", owner_id=None, config={"layers": ["incidents"]})
        s.add(shared)
        s.flush()
        map_id = shared.id
    client = sqlite_app.test_client()
    AuthActions(client, sqlite_db).login("police")
    assert client.post(f"/kartor/{map_id}/ta-bort").status_code == 403
    admin = sqlite_app.test_client()
    AuthActions(admin, sqlite_db).login("admin")
    assert admin.post(f"/kartor/{map_id}/ta-bort").status_code == 302


def test_shared_map_days_are_local_days() -> None:
    from werkzeug.datastructures import MultiDict

    from tryggkarta.geo import parse_region
    from tryggkarta.web.query import parse_query

    cfg = sharing.build_config({"from": ["2024-06-15"], "to": ["2024-06-15"]})
    args = MultiDict([(k, v) for k, vs in sharing.config_args(cfg).items() for v in vs])
    f = parse_query(
        args, region=parse_region("1495"), srid=3006, t=params.swedish, known_layers=()
    ).filters
    assert f.start.astimezone(UTC) == datetime(2024, 6, 14, 22, tzinfo=UTC)
    assert f.end.astimezone(UTC) == datetime(2024, 6, 15, 22, tzinfo=UTC)
    junk = sharing.config_args({"start": 5, "end": "9999-12-31", "extent": ["a"]})
    assert junk == {"to": ["9999-12-31"]}  # kept as saved; opening it drops it with a note


def test_a_line_break_in_a_hotspot_key_is_a_400(sqlite_app, sqlite_db) -> None:
    from tests.conftest import AuthActions
    from tryggkarta.services import lagesbild as lb

    client = sqlite_app.test_client()
    AuthActions(client, sqlite_db).login("police")
    week = lb.last_complete_week()
    for key in ("hs\nx", "hs\r\nSet-Cookie: a=b", "x" * 200):
        r = client.post(
            "/lagesbild/beslut", data={"week": week.key, "hotspot_key": key, "text": "Patrull"}
        )
        assert r.status_code == 400, key
        assert "Ogiltig nyckel" in r.get_data(as_text=True)
    for coordinate in ("nan", "inf"):
        r = client.post(
            "/lagesbild/beslut",
            data={"week": week.key, "hotspot_key": "E1_2", "text": "Patrull", "x": coordinate},
        )
        assert r.status_code == 400


def test_is_digits_is_ascii_and_bounded() -> None:
    assert params.is_digits("365") and params.is_digits("123456789")
    for value in ("²", "٣٤", "1234567890", "", None, "-1", "1.0", " 7"):
        assert not params.is_digits(value), value


def test_link_days_with_a_superscript_digit_is_a_400(sqlite_app, sqlite_db) -> None:
    from tests.conftest import AuthActions

    client = sqlite_app.test_client()
    AuthActions(client, sqlite_db).login("police")
    r = client.post("/kartor/", data={"name": "Karta", "link_days": "²", "orgs": "²"})
    assert r.status_code == 400 and "Antal dagar ska vara ett heltal." in r.get_data(as_text=True)


def test_weeks_of_year_one_and_bad_ogc_numbers_are_400s(sqlite_app, sqlite_db) -> None:
    from tests.conftest import AuthActions

    client = sqlite_app.test_client()
    AuthActions(client, sqlite_db).login("police")
    r = client.get("/lagesbild/?week=0001-W01")  # its previous week is year 0: was a 500
    assert r.status_code == 400 and "året ska vara 1901 eller senare" in r.get_data(as_text=True)
    for query, message in (
        ("limit=٣", "Invalid value in 'limit'"),
        ("offset=²", "Invalid value in 'offset'"),
        ("bbox=nan,58,14,59", "Invalid bbox"),
    ):
        r = client.get(f"/ogc/collections/incident_cells/items?{query}")
        assert r.status_code == 400 and message in r.get_json()["description"], query
