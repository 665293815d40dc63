"""Tests for tryggkarta.analysis.grid (counting against brute-force references)."""

import numpy as np
import pytest

from tryggkarta.analysis import Grid


def test_for_points_snaps_origin_and_covers_points():
    rng = np.random.default_rng(0)
    x = rng.uniform(674_123.4, 676_987.1, 500)
    y = rng.uniform(6_580_011.0, 6_583_555.0, 500)
    g = Grid.for_points(x, y, cell_size=100)
    assert g.x0 % 100 == 0 and g.y0 % 100 == 0
    assert g.shape == (g.ny, g.nx)
    minx, miny, maxx, maxy = g.bounds
    assert minx <= x.min() and maxx > x.max() and miny <= y.min() and maxy > y.max()
    flat, inside = g.cell_index(x, y)
    assert inside.all()
    bx0, by0, bx1, by1 = g.cell_bounds(flat)
    assert np.all((bx0 <= x) & (x < bx1) & (by0 <= y) & (y < by1))


def test_counts_match_histogram2d():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 5000, 3000), rng.uniform(0, 3000, 3000)
    w = rng.random(3000)
    g = Grid.for_points(x, y, cell_size=250)
    xe = g.x0 + np.arange(g.nx + 1) * g.cell_size
    ye = g.y0 + np.arange(g.ny + 1) * g.cell_size
    ref, _, _ = np.histogram2d(y, x, bins=[ye, xe])
    np.testing.assert_array_equal(g.counts(x, y), ref)
    refw, _, _ = np.histogram2d(y, x, bins=[ye, xe], weights=w)
    np.testing.assert_allclose(g.counts(x, y, weights=w), refw)


def test_auto_cell_size_is_nice_clamped_and_explained():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 10_000, 400), rng.uniform(0, 10_000, 400)
    g = Grid.for_points(x, y)
    assert 50 <= g.cell_size <= 500
    assert g.cell_size in (50, 75, 100, 125, 150, 200, 250, 300, 400, 500)
    assert "nearest-neighbour" in g.reason
    dense = Grid.for_points(rng.uniform(0, 100, 400), rng.uniform(0, 100, 400))
    assert dense.cell_size == 50  # clamped
    sparse = Grid.for_points(rng.uniform(0, 200_000, 30), rng.uniform(0, 200_000, 30))
    assert sparse.cell_size == 500


def test_centers_and_orientation():
    g = Grid(x0=1000.0, y0=2000.0, cell_size=100.0, nx=3, ny=2)
    cx, cy = g.centers()
    assert cx.shape == (2, 3)
    assert cx[0, 0] == 1050 and cy[0, 0] == 2050 and cy[1, 0] == 2150  # row 0 = south
    flat, inside = g.cell_index([1250.0], [2150.0])
    assert inside[0] and flat[0] == 1 * 3 + 2


def test_bad_input():
    with pytest.raises(ValueError, match="No points"):
        Grid.for_points([], [])
    with pytest.raises(ValueError, match="No points with valid coordinates"):
        Grid.for_points([np.nan], [1.0])
    with pytest.raises(ValueError, match="positive"):
        Grid.for_points([0, 100], [0, 100], cell_size=0)
    with pytest.raises(ValueError, match="larger than the study area"):
        Grid.for_points([0, 100], [0, 100], cell_size=1000)
    with pytest.raises(ValueError, match="cells"):
        Grid.for_points([0, 1e6], [0, 1e6], cell_size=0.1)
    with pytest.raises(ValueError, match="same length"):
        Grid.for_points([0, 1], [0])


def test_nan_points_are_dropped_and_reported():
    g = Grid.for_points([0, 500, np.nan], [0, 500, 3], cell_size=100)
    assert "1 point(s) with missing coordinates" in g.reason
    assert g.counts([0, np.nan], [0, 0]).sum() == 1


def test_one_point_and_one_location():
    g = Grid.for_points([674_010.0], [6_580_020.0])
    assert g.n_cells == 1 and "one distinct location" in g.reason
    g2 = Grid.for_points([5.0] * 10, [5.0] * 10)
    assert g2.counts([5.0] * 10, [5.0] * 10).sum() == 10
