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
    from tests.demodata import demo_into

    demo_into(db)
    return db


def test_build_config_and_query() -> None:
    cfg = sharing.config_from_query(
        "?layers=incidents,bogus&categories=klotter&bbox=13.4,58.37,13.46,58.4"
    )
    assert cfg == {
        "v": 2,
        "query": {
            "layers": ["incidents"],
            "cat": ["klotter"],
            "bbox": ["13.4,58.37,13.46,58.4"],
        },
    }
    for bad in (
        {"start": ["2026-13-01"]},
        {"from": ["2026-13-01"]},
        {"extent": ["1,2,3"]},
        {"extent": ["13.5,58,13.4,59"]},
        {"zoom": ["23"]},
        {"zoom": ["-1"]},
        {"zoom": ["²"]},
        {"start": ["2026-05-02"], "end": ["2026-05-01"]},
    ):
        with pytest.raises(BadInput):
            sharing.build_config(bad)
    view = sharing.build_config(
        {"extent": ["13.4,58.37,13.46,58.4"], "zoom": ["14"], "shown": ["incidents,areas,nope"]}
    )
    assert sharing.config_view(view) == {
        "extent": [13.4, 58.37, 13.46, 58.4],
        "zoom": 14,
        "shown": ["incidents", "areas"],
    }


def test_maps_saved_before_version_2_upgrade() -> None:
    old = {
        "layers": ["incidents"],
        "categories": ["narkotika"],
        "start": "2026-11-01",
        "extent": [13.4, 58.37, 13.46, 58.4],
    }
    assert sharing.config_args(old) == {
        "layers": ["incidents"],
        "cat": ["narkotika"],
        "from": ["2026-11-01"],
        "bbox": ["13.4,58.37,13.46,58.4"],
    }
    assert sharing.config_view(old)["extent"] == [13.4, 58.37, 13.46, 58.4]
    assert sharing.upgrade_config(None) == {"v": 2, "query": {}}
    assert sharing.upgrade_config({"extent": ["a"], "start": 5}) == {"v": 2, "query": {}}


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
    assert cfg == {"v": 2, "query": {"layers": ["survey"], "bbox": ["13.40,58.37,13.46,58.40"]}}


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


def _map_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def test_saved_map_opens_with_the_same_filters_for_a_recipient(client, auth, demo) -> None:
    """The issue's example: Narkotika, from 2026-11-01, in Centrum — saved from the map
    page's button and opened by a police recipient gives the identical query."""
    from tryggkarta.web.mapview import parse_query

    query = (
        "?cat=narkotika&from=2026-11-01&district=Centrum&weekday=4&hour=20&layers=incidents,areas"
    )
    auth.login("municipality")
    page = client.get("/" + query).get_data(as_text=True)
    assert 'id="map-save-form"' in page and "Spara/dela karta" in page
    assert 'name="query" value="cat=narkotika&amp;from=2026-11-01' in page
    map_id = _map_id(
        client.post(
            "/kartor/",
            data={
                "name": "Narkotika i Centrum",
                "query": query.lstrip("?"),
                "extent": "13.43,58.375,13.45,58.39",
                "zoom": "15",
                "shown": "incidents,areas",
                "roles": ["police"],
            },
        )
    )
    auth.logout()
    auth.login("police")
    r = client.get(f"/kartor/{map_id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    # the recipient's filter form holds exactly the saved filters
    assert 'value="narkotika" checked' in html and html.count(" checked") == 1
    assert 'id="f-from" name="from" value="2026-11-01"' in html
    assert '<option value="Centrum" data-bounds=' in html and "selected>Centrum</option>" in html
    assert '<option value="4" selected>' in html and '<option value="20" selected>' in html
    assert '"zoom": 15' in html and '"shown": ["incidents", "areas"]' in html
    # and the map page's parser reads the same query from the saved map as from the page
    with demo.session() as s:
        cfg = s.get(SharedMap, map_id).config
    from tryggkarta.geo import parse_region

    def parsed(args):
        from werkzeug.datastructures import MultiDict

        return parse_query(
            MultiDict([(k, v) for k, values in args.items() for v in values]),
            region=parse_region(demo.settings.region),
            srid=demo.srid,
            t=lambda text, **kw: text % kw if kw else text,
            known_layers=("incidents", "areas"),
        )

    from urllib.parse import parse_qs

    assert parsed(sharing.config_args(cfg)) == parsed(parse_qs(query.lstrip("?")))
    # the raw figures under the map are filtered like the map: only Narkotika from 1 Nov
    assert "Narkotika" in html and "Klotter</td>" not in html
    thumb = client.get(f"/kartor/{map_id}/miniatyr.svg")
    assert thumb.status_code == 200 and thumb.mimetype == "image/svg+xml"
    assert thumb.get_data(as_text=True).startswith("<svg") and "<path" in thumb.get_data(
        as_text=True
    )
    listing = client.get("/kartor/").get_data(as_text=True)
    assert f'src="/kartor/{map_id}/miniatyr.svg"' in listing
    assert "Narkotika" in listing and "Centrum" in listing


def test_recipient_without_raw_detail_gets_the_release_in_map_and_thumbnail(
    client, auth, demo
) -> None:
    auth.login("partner")
    auth.logout()
    with demo.session() as s:
        org_id = s.scalar(select(Organisation.id).where(Organisation.name == "Org partner"))
    auth.login("police")
    map_id = _map_id(
        client.post(
            "/kartor/",
            data={
                "name": "Polisens karta",
                "query": "cat=narkotika&from=2026-11-01&layers=incidents,incident_points,areas",
                "zoom": "16",
                "shown": "incident_points,incidents",
                "orgs": [str(org_id)],
            },
        )
    )
    police_svg = client.get(f"/kartor/{map_id}/miniatyr.svg").get_data(as_text=True)
    auth.logout()
    auth.login("partner")
    html = client.get(f"/kartor/{map_id}").get_data(as_text=True)
    # the partner's page is the release: no ad-hoc filter form, no raw point layer, the note
    assert 'name="period"' in html and 'id="f-from"' not in html
    assert "api/layers/incidents" not in html and "Beskrivning" not in html
    assert "Filter på datum, kategori" in html  # the saved filters are said to be ignored
    svg = client.get(f"/kartor/{map_id}/miniatyr.svg").get_data(as_text=True)
    assert svg.startswith("<svg") and svg != police_svg
    auth.logout()
    auth.login("planner")
    assert client.get(f"/kartor/{map_id}/miniatyr.svg").status_code == 403


def test_thumbnail_svg_is_escaped_and_drawn_from_layers() -> None:
    from tryggkarta.services.thumbnail import render_svg

    square = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"kind": "municipality"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[13.4, 58.3], [13.5, 58.3], [13.5, 58.4], [13.4, 58.3]]],
                },
            }
        ],
    }
    svg = render_svg(
        {"bounds": (13.4, 58.3, 13.5, 58.4), "areas": square, "layers": [("incidents", square)]},
        title='<script>"x"</script>',
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<path") == 2 and 'fill="#c0392b"' in svg
    # north up, west left: the first vertex (13.4, 58.3) is the bottom-left corner
    first = svg.split('d="M', 1)[1].split("L", 1)[0].split()
    assert float(first[0]) < 5 and float(first[1]) > 200
    assert render_svg({"bounds": None, "areas": None, "layers": []}).startswith("<svg")
