"""Counting per grid cell (and time step) in SQL: one ``GROUP BY`` on an integer cell key.

Identical in meaning on SQLite and PostGIS; a million incidents become one row per occupied
cell, never a million Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, literal, literal_column, select

from tryggkarta.errors import BadInput
from tryggkarta.gridspec import GridSpec
from tryggkarta.store.models import POINT_LAYERS
from tryggkarta.store.queries import (
    Filters,
    _filtered,
    _needs_exact_polygon_check,
    _where,
    layer_frame,
    model_for,
)
from tryggkarta.store.types import cell_floor

if TYPE_CHECKING:
    from tryggkarta.store.engine import Database


def grid_counts(
    db: Database,
    layer: str,
    grid: GridSpec,
    filters: Filters | None = None,
    *,
    time_step: float | None = None,
    t0: float | None = None,
    n_steps: int | None = None,
    local: tzinfo | None = None,
) -> np.ndarray:
    """Counts per cell, computed in SQL (``GROUP BY`` cell index).

    Returns an array of shape (ny, nx) — row 0 is the southernmost row — or, with
    ``time_step`` seconds, ``t0`` (epoch seconds) and ``n_steps``, a space-time cube of shape
    (n_steps, ny, nx). Points outside the grid (or the time range) are not counted.

    With ``local`` (a time zone), the steps are counted on that zone's clock: ``t0`` is a
    local boundary (say Monday 00:00) and every step starts at the same local time, across
    daylight-saving changes. In fixed seconds a summer week would start at Sunday 23:00.
    """
    if layer not in POINT_LAYERS:
        raise BadInput(f"Grid counts need a point layer, not {layer!r}.")
    filters = filters or Filters()
    if _needs_exact_polygon_check(db, filters):
        # SQLite has no spatial predicate: filter exactly in Python, then bincount.
        frame = layer_frame(db, layer, filters, columns=["x", "y", "t_epoch"], geometry=False)
        return _bincount(
            frame["x"].to_numpy(float),
            frame["y"].to_numpy(float),
            frame["t_epoch"].to_numpy(float) if time_step else None,
            grid,
            time_step,
            t0,
            n_steps,
            local,
        )
    table = model_for(layer).__table__
    c = table.c
    minx, miny, maxx, maxy = grid.bounds
    # The grid clip as "x + 0": not an index range, so SQLite does not walk the x/y index over
    # the whole grid (random row lookups: 1.5 s at 1M rows) but scans, or uses the time index.
    gx, gy = c.x + 0, c.y + 0
    clauses = [*_where(db, layer, filters), gx >= minx, gx < maxx, gy >= miny, gy < maxy]
    # One integer key per cell (and time step), grouped by its alias: cheaper than grouping
    # on two or three repeated expressions.
    cell = cell_floor((c.y - grid.y0) / grid.cell_size) * grid.nx + cell_floor(
        (c.x - grid.x0) / grid.cell_size
    )
    size = grid.nx * grid.ny
    if time_step is not None:
        if t0 is None or n_steps is None or n_steps <= 0 or time_step <= 0:
            raise BadInput("A space-time count needs t0, a positive time step and n_steps.")
        t, start, slack = c.t_epoch, t0, 0.0
        if local is not None:
            starts, offsets = utc_offsets(local, t0 - 86400, t0 + n_steps * time_step + 86400)
            t, start, slack = c.t_epoch + _offset_sql(c.t_epoch, starts, offsets), t0, 86400.0
            start = t0 + float(offsets[np.searchsorted(starts, t0, side="right") - 1])
        clauses += [t >= start, t < start + n_steps * time_step]
        time_col = c.occurred_at if layer == "incidents" else c.answered_at
        # the same window on the indexed timestamp column, so a narrow window uses the index
        # (a day wider on the local clock: the exact edges are the clauses above)
        clauses += [
            time_col >= datetime.fromtimestamp(t0 - slack, UTC),
            time_col < datetime.fromtimestamp(t0 + n_steps * time_step + slack, UTC),
        ]
        cell = cell_floor((t - start) / time_step) * size + cell
        size *= n_steps
    key = cell.label("k")
    stmt = select(key, func.count().label("n")).where(and_(*clauses)).group_by(literal_column("k"))
    with db.engine.connect() as conn:
        fetched = [
            tuple(row) for row in conn.execute(stmt).fetchall()
        ]  # numpy probes Row objects slowly
    rows = np.array(fetched, dtype=np.int64).reshape(-1, 2)
    rows = rows[(rows[:, 0] >= 0) & (rows[:, 0] < size)]
    flat = np.zeros(size, dtype=np.int64)
    flat[rows[:, 0]] = rows[:, 1]  # GROUP BY made the keys unique
    shape = (grid.ny, grid.nx) if time_step is None else (n_steps, grid.ny, grid.nx)
    return flat.reshape(shape)


#: Columns ``grid_counts_by`` may group on, per layer (short categorical columns only).
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "incidents": ("category", "precision", "weekday_local", "hour_local", "reporter_org"),
    "survey": ("rating", "time_of_day"),
}


def grid_counts_by(
    db: Database,
    layer: str,
    grid: GridSpec,
    filters: Filters | None = None,
    *,
    by: str = "category",
    periods: Sequence[tuple[float, float]] = (),
) -> dict[str, np.ndarray]:
    """Counts per cell and per value of column ``by``, in ONE pass over the rows.

    Returns ``{str(value): array}``; each array has shape (ny, nx) (row 0 southernmost), or
    with ``periods`` — ``[(t_start, t_end), ...]`` in epoch seconds, end exclusive — shape
    (1 + len(periods), ny, nx): index 0 counts all matching records, index ``i + 1`` those
    with ``t_start <= t_epoch < t_end`` of period ``i``. The sum over values equals
    :func:`grid_counts` with the same filters. Points outside the grid are not counted.

    The grid's bounds are not a ``WHERE`` clause (only ``filters.bbox`` is): when the grid
    covers most rows, a range scan on the x/y index is slower than one sequential pass.
    """
    if layer not in POINT_LAYERS:
        raise BadInput(f"Grid counts need a point layer, not {layer!r}.")
    if by not in GROUP_COLUMNS.get(layer, ()):
        raise BadInput(
            f"Cannot group {layer!r} by {by!r}; choose one of {', '.join(GROUP_COLUMNS.get(layer, ()))}."
        )
    filters = filters or Filters()
    periods = [(float(a), float(b)) for a, b in periods]
    shape = (grid.ny, grid.nx) if not periods else (1 + len(periods), grid.ny, grid.nx)
    n_cells = grid.nx * grid.ny
    if _needs_exact_polygon_check(db, filters):
        frame = layer_frame(db, layer, filters, columns=["x", "y", "t_epoch", by], geometry=False)
        x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
        col = np.floor((x - grid.x0) / grid.cell_size).astype(np.int64)
        row = np.floor((y - grid.y0) / grid.cell_size).astype(np.int64)
        ok = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
        flat, t, keys = (
            (row * grid.nx + col)[ok],
            frame["t_epoch"].to_numpy(float)[ok],
            frame[by].to_numpy()[ok],
        )
        out: dict[str, np.ndarray] = {}
        for value in pd.unique(keys):
            sel = keys == value
            layers_ = [np.bincount(flat[sel], minlength=n_cells)]
            for a, b in periods:
                in_p = sel & (t >= a) & (t < b)
                layers_.append(np.bincount(flat[in_p], minlength=n_cells))
            arr = np.stack(layers_) if periods else layers_[0]
            out[str(value)] = arr.reshape(shape)
        return out
    table = model_for(layer).__table__
    c = table.c
    minx, miny, maxx, maxy = grid.bounds
    inside = and_(c.x >= minx, c.x < maxx, c.y >= miny, c.y < maxy)
    cell = cell_floor((c.y - grid.y0) / grid.cell_size) * grid.nx + cell_floor(
        (c.x - grid.x0) / grid.cell_size
    )
    key = case((inside, cell), else_=literal(-1)).label("cell")
    group = c[by].label("grp")
    aggs = [func.count().label("n")]
    for i, (a, b) in enumerate(periods):
        hit = and_(c.t_epoch >= a, c.t_epoch < b)
        aggs.append(func.sum(case((hit, literal(1)), else_=literal(0))).label(f"p{i}"))
    stmt = select(key, group, *aggs)
    stmt = _filtered(stmt, db, layer, filters).group_by(key, group)
    with db.engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(stmt).fetchall()]
    if not rows:
        return {}
    cells = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    groups = np.array([r[1] for r in rows], dtype=object)
    counts = np.array([r[2:] for r in rows], dtype=object)
    counts = np.where(counts == None, 0, counts).astype(np.int64)  # noqa: E711 - SUM over no rows
    keep = (cells >= 0) & (cells < n_cells) & (groups != None)  # noqa: E711 - elementwise
    cells, groups, counts = cells[keep], groups[keep].astype(str), counts[keep]
    out = {}
    for value in np.unique(groups):  # a handful of categories
        sel = groups == value
        arr = np.zeros((1 + len(periods), n_cells), dtype=np.int64)
        arr[:, cells[sel]] = counts[sel].T  # GROUP BY made (cell, value) unique
        out[str(value)] = (arr if periods else arr[0]).reshape(shape)
    return out


def utc_offsets(zone: tzinfo, t_from: float, t_to: float) -> tuple[np.ndarray, np.ndarray]:
    """The UTC offset of ``zone`` over ``[t_from, t_to)`` (epoch seconds) as steps:
    ``offsets[i]`` seconds from ``starts[i]`` on (``starts[0] == t_from``).

    Walks the span by day and finds each change to the second: a year is ~400 calls, not one
    per record.
    """

    def offset(t: float) -> float:
        return datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset().total_seconds()  # type: ignore[union-attr]

    starts, offsets = [t_from], [offset(t_from)]
    day = t_from
    while day < t_to:
        nxt = min(day + 86400.0, t_to)
        if offset(nxt) != offsets[-1]:
            lo, hi = day, nxt  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > 1:  # to the second: 17 halvings of a day
                mid = (lo + hi) // 2
                if offset(mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            starts.append(hi)
            offsets.append(offset(hi))
        day = nxt
    return np.array(starts, dtype=float), np.array(offsets, dtype=float)


def _offset_sql(t: Any, starts: np.ndarray, offsets: np.ndarray) -> Any:
    """``offsets`` at epoch column ``t`` as a SQL ``CASE`` (latest change first)."""
    if len(starts) == 1:
        return literal(float(offsets[0]))
    whens = [(t >= float(s), float(o)) for s, o in zip(starts[:0:-1], offsets[:0:-1], strict=True)]
    return case(*whens, else_=float(offsets[0]))


def _bincount(x, y, t, grid: GridSpec, time_step, t0, n_steps, local=None) -> np.ndarray:  # noqa: ANN001
    col = np.floor((x - grid.x0) / grid.cell_size).astype(np.int64)
    row = np.floor((y - grid.y0) / grid.cell_size).astype(np.int64)
    ok = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
    if time_step is None:
        flat = row[ok] * grid.nx + col[ok]
        return np.bincount(flat, minlength=grid.nx * grid.ny).reshape(grid.ny, grid.nx)
    if local is not None:  # the local clock: shift every time and t0 by its own offset
        starts, offsets = utc_offsets(local, t0 - 86400, t0 + n_steps * time_step + 86400)
        at = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, None)
        t = t + offsets[at]
        t0 = t0 + offsets[np.searchsorted(starts, t0, side="right") - 1]
    step = np.floor((t - t0) / time_step).astype(np.int64)
    ok &= (step >= 0) & (step < n_steps)
    flat = (step[ok] * grid.ny + row[ok]) * grid.nx + col[ok]
    return np.bincount(flat, minlength=n_steps * grid.ny * grid.nx).reshape(
        n_steps, grid.ny, grid.nx
    )


def occupied_cells(
    db: Database, layer: str, cell_size: float, filters: Filters | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts per occupied cell of ``cell_size`` metres over any extent: ``(ix, iy, n)``.

    Cell ``(ix, iy)`` covers ``[ix * cell_size, (ix + 1) * cell_size)`` (and the same in y)
    in the working CRS. The same ``GROUP BY`` integer cell as :func:`grid_counts`, without
    a dense array: the country at 250 m has 160 million cells, a few hundred thousand of them
    occupied. Coarser cells (1 km, 5 km) for region and country views come from the same
    SQL (:mod:`tryggkarta.store.tiles`).
    """
    if layer not in POINT_LAYERS:
        raise BadInput(f"Cell counts need a point layer, not {layer!r}.")
    if not cell_size > 0:
        raise BadInput("A cell size must be positive.")
    if _needs_exact_polygon_check(db, filters or Filters()):
        raise BadInput("Cell counts over a polygon need PostGIS; use a bbox on SQLite.")
    c = model_for(layer).__table__.c
    ix = cell_floor(c.x / cell_size).label("ix")
    iy = cell_floor(c.y / cell_size).label("iy")
    stmt = _filtered(
        select(ix, iy, func.count().label("n")), db, layer, filters or Filters()
    ).group_by(literal_column("ix"), literal_column("iy"))
    with db.engine.connect() as conn:
        got = np.array([tuple(r) for r in conn.execute(stmt).fetchall()], dtype=np.int64)
    got = got.reshape(-1, 3)
    return got[:, 0], got[:, 1], got[:, 2]


def occupied_cells_by(
    db: Database, layer: str, cell_size: float, filters: Filters | None = None, *, by: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`occupied_cells` per value of column ``by``: ``(ix, iy, value, n)``, one row per
    occupied (cell, value) — a sparse release's scan, in proportion to occupied cells."""
    if layer not in POINT_LAYERS:
        raise BadInput(f"Cell counts need a point layer, not {layer!r}.")
    if by not in GROUP_COLUMNS.get(layer, ()):
        raise BadInput(
            f"Cannot group {layer!r} by {by!r}; choose one of {', '.join(GROUP_COLUMNS.get(layer, ()))}."
        )
    if not cell_size > 0:
        raise BadInput("A cell size must be positive.")
    if _needs_exact_polygon_check(db, filters or Filters()):
        raise BadInput("Cell counts over a polygon need PostGIS; use a bbox on SQLite.")
    c = model_for(layer).__table__.c
    ix = cell_floor(c.x / cell_size).label("ix")
    iy = cell_floor(c.y / cell_size).label("iy")
    value = c[by].label("val")
    stmt = _filtered(
        select(ix, iy, value, func.count().label("n")), db, layer, filters or Filters()
    ).group_by(literal_column("ix"), literal_column("iy"), c[by])
    with db.engine.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    rows = [r for r in rows if r[2] is not None]
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=object), empty
    ix_, iy_, val, n = zip(*rows, strict=True)
    return (
        np.asarray(ix_, dtype=np.int64),
        np.asarray(iy_, dtype=np.int64),
        np.asarray([str(v) for v in val], dtype=object),
        np.asarray(n, dtype=np.int64),
    )
