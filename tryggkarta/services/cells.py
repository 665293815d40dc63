"""Cells for maps, the API and other systems: counts per grid cell, k-anonymous.

Flask-free: the start page, the JSON API, the OGC service and the exports all build their
aggregated cells here. Aggregation is SQL ``GROUP BY`` (``store.grid_counts_by``, one pass);
cells and sub-counts under ``min_count`` are dropped before anything leaves the server.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from tryggkarta.services.grids import (
    cells_geojson,
    grid_for_extent,
    top_reasons_per_cell,
    trend_label,
)
from tryggkarta.store import extent, layer_frame, time_range
from tryggkarta.store.grid import GridSpec, grid_counts_by
from tryggkarta.store.queries import Filters

WEEK = 7 * 24 * 3600
#: At most this many cells on a page's embedded incident layer: a region or the country
#: coarsens its cells instead (Sweden at 5 km made a 2 MB police start page; the vector
#: tiles give the detail when zoomed in).
PAGE_MAX_FEATURES = 3000


def coarsen(stack: np.ndarray, grid: GridSpec) -> tuple[np.ndarray, GridSpec]:
    """Counts ``(..., ny, nx)`` summed over 2 × 2 blocks: the same counts on cells twice the
    size (the grid's origin kept; an odd edge row or column padded with zeros)."""
    ny, nx = (grid.ny + 1) // 2, (grid.nx + 1) // 2
    pad = [(0, 0)] * (stack.ndim - 2) + [(0, 2 * ny - grid.ny), (0, 2 * nx - grid.nx)]
    padded = np.pad(stack, pad)
    summed = padded.reshape(*stack.shape[:-2], ny, 2, nx, 2).sum(axis=(-3, -1))
    return summed, GridSpec(grid.x0, grid.y0, grid.cell_size * 2, nx, ny)


def incident_cells(
    db: Any,
    filters: Filters,
    cell: float,
    min_count: int,
    *,
    per_category: bool = True,
    top_categories: int | None = None,
    max_features: int | None = None,
) -> tuple[dict, GridSpec | None]:
    """Incidents per cell with category breakdown and a 4-week trend: ONE SQL pass.

    ``store.grid_counts_by`` groups by (cell, category) and sums the two 4-week periods in the
    same scan. Cells and category sub-counts under ``min_count`` are dropped here. With
    ``max_features``, cells twice the size (summed in numpy, no second pass) until no more
    than that many cells are shown.
    """
    bounds = filters.bbox or extent(
        db, "incidents", Filters(municipality_code=filters.municipality_code)
    )
    if bounds is None:
        return {"type": "FeatureCollection", "features": []}, None
    grid = grid_for_extent(bounds, cell)
    span = time_range(db, "incidents", filters)
    periods: list[tuple[float, float]] = []
    if span is not None:
        t_end = (span[1] + timedelta(seconds=1)).timestamp()
        periods = [(t_end - 8 * WEEK, t_end - 4 * WEEK), (t_end - 4 * WEEK, t_end)]
    by_cat = grid_counts_by(db, "incidents", grid, filters, by="category", periods=periods)
    shape = ((1 + len(periods)) if periods else 1, grid.ny, grid.nx)
    cats = {c: a.reshape(shape) for c, a in by_cat.items()}
    stack = sum(cats.values(), np.zeros(shape, dtype=np.int64))
    while max_features is not None and (stack[0] >= max(min_count, 1)).sum() > max_features:
        fine = grid
        stack, grid = coarsen(stack, fine)
        cats = {c: coarsen(a, fine)[0] for c, a in cats.items()}
        shape = stack.shape
    total = stack[0]
    trend = stack[1:].reshape(2, -1) if periods else None
    cat_flat = {c: a[0].ravel() for c, a in cats.items()} if per_category else {}

    def props(idx: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if per_category:
            cats = sorted(
                ((c, int(a[idx])) for c, a in cat_flat.items() if a[idx] >= min_count),
                key=lambda kv: -kv[1],
            )
            out["categories"] = dict(cats[:top_categories] if top_categories else cats)
        if trend is not None:
            out["trend"] = trend_label(float(trend[1, idx]), float(trend[0, idx]))
        return out

    return cells_geojson(total, grid, db.srid, min_count=min_count, properties=props), grid


def survey_cells(
    db: Any, filters: Filters, cell: float, grid: GridSpec | None, min_count: int
) -> dict:
    """Answers and unsafe share per cell (whole campaign; dates filter incidents only)."""
    base = Filters(bbox=filters.bbox, municipality_code=filters.municipality_code)
    if grid is None:
        bounds = filters.bbox or extent(db, "survey", base)
        if bounds is None:
            return {"type": "FeatureCollection", "features": []}
        grid = grid_for_extent(bounds, cell)
    by_rating = grid_counts_by(db, "survey", grid, base, by="rating")
    zero = np.zeros((grid.ny, grid.nx), dtype=np.int64)
    answers = sum(by_rating.values(), zero)
    unsafe = sum((a for r, a in by_rating.items() if int(float(r)) <= 2), zero)
    if not unsafe.any():
        reasons: dict[int, list] = {}
    else:
        frame = layer_frame(
            db, "survey", base.replace(max_rating=2), columns=["x", "y", "reasons"], geometry=False
        )
        reasons = top_reasons_per_cell(
            grid,
            frame["x"].to_numpy(float),
            frame["y"].to_numpy(float),
            frame["reasons"].fillna("").tolist(),
            top=5,
        )

    def props(idx: int) -> dict[str, Any]:
        n = int(answers.flat[idx])
        return {
            "unsafe": int(unsafe.flat[idx])
            if unsafe.flat[idx] >= min_count or min_count == 1
            else None,
            "share": round(float(unsafe.flat[idx]) / n, 3) if n else 0.0,
            "reasons": [[k, c] for k, c in reasons.get(idx, []) if c >= min_count][:3],
        }

    return cells_geojson(answers, grid, db.srid, min_count=min_count, properties=props)


def rollup_cells(
    db: Any,
    filters: Filters,
    bounds: tuple[float, float, float, float],
    min_count: int,
    *,
    cell: float = 5000.0,
    max_features: int = PAGE_MAX_FEATURES,
) -> dict | None:
    """Incidents per ``cell``-metre cell (a multiple of 1 km) within ``bounds`` from the
    month roll-up (``incident_month_counts``), counts only; None when the roll-up cannot
    answer ``filters`` (not whole months, part of a category group, hours …: the caller
    counts another way). For a region's or the country's overview (a saved map's
    thumbnail): one ``GROUP BY`` over the period's roll-up rows, never the incidents.
    Coarsened in numpy like :func:`incident_cells` until at most ``max_features`` cells.
    """
    from tryggkarta.store import cellcounts

    where = cellcounts.month_where(filters)
    if where is None:
        return None
    grid = grid_for_extent(bounds, cell)  # its origin a multiple of its (1 km multiple) size
    stmt = cellcounts.month_cells(grid.cell_size, where, None)
    with db.engine.connect() as conn:
        rows = np.array([tuple(r) for r in conn.execute(stmt).all()], dtype=np.int64)
    rows = rows.reshape(-1, 3)
    col = rows[:, 0] - round(grid.x0 / grid.cell_size)
    row = rows[:, 1] - round(grid.y0 / grid.cell_size)
    inside = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
    counts = np.zeros((grid.ny, grid.nx), dtype=np.int64)
    counts[row[inside], col[inside]] = rows[inside, 2]
    while (counts >= max(min_count, 1)).sum() > max_features:
        counts, grid = coarsen(counts, grid)
    return cells_geojson(counts, grid, db.srid, min_count=min_count)
