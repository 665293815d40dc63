"""Patrol hot spots on a synthetic week pattern with a known hot cluster."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tryggkarta.analysis import Grid, patrol_hotspots


def synthetic(now="2025-06-02T00:00"):
    rng = np.random.default_rng(0)
    now64 = np.datetime64(now, "s")
    n_bg = 600
    x = rng.uniform(0, 3000, n_bg)
    y = rng.uniform(0, 3000, n_bg)
    t = now64 - rng.integers(0, 16 * 7 * 86400, n_bg).astype("timedelta64[s]")
    # a hot cluster, growing: 30 in the recent 4 weeks, 15 in the 12 baseline weeks
    hx = rng.uniform(1000, 1200, 45)
    hy = rng.uniform(1000, 1200, 45)
    fri_night = np.datetime64("2025-05-30T19:30", "s")  # 21:30 local (CEST)
    ht = np.concatenate(
        [
            fri_night - (rng.integers(0, 4, 30) * 7 * 86400).astype("timedelta64[s]"),
            fri_night - ((4 + rng.integers(0, 12, 15)) * 7 * 86400).astype("timedelta64[s]"),
        ]
    )
    cats = np.array(["skadegorelse"] * n_bg + ["narkotika"] * 20 + ["vald_hot"] * 25, dtype=object)
    return (np.r_[x, hx], np.r_[y, hy], np.r_[t, ht], cats, now64)


def test_finds_cluster_with_trend_profile_and_categories():
    x, y, t, cats, now = synthetic()
    grid = Grid.for_points(x, y, cell_size=100, bounds=(0, 0, 3000, 3000))
    hs = patrol_hotspots(x, y, t, grid, now=now, categories=cats)
    assert hs and hs[0].rank == 1
    top = hs[0]
    minx, miny, maxx, maxy = top.bounds
    assert minx <= 1100 <= maxx and miny <= 1100 <= maxy
    assert top.recent_count >= 30
    assert top.ratio > 1 and top.trend == "ökar" and top.trend_en == "increasing"
    # exact conditional Poisson test, recomputed independently
    base = top.baseline_weekly_mean * 12
    ref = stats.binomtest(top.recent_count, round(base + top.recent_count), 4 / 16).pvalue
    assert top.trend_p == pytest.approx(ref)
    assert top.profile.shape == (7, 24) and top.profile[4, 21] >= 30
    assert top.peak_windows[0][0].startswith("fre")
    assert top.top_categories[0][0] in {"narkotika", "vald_hot"}
    assert all(a.recent_count >= b.recent_count for a, b in itertools.pairwise(hs))


def test_category_filter_and_empty_windows():
    x, y, t, cats, now = synthetic()
    grid = Grid.for_points(x, y, cell_size=100, bounds=(0, 0, 3000, 3000))
    only = patrol_hotspots(x, y, t, grid, now=now, categories=cats, category="narkotika")
    assert all(h.top_categories[0][0] == "narkotika" for h in only)
    assert patrol_hotspots(x, y, t, grid, now="2030-01-01") == []  # period with no data
    local_now = pd.Timestamp("2025-06-02 02:00", tz="Europe/Stockholm")  # = now in UTC
    same = patrol_hotspots(x, y, t, grid, now=local_now, categories=cats)
    assert [h.cells for h in same] == [
        h.cells for h in patrol_hotspots(x, y, t, grid, now=now, categories=cats)
    ]
    assert patrol_hotspots(x[:0], y[:0], t[:0], grid, now=now) == []
    with pytest.raises(ValueError, match="categories"):
        patrol_hotspots(x, y, t, grid, now=now, category="narkotika")
