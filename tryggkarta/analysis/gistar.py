"""Getis-Ord Gi* hot spots on a grid of counts, with Benjamini–Hochberg FDR.

Neighbourhood sums are computed with array shifts (queen, rook) or a binary disk kernel
(distance band) with zero padding, so boundary cells simply have fewer neighbours. The
statistic equals PySAL esda ``G_Local(y, w, star=True, transform="B")`` ``Zs`` where ``w`` is
the same binary contiguity (self-weight 1 is added by esda for ``star=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage, signal, special

NEIGHBOURHOODS = ("queen", "rook", "distance")


@dataclass(frozen=True)
class GiStarResult:
    """Result of :func:`gistar`; arrays have the shape of the input counts.

    Attributes
    ----------
    z : ndarray
        Gi* z-scores (NaN outside the mask, 0 where the statistic is undefined).
    p : ndarray
        Two-sided normal p-values (NaN outside the mask).
    p_fdr : ndarray
        Benjamini–Hochberg adjusted p-values over the cells in the mask.
    classes : ndarray of int8
        −3..+3: ±3 at 99 %, ±2 at 95 %, ±1 at 90 % confidence (FDR-adjusted), 0 otherwise.
    neighbourhood : str
        ``"queen"``, ``"rook"`` or ``"distance=<d> cells"``.
    n_cells : int
        Number of cells in the study area (mask).
    """

    z: NDArray[np.float64]
    p: NDArray[np.float64]
    p_fdr: NDArray[np.float64]
    classes: NDArray[np.int8]
    neighbourhood: str
    n_cells: int

    def hot(self, alpha: float = 0.05) -> NDArray[np.bool_]:
        """Cells that are significant hot spots at FDR level ``alpha``."""
        with np.errstate(invalid="ignore"):
            return (self.z > 0) & (self.p_fdr <= alpha)


def fdr_bh(p: ArrayLike, axis: int | None = None) -> NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values (step-up, "q-values").

    NaN entries are ignored (not counted in the number of tests) and stay NaN.

    Parameters
    ----------
    p : array_like
        p-values in [0, 1].
    axis : int, optional
        Adjust independently along this axis (e.g. per time slice); ``None`` adjusts all
        values together.

    Returns
    -------
    ndarray
        Adjusted p-values, same shape as ``p``, clipped to ≤ 1.

    References
    ----------
    Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate: a practical
    and powerful approach to multiple testing. JRSS B 57(1), 289–300.
    """
    pa = np.asarray(p, dtype=np.float64)
    if axis is None:
        return fdr_bh(pa.ravel(), axis=0).reshape(pa.shape)
    x = np.moveaxis(pa, axis, -1)
    if x.shape[-1] == 0:
        return pa.copy()
    order = np.argsort(x, axis=-1, kind="stable")  # NaN sort last
    ps = np.take_along_axis(x, order, axis=-1)
    valid = ~np.isnan(ps)
    m = valid.sum(axis=-1, keepdims=True)
    rank = np.arange(1, x.shape[-1] + 1, dtype=np.float64)
    adj = np.where(valid, ps * m / rank, np.inf)
    adj = np.minimum.accumulate(adj[..., ::-1], axis=-1)[..., ::-1]
    adj = np.where(valid, np.minimum(adj, 1.0), np.nan)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=-1)
    return np.moveaxis(out, -1, axis)


def neighbourhood_kernel(neighbourhood: str = "queen", distance: float | None = None) -> NDArray:
    """Binary kernel (self included) of a neighbourhood, as a 2-D float array.

    ``"distance"`` includes every cell whose centre lies within ``distance`` cells
    (Euclidean, inclusive up to 1e-9) of the centre cell.
    """
    if neighbourhood == "queen":
        return np.ones((3, 3))
    if neighbourhood == "rook":
        return np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    if neighbourhood == "distance":
        if distance is None or not np.isfinite(distance) or distance < 1:
            raise ValueError("A distance neighbourhood needs distance ≥ 1 (in cells).")
        r = int(np.floor(distance + 1e-9))
        off = np.arange(-r, r + 1)
        d2 = off[:, None] ** 2 + off[None, :] ** 2
        return (d2 <= distance**2 + 1e-9).astype(np.float64)
    raise ValueError(f"Unknown neighbourhood {neighbourhood!r}; use one of {NEIGHBOURHOODS}.")


def neighbour_sum(a: NDArray, kernel: NDArray) -> NDArray[np.float64]:
    """Sum of ``a`` over the kernel around every cell of the last two axes (zero padding).

    Leading axes (e.g. time) are processed independently. Queen and rook kernels use array
    shifts (exact for integer counts); larger kernels use ``ndimage.correlate`` or FFT.
    """
    a = np.asarray(a, dtype=np.float64)
    if kernel.shape == (3, 3) and kernel.all():
        t = a.copy()
        t[..., :, 1:] += a[..., :, :-1]
        t[..., :, :-1] += a[..., :, 1:]
        out = t.copy()
        out[..., 1:, :] += t[..., :-1, :]
        out[..., :-1, :] += t[..., 1:, :]
        return out
    if kernel.shape == (3, 3) and kernel[0, 0] == 0 and kernel.sum() == 5:
        out = a.copy()
        out[..., :, 1:] += a[..., :, :-1]
        out[..., :, :-1] += a[..., :, 1:]
        out[..., 1:, :] += a[..., :-1, :]
        out[..., :-1, :] += a[..., 1:, :]
        return out
    k = kernel.reshape((1,) * (a.ndim - 2) + kernel.shape)
    if kernel.size <= 121:
        return ndimage.correlate(a, k, mode="constant", cval=0.0)
    out = signal.fftconvolve(a, k[..., ::-1, ::-1], mode="same", axes=(-2, -1))
    return np.rint(out) if np.all(a == np.rint(a)) else out


def gistar_z(
    counts: NDArray, kernel: NDArray, mask: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    """Gi* z-scores only; leading axes (time) are independent slices with their own moments.

    Cells outside ``mask`` are NaN. Zero variance, fewer than two cells or a neighbourhood
    covering the whole study area give z = 0.
    """
    y = np.asarray(counts, dtype=np.float64)
    if mask is None:
        m = np.ones(y.shape[-2:], dtype=bool)
    else:
        m = np.asarray(mask, dtype=bool)
        if m.shape != y.shape[-2:]:
            raise ValueError(f"mask shape {m.shape} does not match counts {y.shape[-2:]}.")
    if not np.all(np.isfinite(y[..., m])):
        raise ValueError("counts contain NaN or infinite values inside the study area.")
    y = np.where(m, y, 0.0)
    n = int(m.sum())
    axes = (-2, -1)
    mean = y.sum(axis=axes, keepdims=True) / max(n, 1)
    var = (y * y).sum(axis=axes, keepdims=True) / max(n, 1) - mean * mean
    s = neighbour_sum(y, kernel)
    w = neighbour_sum(m.astype(np.float64), kernel)
    denom_w = (n * w - w * w) / max(n - 1, 1)
    ok_var = var > 1e-12 * np.maximum(1.0, mean * mean)
    denom = np.sqrt(np.where(ok_var, var, 1.0) * np.maximum(denom_w, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (s - mean * w) / denom
    z = np.where(ok_var & (denom_w > 1e-12) & (n >= 2), z, 0.0)
    return np.where(m, z, np.nan)


def gistar(
    counts: ArrayLike,
    neighbourhood: str = "queen",
    *,
    distance: float | None = None,
    mask: ArrayLike | None = None,
    alpha_levels: tuple[float, ...] = (0.10, 0.05, 0.01),
) -> GiStarResult:
    """Getis-Ord Gi* hot/cold spots on a 2-D grid of counts.

    For cell *i* with binary weights :math:`w_{ij}` (self included) over the ``n`` cells of
    the study area, :math:`W_i = \\sum_j w_{ij}`,

    .. math:: z_i = \\frac{\\sum_j w_{ij} x_j - \\bar x W_i}
                        {S \\sqrt{(n W_i - W_i^2)/(n-1)}},

    with :math:`\\bar x` and :math:`S` the mean and (population) standard deviation over the
    study area. Boundary cells have fewer neighbours (no padding values enter the sums).

    Parameters
    ----------
    counts : array_like, shape (ny, nx)
        Counts (or any non-negative values) per cell.
    neighbourhood : {"queen", "rook", "distance"}
        3×3 cells, the 4 edge neighbours, or all cells whose centres are within
        ``distance`` cells; the cell itself is always included (Gi*).
    distance : float, optional
        Band radius in cells, required for ``"distance"``.
    mask : array_like of bool, optional
        Study area; cells outside get NaN z/p and class 0, and are excluded from the mean,
        variance, neighbour counts and the FDR correction.
    alpha_levels : tuple of float
        Confidence thresholds on FDR-adjusted p: a cell gets ±k for the number of levels
        it passes (default 90/95/99 % → ±1/±2/±3).

    Returns
    -------
    GiStarResult

    Notes
    -----
    Undefined cases give z = 0, p = 1, class 0 (never a NaN shown as a hot spot): all-zero or
    constant grids, a single cell, and neighbourhoods covering the whole study area.

    References
    ----------
    Getis, A. & Ord, J. K. (1992). The analysis of spatial association by use of distance
    statistics. Geographical Analysis 24(3), 189–206.
    Ord, J. K. & Getis, A. (1995). Local spatial autocorrelation statistics: distributional
    issues and an application. Geographical Analysis 27(4), 286–306.
    Benjamini, Y. & Hochberg, Y. (1995). JRSS B 57(1), 289–300.
    """
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim != 2 or y.size == 0:
        raise ValueError(f"counts must be a non-empty 2-D array (ny, nx); got shape {y.shape}.")
    kernel = neighbourhood_kernel(neighbourhood, distance)
    m = np.ones(y.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    z = gistar_z(y, kernel, m)
    p = np.where(m, 2.0 * special.ndtr(-np.abs(np.nan_to_num(z))), np.nan)
    p_fdr = np.full(y.shape, np.nan)
    p_fdr[m] = fdr_bh(p[m])
    level = np.zeros(y.shape, dtype=np.int8)
    for a in alpha_levels:
        level += (np.nan_to_num(p_fdr, nan=2.0) <= a).astype(np.int8)
    classes = (np.sign(np.nan_to_num(z)).astype(np.int8) * level).astype(np.int8)
    label = f"distance={distance:g} cells" if neighbourhood == "distance" else neighbourhood
    return GiStarResult(
        z=z, p=p, p_fdr=p_fdr, classes=classes, neighbourhood=label, n_cells=int(m.sum())
    )


def gistar_occupied(
    ix: ArrayLike,
    iy: ArrayLike,
    counts: ArrayLike,
    *,
    alpha_levels: tuple[float, ...] = (0.10, 0.05, 0.01),
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int8]]:
    """Gi* (queen neighbourhood) over the occupied cells of a grid too large to hold dense.

    The study area is the cells given (integer column ``ix``, row ``iy``, their ``counts``):
    a national 250 m grid has 160 million cells but some hundred thousand occupied ones. The
    result equals :func:`gistar` on the dense grid with ``mask`` = those cells (neighbours
    outside the study area do not count, as there). Neighbour sums come from one sorted
    key array and nine ``searchsorted`` lookups. Returns ``(z, p_fdr, classes)`` per cell.
    """
    x = np.asarray(ix, dtype=np.int64)
    y = np.asarray(iy, dtype=np.int64)
    v = np.asarray(counts, dtype=np.float64)
    n = len(v)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int8)
    x0, y0 = x.min() - 1, y.min() - 1
    width = int(x.max() - x0) + 2
    keys = (y - y0) * width + (x - x0)
    order = np.argsort(keys, kind="stable")
    sorted_keys, sorted_v = keys[order], v[order]
    s = np.zeros(n)
    w = np.zeros(n)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            probe = keys + dy * width + dx
            at = np.minimum(np.searchsorted(sorted_keys, probe), n - 1)
            hit = sorted_keys[at] == probe
            s += np.where(hit, sorted_v[at], 0.0)
            w += hit
    mean = v.sum() / n
    var = (v * v).sum() / n - mean * mean
    denom_w = (n * w - w * w) / max(n - 1, 1)
    ok = var > 1e-12 * max(1.0, mean * mean)
    denom = np.sqrt((var if ok else 1.0) * np.maximum(denom_w, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (s - mean * w) / denom
    z = np.where(ok & (denom_w > 1e-12) & (n >= 2), z, 0.0)
    p_fdr = fdr_bh(2.0 * special.ndtr(-np.abs(z)))
    level = np.zeros(n, dtype=np.int8)
    for a in alpha_levels:
        level += (p_fdr <= a).astype(np.int8)
    return z, p_fdr, (np.sign(z).astype(np.int8) * level).astype(np.int8)
