"""Several municipalities in one installation (issue #16.1): EST groups and users' scopes.

A user's organisation is bound to a municipality; its members read raw records of that
municipality and of every municipality sharing an EST group with it — nothing else, through
the map, the JSON API and OGC alike. Admin and unbound organisations see the installation.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point
from sqlalchemy import select

from tryggkarta import geo
from tryggkarta.errors import BadInput, ConfigError
from tryggkarta.services import municipalities as munis
from tryggkarta.services.accounts import create_user, get_or_create_organisation
from tryggkarta.store import Dataset, EstGroup, Incident, Organisation, User, insert_layer
from tryggkarta.store.queries import Filters, count

PASSWORD = "correct horse battery"  # noqa: S105 - test password
#: A town centre in each municipality (SWEREF 99 TM): Skara, Götene, Göteborg.
TOWNS = {
    "1495": (408_672.0, 6_472_746.0),
    "1471": (412_280.0, 6_488_358.0),
    "1480": (319_500.0, 6_399_600.0),
}
COUNTS = {"1495": 7, "1471": 5, "1480": 3}


def _load(db) -> None:
    """7 incidents in Skara, 5 in Götene, 3 in Göteborg, each with its municipality code."""
    frames = []
    for code, (x, y) in TOWNS.items():
        n = COUNTS[code]
        frames.append(
            gpd.GeoDataFrame(
                {
                    "occurred_at": [datetime(2026, 3, 6, 20, 0, tzinfo=UTC)] * n,
                    "category": ["klotter"] * n,
                    "description": [f"beskrivning {code}"] * n,
                    "source_id": [f"{code}-{i}" for i in range(n)],
                    "municipality_code": [code] * n,
                },
                geometry=[Point(x + 10 * i, y) for i in range(n)],
                crs=3006,
            )
        )
    with db.session() as s:
        ds = Dataset(layer="incidents", name="three towns", source="test", checksum="towns")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", gpd.pd.concat(frames, ignore_index=True), ds.id)


def _user(db, username: str, role: str, org: str, code: str | None) -> None:
    with db.session() as s:
        get_or_create_organisation(s, org, "municipality", code)
        create_user(s, username, PASSWORD, role, organisation=org)


def _login(client, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.data[:300]


def _group(db, *codes: str, name: str = "EST Skara–Götene") -> None:
    with db.session() as s:
        munis.create_group(s, name, codes)


# --- regions and groups, without the web ------------------------------------------------


def test_a_region_can_list_an_est_group_of_municipalities() -> None:
    region = geo.parse_region("1495,1471")
    assert region.municipality_codes == ("1495", "1471")
    assert region.municipality_code is None and region.name == "Skara, Götene"
    skara, gotene = geo.municipality("1495").bounds, geo.municipality("1471").bounds
    assert region.bbox == pytest.approx(
        (
            min(skara[0], gotene[0]),
            min(skara[1], gotene[1]),
            max(skara[2], gotene[2]),
            max(skara[3], gotene[3]),
        )
    )
    poly = geo.region_polygon(region, 3006)
    assert poly.area == pytest.approx(
        geo.municipality("1495", 3006).area + geo.municipality("1471", 3006).area, rel=1e-3
    )
    assert geo.crs_for_region("1495,1471") == geo.SWEREF99TM
    assert geo.parse_region("1495").municipality_codes == ("1495",)
    assert geo.parse_region("SE").municipality_codes == ()
    # a bbox of four numbers is still a bbox
    assert geo.parse_region("13.3,58.3,13.5,58.4").key == "bbox"


@pytest.mark.parametrize("value", ["1495,9999", "1495,14", ",".join(["1495"] * 1) + ",abcd"])
def test_a_region_with_an_unknown_municipality_is_refused(value: str) -> None:
    with pytest.raises(ConfigError):
        geo.parse_region(value)


def test_groups_are_checked_and_listed(db) -> None:
    _group(db, "1495", "1471")
    with db.session() as s:
        assert munis.list_groups(s) == [("EST Skara–Götene", ("1471", "1495"))]
        for name, codes, words in (
            ("Ensam", ["1495"], "at least two"),
            ("Påhittad", ["1495", "9999"], "not a Swedish municipality code"),
            ("EST Skara–Götene", ["1495", "1471"], "already exists"),
            ("", ["1495", "1471"], "needs a name"),
            ("Stor", sorted(geo.municipality_codes())[:61], "at most 60"),
            ("Skript", ["1495", "<script>"], "not a Swedish municipality code"),
        ):
            with pytest.raises(BadInput, match=words):
                munis.create_group(s, name, codes)
    with db.session() as s:
        munis.delete_group(s, "EST Skara–Götene")
        assert munis.list_groups(s) == []
        with pytest.raises(BadInput, match="No EST group"):
            munis.delete_group(s, "EST Skara–Götene")


def test_a_users_scope_is_their_municipality_and_its_groups(db) -> None:
    _user(db, "skara", "municipality", "Skara kommun", "1495")
    _user(db, "gotene", "municipality", "Götene kommun", "1471")
    _user(db, "goteborg", "police", "Polisen Göteborg", "1480")
    _user(db, "region", "police", "Polisregion Väst", None)
    _user(db, "boss", "admin", "Skara kommun", "1495")

    def scopes() -> dict[str, tuple[str, ...] | None]:
        with db.session() as s:
            users = s.scalars(select(User)).all()
            return {u.username: munis.scope_for(s, u) for u in users}

    assert scopes() == {
        "skara": ("1495",),
        "gotene": ("1471",),
        "goteborg": ("1480",),
        "region": None,
        "boss": None,
    }
    _group(db, "1495", "1471")
    _group(db, "1480", "1481", name="EST Göteborg–Mölndal")
    assert scopes() == {
        "skara": ("1471", "1495"),
        "gotene": ("1471", "1495"),
        "goteborg": ("1480", "1481"),
        "region": None,
        "boss": None,
    }


def test_store_filters_keep_to_the_scope(db) -> None:
    _load(db)
    assert count(db, "incidents", Filters(municipality_codes=("1495", "1471"))) == 12
    assert count(db, "incidents", Filters(municipality_codes=("1480",))) == 3
    assert count(db, "incidents", Filters(municipality_codes=())) == 0  # an empty scope: nothing


def test_choose_refuses_what_is_outside_the_installation_or_the_scope() -> None:
    assert munis.choose("", ("1495", "1471"), None) is None
    assert munis.choose("alla", ("1495", "1471"), ("1495",)) is None
    assert munis.choose("1471", ("1495", "1471"), ("1471", "1495")) == "1471"
    with pytest.raises(BadInput, match="ingår inte i den här installationen"):
        munis.choose("1480", ("1495", "1471"), None)
    with pytest.raises(BadInput, match="ingår inte i din EST-grupp"):
        munis.choose("1471", ("1495", "1471"), ("1495",))
    with pytest.raises(BadInput, match="Okänd kommunkod"):
        munis.choose("9999", (), None)
    with pytest.raises(BadInput, match="Okänd kommunkod"):
        munis.choose("<script>alert(1)</script>", (), None)


# --- through the web: map API, OGC ------------------------------------------------------


def _api_codes(client, query: str = "") -> list[str]:
    response = client.get(f"/api/layers/incidents/features?limit=100{query}")
    assert response.status_code == 200, response.data[:300]
    return sorted({f["properties"]["description"][-4:] for f in response.get_json()["features"]})


def test_raw_reads_stay_inside_the_users_municipalities(client, db) -> None:
    _load(db)
    _user(db, "skara", "police", "Polisen Skara", "1495")
    _login(client, "skara")
    assert _api_codes(client) == ["1495"]
    refused = client.get("/api/layers/incidents/features?kommun=1480")
    assert refused.status_code == 400
    assert "is not in your EST group" in refused.get_json()["description"]  # API: English
    grid = client.get("/api/layers/incidents/grid").get_json()
    assert sum(f["properties"]["count"] for f in grid["features"]) == COUNTS["1495"]
    # the group widens the scope at the next request (no new login needed)
    _group(db, "1495", "1471")
    assert _api_codes(client) == ["1471", "1495"]
    assert _api_codes(client, "&kommun=1471") == ["1471"]
    assert client.get("/api/layers/incidents/features?kommun=1480").status_code == 400


def test_ogc_items_and_single_features_keep_to_the_scope(client, db) -> None:
    _load(db)
    _user(db, "skara", "police", "Polisen Skara", "1495")
    _login(client, "skara")
    body = client.get("/ogc/collections/incidents/items?limit=100").get_json()
    assert body["numberMatched"] == COUNTS["1495"]
    with db.session() as s:
        other = s.scalar(select(Incident.id).where(Incident.municipality_code == "1480"))
        own = s.scalar(select(Incident.id).where(Incident.municipality_code == "1495"))
    assert client.get(f"/ogc/collections/incidents/items/{other}").status_code == 404
    assert client.get(f"/ogc/collections/incidents/items/{own}").status_code == 200


def test_admin_and_unbound_organisations_see_the_installation(client, db) -> None:
    _load(db)
    _user(db, "region", "police", "Polisregion Väst", None)
    _login(client, "region")
    assert _api_codes(client) == ["1471", "1480", "1495"]
    assert _api_codes(client, "&kommun=1480") == ["1480"]


def test_below_raw_detail_a_municipality_is_not_an_ad_hoc_release(client, db) -> None:
    """Releases are made for the installation only: a per-municipality release could be
    subtracted from the group's and give a suppressed border cell away."""
    _load(db)
    refused = client.get("/api/layers/incidents/grid?kommun=1495")
    assert refused.status_code == 400 and "raw-detail roles" in refused.get_json()["description"]


# --- the group demo -----------------------------------------------------------------------


def test_the_demo_runs_skara_and_gotene_as_one_est_group(db) -> None:
    from tryggkarta.demo import load_demo

    first = load_demo(db, "1495,1471", now=datetime(2026, 11, 30, tzinfo=UTC))
    assert any("EST Skara–Götene" in line for line in first)
    with db.session() as s:
        assert munis.list_groups(s) == [("EST Skara–Götene", ("1471", "1495"))]
        gotene = s.scalar(select(User).where(User.username == "kommun-gotene"))
        assert munis.scope_for(s, gotene) == ("1471", "1495")
        org = s.scalar(select(Organisation).where(Organisation.name == "Götene kommun"))
        assert org.municipality_code == "1471"
        xy = s.execute(
            select(Incident.x, Incident.y).where(Incident.municipality_code == "1471")
        ).all()
    assert len(xy) > 500
    inside = geo.municipality_codes_at(
        np.array([p[0] for p in xy]), np.array([p[1] for p in xy]), 3006, margin=0
    )
    assert set(inside) == {"1471"}
    before = count(db, "incidents", Filters())
    again = load_demo(db, "1495,1471", now=datetime(2026, 11, 30, tzinfo=UTC))
    assert count(db, "incidents", Filters()) == before  # idempotent
    assert not any("EST Skara–Götene" in line for line in again)
    with db.session() as s:
        assert len(s.scalars(select(EstGroup)).all()) == 1
    with pytest.raises(BadInput, match="neighbour only for 1471"):
        load_demo(db, "1495,1480")


# --- the weekly picture -------------------------------------------------------------------


def test_the_weekly_picture_keeps_to_the_users_municipalities(client, db) -> None:
    """Göteborg's incidents and decisions never reach a Skara user's weekly picture; with
    the group, Götene's do, and ``?kommun=`` narrows it to one municipality."""
    from tryggkarta.services import lagesbild as lb
    from tryggkarta.store import Decision

    week = lb.last_complete_week()
    frames = []
    for code, (x, y) in TOWNS.items():
        n = 2 * COUNTS[code]
        frames.append(
            gpd.GeoDataFrame(
                {
                    "occurred_at": [week.start + (week.end - week.start) / 2] * n,
                    "category": ["klotter"] * n,
                    "description": [f"beskrivning {code}"] * n,
                    "source_id": [f"w{code}-{i}" for i in range(n)],
                    "municipality_code": [code] * n,
                },
                geometry=[Point(x + 10 * i, y) for i in range(n)],
                crs=3006,
            )
        )
    with db.session() as s:
        ds = Dataset(layer="incidents", name="week", source="test", checksum="week")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", gpd.pd.concat(frames, ignore_index=True), ds.id)
        x, y = TOWNS["1480"]
        s.add(
            Decision(week=week.key, hotspot_key="gbg", text="Hemligt beslut i Göteborg", x=x, y=y)
        )
    _user(db, "skara", "police", "Polisen Skara", "1495")
    _login(client, "skara")

    def klotter() -> int:
        html = client.get(f"/lagesbild/?week={week.key}").get_data(as_text=True)
        assert "Hemligt beslut i Göteborg" not in html
        row = re.search(r'Klotter</th><td class="num">(\d+)</td>', html)
        return int(row.group(1)) if row else 0

    assert klotter() == 2 * COUNTS["1495"]
    _group(db, "1495", "1471")
    assert klotter() == 2 * (COUNTS["1495"] + COUNTS["1471"])
    html = client.get(f"/lagesbild/?week={week.key}&kommun=1471").get_data(as_text=True)
    assert f'Klotter</th><td class="num">{2 * COUNTS["1471"]}</td>' in html
    assert "Hela EST-gruppen" in html
    assert client.get(f"/lagesbild/?week={week.key}&kommun=1480").status_code == 400
