"""Square analysis grid in a projected metric CRS.

Coordinates are "working-CRS metres" (EPSG:3006 SWEREF 99 TM by default; any projected
metric CRS such as a UTM zone works the same way). 2-D arrays follow the convention
``shape == (ny, nx)``: row ``i`` covers ``y0 + i*cell_size`` (south to north), column ``j``
covers ``x0 + j*cell_size``. A flat cell index is ``i * nx + j``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from tryggkarta.gridspec import GridSpec

#: Largest grid we build (cells). Beyond this a municipality-wide grid is a mistake.
MAX_CELLS = 25_000_000
#: Automatic cell sizes are clamped to this range and rounded to one of ``NICE_SIZES``.
MIN_AUTO_CELL, MAX_AUTO_CELL = 50.0, 500.0
NICE_SIZES = (50.0, 75.0, 100.0, 125.0, 150.0, 200.0, 250.0, 300.0, 400.0, 500.0)
DEFAULT_CELL = 250.0


def _as_xy(x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have the same length (got {xa.size} and {ya.size}).")
    return xa, ya


def _nice(value: float) -> float:
    """Clamp to 50–500 m and round to the nearest 'nice' size on a log scale."""
    v = min(max(value, MIN_AUTO_CELL), MAX_AUTO_CELL)
    sizes = np.asarray(NICE_SIZES)
    return float(sizes[np.argmin(np.abs(np.log(sizes / v)))])


@dataclass(frozen=True)
class Grid(GridSpec):
    """A regular grid of square cells snapped to round metres.

    Parameters
    ----------
    x0, y0 : float
        South-west corner (working-CRS metres); a multiple of ``cell_size``.
    cell_size : float
        Side of a cell in metres.
    nx, ny : int
        Number of columns (x) and rows (y).
    reason : str
        Human-readable sentence explaining how the cell size was chosen.
    """

    reason: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cell_size) and self.cell_size > 0):
            raise ValueError(
                f"Cell size must be a positive number of metres (got {self.cell_size})."
            )
        if self.nx < 1 or self.ny < 1:
            raise ValueError(
                f"A grid needs at least one row and one column (got {self.ny}×{self.nx})."
            )
        if self.nx * self.ny > MAX_CELLS:
            raise ValueError(
                f"The grid would have {self.nx * self.ny:,} cells (limit {MAX_CELLS:,}); "
                "use a larger cell size or a smaller area."
            )

    # ------------------------------------------------------------------ construction
    @classmethod
    def for_points(
        cls,
        x: ArrayLike,
        y: ArrayLike,
        cell_size: float | None = None,
        bounds: tuple[float, float, float, float] | None = None,
    ) -> Grid:
        """Build a grid covering points (or ``bounds``), choosing the cell size if not given.

        Automatic cell size: the larger of the mean nearest-neighbour distance between
        distinct point locations and the shorter side of the bounding box / 150 (Chainey's
        rule of thumb), clamped to 50–500 m and rounded to a nice value (50, 75, 100, 125,
        150, 200, 250, 300, 400, 500 m). Points with NaN coordinates are dropped and counted
        in ``reason``.

        Parameters
        ----------
        x, y : array_like
            Point coordinates in working-CRS metres.
        cell_size : float, optional
            Cell side in metres; automatic when ``None``.
        bounds : tuple, optional
            ``(minx, miny, maxx, maxy)`` of the study area; default the points' extent.

        Returns
        -------
        Grid

        Raises
        ------
        ValueError
            No (finite) points and no bounds, cell size ≤ 0, cell size larger than the
            area, or a grid above ``MAX_CELLS`` cells.

        References
        ----------
        Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping for
        predicting spatial patterns of crime. Security Journal 21, 4–28.
        """
        xa, ya = _as_xy(x, y)
        finite = np.isfinite(xa) & np.isfinite(ya)
        n_nan = int(xa.size - finite.sum())
        xa, ya = xa[finite], ya[finite]
        if bounds is None:
            if xa.size == 0:
                extra = f" ({n_nan} had missing coordinates)" if n_nan else ""
                raise ValueError(f"No points with valid coordinates to build a grid from{extra}.")
            bounds = (float(xa.min()), float(ya.min()), float(xa.max()), float(ya.max()))
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        if not all(map(math.isfinite, (minx, miny, maxx, maxy))) or maxx < minx or maxy < miny:
            raise ValueError(f"Invalid bounds {bounds}: need finite minx ≤ maxx and miny ≤ maxy.")
        width, height = maxx - minx, maxy - miny
        dropped = f" {n_nan} point(s) with missing coordinates were ignored." if n_nan else ""

        if cell_size is None:
            uniq = np.unique(np.column_stack([xa, ya]), axis=0) if xa.size else np.empty((0, 2))
            if uniq.shape[0] < 2:
                size = DEFAULT_CELL
                reason = f"Only one distinct location: default cell size {size:g} m."
            else:
                dist, _ = cKDTree(uniq).query(uniq, k=2)
                mean_nn = float(dist[:, 1].mean())
                short_side = min(width, height) / 150.0
                raw = max(mean_nn, short_side)
                size = _nice(raw)
                reason = (
                    f"Cell size {size:g} m: mean nearest-neighbour distance between "
                    f"{uniq.shape[0]} distinct locations is {mean_nn:.0f} m and the shorter "
                    f"side of the area / 150 is {short_side:.0f} m; the larger, {raw:.0f} m, "
                    "was clamped to 50–500 m and rounded."
                )
        else:
            size = float(cell_size)
            if not (math.isfinite(size) and size > 0):
                raise ValueError(
                    f"Cell size must be a positive number of metres (got {cell_size})."
                )
            extent = max(width, height)
            if extent > 0 and size > extent:
                raise ValueError(
                    f"Cell size {size:g} m is larger than the study area "
                    f"({width:.0f} × {height:.0f} m); choose at most {extent:.0f} m."
                )
            reason = f"Cell size {size:g} m was given."

        x0 = math.floor(minx / size) * size
        y0 = math.floor(miny / size) * size
        nx = math.floor((maxx - x0) / size) + 1
        ny = math.floor((maxy - y0) / size) + 1
        if nx * ny > MAX_CELLS:
            raise ValueError(
                f"A {size:g} m grid over {width / 1000:.1f} × {height / 1000:.1f} km would have "
                f"{nx * ny:,} cells (limit {MAX_CELLS:,}); use a larger cell size."
            )
        return cls(x0=x0, y0=y0, cell_size=size, nx=nx, ny=ny, reason=reason + dropped)

    # ------------------------------------------------------------------ geometry
    # shape, n_cells and bounds come from GridSpec
    def cell_index(self, x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Flat cell index of each point and whether it falls inside the grid.

        Points outside the grid or with NaN coordinates get index ``-1`` and
        ``inside == False``. Cells are half-open ``[x0 + j*c, x0 + (j+1)*c)``.
        """
        xa, ya = _as_xy(x, y)
        with np.errstate(invalid="ignore"):
            fj = np.floor((xa - self.x0) / self.cell_size)
            fi = np.floor((ya - self.y0) / self.cell_size)
            inside = (fj >= 0) & (fj < self.nx) & (fi >= 0) & (fi < self.ny)
        flat = np.full(xa.shape, -1, dtype=np.int64)
        flat[inside] = fi[inside].astype(np.int64) * self.nx + fj[inside].astype(np.int64)
        return flat, inside

    def counts(self, x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None) -> NDArray:
        """Number (or sum of ``weights``) of points per cell, shape ``(ny, nx)``.

        Points outside the grid or with NaN coordinates are not counted.
        """
        flat, inside = self.cell_index(x, y)
        w = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64).ravel()
            if w.shape != flat.shape:
                raise ValueError("weights must have one value per point.")
            w = w[inside]
        out = np.bincount(flat[inside], weights=w, minlength=self.n_cells)
        return out.reshape(self.shape)

    def cell_bounds(self, flat_idx: ArrayLike) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """``(minx, miny, maxx, maxy)`` arrays of the given flat cell indices."""
        idx = np.asarray(flat_idx, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_cells):
            raise ValueError(f"Cell index out of range 0..{self.n_cells - 1}.")
        i, j = np.divmod(idx, self.nx)
        minx = self.x0 + j * self.cell_size
        miny = self.y0 + i * self.cell_size
        return minx, miny, minx + self.cell_size, miny + self.cell_size

    def centers(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell-centre coordinates as two ``(ny, nx)`` arrays ``(cx, cy)``."""
        cx = self.x0 + (np.arange(self.nx) + 0.5) * self.cell_size
        cy = self.y0 + (np.arange(self.ny) + 0.5) * self.cell_size
        return np.broadcast_to(cx, self.shape).copy(), np.broadcast_to(
            cy[:, None], self.shape
        ).copy()
