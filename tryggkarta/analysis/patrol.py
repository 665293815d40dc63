"""Patrol hot spots for the weekly EST picture: recent Gi* clusters and their trend."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage, stats

from tryggkarta.domain import TREND_LABELS

from .gistar import gistar
from .grid import Grid
from .temporal import as_utc, hour_weekday_profile, peak_windows

_WEEK = np.timedelta64(7 * 24 * 3600, "s")


@dataclass(frozen=True)
class PatrolHotspot:
    """One connected cluster of significant recent hot cells.

    Attributes
    ----------
    rank : int
        1 = highest priority.
    cells : tuple of int
        Flat cell indices of the grid.
    bounds : tuple
        ``(minx, miny, maxx, maxy)`` of the cluster (working-CRS metres).
    recent_count : int
        Incidents in the recent window.
    baseline_weekly_mean : float
        Incidents per week in the baseline window.
    ratio : float
        Recent weekly rate / baseline weekly rate (``inf`` if the baseline is empty).
    trend, trend_en : str
        "ökar"/"minskar"/"oförändrad" and English.
    trend_p : float
        Two-sided exact conditional Poisson test (binomial split of recent + baseline).
    max_z : float
        Largest Gi* z in the cluster.
    profile : ndarray (7, 24)
        Hour × weekday counts (local time, ``TRYGGKARTA_TIMEZONE``) over recent + baseline windows.
    peak_windows, peak_windows_en : list of (days, hours)
    top_categories : tuple of (category, count)
        Most frequent categories in the recent window (empty if no categories given).
    """

    rank: int
    cells: tuple[int, ...]
    bounds: tuple[float, float, float, float]
    recent_count: int
    baseline_weekly_mean: float
    ratio: float
    trend: str
    trend_en: str
    trend_p: float
    max_z: float
    profile: NDArray[np.int64]
    peak_windows: list[tuple[str, str]]
    peak_windows_en: list[tuple[str, str]]
    top_categories: tuple[tuple[str, int], ...]


def _rate_test(recent: int, base: int, w_recent: float, w_base: float) -> float:
    n = recent + base
    if n == 0:
        return 1.0
    return float(stats.binomtest(recent, n, w_recent / (w_recent + w_base)).pvalue)


def patrol_hotspots(
    x: ArrayLike,
    y: ArrayLike,
    t: ArrayLike,
    grid: Grid,
    *,
    now: np.datetime64 | str | object,
    recent_weeks: int = 4,
    baseline_weeks: int = 12,
    categories: Sequence[str] | NDArray | None = None,
    category: str | Collection[str] | None = None,
    min_count: int = 3,
    alpha: float = 0.05,
    neighbourhood: str = "queen",
) -> list[PatrolHotspot]:
    """Where to patrol next week: significant Gi* clusters of the recent window.

    Recent window = ``[now − recent_weeks, now)``, baseline = the ``baseline_weeks``
    before it. Gi* (queen, FDR) runs on the recent counts over the whole grid; cells with
    z > 0, FDR-adjusted p ≤ ``alpha`` and at least one recent incident are merged into
    8-connected clusters (``scipy.ndimage.label``). Clusters with fewer than ``min_count``
    recent incidents are dropped. The trend compares the recent weekly rate with the
    baseline weekly rate of the same cells; the p-value is the exact conditional test for
    two Poisson rates (recent | recent + baseline ~ Binomial(n, r/(r+b)) in weeks r, b), and
    the label is "ökar"/"minskar" when p ≤ ``alpha``, else "oförändrad".

    Priority: more recent incidents first, then higher max z, then lower first cell index.

    Parameters
    ----------
    x, y : array_like
        Incident coordinates (working-CRS metres).
    t : array_like
        Incident times (numpy datetime64 = UTC, or tz-aware pandas).
    grid : Grid
    now : datetime64, str or pandas Timestamp
        End of the recent window (naive values are UTC; tz-aware ones are converted).
    categories : sequence of str, optional
        Category key per incident (for filtering and ``top_categories``).
    category : str or collection of str, optional
        Only use incidents of this/these categories (needs ``categories``).

    Returns
    -------
    list of PatrolHotspot
        Sorted by priority (rank 1 first); empty when nothing is significant.

    References
    ----------
    Getis & Ord (1992); Ord & Getis (1995); Benjamini & Hochberg (1995).
    Przyborowski, J. & Wilenski, H. (1940). Homogeneity of results in testing samples from
    Poisson series. Biometrika 31, 313–323 (conditional test of two Poisson rates).
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    ta = as_utc(t)
    if not (xa.size == ya.size == ta.size):
        raise ValueError("x, y and t must have the same length.")
    if recent_weeks < 1 or baseline_weeks < 1:
        raise ValueError("recent_weeks and baseline_weeks must be at least 1.")
    cats = None if categories is None else np.asarray(categories, dtype=object).ravel()
    if cats is not None and cats.size != xa.size:
        raise ValueError("categories must have one value per incident.")
    keep = np.ones(xa.size, dtype=bool)
    if category is not None:
        if cats is None:
            raise ValueError("Filtering by category needs the categories array.")
        wanted = {category} if isinstance(category, str) else set(category)
        keep &= np.isin(cats, list(wanted))
    now64 = as_utc([now])[0]
    recent_start = now64 - recent_weeks * _WEEK
    base_start = recent_start - baseline_weeks * _WEEK
    flat, inside = grid.cell_index(xa, ya)
    valid = keep & inside & ~np.isnat(ta)
    in_recent = valid & (ta >= recent_start) & (ta < now64)
    in_base = valid & (ta >= base_start) & (ta < recent_start)

    recent_counts = np.bincount(flat[in_recent], minlength=grid.n_cells).reshape(grid.shape)
    if recent_counts.sum() == 0:
        return []
    res = gistar(recent_counts, neighbourhood)
    hot = res.hot(alpha) & (recent_counts > 0)
    labels, n_lab = ndimage.label(hot, structure=np.ones((3, 3)))
    if n_lab == 0:
        return []
    lab_flat = labels.ravel()
    rec_per = np.bincount(lab_flat, weights=recent_counts.ravel(), minlength=n_lab + 1)
    base_counts = np.bincount(flat[in_base], minlength=grid.n_cells)
    base_per = np.bincount(lab_flat, weights=base_counts, minlength=n_lab + 1)
    zmax = ndimage.maximum(np.nan_to_num(res.z), labels, np.arange(1, n_lab + 1))
    point_lab = np.where(valid, lab_flat[np.where(inside, flat, 0)], 0)

    items = []
    for k in range(1, n_lab + 1):  # loop over clusters (a handful)
        rec = int(np.rint(rec_per[k]))
        if rec < min_count:
            continue
        cells = np.flatnonzero(lab_flat == k)
        minx, miny, maxx, maxy = grid.cell_bounds(cells)
        base = int(np.rint(base_per[k]))
        base_rate = base / baseline_weeks
        rec_rate = rec / recent_weeks
        ratio = rec_rate / base_rate if base_rate > 0 else float("inf")
        p = _rate_test(rec, base, recent_weeks, baseline_weeks)
        key = "flat" if p > alpha else ("up" if ratio > 1 else "down")
        sel = point_lab == k
        prof = hour_weekday_profile(ta[sel & (in_recent | in_base)])
        top: tuple[tuple[str, int], ...] = ()
        if cats is not None:
            u, c = np.unique(cats[sel & in_recent].astype(str), return_counts=True)
            order = np.lexsort((u, -c))[:3]
            top = tuple((str(u[i]), int(c[i])) for i in order)
        items.append(
            dict(
                cells=tuple(int(c) for c in cells),
                bounds=(float(minx.min()), float(miny.min()), float(maxx.max()), float(maxy.max())),
                recent_count=rec,
                baseline_weekly_mean=float(base_rate),
                ratio=float(ratio),
                trend=TREND_LABELS[key].sv,
                trend_en=TREND_LABELS[key].en,
                trend_p=p,
                max_z=float(zmax[k - 1]),
                profile=prof,
                peak_windows=peak_windows(prof, lang="sv"),
                peak_windows_en=peak_windows(prof, lang="en"),
                top_categories=top,
            )
        )
    items.sort(key=lambda d: (-d["recent_count"], -d["max_z"], d["cells"][0]))
    return [PatrolHotspot(rank=i + 1, **d) for i, d in enumerate(items)]
