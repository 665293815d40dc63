"""OGC API – Features: public aggregated layers, raw layers with a token (scenario 4)."""

from __future__ import annotations

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
    from tryggkarta.accounts import create_token, create_user

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
