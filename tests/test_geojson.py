"""RFC 7946 GeoJSON: ring orientation and rounded coordinates on every path that writes it."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from tryggkarta.geojson import (
    features_text,
    geo_dict,
    normalise,
    normalise_features,
    points_geojson,
)

CW_SQUARE = [(13.0, 58.0), (13.0, 58.1), (13.1, 58.1), (13.1, 58.0), (13.0, 58.0)]
CCW_HOLE = [(13.02, 58.02), (13.05, 58.02), (13.05, 58.05), (13.02, 58.05), (13.02, 58.02)]


def signed_area(ring: list[list[float]]) -> float:
    """Shoelace area of a GeoJSON ring: positive when counter-clockwise."""
    xy = np.asarray(ring, float)
    x, y = xy[:, 0], xy[:, 1]
    return float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) / 2)


def ring_problems(geometry: dict | None) -> list[str]:
    """Rings that break the right-hand rule, read straight from the GeoJSON coordinates."""
    if not geometry:
        return []
    kind = geometry["type"]
    polygons = (
        [geometry["coordinates"]]
        if kind == "Polygon"
        else geometry["coordinates"]
        if kind == "MultiPolygon"
        else []
    )
    problems = []
    for polygon in polygons:
        if signed_area(polygon[0]) <= 0:
            problems.append("clockwise exterior")
        problems += ["counter-clockwise hole" for hole in polygon[1:] if signed_area(hole) >= 0]
    return problems


def max_decimals(geometry: dict | None) -> int:
    if not geometry:
        return 0
    text = json.dumps(geometry["coordinates"])
    return max((len(m) for m in re.findall(r"\.(\d+)", text)), default=0)


def assert_rfc7946(fc: dict, where: str) -> None:
    """Every polygon ring in RFC 7946 order and no coordinate with more than 7 decimals."""
    assert fc["features"], f"{where}: nothing to check"
    for feature in fc["features"]:
        geometry = feature["geometry"]
        assert not ring_problems(geometry), (where, ring_problems(geometry))
        assert max_decimals(geometry) <= 7, (where, max_decimals(geometry))


def test_normalise_turns_rings_and_rounds():
    polygon = shapely.Polygon(CW_SQUARE, [CCW_HOLE])
    multi = shapely.MultiPolygon([polygon, shapely.Polygon([(x + 1, y) for x, y in CW_SQUARE])])
    point = shapely.Point(13.123456789123, 58.987654321987)
    out = normalise([polygon, multi, point, None])
    written = [shapely.geometry.mapping(g) if g is not None else None for g in out]
    assert [ring_problems(g) for g in written[:2]] == [[], []]
    assert written[2]["coordinates"] == (13.1234568, 58.9876543)
    assert written[3] is None
    assert shapely.equals(out[0], polygon) and shapely.equals(out[1], multi)  # same shape


def test_rounding_keeps_vertices_that_set_precision_would_snap():
    """Rounding is not a precision grid: two vertices 1e-7 apart stay two vertices."""
    ring = [(13.0, 58.0), (13.0000001, 58.0), (13.1, 58.0), (13.1, 58.1), (13.0, 58.0)]
    out = normalise([shapely.Polygon(ring)])[0]
    assert len(out.exterior.coords) == 5


def test_geo_dict_from_a_working_crs_frame():
    frame = gpd.GeoDataFrame(
        {"name": ["a"], "start": [date(2027, 3, 1)], "n": [np.int64(3)]},
        geometry=[shapely.Polygon(CW_SQUARE, [CCW_HOLE])],
        crs=4326,
    ).to_crs(3006)
    fc = geo_dict(frame, ["name", "start", "n"])
    assert_rfc7946(fc, "geo_dict")
    assert fc["features"][0]["properties"] == {"name": "a", "start": "2027-03-01", "n": 3}


def test_normalise_features_of_dict_collections():
    features = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(shapely.Polygon(CW_SQUARE))},
        {"type": "Feature", "geometry": None, "properties": {"k": 1}},
    ]
    out = normalise_features(features)
    assert not ring_problems(out[0]["geometry"]) and out[1] == features[1]
    assert ring_problems(features[0]["geometry"])  # the input is left as it was


def test_feature_text_is_the_json_of_the_values():
    """Quotes, backslashes, line breaks, rare control characters, å ä ö, missing values,
    NaN and infinity, integers, booleans, dates, times with and without microseconds, lists."""
    frame = pd.DataFrame(
        {
            "x": [421000.0, 421500.0, 422000.0],
            "y": [6470000.0, 6470500.0, 6471000.0],
            "id": [1, 2, 3],
            "text": ['citat "här"\\n\nrad\ttvå', None, "bell\x07 åäö"],
            "when": [
                datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
                None,
                datetime(2025, 3, 1, 10, 0, 0, 250, tzinfo=UTC),
            ],
            "day": [date(2027, 3, 1), None, date(2024, 2, 29)],
            "share": [0.5, np.nan, np.inf],
            "flag": [True, False, True],
            "tags": [["a", "b"], None, []],
        }
    )
    cols = ["text", "when", "day", "share", "flag", "tags"]
    parsed = json.loads(features_text(frame, cols, 3006, id_column="id"))
    assert [f["id"] for f in parsed] == [1, 2, 3]
    assert parsed[0]["properties"] == {
        "text": 'citat "här"\\n\nrad\ttvå',
        "when": "2025-03-01T11:00:00+01:00",  # local time with its offset (issue #11.1)
        "day": "2027-03-01",
        "share": 0.5,
        "flag": True,
        "tags": ["a", "b"],
    }
    assert parsed[1]["properties"] == {
        "text": None,
        "when": None,
        "day": None,
        "share": None,
        "flag": False,
        "tags": None,
    }
    assert parsed[2]["properties"]["text"] == "bell\x07 åäö"
    assert parsed[2]["properties"]["when"] == "2025-03-01T11:00:00+01:00"  # to the second
    assert parsed[2]["properties"]["share"] is None  # infinity is not JSON
    for f in parsed:
        assert max_decimals(f["geometry"]) <= 7 and f["geometry"]["type"] == "Point"


def test_points_geojson_keeps_its_members_and_digits():
    frame = pd.DataFrame({"x": [421000.123], "y": [6470000.456], "n": [1]})
    text, n = points_geojson(frame, ["n"], 3006, numberReturned=1)
    parsed = json.loads(text)
    assert n == 1 and parsed["numberReturned"] == 1
    assert max_decimals(parsed["features"][0]["geometry"]) <= 6


@pytest.mark.parametrize("layer", ["projects", "areas"])
def test_every_path_writes_rfc7946(demo_db, client, auth, tmp_path, layer):
    """Exports, the JSON API's features and OGC items, for polygon layers that the demo data
    stores clockwise and with 15 decimals after reprojection."""
    from tryggkarta.exports.writer import run_export
    from tryggkarta.store import ExportSchedule

    with demo_db.session() as s:
        row = ExportSchedule(
            name=f"rfc-{layer}",
            layer=layer,
            format="geojson",
            audience="public",
            schedule="MON 06:00",
            target_dir=str(tmp_path / "out"),
        )
        s.add(row)
        s.flush()
        s.expunge(row)
    run = run_export(demo_db, row)
    assert_rfc7946(json.loads(open(run.path, encoding="utf-8").read()), f"export {layer}")
    assert_rfc7946(client.get(f"/ogc/collections/{layer}/items").json, f"ogc {layer}")
    auth.login("police")
    assert_rfc7946(client.get(f"/api/layers/{layer}/features").json, f"api {layer}")


def test_hot_spot_polygons_are_rfc7946(demo_db, client, auth):
    """Design and patrol hot spots (polygons built from cells) on the OGC and JSON API."""
    assert_rfc7946(client.get("/ogc/collections/design_hotspots/items").json, "ogc design")
    auth.login("police")
    for method in ("design", "patrol"):
        body = client.get(f"/api/hotspots/{method}").json
        fc = body.get("geojson", body)
        assert_rfc7946(fc, f"api {method}")
    assert_rfc7946(client.get("/ogc/collections/patrol_hotspots/items").json, "ogc patrol")
