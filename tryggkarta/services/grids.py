"""Grid cells as GeoJSON for raw-detail views: counts per cell (from ``store.grid_counts``) to WGS84
polygons (roles below raw detail get releases from :mod:`tryggkarta.disclosure` instead).

Pure numpy/pyproj: arrays in, dicts out. :func:`keep_cells` drops empty cells (and cells under
``min_count`` where a caller asks); suppression for roles below raw detail is
:mod:`tryggkarta.disclosure`'s alone.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tryggkarta.domain import Trend
from tryggkarta.gridspec import GridSpec, cell_polygons

#: Most cells a map layer may hold; a bigger grid gets coarser cells.
MAX_CELLS = 60_000


def grid_for_extent(
    bounds: tuple[float, float, float, float], cell_size: float, max_cells: int = MAX_CELLS
) -> GridSpec:
    """A grid snapped to round metres covering ``bounds`` (working CRS).

    The cell size is doubled until the grid has at most ``max_cells`` cells.
    """
    minx, miny, maxx, maxy = bounds
    size = float(cell_size)
    while True:
        x0 = math.floor(minx / size) * size
        y0 = math.floor(miny / size) * size
        nx = max(1, math.ceil((maxx - x0) / size + 1e-9))
        ny = max(1, math.ceil((maxy - y0) / size + 1e-9))
        if (maxx - x0) / size == nx:
            nx += 1
        if (maxy - y0) / size == ny:
            ny += 1
        if nx * ny <= max_cells:
            return GridSpec(x0, y0, size, nx, ny)
        size *= 2


def keep_cells(counts: np.ndarray, min_count: int) -> np.ndarray:
    """Flat indices of cells shown: at least ``min_count`` records (and at least one)."""
    flat = np.asarray(counts).ravel()
    return np.flatnonzero(flat >= max(1, int(min_count)))


def cells_geojson(
    counts: np.ndarray,
    grid: GridSpec,
    srid: int,
    *,
    min_count: int = 1,
    properties: Callable[[int], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A FeatureCollection of the cells with ``count >= min_count``.

    ``properties(flat_index)`` may add properties per kept cell (popup, colour, ...).
    """
    flat_counts = np.asarray(counts).ravel()
    flat = keep_cells(counts, min_count)
    rings = cell_polygons(grid, flat, srid)
    features = []
    for idx, ring in zip(flat.tolist(), rings, strict=True):
        row, col = divmod(idx, grid.nx)
        props: dict[str, Any] = {"cell": f"{row}:{col}", "count": int(flat_counts[idx])}
        if properties is not None:
            props.update(properties(idx))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": ring},
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def cell_index(grid: GridSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Flat cell index of each point (working CRS), -1 outside the grid."""
    col = np.floor((np.asarray(x, float) - grid.x0) / grid.cell_size).astype(np.int64)
    row = np.floor((np.asarray(y, float) - grid.y0) / grid.cell_size).astype(np.int64)
    ok = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
    return np.where(ok, row * grid.nx + col, -1)


def top_reasons_per_cell(
    grid: GridSpec, x: np.ndarray, y: np.ndarray, reasons: Sequence[str], top: int = 3
) -> dict[int, list[tuple[str, int]]]:
    """The ``top`` most named survey reasons per cell (``reasons`` are comma-separated keys)."""
    idx = cell_index(grid, x, y)
    per_cell: dict[int, Counter[str]] = {}
    for cell, text in zip(idx.tolist(), reasons, strict=True):
        if cell < 0 or not text:
            continue
        per_cell.setdefault(cell, Counter()).update(r for r in str(text).split(",") if r)
    return {cell: counter.most_common(top) for cell, counter in per_cell.items()}


def trend_label(recent: float, before: float) -> Trend:
    """:class:`Trend` ``up``, ``down`` or ``flat`` comparing two equally long periods (±25 %
    and ≥ 3)."""
    if recent - before >= max(3.0, 0.25 * before):
        return Trend.UP
    if before - recent >= max(3.0, 0.25 * recent):
        return Trend.DOWN
    return Trend.FLAT
