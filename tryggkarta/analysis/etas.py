"""A self-exciting point process on the grid (Mohler et al. 2011, ETAS-style), fitted by EM.

The intensity of incidents in cell ``c`` at time ``t`` (days) is

    λ_c(t) = μ_c + Σ_{i: t_i < t} θ · ω e^{−ω (t − t_i)} · g(c − c_i)

* ``μ_c`` — the background rate of the cell (incidents per day);
* ``θ`` — the expected number of incidents one incident triggers (0 ≤ θ < 1);
* ``ω`` — the decay rate of the triggering in time (1/ω is its mean delay in days);
* ``g`` — where triggered incidents fall: a distribution over the 3 × 3 neighbourhood of
  the triggering cell (own cell and its eight neighbours), estimated from the data.

**EM** (Veen & Schoenberg 2008; Mohler et al. 2011): the E-step gives every incident the
probability that it is background (``μ/λ``) or was triggered by each earlier incident in a
neighbouring cell within ``max_lag`` days; the M-step re-estimates ``μ`` (the expected
background incidents per cell over the training span), ``θ`` (expected triggered incidents
per incident, with the offspring that would fall after the origin or off the grid taken
into account), ``ω``
(from the mean delay of triggered pairs) and ``g`` (the share of triggered pairs per
neighbour offset). Everything is vectorised over the (source, target) pairs.

The **forecast** for the window ``[origin, origin + h)`` is the expected count per cell:
``μ_c h + Σ_i θ g(c − c_i) (e^{−ω(origin − t_i)} − e^{−ω(origin + h − t_i)})``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from .grid import Grid
from .temporal import as_utc

_DAY = np.timedelta64(86400, "s")
#: Neighbour offsets (dy, dx) in the order of ``EtasFit.g`` — row-major over the 3 × 3 box.
OFFSETS = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=np.int64)


@dataclass(frozen=True)
class EtasFit:
    """Fitted parameters; ``mu`` per grid cell (incidents per day), shape ``grid.shape``;
    ``g`` over :data:`OFFSETS`; ``n_pairs`` candidate (source, target) pairs in the EM."""

    mu: NDArray[np.float64]
    theta: float
    omega: float
    g: NDArray[np.float64]
    iterations: int
    n_pairs: int
    background_share: float

    def kernel(self) -> NDArray[np.float64]:
        """``g`` as a 3 × 3 array, ``kernel[1 + dy, 1 + dx]``."""
        return self.g.reshape(3, 3)


def pairs(
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    days: NDArray[np.float64],
    shape: tuple[int, int],
    max_lag: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """All (source i, target j, offset k) with ``days[i] < days[j] <= days[i] + max_lag`` and
    target cell = source cell + ``OFFSETS[k]``. Events must be sorted by time."""
    ny, nx = shape
    n = days.size
    key = rows * nx + cols
    order = np.lexsort((days, key))  # by cell, then time
    span = float(days.max() - days.min()) + max_lag + 1.0 if n else 1.0
    comp = key[order] * span + (days[order] - (days.min() if n else 0.0))
    src, dst, off = [], [], []
    for k, (dy, dx) in enumerate(OFFSETS):  # nine neighbour offsets
        tr, tc = rows + dy, cols + dx
        ok = (tr >= 0) & (tr < ny) & (tc >= 0) & (tc < nx)
        i = np.flatnonzero(ok)
        base = (tr[i] * nx + tc[i]) * span + (days[i] - days.min())
        lo = np.searchsorted(comp, base, side="right")  # strictly later
        hi = np.searchsorted(comp, base + max_lag, side="right")
        cnt = hi - lo
        total = int(cnt.sum())
        if total == 0:
            continue
        starts = np.repeat(lo - np.cumsum(cnt) + cnt, cnt)
        pos = starts + np.arange(total)
        src.append(np.repeat(i, cnt))
        dst.append(order[pos])
        off.append(np.full(total, k, dtype=np.int64))
    if not src:
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(src), np.concatenate(dst), np.concatenate(off)


def fit(
    grid: Grid,
    x: ArrayLike,
    y: ArrayLike,
    t: ArrayLike,
    origin: np.datetime64,
    *,
    max_lag: float = 60.0,
    iterations: int = 30,
    tol: float = 1e-4,
    theta0: float = 0.2,
    omega0: float = 0.1,
) -> EtasFit:
    """Fit the model by EM to the incidents before ``origin`` inside ``grid``."""
    ta = as_utc(t)
    o = np.datetime64(origin, "ns")
    flat, inside = grid.cell_index(x, y)
    keep = inside & ~np.isnat(ta) & (ta < o)
    flat, ta = flat[keep], ta[keep]
    order = np.argsort(ta, kind="stable")
    flat, ta = flat[order], ta[order]
    n = flat.size
    if n == 0:
        return EtasFit(np.zeros(grid.shape), 0.0, omega0, np.full(9, 1 / 9), 0, 0, 1.0)
    days = ((ta - ta.min()) / _DAY).astype(np.float64)
    end = float((o - ta.min()) / _DAY)
    span = max(end, 1.0)
    rows, cols = flat // grid.nx, flat % grid.nx
    src, dst, off = pairs(rows, cols, days, grid.shape, max_lag)
    dt = days[dst] - days[src]
    # which neighbour cells of each incident lie on the grid (offspring off it are unseen)
    tr, tc = rows[:, None] + OFFSETS[:, 0], cols[:, None] + OFFSETS[:, 1]
    on_grid = ((tr >= 0) & (tr < grid.ny) & (tc >= 0) & (tc < grid.nx)).astype(np.float64)
    counts = np.bincount(flat, minlength=grid.n_cells).astype(np.float64)
    mu = counts / span  # start: every incident is background
    theta, omega = float(theta0), float(omega0)
    g = np.full(9, 1 / 9)
    it = 0
    p_bg = np.ones(n)
    for step in range(1, iterations + 1):  # EM iterations
        it = step
        trig = theta * omega * np.exp(-omega * dt) * g[off]
        lam = mu[flat] + np.bincount(dst, weights=trig, minlength=n)
        p_pair = trig / lam[dst]
        p_bg = mu[flat] / lam
        mu_new = np.bincount(flat, weights=p_bg, minlength=grid.n_cells) / span
        n_trig = float(p_pair.sum())
        # expected offspring of each incident that fall before the origin (and within max_lag)
        window = np.minimum(end - days, max_lag)
        exposure = float(((1.0 - np.exp(-omega * window)) * (on_grid @ g)).sum())
        theta_new = min(n_trig / exposure, 0.95) if exposure > 0 else 0.0
        mean_dt = float((p_pair * dt).sum() / n_trig) if n_trig > 0 else 1.0 / omega
        omega_new = float(np.clip(1.0 / max(mean_dt, 1e-6), 2.0 / max_lag, 10.0))
        g_new = np.bincount(off, weights=p_pair, minlength=9) / n_trig if n_trig > 0 else g
        change = abs(theta_new - theta) + abs(omega_new - omega) / omega
        mu, theta, omega, g = mu_new, theta_new, omega_new, g_new
        if change < tol:
            break
    return EtasFit(
        mu.reshape(grid.shape),
        float(theta),
        float(omega),
        np.asarray(g, dtype=np.float64),
        it,
        int(src.size),
        float(p_bg.mean()),
    )


def expected_counts(
    model: EtasFit,
    grid: Grid,
    x: ArrayLike,
    y: ArrayLike,
    t: ArrayLike,
    origin: np.datetime64,
    horizon: np.timedelta64,
) -> NDArray[np.float64]:
    """Expected incidents per cell in ``[origin, origin + horizon)`` (shape ``grid.shape``)
    from the incidents before ``origin``."""
    ta = as_utc(t)
    o = np.datetime64(origin, "ns")
    before = ~np.isnat(ta) & (ta < o)
    age = ((o - ta[before]) / _DAY).astype(np.float64)
    h = float(horizon / _DAY)
    w = model.theta * (np.exp(-model.omega * age) - np.exp(-model.omega * (age + h)))
    xa, ya = np.asarray(x, dtype=np.float64)[before], np.asarray(y, dtype=np.float64)[before]
    spread = ndimage.convolve(grid.counts(xa, ya, weights=w), model.kernel(), mode="constant")
    return model.mu * h + spread


def etas_score(
    grid: Grid,
    x: ArrayLike,
    y: ArrayLike,
    t: ArrayLike,
    origin: np.datetime64,
    horizon: np.timedelta64,
    *,
    max_lag: float = 60.0,
) -> NDArray[np.float64]:
    """Fit on the incidents before ``origin`` and forecast the next ``horizon``."""
    model = fit(grid, x, y, t, origin, max_lag=max_lag)
    return expected_counts(model, grid, x, y, t, origin, horizon)
