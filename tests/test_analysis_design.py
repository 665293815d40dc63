"""Design hot spots: binomial test (scipy oracle), shrinkage, reasons, measures."""

import numpy as np
import pytest
from scipy import stats

from tryggkarta.analysis import DesignHotspot, Grid, design_hotspots
from tryggkarta.analysis.design import eb_prior_strength


def survey():
    rng = np.random.default_rng(0)
    n_bg = 400
    sx, sy = rng.uniform(0, 2000, n_bg), rng.uniform(0, 2000, n_bg)
    rating = rng.choice([1, 2, 3, 4, 5], n_bg, p=[0.05, 0.1, 0.25, 0.3, 0.3])
    reasons = [("trafik",) if r <= 2 else () for r in rating]
    # a dark path: 30 answers in one 100 m cell, 24 unsafe, 12 cite poor lighting
    px, py = rng.uniform(1010, 1090, 30), rng.uniform(510, 590, 30)
    prating = np.r_[[1] * 12, [2] * 12, [4] * 6]
    preasons = [["belysning", "folktomt"]] * 12 + ["vegetation, trafik"] * 12 + [[]] * 6
    ix = np.r_[rng.uniform(1000, 1100, 5), rng.uniform(0, 2000, 50)]
    iy = np.r_[rng.uniform(500, 600, 5), rng.uniform(0, 2000, 50)]
    icat = np.array(["belysning_fel"] * 5 + ["trafik"] * 50, dtype=object)
    return (
        np.r_[sx, px],
        np.r_[sy, py],
        np.r_[rating, prating],
        list(reasons) + preasons,
        ix,
        iy,
        icat,
    )


def test_dark_path_is_found_with_measures():
    sx, sy, r, reasons, ix, iy, icat = survey()
    grid = Grid.for_points(sx, sy, cell_size=100, bounds=(0, 0, 2000, 2000))
    hs = design_hotspots(sx, sy, r, reasons, ix, iy, icat, grid)
    assert hs and isinstance(hs[0], DesignHotspot)
    top = hs[0]
    assert top.bounds[0] <= 1050 <= top.bounds[2] and top.bounds[1] <= 550 <= top.bounds[3]
    assert top.n_unsafe / top.n_answers == pytest.approx(top.unsafe_share)
    p0 = (r <= 2).mean()
    assert p0 < top.smoothed_share < top.unsafe_share  # shrunk towards the municipality rate
    keys = [m[0] for m in top.measures]
    assert keys[0] == "belysning"
    assert "siktlinjer" in keys and "platsaktivering" in keys
    lighting = dict((m[0], m) for m in top.measures)["belysning"]
    n = top.n_answers
    assert f"av svaren (12 av {n}) anger dålig belysning" in lighting[1]
    assert "5 rapporter om trasig belysning" in lighting[1]
    assert "5 reports of broken lighting" in lighting[2]
    assert 0 < lighting[3] <= 1
    assert top.reasons[0][0] in {"belysning", "vegetation"}
    assert top.incidents.get("belysning_fel") == 5


def test_binomial_p_matches_scipy_binomtest():
    sx, sy, r, reasons, ix, iy, icat = survey()
    grid = Grid.for_points(sx, sy, cell_size=100, bounds=(0, 0, 2000, 2000))
    hs = design_hotspots(sx, sy, r, reasons, ix, iy, icat, grid)
    edges = [grid.x0 + np.arange(grid.nx + 1) * 100.0, grid.y0 + np.arange(grid.ny + 1) * 100.0]
    n, _, _ = np.histogram2d(sy, sx, bins=[edges[1], edges[0]])
    u, _, _ = np.histogram2d(sy[r <= 2], sx[r <= 2], bins=[edges[1], edges[0]])
    p0 = (r <= 2).mean()
    tested = np.flatnonzero(n.ravel() >= 5)
    raw = np.array(
        [
            stats.binomtest(int(u.ravel()[i]), int(n.ravel()[i]), p0, alternative="greater").pvalue
            for i in tested
        ]
    )
    q = dict(zip(tested, stats.false_discovery_control(raw), strict=True))
    for h in hs:
        assert h.p == pytest.approx(min(q[c] for c in h.cells), rel=1e-9)
        assert h.p <= 0.05


def test_eb_prior_method_of_moments():
    u = np.array([1, 2, 8, 0, 3])
    n = np.array([10, 10, 10, 10, 10])
    p0, m = eb_prior_strength(u, n)
    assert p0 == pytest.approx(14 / 50)
    rates = u / n
    tau2 = np.mean((rates - p0) ** 2) - p0 * (1 - p0) / 10
    assert m == pytest.approx(np.clip(p0 * (1 - p0) / tau2 - 1, 1, 1000))


def test_no_signal_and_bad_input():
    rng = np.random.default_rng(1)
    sx, sy = rng.uniform(0, 1000, 200), rng.uniform(0, 1000, 200)
    grid = Grid.for_points(sx, sy, cell_size=100)
    assert design_hotspots(sx, sy, np.full(200, 4), [()] * 200, [], [], [], grid) == []
    assert design_hotspots([], [], [], [], [], [], [], grid) == []
    with pytest.raises(ValueError, match="one entry per answer"):
        design_hotspots(sx, sy, np.full(200, 4), [()] * 3, [], [], [], grid)
