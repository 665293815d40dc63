"""Backtests on the store's incidents: how much to trust a hotspot map.

Training = incidents before ``split``; test = from ``split`` on. The cell size and blend
parameters are tuned on a validation split carved out of the training period only (no peeking
at the test period); the table of hit rate and PAI per method and area share is stored as an
analysis run, so the map can say which method it shows and its PAI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from tryggkarta.analysis import Grid, backtest
from tryggkarta.analysis.evaluate import footprint_mask
from tryggkarta.errors import BadInput
from tryggkarta.services.layers import street_level
from tryggkarta.store import AnalysisRun, Database, Filters, layer_frame
from tryggkarta.store.queries import dataset_versions

CELL_SIZES = (100.0, 150.0, 250.0)


@dataclass(frozen=True)
class Evaluation:
    table: list[dict[str, Any]]
    best: str
    markdown: str
    params: dict[str, Any]
    run_id: int | None


def evaluate_store(
    db: Database,
    filters: Filters,
    split: datetime | None,
    *,
    cell_size: float | None = None,
    area_shares: tuple[float, ...] = (0.01, 0.05, 0.10),
) -> Evaluation:
    """Backtest every method on incidents before/after ``split`` and store the table."""
    if split is None:
        raise BadInput("A backtest needs a split date.")
    filters = street_level(filters)
    frame = layer_frame(db, "incidents", filters, columns=["x", "y", "occurred_at"], geometry=False)
    if frame.empty:
        raise BadInput("There are no incidents matching the filters to evaluate.")
    when = pd.to_datetime(frame["occurred_at"], utc=True)
    train = (when < split).to_numpy()
    test = ~train
    if train.sum() < 10 or test.sum() < 10:
        raise BadInput(
            f"The split leaves {int(train.sum())} training and {int(test.sum())} test incidents; "
            "both need at least 10."
        )
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    t = when.dt.tz_convert(None).to_numpy("datetime64[ns]")
    params: dict[str, Any] = {"split": split.isoformat(), "area_shares": list(area_shares)}
    tuned = None
    if cell_size is None:
        from tryggkarta.analysis import tune

        tuned = tune(x[train], y[train], t[train], cell_sizes=CELL_SIZES)
        cell_size = tuned.cell_size
        params.update(
            {
                "tuned": True,
                "blend_bandwidth": tuned.blend_bandwidth,
                "blend_weight": tuned.blend_weight,
                "half_life_days": tuned.half_life_days,
                "validation_pai": tuned.pai,
            }
        )
    params["cell_size"] = cell_size
    bounds = (
        float(x.min()) - cell_size,
        float(y.min()) - cell_size,
        float(x.max()) + cell_size,
        float(y.max()) + cell_size,
    )
    grid = Grid.for_points([], [], cell_size=cell_size, bounds=bounds)
    extra = {}
    if tuned is not None:
        extra = {
            "blend_bandwidth": tuned.blend_bandwidth,
            "blend_weight": tuned.blend_weight,
            "half_life_days": tuned.half_life_days,
        }
    # Study area: cells with a training incident and their neighbours (the built-up area),
    # from the training period only; a bounding box would inflate PAI with empty fields.
    mask = footprint_mask(grid, x[train], y[train])
    params["area_cells"] = int(mask.sum())
    result = backtest(
        x[train],
        y[train],
        x[test],
        y[test],
        grid,
        area_shares=area_shares,
        train_t=t[train],
        mask=mask,
        **extra,
    )
    markdown = result.to_markdown()
    table = [{k: _plain(v) for k, v in row.items()} for row in result.table]
    with db.session() as s:
        versions = dataset_versions(s, ("incidents",))
        key = json.dumps(
            {"evaluate": params, "filters": filters.cache_dict(), "data": versions},
            sort_keys=True,
            default=str,
        )
        import hashlib

        cache_key = hashlib.sha256(key.encode()).hexdigest()
        run = s.scalar(select(AnalysisRun).where(AnalysisRun.cache_key == cache_key))
        if run is None:
            run = AnalysisRun(
                method="evaluate",
                cache_key=cache_key,
                params=params,
                filters=filters.cache_dict(),
                dataset_versions=versions,
                summary={"best": result.best, "table": table, "markdown": markdown},
            )
            s.add(run)
            s.flush()
        run_id = run.id
    return Evaluation(table, result.best, markdown, params, run_id)


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
