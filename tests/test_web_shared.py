"""Saved/shared maps, expiring links (tamper → 404, expired → 410), the public map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tryggkarta.errors import BadInput, Gone, NotFound
from tryggkarta.services import sharing
from tryggkarta.store import AuditLog, Organisation, SharedMap


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


@pytest.fixture
def demo(db):
    from tryggkarta.demo import load_demo

    load_demo(db)
    return db


def test_build_config_and_query() -> None:
    cfg = sharing.config_from_query(
        "?layers=incidents,bogus&categories=klotter&bbox=13.4,58.37,13.46,58.4"
    )
    assert cfg == {
        "layers": ["incidents"],
        "categories": ["klotter"],
        "extent": [13.4, 58.37, 13.46, 58.4],
    }
    for bad in (
        {"start": ["2026-13-01"]},
        {"extent": ["1,2,3"]},
        {"start": ["2026-05-02"], "end": ["2026-05-01"]},
    ):
        with pytest.raises(BadInput):
            sharing.build_config(bad)


def test_link_tokens_are_stored_hashed_and_expire(db) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with db.session() as s:
        m = SharedMap(name="x", config={"layers": ["incidents"]})
        s.add(m)
        token = sharing.create_link(m, 7, now=now)
        s.flush()
        assert m.link_token != token and len(m.link_token) == 64
        assert sharing.map_for_token(s, token, now=now + timedelta(days=6)).id == m.id
        with pytest.raises(Gone):
            sharing.map_for_token(s, token, now=now + timedelta(days=7))
        with pytest.raises(NotFound):
            sharing.map_for_token(s, token[:-1] + ("A" if token[-1] != "A" else "B"), now=now)
        with pytest.raises(BadInput):
            sharing.create_link(m, 0)


def test_save_share_with_role_and_view_by_recipient(client, auth, demo) -> None:
    auth.login("municipality")
    r = client.post(
        "/kartor/",
        data={
            "name": "Centrum <b>helg</b>",
            "layers": ["incidents"],
            "categories": ["narkotika"],
            "roles": ["police"],
        },
    )
    assert r.status_code == 302
    map_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    auth.logout()
    auth.login("police")
    page = client.get(f"/kartor/{map_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Centrum &lt;b&gt;helg&lt;/b&gt;" in html and "<b>helg</b>" not in html
    assert "Beskrivning" in html  # police sees raw incidents
    with demo.session() as s:
        row = s.scalar(select(AuditLog).where(AuditLog.action == "shared_map_view"))
        assert row.username == "test_police" and row.layer == "incidents" and row.detail == "raw"
        assert row.extra["map_id"] == map_id
    auth.logout()
    auth.login("planner")
    assert client.get(f"/kartor/{map_id}").status_code == 403
    assert client.get("/kartor/9999").status_code == 404


def test_share_with_organisation(client, auth, demo) -> None:
    auth.login("partner")  # creates "Org partner"
    auth.logout()
    with demo.session() as s:
        org_id = s.scalar(select(Organisation.id).where(Organisation.name == "Org partner"))
    auth.login("municipality")
    r = client.post(
        "/kartor/",
        data={"name": "För grannsamverkan", "layers": ["incidents"], "orgs": [str(org_id)]},
    )
    map_id = int(r.headers["Location"].split("/")[-1])
    auth.logout()
    auth.login("partner")
    html = client.get(f"/kartor/{map_id}").get_data(as_text=True)
    assert "Fast sammanställning per område" in html and "Beskrivning" not in html
    assert "För grannsamverkan" in client.get("/kartor/").get_data(as_text=True)


def test_link_never_elevates_and_expiry_answers_410(client, auth, demo) -> None:
    auth.login("police")
    r = client.post(
        "/kartor/", data={"name": "Länkad", "layers": ["incidents", "survey"], "link_days": "3"}
    )
    assert r.status_code == 302
    flashed = client.get(r.headers["Location"]).get_data(as_text=True)
    url = flashed.split("Delningslänk (visas bara nu): ")[1].split("<")[0].strip()
    path = url.split("localhost", 1)[1]
    auth.logout()
    anon = client.get(path)
    html = anon.get_data(as_text=True)
    assert anon.status_code == 200
    assert "Fast sammanställning per område" in html and "Beskrivning" not in html
    assert "Kommentar" not in html
    assert client.get(path[:-2] + "xy").status_code == 404
    with demo.session() as s:
        s.execute(update(SharedMap).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    gone = client.get(path)
    assert gone.status_code == 410
    assert "Länken har gått ut. Be den som delade kartan om en ny länk." in gone.get_data(
        as_text=True
    )


def test_bad_map_input_is_400(client, auth, demo) -> None:
    auth.login("municipality")
    assert client.post("/kartor/", data={"name": ""}).status_code == 400
    r = client.post("/kartor/", data={"name": "x", "extent": "a,b"})
    assert r.status_code == 400 and "Utsnittet" in r.get_data(as_text=True)
    assert client.post("/kartor/", data={"name": "x", "link_days": "999"}).status_code == 400


def test_save_from_start_page_query(client, auth, demo) -> None:
    auth.login("municipality")
    r = client.post(
        "/kartor/",
        data={"name": "Från kartan", "query": "/?layers=survey&bbox=13.40,58.37,13.46,58.40"},
    )
    assert r.status_code == 302
    with demo.session() as s:
        cfg = s.scalar(select(SharedMap.config).where(SharedMap.name == "Från kartan"))
    assert cfg == {"layers": ["survey"], "extent": [13.40, 58.37, 13.46, 58.40]}


def test_public_map_is_aggregated_and_k_anonymous(client, demo) -> None:
    r = client.get("/publik")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Andel otrygga svar per ruta" in html
    from tryggkarta.demo import COMMENTS

    for texts in COMMENTS.values():
        for text in texts:
            assert text not in html
    cells = sharing.public_cells(demo, 5)
    assert cells and all(c["n"] >= 5 for c in cells)
    assert sum(c["n"] for c in cells) < 900  # sparse cells were suppressed
    geo = client.get("/publik.geojson").get_json()
    assert len(geo["features"]) == len(cells)
    assert set(geo["features"][0]["properties"]) == {"n", "unsafe_share", "share_band"}
    assert all(c["n"] % 5 == 0 for c in cells)  # published counts are rounded
