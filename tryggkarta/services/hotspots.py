"""Hotspot layers: store -> analysis -> GeoJSON, stored as reproducible analysis runs.

This is the seam between the pure :mod:`tryggkarta.analysis` functions and the rest of the
application (maps, pages, CLI, exports). Each ``*_layer`` function

1. selects data from the store with :class:`~tryggkarta.store.Filters` (counting per cell in
   SQL where it can),
2. runs the statistic,
3. returns a :class:`HotspotLayer` whose ``geojson`` is an RFC 7946 FeatureCollection
   (WGS84 lon/lat) ready for a map or an export,

and caches the result in ``analysis_runs`` keyed by method, parameters, filters and the
datasets that make up the layer: the same inputs give the stored result back.

Only incidents with a street-level position (``exact``, ``address``, ``street``) enter a
hotspot; Polisen's municipality-centroid events count in trends and area totals only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import shapely

from tryggkarta import hotspot_methods
from tryggkarta.analysis import emerging, gistar, kde
from tryggkarta.errors import BadInput
from tryggkarta.services import quality
from tryggkarta.services.forecast import forecast_layer
from tryggkarta.services.layers import (
    WEEK,
    HotspotLayer,
    _collection,
    analysis_grid,
    cached_run,
    cell_features,
    district_names,
    street_level,
)
from tryggkarta.services.targets import design_layer, patrol_layer
from tryggkarta.store import Database, Filters

__all__ = [
    "HotspotLayer",
    "design_layer",
    "emerging_layer",
    "forecast_layer",
    "gistar_layer",
    "kde_layer",
    "patrol_layer",
]


# --------------------------------------------------------------------------- layers


def _titles(key: str) -> tuple[str, str]:
    m = hotspot_methods.method(key)
    return m.title_sv, m.title_en


def data_quality(db: Database, filters: Filters, left_out: int) -> dict[str, object]:
    """Summary fields every hot-spot layer carries: records the guard left out of it and
    the legend's data-quality sentence (sv/en)."""
    report = quality.guard(db, filters)
    return {
        "excluded_stacked": left_out,
        "data_quality_sv": quality.note(report, "sv"),
        "data_quality_en": quality.note(report, "en"),
    }


def gistar_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    cell_size: float | None = None,
    neighbourhood: str = "queen",
    user_id: int | None = None,
) -> HotspotLayer:
    """Getis-Ord Gi* hot and cold cells (classes −3…+3, FDR-corrected)."""
    filters = street_level(filters or Filters())
    params = {
        "cell_size": cell_size,
        "neighbourhood": neighbourhood,
        "guard": quality.guard_key(db),
    }

    def compute() -> HotspotLayer:
        grid = analysis_grid(db, filters, cell_size)
        counts, left_out = quality.guarded_counts(db, grid, filters)
        res = gistar(counts, neighbourhood)
        flat = np.flatnonzero(res.classes.ravel() != 0)
        feats = cell_features(
            grid,
            flat,
            db.srid,
            {
                "class": res.classes.ravel()[flat],
                "z": res.z.ravel()[flat],
                "p_fdr": res.p_fdr.ravel()[flat],
                "count": counts.ravel()[flat],
            },
        )
        summary = {
            "cell_size": grid.cell_size,
            "cell_reason": grid.reason,
            "n_points": int(counts.sum()),
            "hot_cells": int((res.classes > 0).sum()),
            "cold_cells": int((res.classes < 0).sum()),
            "neighbourhood": neighbourhood,
            **data_quality(db, filters, left_out),
        }
        return HotspotLayer("gistar", *_titles("gistar"), _collection(feats), summary)

    return cached_run(db, "gistar", params, filters, ("incidents",), compute, user_id=user_id)


#: KDE output is bounded: hotspot cells (top share) and cells at or above ``KDE_FLOOR`` of the
#: peak density, at most ``KDE_MAX_CELLS`` of them (the densest; hotspot cells first).
KDE_FLOOR = 0.1
KDE_MAX_CELLS = 2500


def kde_cells(
    density: np.ndarray, hot: np.ndarray, floor: float = KDE_FLOOR, cap: int = KDE_MAX_CELLS
) -> np.ndarray:
    """Flat indices of the KDE cells worth drawing (see ``KDE_FLOOR``), sorted."""
    peak = float(density.max()) if density.size else 0.0
    if peak <= 0:
        return np.array([], dtype=np.int64)
    keep = np.flatnonzero(hot.astype(bool) | (density >= floor * peak))
    if len(keep) > cap:
        order = np.lexsort((-density[keep], ~hot[keep].astype(bool)))  # hotspot first, then densest
        keep = keep[order[:cap]]
    return np.sort(keep)


def kde_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    cell_size: float | None = None,
    bandwidth: float | None = None,
    top_share: float = 0.05,
    user_id: int | None = None,
) -> HotspotLayer:
    """Quartic kernel density; cells in the top ``top_share`` of area are the hotspot."""
    filters = street_level(filters or Filters())
    if not 0 < top_share <= 1:
        raise BadInput("The hotspot share of area must be between 0 and 1.")
    params = {
        "cell_size": cell_size,
        "bandwidth": bandwidth,
        "top_share": top_share,
        "floor": KDE_FLOOR,
        "max_cells": KDE_MAX_CELLS,
        "guard": quality.guard_key(db),
    }

    def compute() -> HotspotLayer:
        grid = analysis_grid(db, filters, cell_size)
        counts, left_out = quality.guarded_counts(db, grid, filters)
        res = kde(counts, grid.cell_size, bandwidth)
        density = res.density
        hot = res.hotspot_mask(top_share).ravel()
        flat = kde_cells(density.ravel(), hot)
        feats = cell_features(
            grid,
            flat,
            db.srid,
            {"density": density.ravel()[flat], "hotspot": hot[flat], "count": counts.ravel()[flat]},
        )
        summary = {
            "cell_size": grid.cell_size,
            "cell_reason": grid.reason,
            "bandwidth": res.bandwidth,
            "bandwidth_rule": res.bandwidth_rule,
            "top_share": top_share,
            "n_points": int(counts.sum()),
            "max_density": float(density.max()) if density.size else 0.0,
            **data_quality(db, filters, left_out),
        }
        return HotspotLayer("kde", *_titles("kde"), _collection(feats), summary)

    return cached_run(db, "kde", params, filters, ("incidents",), compute, user_id=user_id)


def emerging_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    step: str = "week",
    cell_size: float | None = None,
    periods: int | None = None,
    now: datetime | None = None,
    user_id: int | None = None,
) -> HotspotLayer:
    """Emerging hot spots: Gi* per time step + Mann-Kendall trend per cell."""
    filters = street_level(filters or Filters())
    if step not in ("week", "month"):
        raise BadInput("The time step must be 'week' or 'month'.")
    step_len = WEEK if step == "week" else timedelta(days=30)
    n = periods or (52 if step == "week" else 24)
    end = _week_start(_week_start(now or _latest(db, filters)) + WEEK + timedelta(hours=12))
    # Weeks are local weeks (Monday 00:00 on the municipality's clock, also across daylight
    # saving); 30-day steps are fixed seconds.
    start = (
        _week_start(end - n * step_len + timedelta(hours=12))
        if step == "week"
        else end - n * step_len
    )
    params = {
        "step": step,
        "cell_size": cell_size,
        "periods": n,
        "end": end.isoformat(),
        "guard": quality.guard_key(db),
    }

    def compute() -> HotspotLayer:
        from tryggkarta.config import local_timezone

        window = filters.replace(start=start, end=end)
        grid = analysis_grid(db, window, cell_size)
        cube, left_out = quality.guarded_counts(
            db,
            grid,
            window,
            time_step=step_len.total_seconds(),
            t0=start.timestamp(),
            n_steps=n,
            local=local_timezone() if step == "week" else None,
        )
        res = emerging(cube)
        cats = np.asarray(res.category).ravel()
        flat = np.flatnonzero(cats != "no_pattern")
        labels = res.labels
        minx, miny, maxx, maxy = grid.cell_bounds(flat)
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        feats = cell_features(
            grid,
            flat,
            db.srid,
            {
                "category": cats[flat],
                "label_sv": np.array([labels.get(c, (c, c))[0] for c in cats[flat]], dtype=object),
                "label_en": np.array([labels.get(c, (c, c))[1] for c in cats[flat]], dtype=object),
                "trend_z": res.trend_z.ravel()[flat],
                "trend_p": res.trend_p.ravel()[flat],
                "count": cube.sum(axis=0).ravel()[flat],
                "recent": cube[-4:].sum(axis=0).ravel()[flat],
                "key": np.array(
                    [f"E{int(x // 500)}_{int(y // 500)}" for x, y in zip(cx, cy, strict=True)],
                    dtype=object,
                ),
                "name": np.array(district_names(db, list(shapely.points(cx, cy))), dtype=object),
                # the last 16 weeks of each cell, oldest first (the popup's trend line)
                **(
                    {"weeks": _rows(cube[-16:].reshape(min(16, len(cube)), -1)[:, flat].T)}
                    if step == "week"
                    else {}
                ),
            },
        )
        values, counts = np.unique(cats[flat], return_counts=True)
        summary = {
            "cell_size": grid.cell_size,
            "step": step,
            "periods": n,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "categories": {str(v): int(c) for v, c in zip(values, counts, strict=True)},
            **data_quality(db, filters, left_out),
        }
        return HotspotLayer(
            "emerging",
            *_titles("emerging"),
            _collection(feats),
            summary,
        )

    return cached_run(db, "emerging", params, filters, ("incidents",), compute, user_id=user_id)


def _rows(values: np.ndarray) -> np.ndarray:
    """A 2-D integer array as an object array of lists (one per row: a feature property)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values.astype(int).tolist()
    return out


def _latest(db: Database, filters: Filters) -> datetime:
    from tryggkarta.store import time_range

    span = time_range(db, "incidents", filters)
    return span[1] if span else datetime.now(UTC)


def _week_start(moment: datetime) -> datetime:
    """Monday 00:00 local time (``config.local_timezone()``) of the week of ``moment``, as
    an aware UTC datetime: emerging hot spots count local weeks."""
    from tryggkarta.config import local_timezone

    tz = local_timezone()
    local = moment.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=tz).astimezone(UTC)
