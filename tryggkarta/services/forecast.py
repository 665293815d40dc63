"""The default hotspot layer: the method that predicted best on *this* data, with its PAI.

Smoothing does not always win (on some cities last period's counts beat KDE), so the layer is
chosen by a backtest: the last ``test_weeks`` are held out, cell size and blend parameters are
tuned on a validation split of the earlier data, and every method (naive counts, KDE, Gi*,
blend) is scored by hit rate and PAI. The winner is then fitted on all the data and its top
``area_share`` of the study area is the hotspot layer — and the layer says which method it is,
its PAI and the naive baseline's PAI, so users see how much to trust it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tryggkarta.analysis import Grid
from tryggkarta.analysis.evaluate import _weights, footprint_mask, method_scores
from tryggkarta.analysis.kde import top_cells
from tryggkarta.errors import BadInput
from tryggkarta.services.evaluation import evaluate_store
from tryggkarta.services.layers import (
    HotspotLayer,
    _collection,
    cached_run,
    cell_features,
    street_level,
)
from tryggkarta.store import Database, Filters, layer_frame

METHOD_LABELS = {
    "naive": ("Förra periodens antal", "Last period's counts"),
    "kde": ("Täthet (KDE)", "Density (KDE)"),
    "gistar": ("Gi*", "Gi*"),
    "blend": ("Blandning av aktuellt och långsiktigt", "Blend of recent and long-run"),
}


def method_label(name: str, lang: str = "sv") -> str:
    base = name.split(" ", 1)[0]
    sv, en = METHOD_LABELS.get(base, (name, name))
    suffix = name[len(base) :]
    return (en if lang == "en" else sv) + suffix


def _row(table: list[dict[str, Any]], method: str, share: float) -> dict[str, Any] | None:
    rows = [r for r in table if r["method"] == method]
    if not rows:
        return None
    return min(rows, key=lambda r: abs(r["area_share"] - share))


def forecast_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    area_share: float = 0.05,
    test_weeks: int = 12,
    user_id: int | None = None,
    cached_only: bool = False,
) -> HotspotLayer | None:
    """Hotspots by the backtest winner, fitted on all data (see the module docstring).

    With ``cached_only`` the stored result is returned, or ``None`` if it was never computed
    for the current data (pages use this so a request never waits for the tuning).
    """
    if not 0 < area_share <= 0.5:
        raise BadInput("The hotspot share of the area must be between 0 and 0.5.")
    filters = street_level(filters or Filters())
    params = {"area_share": area_share, "test_weeks": test_weeks}

    def compute() -> HotspotLayer:
        frame = layer_frame(
            db, "incidents", filters, columns=["x", "y", "occurred_at"], geometry=False
        )
        if len(frame) < 50:
            raise BadInput("A forecast needs at least 50 incidents with a street-level position.")
        when = pd.to_datetime(frame["occurred_at"], utc=True)
        split = (when.max() - pd.Timedelta(weeks=test_weeks)).to_pydatetime()
        evaluation = evaluate_store(db, filters, split, area_shares=(0.01, area_share, 0.10))
        best, p = evaluation.best, evaluation.params
        x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
        t = when.dt.tz_convert(None).to_numpy("datetime64[ns]")
        cell = float(p["cell_size"])
        grid = Grid.for_points(
            [],
            [],
            cell_size=cell,
            bounds=(x.min() - cell, y.min() - cell, x.max() + cell, y.max() + cell),
        )
        mask = footprint_mask(grid, x, y)
        counts = np.where(mask, grid.counts(x, y), 0.0)
        w = _weights(t, x.size, p.get("half_life_days"))
        weighted = counts if w is None else np.where(mask, grid.counts(x, y, weights=w), 0.0)
        base = best.split(" ", 1)[0]
        bandwidths = (
            (float(best.split("h=", 1)[1].split(" ")[0]),) if base == "kde" else (2 * cell,)
        )
        score = method_scores(
            counts,
            weighted,
            grid,
            [base],
            bandwidths,
            float(p.get("blend_bandwidth") or 2 * cell),
            float(p.get("blend_weight") or 0.5),
            mask,
        )[best if base != "kde" else f"kde h={bandwidths[0]:g} m"]
        hot = top_cells(score, area_share, mask)
        flat = np.flatnonzero(hot.ravel())
        order = np.argsort(-score.ravel()[flat], kind="stable")
        flat = flat[order]
        ours, naive = (
            _row(evaluation.table, best, area_share),
            _row(evaluation.table, "naive", area_share),
        )
        feats = cell_features(
            grid,
            flat,
            db.srid,
            {
                "count": counts.ravel()[flat].astype(int),
                "score": score.ravel()[flat],
                "rank": np.arange(1, flat.size + 1),
            },
        )
        summary = {
            "method": best,
            "method_sv": method_label(best, "sv"),
            "method_en": method_label(best, "en"),
            "pai": round(float(ours["pai"]), 2) if ours else None,
            "hit_rate": round(float(ours["hit_rate"]), 3) if ours else None,
            "naive_pai": round(float(naive["pai"]), 2) if naive else None,
            "area_share": area_share,
            "cell_size": cell,
            "split": split.isoformat(),
            "test_weeks": test_weeks,
            "evaluation_run": evaluation.run_id,
            "table": evaluation.table,
        }
        return HotspotLayer(
            "forecast",
            "Brännpunkter (bästa metoden för dessa data)",
            "Hot spots (best method for this data)",
            _collection(feats),
            summary,
        )

    return cached_run(
        db,
        "forecast",
        params,
        filters,
        ("incidents",),
        compute,
        user_id=user_id,
        cached_only=cached_only,
    )


def trust_note(summary: dict[str, Any], lang: str = "sv") -> str:
    """One sentence saying which method the layer uses and how well it predicted."""
    if summary.get("pai") is None:
        return ""
    share = f"{summary['area_share']:.0%}".replace("%", " %")
    if lang == "en":
        return (
            f"Method: {summary['method_en']}. It predicted the last {summary['test_weeks']} weeks with "
            f"PAI {summary['pai']:.1f} at {share} of the area (last period's counts: {summary['naive_pai']:.1f})."
        )
    pai, naive = (f"{summary[k]:.1f}".replace(".", ",") for k in ("pai", "naive_pai"))
    return (
        f"Metod: {summary['method_sv']}. Den förutsade de senaste {summary['test_weeks']} veckorna med "
        f"PAI {pai} på {share} av ytan (förra periodens antal: {naive})."
    )
