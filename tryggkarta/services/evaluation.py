"""Backtests on the store's incidents: how much to trust a hotspot map.

The protocol of :mod:`tryggkarta.analysis.forecasting` (issue #12), the same one the map
legend, ``tryggkarta evaluate``, ``tryggkarta hotspots forecast`` and the bench use:

* one fixed study area per data set — the filtered municipality or the configured
  municipality region, clipped to the convex hull of the incidents (plus 250 m), otherwise
  that hull alone — rasterised to 50 m cells, whatever cell size a method uses;
* rolling origins: ``n_tune`` (≥ 8) windows before ``split`` choose the method, the windows
  from ``split`` on (never seen by the choice) give the reported PAI with a bootstrap
  interval, beside the naive baseline (all earlier incidents) on the same windows;
* a non-naive method becomes the default only when its PAI at the legend's area share beats
  naive on the tuning windows with the lower end of a 90 % bootstrap interval above zero;
* records on default locations (police station, geocoder default, municipality centre) are
  left out by the one guard every hot spot uses (:mod:`tryggkarta.services.quality`) and
  counted.

The table is stored as an analysis run, so the map can say which method it shows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from tryggkarta.analysis.forecasting import (
    AREA_SHARES,
    ProtocolResult,
    StackReport,
    StudyArea,
    data_hull,
    default_candidates,
    rolling_backtest,
    study_area,
)
from tryggkarta.errors import BadInput
from tryggkarta.services import quality
from tryggkarta.services.layers import street_level
from tryggkarta.store import AnalysisRun, Database, Filters, layer_frame
from tryggkarta.store.queries import dataset_versions

CELL_SIZES = (100.0, 250.0)
N_TUNE = 8


def gbm_enabled(settings: object) -> bool:
    """Whether the choice also tries gbm (``TRYGGKARTA_FORECAST_GBM``; the bench does)."""
    return bool(getattr(settings, "forecast_gbm", False))


@dataclass(frozen=True)
class Evaluation:
    table: list[dict[str, Any]]
    best: str
    markdown: str
    params: dict[str, Any]
    run_id: int | None
    protocol: ProtocolResult | None = None
    area: StudyArea | None = None
    stack: StackReport | None = None
    points: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)


def store_points(db: Database, filters: Filters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y (working CRS) and UTC timestamps of the street-level incidents matching
    ``filters``."""
    frame = layer_frame(
        db, "incidents", street_level(filters), columns=["x", "y", "occurred_at"], geometry=False
    )
    if frame.empty:
        raise BadInput("There are no incidents matching the filters to evaluate.")
    when = pd.to_datetime(frame["occurred_at"], utc=True)
    t = when.dt.tz_convert(None).to_numpy("datetime64[ns]")
    return frame["x"].to_numpy(float), frame["y"].to_numpy(float), t


def store_area(db: Database, filters: Filters, x: np.ndarray, y: np.ndarray) -> StudyArea:
    """The fixed study area: the municipality (filter or configured region) clipped to the
    incidents' convex hull plus 250 m, or that hull when no municipality applies."""
    from tryggkarta.geo import municipality

    code = filters.municipality_code
    if code is None:
        region = str(getattr(db.settings, "region", "") or "")
        code = region if region.isdigit() and len(region) == 4 else None
    hull = data_hull(x, y)
    if code is not None:
        poly = municipality(code, db.srid).intersection(hull.buffer(250.0))
        if not poly.is_empty and poly.area > 0:
            try:
                area = study_area(x, y, polygon=poly)
            except ValueError:
                pass
            else:
                return StudyArea(
                    area.grid,
                    area.cells,
                    area.cx,
                    area.cy,
                    f"municipality {code} ∩ convex hull of the incidents + 250 m, 50 m cells",
                )
    return study_area(x, y)


def evaluate_store(
    db: Database,
    filters: Filters,
    split: datetime | None,
    *,
    cell_size: float | None = None,
    area_shares: tuple[float, ...] = AREA_SHARES,
    metric_share: float = 0.05,
) -> Evaluation:
    """Rolling-origin backtest of every method; the windows from ``split`` on are reported.

    ``cell_size`` limits the candidates to one cell size (default: 100 m and 250 m)."""
    if split is None:
        raise BadInput("A backtest needs a split date.")
    if cell_size is not None and not 50 <= cell_size <= 5000:
        raise BadInput("The cell size must be between 50 and 5000 metres.")
    if not 0 < metric_share <= 0.5:
        raise BadInput("The area share the method is chosen on must be between 0 and 0.5.")
    filters = street_level(filters)
    x, y, t = store_points(db, filters)
    stack = quality.guard(db, filters)
    keep = quality.keep_mask(stack, x, y)
    x, y, t = x[keep], y[keep], t[keep]
    n_left_out = int((~keep).sum())
    if x.size < 50:
        raise BadInput(
            f"A backtest needs at least 50 incidents with a street-level position; "
            f"{x.size} match the filters."
        )
    try:
        area = store_area(db, filters, x, y)
        sizes = CELL_SIZES if cell_size is None else (float(cell_size),)
        result = rolling_backtest(
            x,
            y,
            t,
            area=area,
            candidates=default_candidates(sizes, gbm=gbm_enabled(db.settings)),
            n_tune=N_TUNE,
            shares=area_shares,
            metric_share=metric_share,
            exclude_stacked=False,
            report_start=pd.Timestamp(split),
        )
    except ValueError as exc:
        raise BadInput(f"The backtest cannot run on these incidents: {exc}") from None
    params: dict[str, Any] = {
        "split": split.isoformat(),
        "area_shares": list(area_shares),
        "metric_share": metric_share,
        "cell_sizes": list(sizes),
        "protocol": "rolling-origin",
        "horizon_days": result.horizon_days,
        "n_tune": result.n_tune,
        "n_report": result.n_report,
        "area_cells": result.area_cells,
        "area_km2": round(result.area_km2, 2),
        "area_source": result.area_source,
        "excluded_stacked": n_left_out,
        "guard": quality.guard_key(db),
        "gbm": gbm_enabled(db.settings),
    }
    chosen = result.candidate(result.choice)
    params.update(cell_size=chosen.cell_size, half_life_days=chosen.half_life_days)
    table = [
        {
            "method": r["candidate"],
            "area_share": float(k),
            "hit_rate": hr,
            "pai": _mean_at(result, r["candidate"], float(k), "pai"),
            "pei": _mean_at(result, r["candidate"], float(k), "pei"),
            "pai_low": r["pai_low"] if float(k) == metric_share else None,
            "pai_high": r["pai_high"] if float(k) == metric_share else None,
        }
        for r in result.report
        for k, hr in r["hit_rate"].items()
    ]
    markdown = result.to_markdown()
    selection = [{k: _plain(v) for k, v in row.items()} for row in result.selection]
    with db.session() as s:
        versions = dataset_versions(s, ("incidents",))
        key = json.dumps(
            {"evaluate": params, "filters": filters.cache_dict(), "data": versions},
            sort_keys=True,
            default=str,
        )
        cache_key = hashlib.sha256(key.encode()).hexdigest()
        run = s.scalar(select(AnalysisRun).where(AnalysisRun.cache_key == cache_key))
        if run is None:
            run = AnalysisRun(
                method="evaluate",
                cache_key=cache_key,
                params=params,
                filters=filters.cache_dict(),
                dataset_versions=versions,
                summary={
                    "best": result.choice,
                    "baseline": result.baseline,
                    "table": table,
                    "selection": selection,
                    "markdown": markdown,
                },
            )
            s.add(run)
            s.flush()
        run_id = run.id
    return Evaluation(
        table, result.choice, markdown, params, run_id, result, area, stack, (x, y, t)
    )


def _mean_at(result: ProtocolResult, name: str, share: float, key: str) -> float:
    vals = [
        w[key]
        for w in result.windows
        if w["candidate"] == name and w["phase"] == "report" and w["area_share"] == share
    ]
    return float(np.mean(vals))


def latest_evaluation(db: Database) -> dict[str, Any] | None:
    """The newest stored backtest summary (best method, table), for the map legend."""
    with db.session() as s:
        run = s.scalar(
            select(AnalysisRun)
            .where(AnalysisRun.method == "evaluate")
            .order_by(AnalysisRun.id.desc())
        )
        return dict(run.summary or {}, params=run.params, run_id=run.id) if run else None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
