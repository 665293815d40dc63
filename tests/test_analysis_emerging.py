"""Mann-Kendall against brute force / scipy, and every emerging category from a built cube."""

import numpy as np
import pytest
from scipy.stats import kendalltau

from tryggkarta.analysis import emerging
from tryggkarta.analysis.emerging import EMERGING_LABELS, mann_kendall


def brute_mk(x):
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    _, t = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - np.sum(t * (t - 1) * (2 * t + 5))) / 18
    return s, var


def test_mann_kendall_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(25, 40)).astype(float)  # many ties
    x[:, 0] = 2.0  # all tied
    s, var, z, p = mann_kendall(x)
    for j in range(x.shape[1]):
        bs, bv = brute_mk(x[:, j])
        assert s[j] == bs and var[j] == pytest.approx(bv, rel=1e-12)
    assert z[0] == 0 and p[0] == 1
    zc = (s - np.sign(s)) / np.sqrt(np.where(var > 0, var, 1))
    np.testing.assert_allclose(z[1:], zc[1:], atol=1e-12)


def test_mann_kendall_matches_kendalltau_without_continuity():
    rng = np.random.default_rng(1)
    x = rng.poisson(3, size=(30, 20)).astype(float)
    _, _, _, p = mann_kendall(x, continuity=False)
    for j in range(x.shape[1]):
        r = kendalltau(np.arange(30), x[:, j], method="asymptotic")
        assert p[j] == pytest.approx(r.pvalue, rel=1e-9, abs=1e-12)


T = 20
STATES = {  # per time step: 0 neutral, +v hot block of value v, "c" cold block
    "new": [0] * 19 + [40],
    "consecutive": [0] * 17 + [40] * 3,
    "intensifying": list(np.linspace(20, 60, T)),
    "persistent": [40] * T,
    "diminishing": list(np.linspace(60, 20, T)),
    "sporadic": [0, 0, 40, 0, 0, 0, 0, 40, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 40],
    "oscillating": [0, 0, 0, "c", 0, 0, 0, 0, "c", 0, 40, 0, 0, 0, 0, 0, 0, 0, 0, 40],
    "historical": [40] * 19 + [0],
    "no_pattern": [0] * T,
    "new_cold": [0] * 19 + ["c"],
    "persistent_cold": ["c"] * T,
}


def build_cube(states):
    base = np.random.default_rng(42).poisson(5, (25, 25)).astype(float)
    cube = np.repeat(base[None], len(states), axis=0)
    for k, s in enumerate(states):
        if s == "c":
            cube[k, 11:14, 11:14] = 0
        elif s:
            cube[k, 11:14, 11:14] = s
    return cube


@pytest.mark.parametrize("category", list(STATES))
def test_each_category_from_a_constructed_series(category):
    res = emerging(build_cube(STATES[category]))
    assert res.category[12, 12] == category
    assert category in res.labels and res.labels[category] == EMERGING_LABELS[category]


def test_result_fields_and_labels():
    res = emerging(build_cube(STATES["intensifying"]))
    assert res.category.shape == (25, 25)
    assert res.trend_z[12, 12] > 0 and res.trend_p[12, 12] < 0.05
    assert res.hot_fraction[12, 12] == 1.0
    assert res.labels["new"] == ("Ny", "New hot spot")
    assert res.labels["no_pattern"][0] == "Inget mönster"
    assert set(np.unique(res.category)) <= set(EMERGING_LABELS)


def test_empty_periods_and_mask():
    cube = np.zeros((8, 6, 7))
    cube[3, 2, 2] = 4
    mask = np.ones((6, 7), bool)
    mask[0] = False
    res = emerging(cube, mask=mask)
    assert (res.category[0] == "").all() and np.isnan(res.trend_z[0]).all()
    assert not np.isnan(res.trend_z[mask]).any()
    allzero = emerging(np.zeros((5, 4, 4)))
    assert (allzero.category == "no_pattern").all() and (allzero.trend_p == 1).all()


def test_bad_input():
    with pytest.raises(ValueError, match="at least two time steps"):
        emerging(np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match="T, ny, nx"):
        emerging(np.zeros((3, 3)))
