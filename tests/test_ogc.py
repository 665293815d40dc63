"""OGC API – Features: public aggregated layers, raw layers with a token (scenario 4)."""

from __future__ import annotations

import pytest

from tryggkarta.store import AuditLog


def test_landing_conformance_and_collections(client, demo_db):
    landing = client.get("/ogc")
    assert landing.status_code == 200
    rels = {link["rel"] for link in landing.json["links"]}
    assert {"conformance", "data", "service-desc"} <= rels
    conf = client.get("/ogc/conformance").json["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    names = [c["id"] for c in client.get("/ogc/collections").json["collections"]]
    assert "survey_cells" in names and "incidents" not in names  # anonymous = public


def test_public_items_are_aggregated_and_k_anonymous(client, demo_db):
    response = client.get("/ogc/collections/incident_cells/items?limit=50")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = response.json
    assert body["numberReturned"] <= 50 and body["numberMatched"] >= body["numberReturned"]
    assert all(f["properties"]["count"] >= 5 for f in body["features"])
    assert "description" not in response.get_data(as_text=True)
    if body["numberMatched"] > 50:
        assert any(link["rel"] == "next" for link in body["links"])


def test_raw_collection_needs_a_token_and_is_audited(client, demo_db):
    assert client.get("/ogc/collections/incidents/items").status_code == 401
    from tryggkarta.services.accounts import create_token, create_user

    with demo_db.session() as s:
        analyst = create_user(s, "analytiker", "ett-langt-losenord", "police")
        token = create_token(s, analyst, "qgis")
    response = client.get(
        "/ogc/collections/incidents/items?limit=10", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert len(response.json["features"]) == 10
    assert "description" in response.json["features"][0]["properties"]
    with demo_db.session() as s:
        row = s.query(AuditLog).filter_by(action="view_raw", detail="ogc:incidents").one()
        assert row.username == "analytiker" and row.feature_count == 10
    bad = client.get(
        "/ogc/collections/incidents/items", headers={"Authorization": "Bearer tk_forged"}
    )
    assert bad.status_code == 401


def test_partner_is_forbidden_raw(client, auth, demo_db):
    auth.login("partner")
    assert client.get("/ogc/collections/survey_responses/items").status_code == 403


def test_bad_parameters(client, demo_db):
    assert client.get("/ogc/collections/nope/items").status_code == 404
    for query in (
        "limit=0",
        "limit=abc",
        "offset=-1",
        "bbox=1,2,3",
        "bbox=20,60,10,50",
        "bbox=-74.1,40.6,-73.8,40.9",
    ):
        response = client.get(f"/ogc/collections/areas/items?{query}")
        assert response.status_code == 400, query
        assert response.json["description"]


def test_bbox_filters_items(client, demo_db):
    everything = client.get("/ogc/collections/projects/items").json["numberMatched"]
    small = client.get("/ogc/collections/projects/items?bbox=13.42,58.37,13.44,58.39").json[
        "numberMatched"
    ]
    assert 0 < small < everything


def _police_token(db) -> dict[str, str]:
    from tryggkarta.services.accounts import create_token, create_user

    with db.session() as s:
        analyst = create_user(s, "analytiker", "ett-langt-losenord", "police")
        return {"Authorization": f"Bearer {create_token(s, analyst, 'qgis')}"}


@pytest.mark.slow
def test_raw_items_are_paged_beyond_100000(client, db):
    """The measured bug: paging ended at 100,000. Now: offset reaches its bound, the next
    link goes on by key to the last row, and numberMatched (above the count cap) is left
    out rather than counted over every row for every page."""
    from bulk_rows import insert_incidents
    from sqlalchemy import select

    from tryggkarta.store import Incident

    insert_incidents(db, 100_050)
    headers = _police_token(db)
    with db.session() as s:
        last_ids = list(s.scalars(select(Incident.id).order_by(Incident.id.desc()).limit(150)))
    last_ids.reverse()

    page = client.get("/ogc/collections/incidents/items?limit=100&offset=99900", headers=headers)
    body = page.json
    assert "numberMatched" not in body and body["numberReturned"] == 100
    assert [f["id"] for f in body["features"]] == last_ids[:100]
    (nxt,) = [link["href"] for link in body["links"] if link["rel"] == "next"]
    assert "cursor=" in nxt and "limit=100" in nxt

    tail = client.get(nxt.split("localhost", 1)[1], headers=headers).json
    assert tail["numberReturned"] == 50
    assert [f["id"] for f in tail["features"]] == last_ids[100:]
    assert not [link for link in tail["links"] if link["rel"] == "next"]
    assert tail["features"][-1]["properties"]["id"] == last_ids[-1]

    beyond = client.get("/ogc/collections/incidents/items?offset=200000", headers=headers)
    assert beyond.status_code == 400 and "offset" in beyond.json["description"]

    one = client.get(f"/ogc/collections/incidents/items/{last_ids[-1]}", headers=headers)
    assert one.status_code == 200 and one.mimetype == "application/geo+json"
    assert one.json["id"] == last_ids[-1] and one.json["properties"]["category"]
    with db.session() as s:
        counts = [
            row.feature_count
            for row in s.query(AuditLog).filter_by(detail="ogc:incidents").order_by(AuditLog.id)
        ]
    assert counts == [100, 50, 1]


@pytest.mark.parametrize("fid", ["999999999", "abc", "1e3", "-1", "99999999999999999999999"])
def test_missing_raw_items_are_404(client, demo_db, fid):
    headers = _police_token(demo_db)
    response = client.get(f"/ogc/collections/incidents/items/{fid}", headers=headers)
    assert response.status_code == 404 and response.json["description"]


def test_raw_item_is_the_same_feature_as_in_its_page(client, demo_db):
    headers = _police_token(demo_db)
    page = client.get("/ogc/collections/survey_responses/items?limit=3", headers=headers).json
    assert page["numberMatched"] == 900
    for feature in page["features"]:
        one = client.get(
            f"/ogc/collections/survey_responses/items/{feature['id']}", headers=headers
        )
        assert one.json == feature


def test_raw_items_keep_the_bbox_and_region(client, demo_db):
    headers = _police_token(demo_db)
    url = "/ogc/collections/incidents/items?limit=5"
    everything = client.get(url, headers=headers).json["numberMatched"]
    box = client.get(url + "&bbox=13.42,58.37,13.44,58.39", headers=headers).json
    assert 0 < box["numberMatched"] < everything
    for f in box["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 13.42 - 1e-3 <= lon <= 13.44 + 1e-3 and 58.37 - 1e-3 <= lat <= 58.39 + 1e-3
    nxt = [link["href"] for link in box["links"] if link["rel"] == "next"]
    assert not nxt or "bbox=" in nxt[0]
