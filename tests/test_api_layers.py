"""JSON API /api/layers: role filtering, k-suppression, audit of raw views, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import pytest
from shapely.geometry import Point
from sqlalchemy import select

from tryggkarta.store import AuditLog, Dataset, insert_layer

X0, Y0 = 408_000.0, 6_472_000.0
BBOX = "13.2,58.3,13.6,58.5"


def incidents(db, n: int, x: float, y: float, category: str = "klotter") -> None:
    rows = [
        {
            "occurred_at": datetime(2026, 3, 6, 20, 0, tzinfo=UTC),
            "category": category,
            "description": "namn och personnummer",
            "source_id": f"{x}-{i}",
        }
        for i in range(n)
    ]
    with db.session() as s:
        ds = Dataset(layer="incidents", name=f"t{x}", source="test", checksum=f"c{x}")
        s.add(ds)
        s.flush()
        insert_layer(
            s,
            "incidents",
            gpd.GeoDataFrame(rows, geometry=[Point(x + 5 + i, y + 5) for i in range(n)], crs=3006),
            ds.id,
        )


def test_layer_list_tells_each_role_its_detail(client, auth, db) -> None:
    public = client.get("/api/layers").get_json()
    assert public["role"] == "public"
    assert {lay["id"]: lay["detail"] for lay in public["layers"]} == {
        "incidents": "aggregated",
        "survey": "aggregated",
        "projects": "raw",
        "areas": "raw",
    }
    auth.login("police")
    police = client.get("/api/layers").get_json()
    assert {lay["detail"] for lay in police["layers"]} == {"raw"}


def test_public_features_are_k_suppressed_cells_without_descriptions(client, db) -> None:
    incidents(db, 4, X0, Y0)
    incidents(db, 5, X0 + 1000, Y0)
    body = client.get(f"/api/layers/incidents/features?bbox={BBOX}").get_json()
    assert body["detail"] == "aggregated" and body["min_count"] == 5
    assert [f["properties"]["count"] for f in body["features"]] == [5]
    assert "namn och personnummer" not in str(body) and "description" not in str(body)
    assert body["release"]["cell_size"] == 250 and body["release"]["period"] == "52v"
    grid = client.get("/api/layers/incidents/grid?grupp=skadegorelse").get_json()
    assert [f["properties"]["count"] for f in grid["features"]] == [5]
    refused = client.get("/api/layers/incidents/grid?cell=500")
    assert refused.status_code == 400 and "raw-detail roles" in refused.get_json()["description"]


def test_police_get_raw_points_and_the_view_is_audited(client, auth, db) -> None:
    incidents(db, 4, X0, Y0)
    incidents(db, 5, X0 + 1000, Y0)
    auth.login("police")
    body = client.get(f"/api/layers/incidents/features?bbox={BBOX}&limit=6").get_json()
    assert body["detail"] == "raw" and body["numberReturned"] == 6 and body["truncated"] is True
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"]
    assert 13.2 < lon < 13.6 and 58.3 < lat < 58.5
    assert feature["properties"]["description"] == "namn och personnummer"
    grid = client.get("/api/layers/incidents/grid").get_json()
    assert sorted(f["properties"]["count"] for f in grid["features"]) == [4, 5]
    with db.session() as s:
        row = s.scalars(select(AuditLog).where(AuditLog.action == "api_features")).one()
        assert (row.role, row.layer, row.feature_count) == ("police", "incidents", 6)


def test_survey_comments_never_reach_public(client, auth, demo_db) -> None:
    public = client.get("/api/layers/survey/features").get_json()
    assert public["features"] and all("comment" not in f["properties"] for f in public["features"])
    assert all(f["properties"]["count"] >= 5 for f in public["features"])
    auth.login("municipality")
    raw = client.get("/api/layers/survey/features?limit=50").get_json()
    assert raw["numberReturned"] == 50 and "comment" in raw["features"][0]["properties"]


@pytest.mark.parametrize(
    ("url", "status", "description"),
    [
        ("/api/layers/secret/features", 404, "There is no layer 'secret'; see /api/layers."),
        (
            "/api/layers/incidents/features?bbox=1,2,3",
            400,
            "Invalid bbox: give minlon,minlat,maxlon,maxlat in WGS84 (e.g. 13.3,58.3,13.5,58.4).",
        ),
        (
            "/api/layers/incidents/features?bbox=2,48,3,49",
            400,
            "The area (bbox) lies outside Sweden.",
        ),
        (
            "/api/layers/incidents/features?from=2026-02-30",
            400,
            "Invalid date in 'from': 2026-02-30. Write dates as YYYY-MM-DD.",
        ),
        (
            "/api/layers/incidents/features?from=2026-03-01&to=2026-02-01",
            400,
            "The date range is backwards: 'from' (2026-03-01) is after 'to' (2026-02-01).",
        ),
        (
            "/api/layers/incidents/features?cat=bilbrand",
            400,
            "Unknown category: bilbrand. Valid: skadegorelse, klotter, nedskrapning, brand, narkotika, ordningsstorning, vald_hot, stold_inbrott, ungdomar, trafik, belysning_fel, ovrigt.",
        ),
        (
            "/api/layers/incidents/features?limit=0",
            400,
            "Invalid value in 'limit': 0. Allowed: 1–5000.",
        ),
        (
            "/api/layers/projects/grid",
            400,
            "Grid cells exist for point layers only (incidents, survey), not 'projects'.",
        ),
    ],
)
def test_errors_are_json_with_status(client, db, url: str, status: int, description: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.get_json()["description"] == description


def test_bearer_token_gives_raw_access(client, db) -> None:
    from tryggkarta.services import accounts

    with db.session() as s:
        user = accounts.create_user(
            s, "analyst", "correct-horse-battery", "police", organisation="Polisen"
        )
        s.flush()
        token = accounts.create_token(s, user, "qgis")
    incidents(db, 2, X0, Y0)
    body = client.get(
        "/api/layers/incidents/features", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert body["detail"] == "raw" and body["numberReturned"] == 2
    # a wrong token is an error the client sees, not a silent fall-back to anonymous
    wrong = client.get("/api/layers/incidents/features", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.get_json()["code"] == "bad_token"
    assert client.get("/api/layers/incidents/features").get_json()["detail"] == "aggregated"


def test_hotspot_layers_load_on_demand_with_role_rules(client, auth, demo_db) -> None:
    from tryggkarta.maps.hotspots import RICH

    assert client.get("/api/hotspots/patrol").status_code == 401  # patrol needs raw incidents
    assert client.get("/api/hotspots/nope").status_code == 404
    body = client.get("/api/hotspots/gistar?lang=en").get_json()
    assert body["features"] and body["detail"] == "aggregated"
    assert body["tk"]["popup"]["title"] == "Hot spots (Gi*)" and body["tk"]["palette"]
    for f in body["features"]:  # compact cells: no HTML, no raw evidence, k-suppressed
        p = f["properties"]
        assert "_popup" not in p and not set(p) & set(RICH) and p["count"] >= 5
        assert 0 <= p["_c"] < len(body["tk"]["palette"])
    kde = client.get("/api/hotspots/kde").get_json()
    from tryggkarta.services.hotspots import KDE_MAX_CELLS

    assert 0 < len(kde["features"]) <= KDE_MAX_CELLS
    auth.login("police")
    patrol = client.get("/api/hotspots/patrol").get_json()
    assert patrol["detail"] == "raw"
    assert all("_popup" in f["properties"] for f in patrol["features"])  # server-built, escaped


def test_start_page_layer_cache_follows_the_data(client, db) -> None:
    incidents(db, 5, X0, Y0)
    page = lambda: client.get("/?layers=incidents").get_data(as_text=True)  # noqa: E731
    assert page().count('"count":5') == 1
    assert page().count('"count":5') == 1  # cached
    incidents(db, 10, X0 + 1000, Y0)  # a new dataset changes the cache key
    html = page()
    assert html.count('"count":5') == 1 and html.count('"count":10') == 1


def test_points_geojson_text_is_the_json_of_the_features() -> None:
    """The feature collection written as text parses to exactly the features: quotes, line
    breaks, å ä ö and markup in text, missing values and NaN as null, times as ISO text."""
    import json

    import numpy as np
    import pandas as pd

    from tryggkarta.geo import to_wgs84
    from tryggkarta.web.mapview import points_geojson

    frame = pd.DataFrame(
        {
            "x": [400000.0, 401000.5, 402000.25],
            "y": [6470000.0, 6471000.0, 6472000.0],
            "description": ['citat "här"\nrad två', None, "åäö </script><b>"],
            "occurred_at": pd.to_datetime(
                ["2025-03-01 10:00", None, "2025-03-03 08:30"]
            ).tz_localize("UTC"),
            "rating": pd.array([1, None, 5], dtype="Int64"),
            "share": [0.5, np.nan, 1.25],
        }
    )
    cols = ["description", "occurred_at", "rating", "share"]
    text, n = points_geojson(frame, cols, 3006, detail="raw", numberReturned=3, truncated=False)
    parsed = json.loads(text)
    assert (
        n == 3
        and parsed["numberReturned"] == 3
        and parsed["detail"] == "raw"
        and parsed["truncated"] is False
    )
    lon, lat = to_wgs84(frame["x"].to_numpy(), frame["y"].to_numpy(), 3006)
    props = [f["properties"] for f in parsed["features"]]
    assert props[0] == {
        "description": 'citat "här"\nrad två',
        "occurred_at": "2025-03-01T11:00:00+01:00",  # local time with its offset
        "rating": 1,
        "share": 0.5,
    }
    assert props[1] == dict.fromkeys(cols)
    assert props[2]["description"] == "åäö </script><b>" and props[2]["rating"] == 5
    coords = [f["geometry"]["coordinates"] for f in parsed["features"]]
    assert coords == [[round(a, 6), round(b, 6)] for a, b in zip(lon, lat, strict=True)]
    empty, n0 = points_geojson(frame.iloc[:0], cols, 3006, limit=10)
    assert n0 == 0 and json.loads(empty) == {
        "type": "FeatureCollection",
        "features": [],
        "limit": 10,
    }


def test_patrol_hotspots_are_audited(client, auth, demo_db) -> None:
    """Where and when police patrol is raw detail: every view is in the audit log."""
    auth.login("police")
    assert client.get("/api/hotspots/patrol").status_code == 200
    with demo_db.session() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.detail == "hotspots:patrol")).all()
        assert len(rows) == 1 and rows[0].role == "police"
