"""Coordinates against pyproj and CRS detection from value ranges."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from tryggkarta.geo import from_wgs84, infer_point_crs, municipality, to_wgs84


def test_sweref_round_trip_matches_pyproj():
    lon = np.array([13.438, 18.0686, 11.9746, 20.2630])
    lat = np.array([58.386, 59.3293, 57.7089, 63.8258])
    x, y = from_wgs84(lon, lat, 3006)
    ref = Transformer.from_crs(4326, 3006, always_xy=True).transform(lon, lat)
    np.testing.assert_allclose(x, ref[0], atol=1e-6)
    np.testing.assert_allclose(y, ref[1], atol=1e-6)
    back_lon, back_lat = to_wgs84(x, y, 3006)
    np.testing.assert_allclose(back_lon, lon, atol=1e-9)
    np.testing.assert_allclose(back_lat, lat, atol=1e-9)


def test_skara_town_centre_in_sweref():
    x, y = from_wgs84([13.438], [58.386], 3006)
    # SWEREF 99 TM coordinates of Skara (EPSG:3006, metres)
    assert x[0] == pytest.approx(408_672, abs=1)
    assert y[0] == pytest.approx(6_472_746, abs=1)


@pytest.mark.parametrize(
    ("a", "b", "epsg", "swapped"),
    [
        ([13.4, 13.5], [58.3, 58.4], 4326, False),
        ([58.3, 58.4], [13.4, 13.5], 4326, True),
        ([408_000, 409_000], [6_472_000, 6_473_000], 3006, False),
        ([6_472_000, 6_473_000], [408_000, 409_000], 3006, True),
        ([-87.6, -87.7], [41.8, 41.9], 4326, False),
    ],
)
def test_infer_point_crs(a, b, epsg, swapped):
    got, got_swapped, reason = infer_point_crs(np.array(a), np.array(b))
    assert (got, got_swapped) == (epsg, swapped)
    assert reason


def test_infer_point_crs_nothing_fits():
    got, _, reason = infer_point_crs(np.array([5e7]), np.array([9e8]))
    assert got is None
    assert "fit no known CRS" in reason


def test_skara_boundary_area_matches_scb():
    # SCB: Skara kommun 435 km² (land and water within the simplified boundary)
    assert municipality("1495", 3006).area / 1e6 == pytest.approx(435, rel=0.02)
