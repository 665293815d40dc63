"""The data-quality guard of every hot-spot computation: records on default locations.

One place decides which incidents are left out of hot spots, and every method asks it: the
forecast and its backtest, Gi*, KDE, emerging and patrol hot spots, and the incident counts
beside design hot spots. The rule is :func:`tryggkarta.analysis.forecasting.stacked_coordinates`
(a pile far above the data's heavy tail; a configured default position —
``TRYGGKARTA_DEFAULT_LOCATIONS`` — or the municipality centre; records whose precision is not
street-level). It is decided on the whole data set (the municipality and dataset filters
apply, times, categories and map extents do not), so a pile is the same pile in every view.
The records are kept in the store, named in the import report and in the map legend.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from tryggkarta.analysis.forecasting import StackReport, stacked_coordinates
from tryggkarta.domain import STREET_LEVEL_PRECISIONS
from tryggkarta.store import Database, Filters, layer_frame
from tryggkarta.store.queries import data_version

#: Bump when the rule changes: it is part of every hot-spot cache key.
GUARD_VERSION = 2
_CACHE: OrderedDict[str, StackReport] = OrderedDict()
_CACHE_SIZE = 16


def _region_code(db: Database, filters: Filters) -> str | None:
    code = filters.municipality_code
    if code is None:
        region = str(getattr(db.settings, "region", "") or "")
        code = region if region.isdigit() and len(region) == 4 else None
    return code


def known_points(db: Database, filters: Filters | None = None) -> np.ndarray:
    """Default positions in working-CRS metres, shape (k, 2): the configured ones
    (``TRYGGKARTA_DEFAULT_LOCATIONS``) and the centre of the municipality (filter or
    configured region) — where geocoders and Polisen put a record nobody could place."""
    from tryggkarta.config import default_locations
    from tryggkarta.errors import ConfigError
    from tryggkarta.geo import from_wgs84, municipality

    pts = default_locations(db.settings)
    lon = np.array([p[0] for p in pts], dtype=np.float64)
    lat = np.array([p[1] for p in pts], dtype=np.float64)
    out = [np.column_stack(from_wgs84(lon, lat, db.srid)) if lon.size else np.empty((0, 2))]
    code = _region_code(db, filters or Filters())
    if code is not None:
        try:
            c = municipality(code, db.srid).centroid
        except ConfigError:
            pass
        else:
            out.append(np.array([[c.x, c.y]]))
    return np.vstack(out)


def guard_key(db: Database) -> dict[str, Any]:
    """What the guard depends on beyond the data, for analysis-run cache keys."""
    return {"version": GUARD_VERSION, "defaults": str(db.settings.default_locations or "")}


def guard(db: Database, filters: Filters | None = None) -> StackReport:
    """The flagged records of the data set ``filters`` belong to (see the module docstring);
    ``flagged`` follows the rows of ``layer_frame(db, 'incidents', data_set_filters(...))``."""
    base = data_set_filters(filters)
    key = repr((db.settings.url, data_version(db, ("incidents",)), base, guard_key(db)))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    frame = layer_frame(db, "incidents", base, columns=["x", "y", "precision"], geometry=False)
    coarse = ~frame["precision"].isin(STREET_LEVEL_PRECISIONS).to_numpy(bool)
    report = stacked_coordinates(
        frame["x"].to_numpy(float),
        frame["y"].to_numpy(float),
        known=known_points(db, base),
        coarse=coarse,
    )
    _CACHE[key] = report
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return report


def data_set_filters(filters: Filters | None) -> Filters:
    """The part of ``filters`` that says which data set is meant (municipality, datasets)."""
    f = filters or Filters()
    return Filters(municipality_code=f.municipality_code, dataset_ids=f.dataset_ids)


def street_places(report: StackReport) -> np.ndarray:
    """The flagged street-level coordinates (not the coarse ones), shape (k, 2)."""
    pts = [[p["x"], p["y"]] for p in report.places if p["reason"] in STREET_REASONS]
    return np.array(pts, dtype=np.float64).reshape(-1, 2)


def keep_mask(
    report: StackReport, x: np.ndarray, y: np.ndarray, precision: float = 1.0
) -> np.ndarray:
    """True for the records not on a flagged street-level coordinate."""
    places = street_places(report)
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if places.size == 0 or xa.size == 0:
        return np.ones(xa.shape, dtype=bool)
    key = np.round(xa / precision) + 1j * np.round(ya / precision)
    bad = np.round(places[:, 0] / precision) + 1j * np.round(places[:, 1] / precision)
    return ~np.isin(key, bad)


def guarded_frame(
    db: Database, frame: pd.DataFrame, filters: Filters | None = None
) -> tuple[pd.DataFrame, int]:
    """``frame`` (with ``x``/``y``) without the flagged records, and how many were dropped."""
    if frame.empty:
        return frame, 0
    keep = keep_mask(guard(db, filters), frame["x"].to_numpy(float), frame["y"].to_numpy(float))
    return frame[keep], int((~keep).sum())


def flagged_in(
    db: Database, filters: Filters, columns: tuple[str, ...] = ("x", "y", "t_epoch")
) -> pd.DataFrame:
    """The records matching ``filters`` that sit on a flagged street-level coordinate (one
    small bounding-box query per flagged place: there are a handful)."""
    places = street_places(guard(db, filters))
    frames = []
    for px, py in places:  # a handful of places, not points
        box = (px - 0.5, py - 0.5, px + 0.5, py + 0.5)
        if filters.bbox is not None:
            a = filters.bbox
            box = (max(box[0], a[0]), max(box[1], a[1]), min(box[2], a[2]), min(box[3], a[3]))
            if box[0] > box[2] or box[1] > box[3]:
                continue
        f = layer_frame(
            db, "incidents", filters.replace(bbox=box), columns=list(columns), geometry=False
        )
        frames.append(f[(np.round(f["x"]) == round(px)) & (np.round(f["y"]) == round(py))])
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def guarded_counts(
    db: Database,
    grid: Any,
    filters: Filters,
    *,
    time_step: float | None = None,
    t0: float | None = None,
    n_steps: int | None = None,
    local: Any = None,
) -> tuple[np.ndarray, int]:
    """:func:`tryggkarta.store.grid_counts` without the flagged records (cells, or a
    space-time cube with ``time_step``), and how many records were left out of it."""
    from tryggkarta.store import grid_counts
    from tryggkarta.store.grid import _bincount

    counts = grid_counts(
        db, "incidents", grid, filters, time_step=time_step, t0=t0, n_steps=n_steps, local=local
    )
    bad = flagged_in(db, filters)
    if bad.empty:
        return counts, 0
    minus = _bincount(
        bad["x"].to_numpy(float),
        bad["y"].to_numpy(float),
        bad["t_epoch"].to_numpy(float) if time_step else None,
        grid,
        time_step,
        t0,
        n_steps,
        local,
    )
    return counts - minus, int(minus.sum())


#: Reasons that concern street-level records (coarse ones never enter a hot spot anyway).
STREET_REASONS = ("spike", "known")


def note(report: StackReport, lang: str) -> str:
    """The legend's data-quality sentence about street-level piles ('' when none)."""
    return report.note(lang, STREET_REASONS)


def n_street(report: StackReport) -> int:
    """Records on flagged street-level coordinates."""
    return sum(p["records"] for p in report.places if p["reason"] in STREET_REASONS)


def legend_note(db: Database, filters: Filters | None, lang: str, *, exact: bool) -> str:
    """The map legend's data-quality note for a hot-spot layer: with ``exact`` (roles that
    see raw incidents) the numbers, otherwise the same sentence without them (no counts
    outside the disclosure step)."""
    report = guard(db, filters)
    if exact:
        return note(report, lang)
    if not any(p["reason"] in STREET_REASONS for p in report.places):
        return ""
    return generic_note(lang)


def generic_note(lang: str) -> str:
    """The data-quality sentence without numbers (for roles below raw detail)."""
    if lang == "en":
        return (
            "Data quality: records piled on single coordinates (e.g. a police station or a "
            "geocoder default) are left out of the hot spots."
        )
    return (
        "Datakvalitet: händelser som ligger staplade på enskilda koordinater (t.ex. en "
        "polisstation eller en standardposition) räknas inte med i brännpunkterna."
    )
