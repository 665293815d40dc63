"""KDE against the quartic formula and a brute-force evaluation."""

import numpy as np
import pytest

from tryggkarta.analysis import kde
from tryggkarta.analysis.kde import quartic_kernel, top_cells


def quartic(d, h):
    return np.where(d < h, 3 / (np.pi * h**2) * (1 - d**2 / h**2) ** 2, 0.0)


def test_single_point_kernel_shape_and_value():
    c = np.zeros((41, 41))
    c[20, 20] = 1
    cell, h = 50.0, 500.0  # 10 cells
    res = kde(c, cell, h)
    iy, ix = np.indices(c.shape)
    d = np.hypot(ix - 20, iy - 20) * cell
    formula = quartic(d, h) * 1e6  # per km²
    # shape exactly proportional to the formula
    np.testing.assert_allclose(
        res.density / res.density[20, 20], formula / formula[20, 20], atol=1e-12
    )
    # absolute values match the continuous formula up to the discretisation (<1 %)
    np.testing.assert_allclose(res.density[20, 20], formula[20, 20], rtol=0.01)
    assert res.density[20, 30] == 0  # d == h
    assert res.density[20, 29] > 0


def test_brute_force_and_mass():
    rng = np.random.default_rng(0)
    c = rng.poisson(0.3, (30, 40)).astype(float)
    c[:6], c[-6:], c[:, :6], c[:, -6:] = 0, 0, 0, 0  # no edge loss
    cell, h = 100.0, 320.0
    res = kde(c, cell, h)
    r = quartic_kernel(h / cell).shape[0] // 2
    ys, xs = np.nonzero(c)
    iy, ix = np.indices(c.shape)
    brute = np.zeros(c.shape)
    for y0, x0 in zip(ys, xs, strict=True):  # brute force over the few occupied cells
        d = np.hypot(ix - x0, iy - y0)
        w = np.where(d < h / cell, (1 - (d * cell) ** 2 / h**2) ** 2, 0.0)
        brute += c[y0, x0] * w
    dk = np.hypot(*np.mgrid[-r : r + 1, -r : r + 1]) * cell / h
    brute *= 1e6 / cell**2 / ((1 - np.minimum(dk, 1) ** 2) ** 2).sum()
    np.testing.assert_allclose(res.density, brute, atol=1e-9)
    mass = res.density.sum() * (cell / 1000) ** 2
    assert mass == pytest.approx(c.sum(), rel=1e-9)


def test_large_bandwidth_fft_path_and_edge_loss():
    c = np.zeros((60, 60))
    c[30, 30] = 5
    c[0, 0] = 5
    res = kde(c, 10.0, 150.0)  # 15 cells -> FFT path
    assert res.density.min() >= 0
    mass = res.density.sum() * (10 / 1000) ** 2
    assert 5 < mass < 10  # corner point loses about 3/4 of its mass


def test_auto_bandwidth_rule():
    rng = np.random.default_rng(1)
    c = rng.poisson(1, (50, 50)).astype(float)
    res = kde(c, 100.0)
    assert 200 <= res.bandwidth <= 600
    assert "Silverman" in res.bandwidth_rule
    empty = kde(np.zeros((5, 5)), 100.0)
    assert empty.bandwidth == 200 and (empty.density == 0).all()


def test_hotspot_mask_share_and_ties():
    d = np.array([[1.0, 3.0, 3.0], [0.0, 2.0, 3.0]])
    sel = top_cells(d, 0.5)
    np.testing.assert_array_equal(sel, [[False, True, True], [False, False, True]])
    sel = top_cells(d, 0.34)  # round(0.34*6) = 2 -> the two lowest-index 3s
    np.testing.assert_array_equal(sel, [[False, True, True], [False, False, False]])
    mask = np.array([[True, False, True], [True, True, True]])
    sel = top_cells(d, 0.4, mask)  # A = 5 -> 2 cells
    np.testing.assert_array_equal(sel, [[False, False, True], [False, False, True]])
    res = kde(np.eye(5), 100.0, 200.0)
    assert res.hotspot_mask(0.2).sum() == 5


def test_bad_input():
    with pytest.raises(ValueError, match="at least one cell"):
        kde(np.ones((3, 3)), 100.0, 50.0)
    with pytest.raises(ValueError, match="2-D"):
        kde(np.ones(3), 100.0)
    with pytest.raises(ValueError, match="share"):
        top_cells(np.ones((2, 2)), 0.0)
