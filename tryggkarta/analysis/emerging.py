"""Emerging hot spots: Gi* per time step + Mann-Kendall trend per cell (ArcGIS categories)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from .gistar import gistar_z, neighbourhood_kernel

#: Category key → (Swedish, English) label. Cold counterparts end in ``_cold``.
EMERGING_LABELS: dict[str, tuple[str, str]] = {
    "new": ("Ny", "New hot spot"),
    "consecutive": ("Sammanhängande", "Consecutive hot spot"),
    "intensifying": ("Intensifierande", "Intensifying hot spot"),
    "persistent": ("Ihållande", "Persistent hot spot"),
    "diminishing": ("Avtagande", "Diminishing hot spot"),
    "sporadic": ("Sporadisk", "Sporadic hot spot"),
    "oscillating": ("Oscillerande", "Oscillating hot spot"),
    "historical": ("Historisk", "Historical hot spot"),
    "new_cold": ("Ny kallpunkt", "New cold spot"),
    "consecutive_cold": ("Sammanhängande kallpunkt", "Consecutive cold spot"),
    "intensifying_cold": ("Intensifierande kallpunkt", "Intensifying cold spot"),
    "persistent_cold": ("Ihållande kallpunkt", "Persistent cold spot"),
    "diminishing_cold": ("Avtagande kallpunkt", "Diminishing cold spot"),
    "sporadic_cold": ("Sporadisk kallpunkt", "Sporadic cold spot"),
    "oscillating_cold": ("Oscillerande kallpunkt", "Oscillating cold spot"),
    "historical_cold": ("Historisk kallpunkt", "Historical cold spot"),
    "no_pattern": ("Inget mönster", "No pattern detected"),
}
PERSISTENT_SHARE = 0.9
_CHUNK = 4096


@dataclass(frozen=True)
class EmergingResult:
    """Result of :func:`emerging`; arrays have shape (ny, nx).

    Attributes
    ----------
    category : ndarray of str
        Category key per cell (see :data:`EMERGING_LABELS`); ``""`` outside the mask.
    trend_z, trend_p : ndarray
        Mann-Kendall z (continuity corrected) and two-sided p of the Gi* z-score series.
    hot_fraction : ndarray
        Share of time steps in which the cell is a significant hot spot.
    labels : dict
        Category key → (Swedish, English) label.
    cold_fraction : ndarray
        Share of time steps in which the cell is a significant cold spot.
    """

    category: NDArray[np.str_]
    trend_z: NDArray[np.float64]
    trend_p: NDArray[np.float64]
    hot_fraction: NDArray[np.float64]
    labels: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(EMERGING_LABELS))
    cold_fraction: NDArray[np.float64] | None = None


def mann_kendall(
    series: ArrayLike, axis: int = 0, *, continuity: bool = True
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Vectorised Mann-Kendall trend test with tie correction.

    :math:`S = \\sum_{k<l} \\operatorname{sign}(x_l - x_k)`,
    :math:`\\operatorname{Var}(S) = [n(n-1)(2n+5) - \\sum_g t_g(t_g-1)(2t_g+5)]/18`
    over tie groups *g*, :math:`z = (S - \\operatorname{sign} S)/\\sqrt{\\operatorname{Var} S}`
    (without the ±1 when ``continuity=False``), p two-sided normal. Loops over the lag only
    (``n - 1`` vectorised passes over all series).

    Returns
    -------
    s, var_s, z, p : ndarray
        Shape of ``series`` without ``axis``; z = 0, p = 1 where Var(S) = 0.

    References
    ----------
    Mann, H. B. (1945). Nonparametric tests against trend. Econometrica 13, 245–259.
    Kendall, M. G. (1975). Rank Correlation Methods, 4th ed. Griffin, London.
    """
    x = np.moveaxis(np.asarray(series, dtype=np.float64), axis, 0)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    s_flat = np.zeros(flat.shape[1], dtype=np.float64)
    ties_flat = np.zeros(flat.shape[1], dtype=np.float64)
    idx = np.arange(n)[:, None]
    for i in range(0, flat.shape[1], _CHUNK):  # cache-sized blocks of series
        xc = np.ascontiguousarray(flat[:, i : i + _CHUNK])
        acc = np.zeros(xc.shape[1], dtype=np.float64)
        for d in range(1, n):
            acc += np.sign(xc[d:] - xc[:-d]).sum(axis=0)
        s_flat[i : i + _CHUNK] = acc
        if n > 1:  # tie group size t of every element of the sorted series
            xs = np.sort(xc, axis=0)
            new = np.ones(xs.shape, dtype=bool)
            new[1:] = xs[1:] != xs[:-1]
            first = np.maximum.accumulate(np.where(new, idx, 0), axis=0)
            last_flag = np.ones(xs.shape, dtype=bool)
            last_flag[:-1] = new[1:]
            last = np.minimum.accumulate(np.where(last_flag, idx, n - 1)[::-1], axis=0)[::-1]
            t = (last - first + 1).astype(np.float64)
            # sum over groups of t(t-1)(2t+5) = sum over elements of (t-1)(2t+5)
            ties_flat[i : i + _CHUNK] = ((t - 1.0) * (2.0 * t + 5.0)).sum(axis=0)
    s = s_flat.reshape(x.shape[1:])
    ties = ties_flat.reshape(x.shape[1:])
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    num = s - np.sign(s) if continuity else s
    ok = var_s > 0
    z = np.where(ok, num / np.sqrt(np.where(ok, var_s, 1.0)), 0.0)
    p = np.where(ok, 2.0 * special.ndtr(-np.abs(z)), 1.0)
    return s, var_s, z, p


def _bh_reject(z: NDArray, alpha: float) -> NDArray[np.bool_]:
    """Benjamini–Hochberg rejections per row of two-sided normal p-values of ``z`` (T, N).

    Same decisions as ``fdr_bh(p, axis=1) <= alpha`` but sorting only the p-values ≤ alpha.
    """
    out = np.zeros(z.shape, dtype=bool)
    m = z.shape[1]
    for k in range(z.shape[0]):  # loop over time steps only
        p = 2.0 * special.ndtr(-np.abs(z[k]))
        cand = np.sort(p[p <= alpha])
        if cand.size == 0:
            continue
        ok = cand <= alpha * np.arange(1, cand.size + 1) / m
        if ok.any():
            out[k] = p <= cand[np.flatnonzero(ok)[-1]]
    return out


def _classify(sig: NDArray[np.bool_], opp: NDArray[np.bool_], up: NDArray, down: NDArray) -> dict:
    """ArcGIS rules on a (T, N) significance series; returns key → cell mask (hot naming)."""
    t = sig.shape[0]
    final = sig[-1]
    frac = sig.mean(axis=0)
    before = sig[:-1].any(axis=0) if t > 1 else np.zeros_like(final)
    # length of the run of significant steps ending at the final step
    not_sig_idx = np.where(~sig, np.arange(t)[:, None], -1).max(axis=0)
    run = (t - 1) - not_sig_idx
    hot_before_run = np.zeros_like(final)
    if t > 1:
        idx = np.arange(t)[:, None]
        hot_before_run = (sig & (idx < not_sig_idx)).any(axis=0)
    mostly = frac >= PERSISTENT_SHARE
    out = {}
    out["intensifying"] = final & mostly & up
    out["diminishing"] = final & mostly & down & ~up
    out["persistent"] = final & mostly & ~up & ~down
    rest = final & ~mostly
    out["new"] = rest & ~before
    out["consecutive"] = rest & before & (run >= 2) & ~hot_before_run
    other = rest & before & ~out["consecutive"]
    out["oscillating"] = other & opp.any(axis=0)
    out["sporadic"] = other & ~opp.any(axis=0)
    out["historical"] = ~final & mostly
    return out


def emerging(
    cube: ArrayLike,
    *,
    neighbourhood: str = "queen",
    distance: float | None = None,
    alpha: float = 0.05,
    mask: ArrayLike | None = None,
) -> EmergingResult:
    """Emerging Hot Spot Analysis on a space-time cube of counts.

    Gi* z-scores are computed per time step (spatial neighbourhood only; each step uses its
    own mean and variance), significance is Benjamini–Hochberg FDR ≤ ``alpha`` per step. The
    trend is the Mann-Kendall test on each cell's **Gi* z-score series** (as ArcGIS), with
    "up"/"down" meaning MK p ≤ ``alpha`` and z > 0 / z < 0.

    Rules (evaluated for hot spots; the same rules on cold spots give ``*_cold``, and a cell
    that is both takes the hot category), with *final* = significant hot in the last step and
    *share* = share of steps that are significant hot:

    - ``intensifying``: final, share ≥ 90 %, trend up.
    - ``diminishing``: final, share ≥ 90 %, trend down.
    - ``persistent``: final, share ≥ 90 %, no significant trend.
    - ``new``: final, never significant hot before.
    - ``consecutive``: final, share < 90 %, a single uninterrupted run of ≥ 2 hot steps ending
      at the last step, and no hot step before that run.
    - ``oscillating``: final, share < 90 %, hot before (not consecutive) and significant cold
      in some step.
    - ``sporadic``: final, share < 90 %, hot before (not consecutive), never significant cold.
    - ``historical``: not final, but share ≥ 90 %.
    - ``no_pattern``: anything else.

    Parameters
    ----------
    cube : array_like, shape (T, ny, nx)
        Counts per time step (week or month) and cell.
    neighbourhood, distance : see :func:`gistar`.
    alpha : float
        Significance level for the hot/cold steps (FDR) and for the trend.
    mask : array_like of bool, optional
        Study area; outside cells get category ``""`` and NaN statistics.

    Returns
    -------
    EmergingResult

    References
    ----------
    Getis & Ord (1992); Ord & Getis (1995); Benjamini & Hochberg (1995); Mann (1945);
    Kendall (1975). Esri, "How Emerging Hot Spot Analysis works" (ArcGIS Pro documentation).
    """
    c = np.asarray(cube, dtype=np.float64)
    if c.ndim != 3 or c.shape[0] < 2 or c.shape[1] * c.shape[2] == 0:
        raise ValueError(
            f"cube must have shape (T, ny, nx) with at least two time steps; got {c.shape}."
        )
    t_steps, ny, nx = c.shape
    m = np.ones((ny, nx), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    kernel = neighbourhood_kernel(neighbourhood, distance)
    z = np.empty((t_steps, int(m.sum())))
    for k in range(t_steps):  # one time slice at a time keeps memory at O(T·N)
        z[k] = gistar_z(c[k], kernel, m)[m]
    sig = _bh_reject(z, alpha)
    hot, cold = sig & (z > 0), sig & (z < 0)
    _, _, tz, tp = mann_kendall(z, axis=0)
    up, down = (tp <= alpha) & (tz > 0), (tp <= alpha) & (tz < 0)
    cat = np.full(z.shape[1], "no_pattern", dtype="<U20")
    for key, sel in _classify(cold, hot, down, up).items():
        cat[sel] = key + "_cold"
    for key, sel in _classify(hot, cold, up, down).items():
        cat[sel] = key
    out_cat = np.full((ny, nx), "", dtype="<U20")
    out_cat[m] = cat

    def _grid(v: NDArray) -> NDArray[np.float64]:
        g = np.full((ny, nx), np.nan)
        g[m] = v
        return g

    return EmergingResult(
        category=out_cat,
        trend_z=_grid(tz),
        trend_p=_grid(tp),
        hot_fraction=_grid(hot.mean(axis=0)),
        labels=dict(EMERGING_LABELS),
        cold_fraction=_grid(cold.mean(axis=0)),
    )
