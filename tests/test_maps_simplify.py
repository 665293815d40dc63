"""Polygons are simplified for display: a huge imported area cannot make the page huge."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from tests.test_maps_page import X0, Y0, add
from tryggkarta.maps.simplify import simplify_for_display, tolerance_for_zoom, vertex_count


def wiggly_area(n: int, radius: float = 3000.0) -> Polygon:
    """A municipality-like ring of ``n`` vertices (a GPS trace of a boundary: dense, noisy)."""
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius + 40 * np.sin(angle * 23) + np.random.default_rng(1).normal(0, 0.05, n)
    return Polygon(np.column_stack([X0 + r * np.cos(angle), Y0 + r * np.sin(angle)]))


def test_tolerance_is_half_a_pixel_at_the_zoom() -> None:
    assert tolerance_for_zoom(16) == pytest.approx(0.63, abs=0.01)
    assert tolerance_for_zoom(12) == pytest.approx(16 * tolerance_for_zoom(16))
    with pytest.raises(ValueError, match="zoom"):
        tolerance_for_zoom(30)


def test_simplification_drops_invisible_vertices_and_keeps_shapes_valid() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["big", "tiny"]},
        geometry=[wiggly_area(50_000), box(X0, Y0, X0 + 0.3, Y0 + 0.3)],
        crs=3006,
    )
    out = simplify_for_display(frame)
    assert vertex_count(out) < vertex_count(frame) / 10
    assert shapely.is_valid(out.geometry.to_numpy()).all()
    # the outline moves by less than a pixel's width at street zoom
    assert out.geometry[0].hausdorff_distance(frame.geometry[0]) < 2 * tolerance_for_zoom(16)
    assert out.geometry[1].area == pytest.approx(frame.geometry[1].area)  # tiny stays a square
    assert list(out["name"]) == ["big", "tiny"] and vertex_count(frame) > 50_000  # not in place


def test_geographic_coordinates_are_refused() -> None:
    frame = gpd.GeoDataFrame(geometry=[box(13, 58, 13.1, 58.1)], crs=4326)
    with pytest.raises(ValueError, match="projected"):
        simplify_for_display(frame)


def test_a_400k_vertex_area_keeps_the_public_start_page_small(client, db) -> None:
    add(db, "areas", [{"name": "Kommunen", "kind": "municipality"}], [wiggly_area(400_000)])
    html = client.get("/").get_data(as_text=True)
    assert len(html.encode()) < 300_000  # was about 12 MB
    assert "Kommunen" in html
