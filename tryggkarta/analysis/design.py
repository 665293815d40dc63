"""Design hot spots: where the safety survey says "unsafe", why, and which measures fit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage, stats

from ..domain import (
    ENVIRONMENT_CATEGORIES,
    INCIDENT_CATEGORIES,
    MEASURE_TRIGGERS,
    SURVEY_REASONS,
    UNSAFE_MAX_RATING,
)
from .gistar import fdr_bh
from .grid import Grid

#: Trigger incidents that saturate the incident part of a measure's strength.
INCIDENTS_FOR_FULL_STRENGTH = 10
MIN_STRENGTH = 0.2


@dataclass(frozen=True)
class DesignHotspot:
    """A connected cluster of cells where significantly many answers are "unsafe".

    Attributes
    ----------
    rank : int
    cells : tuple of int
        Flat cell indices.
    bounds : tuple
        ``(minx, miny, maxx, maxy)`` (working-CRS metres).
    n_answers, n_unsafe : int
        Survey answers in the cluster, and those with rating ≤ ``UNSAFE_MAX_RATING``.
    unsafe_share : float
        Raw share ``n_unsafe / n_answers``.
    smoothed_share : float
        Empirical-Bayes (beta-binomial) share shrunk towards the municipality rate.
    p : float
        Smallest FDR-adjusted one-sided binomial p of the cluster's cells.
    reasons : tuple of (reason, count, share)
        Reasons given in the cluster, most frequent first; share of all answers.
    incidents : dict
        Environment-related incidents (``ENVIRONMENT_CATEGORIES``) and other trigger
        categories by category, in the cluster and its adjacent cells.
    measures : list of (measure, evidence_sv, evidence_en, strength)
        Recommended measures from ``MEASURE_TRIGGERS``, strongest first.
    """

    rank: int
    cells: tuple[int, ...]
    bounds: tuple[float, float, float, float]
    n_answers: int
    n_unsafe: int
    unsafe_share: float
    smoothed_share: float
    p: float
    reasons: tuple[tuple[str, int, float], ...]
    incidents: dict[str, int]
    measures: list[tuple[str, str, str, float]]


def _parse_reasons(reasons: Sequence, n: int) -> list[tuple[str, ...]]:
    if len(reasons) != n:
        raise ValueError("survey_reasons must have one entry per answer.")
    out = []
    for r in reasons:
        if r is None or (isinstance(r, float) and np.isnan(r)):
            out.append(())
        elif isinstance(r, str):
            out.append(tuple(s.strip() for s in r.split(",") if s.strip()))
        else:
            out.append(tuple(str(s).strip() for s in r if str(s).strip()))
    return out


def eb_prior_strength(unsafe: NDArray, n: NDArray) -> tuple[float, float]:
    """Method-of-moments beta prior ``(p0, m)``: mean rate and prior sample size.

    ``τ² = max(s² − p0(1 − p0)·mean(1/n), ε)`` is the between-cell variance of the true
    rates (weighted variance of observed rates minus binomial noise); ``m = p0(1−p0)/τ² − 1``
    clamped to 1–1000.
    """
    has = n > 0
    nn, uu = n[has].astype(float), unsafe[has].astype(float)
    p0 = uu.sum() / nn.sum()
    if p0 <= 0 or p0 >= 1 or nn.size < 2:
        return float(p0), 1000.0
    rates = uu / nn
    s2 = float(np.sum(nn * (rates - p0) ** 2) / nn.sum())
    tau2 = max(s2 - p0 * (1 - p0) * float(np.mean(1.0 / nn)), 1e-9)
    m = float(np.clip(p0 * (1 - p0) / tau2 - 1.0, 1.0, 1000.0))
    return float(p0), m


def _fmt_pct(share: float) -> str:
    return f"{round(100 * share):d} %"


def _evidence(reason_counts: dict, n: int, cat_counts: dict, measure: str):
    trig = MEASURE_TRIGGERS[measure]
    sv, en = [], []
    k_r = sum(reason_counts.get(r, 0) for r in trig["reasons"])
    for r in trig["reasons"]:
        c = reason_counts.get(r, 0)
        if c:
            lab = SURVEY_REASONS[r]
            sv.append(f"{_fmt_pct(c / n)} av svaren ({c} av {n}) anger {lab.sv.lower()}")
            en.append(f"{_fmt_pct(c / n)} of answers ({c} of {n}) cite {lab.en.lower()}")
    k_i = 0
    for cat in trig["categories"]:
        c = cat_counts.get(cat, 0)
        if c:
            k_i += c
            lab = INCIDENT_CATEGORIES[cat]
            sv.append(f"{c} {'rapport' if c == 1 else 'rapporter'} om {lab.sv.lower()}")
            en.append(f"{c} {'report' if c == 1 else 'reports'} of {lab.en.lower()}")
    share = min(1.0, k_r / n) if n else 0.0
    strength = 1.0 - (1.0 - share) * (1.0 - min(1.0, k_i / INCIDENTS_FOR_FULL_STRENGTH))
    return "; ".join(sv), "; ".join(en), float(strength)


def design_hotspots(
    survey_x: ArrayLike,
    survey_y: ArrayLike,
    survey_rating: ArrayLike,
    survey_reasons: Sequence,
    inc_x: ArrayLike,
    inc_y: ArrayLike,
    inc_category: Sequence[str] | NDArray,
    grid: Grid,
    *,
    min_n: int = 5,
    alpha: float = 0.05,
) -> list[DesignHotspot]:
    """Design hot spots from the safety survey, with evidence-based measures.

    Per cell: ``n`` answers and ``u`` unsafe answers (rating ≤ ``UNSAFE_MAX_RATING``). The
    municipality rate ``p0 = Σu/Σn``. A cell is *significant* when ``n ≥ min_n`` and the
    one-sided binomial test ``P(X ≥ u | n, p0)`` (``binom.sf(u − 1, n, p0)``), adjusted by
    Benjamini–Hochberg over the cells with ``n ≥ min_n``, is ≤ ``alpha``. Significant cells
    are merged into 8-connected clusters. Shares are smoothed with an empirical-Bayes
    beta-binomial prior (method of moments, :func:`eb_prior_strength`):
    ``(u + m·p0)/(n + m)``.

    Incidents of trigger categories (``ENVIRONMENT_CATEGORIES`` plus the categories in
    ``MEASURE_TRIGGERS``) are counted in the cluster and its adjacent cells (one-cell
    dilation). Each measure gets the evidence sentences and a strength
    ``1 − (1 − s)(1 − min(1, k/10))`` with ``s`` the share of answers citing a trigger reason
    and ``k`` the trigger incidents; measures with strength ≥ 0.2 are kept.

    Parameters
    ----------
    survey_x, survey_y : array_like
        Answer pins (working-CRS metres).
    survey_rating : array_like
        Ratings 1–5 (1 = very unsafe); NaN answers are ignored.
    survey_reasons : sequence
        Per answer a list/tuple of reason keys or a comma-separated string.
    inc_x, inc_y, inc_category : array_like
        Incidents and their category keys.
    grid : Grid
    min_n : int
        Minimum answers for a cell to be tested.
    alpha : float
        FDR level.

    Returns
    -------
    list of DesignHotspot
        Highest smoothed share first.

    References
    ----------
    Clopper & Pearson / exact binomial test; Benjamini & Hochberg (1995);
    Marshall, R. J. (1991). Mapping disease and mortality rates using empirical Bayes
    estimators. Applied Statistics 40(2), 283–294.
    """
    sx = np.asarray(survey_x, dtype=np.float64).ravel()
    sy = np.asarray(survey_y, dtype=np.float64).ravel()
    rating = np.asarray(survey_rating, dtype=np.float64).ravel()
    if not (sx.size == sy.size == rating.size):
        raise ValueError("survey_x, survey_y and survey_rating must have the same length.")
    reasons = _parse_reasons(survey_reasons, sx.size)
    ix = np.asarray(inc_x, dtype=np.float64).ravel()
    iy = np.asarray(inc_y, dtype=np.float64).ravel()
    icat = np.asarray(inc_category, dtype=object).ravel()
    if not (ix.size == iy.size == icat.size):
        raise ValueError("inc_x, inc_y and inc_category must have the same length.")

    flat, inside = grid.cell_index(sx, sy)
    ok = inside & np.isfinite(rating)
    if not ok.any():
        return []
    unsafe = ok & (rating <= UNSAFE_MAX_RATING)
    n = np.bincount(flat[ok], minlength=grid.n_cells)
    u = np.bincount(flat[unsafe], minlength=grid.n_cells)
    p0, m_prior = eb_prior_strength(u, n)
    tested = n >= min_n
    if p0 <= 0 or not tested.any():
        return []
    p_cell = np.full(grid.n_cells, np.nan)
    p_cell[tested] = stats.binom.sf(u[tested] - 1, n[tested], p0)
    q_cell = np.full(grid.n_cells, np.nan)
    q_cell[tested] = fdr_bh(p_cell[tested])
    sig = (np.nan_to_num(q_cell, nan=2.0) <= alpha).reshape(grid.shape)
    labels, n_lab = ndimage.label(sig, structure=np.ones((3, 3)))
    if n_lab == 0:
        return []

    trigger_cats = set(ENVIRONMENT_CATEGORIES)
    for trig in MEASURE_TRIGGERS.values():
        trigger_cats.update(trig["categories"])
    iflat, iin = grid.cell_index(ix, iy)
    lab_flat = labels.ravel()
    survey_lab = np.where(ok, lab_flat[np.where(inside, flat, 0)], 0)
    # answers' reasons as (answer, reason) pairs, deduplicated, counted per cluster
    lens = np.fromiter((len(r) for r in reasons), dtype=np.int64, count=len(reasons))
    flat_reasons = np.array([r for rs in reasons for r in rs], dtype=object).astype(str)
    reason_keys, r_idx = np.unique(flat_reasons, return_inverse=True)
    a_idx = np.repeat(np.arange(sx.size), lens)
    pairs = np.unique(a_idx * max(reason_keys.size, 1) + r_idx.ravel())
    pa, pr = np.divmod(pairs, max(reason_keys.size, 1))
    reason_counts = np.bincount(
        survey_lab[pa] * reason_keys.size + pr, minlength=(n_lab + 1) * reason_keys.size
    ).reshape(n_lab + 1, reason_keys.size)
    out = []
    for k in range(1, n_lab + 1):  # loop over clusters (a handful)
        cl = labels == k
        cells = np.flatnonzero(cl.ravel())
        nk, uk = int(n[cells].sum()), int(u[cells].sum())
        rc = {str(r): int(c) for r, c in zip(reason_keys, reason_counts[k], strict=True) if c}
        near = ndimage.binary_dilation(cl, structure=np.ones((3, 3))).ravel()
        sel = iin & near[np.where(iin, iflat, 0)]
        cats, cnt = np.unique(icat[sel].astype(str), return_counts=True)
        cc = {str(c): int(v) for c, v in zip(cats, cnt, strict=True) if c in trigger_cats}
        measures = []
        for key in MEASURE_TRIGGERS:
            sv, en, strength = _evidence(rc, nk, cc, key)
            if strength >= MIN_STRENGTH and sv:
                measures.append((key, sv, en, round(strength, 3)))
        measures.sort(key=lambda mm: (-mm[3], mm[0]))
        minx, miny, maxx, maxy = grid.cell_bounds(cells)
        out.append(
            dict(
                cells=tuple(int(c) for c in cells),
                bounds=(float(minx.min()), float(miny.min()), float(maxx.max()), float(maxy.max())),
                n_answers=nk,
                n_unsafe=uk,
                unsafe_share=uk / nk,
                smoothed_share=(uk + m_prior * p0) / (nk + m_prior),
                p=float(np.nanmin(q_cell[cells])),
                reasons=tuple(
                    (r, c, c / nk) for r, c in sorted(rc.items(), key=lambda kv: (-kv[1], kv[0]))
                ),
                incidents=cc,
                measures=measures,
            )
        )
    out.sort(key=lambda d: (-d["smoothed_share"], d["cells"][0]))
    return [DesignHotspot(rank=i + 1, **d) for i, d in enumerate(out)]
