"""The default hotspot layer: the method that forecast best on *this* data, said honestly.

The method is chosen by the rolling-origin protocol of :mod:`tryggkarta.services.evaluation`
(fixed 50 m study area, ≥ 8 tuning windows before the last ``test_weeks``, a bootstrap rule
that keeps the naive baseline — all earlier incidents per cell — unless another method beats
it beyond noise). The layer is then fitted on all the data, and its top ``area_share`` of the
study area is the hotspot layer. The legend gives the method, its PAI on the last
``test_weeks`` (windows the choice never saw) with an interval, the naive PAI on the same
windows, and a data-quality note when records stacked on one coordinate were left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tryggkarta import hotspot_methods
from tryggkarta.analysis.forecasting import candidate_score, hot_cells
from tryggkarta.config import local_timezone
from tryggkarta.errors import BadInput
from tryggkarta.services import quality
from tryggkarta.services.evaluation import evaluate_store, gbm_enabled, store_points
from tryggkarta.services.layers import (
    HotspotLayer,
    _collection,
    cached_run,
    cell_features,
    street_level,
)
from tryggkarta.store import Database, Filters

METHOD_LABELS = hotspot_methods.CANDIDATES


def method_label(name: str, lang: str = "sv") -> str:
    """Human title of a candidate name such as ``recency 100 m half-life 90 d``."""
    base, _, rest = name.partition(" ")
    sv, en = METHOD_LABELS.get(base, (name, name))
    if base not in METHOD_LABELS:
        return name
    rest = rest.strip()
    if lang != "en":
        rest = rest.replace("half-life", "halveringstid").replace(" d", " dagar")
    return (en if lang == "en" else sv) + (f" ({rest})" if rest else "")


def _row(table: list[dict[str, Any]], method: str, share: float) -> dict[str, Any] | None:
    rows = [r for r in table if r["method"] == method]
    if not rows:
        return None
    return min(rows, key=lambda r: abs(r["area_share"] - share))


def _r(value: float | None, nd: int = 2) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), nd)


def report_start(newest: np.datetime64, test_weeks: int) -> pd.Timestamp:
    """Start of the report period: local midnight (``TRYGGKARTA_TIMEZONE``) of the day
    ``test_weeks`` before the newest incident, as a UTC timestamp — the day
    ``tryggkarta evaluate --split`` takes, so the two report the same windows."""
    zone = local_timezone()
    wall = pd.Timestamp(newest).tz_localize("UTC").tz_convert(zone).tz_localize(None)
    day = (wall - pd.Timedelta(weeks=test_weeks)).normalize()  # on the wall clock (DST)
    return day.tz_localize(zone, nonexistent="shift_forward").tz_convert("UTC")


def forecast_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    area_share: float = 0.05,
    test_weeks: int = 12,
    user_id: int | None = None,
    cached_only: bool = False,
) -> HotspotLayer | None:
    """Hotspots by the protocol's default method, fitted on all data (see the module
    docstring).

    With ``cached_only`` the stored result is returned, or ``None`` if it was never computed
    for the current data (pages use this so a request never waits for the backtest).
    """
    if not 0 < area_share <= 0.5:
        raise BadInput("The hotspot share of the area must be between 0 and 0.5.")
    if not 1 <= test_weeks <= 104:
        raise BadInput("The report period must be between 1 and 104 weeks.")
    filters = street_level(filters or Filters())
    params = {
        "area_share": area_share,
        "test_weeks": test_weeks,
        "protocol": "rolling-origin",
        "split": "local-day",
        "guard": quality.guard_key(db),
        "gbm": gbm_enabled(db.settings),
    }

    def compute() -> HotspotLayer:
        _, _, t_all = store_points(db, filters)
        if t_all.size < 50:
            raise BadInput("A forecast needs at least 50 incidents with a street-level position.")
        split = report_start(t_all.max(), test_weeks)
        shares = tuple(sorted({0.01, area_share, 0.10}))
        ev = evaluate_store(
            db, filters, split.to_pydatetime(), area_shares=shares, metric_share=area_share
        )
        res, area, stack = ev.protocol, ev.area, ev.stack
        assert res is not None and area is not None and stack is not None and ev.points
        x, y, t = ev.points
        cand = res.candidate(res.choice)
        grid = area.method_grid(cand.cell_size)
        origin = t.max() + np.timedelta64(1, "s")
        horizon = np.timedelta64(int(res.horizon_days * 86400), "s")
        score = candidate_score(cand, grid, x, y, t, origin, horizon)
        flat, _ = hot_cells(area, grid, score, area_share)
        counts = grid.counts(x, y).ravel()
        feats = cell_features(
            grid,
            flat,
            db.srid,
            {
                "count": counts[flat].astype(int),
                "score": score.ravel()[flat],
                "rank": np.arange(1, flat.size + 1),
            },
        )
        ours, naive = res.reported(res.choice), res.reported(res.baseline)
        at = _row(ev.table, res.choice, area_share)
        summary = {
            "method": res.choice,
            "method_sv": method_label(res.choice, "sv"),
            "method_en": method_label(res.choice, "en"),
            "baseline": res.baseline,
            "beats_naive": res.choice != res.baseline,
            "pai": _r(ours["pai"]),
            "pai_low": _r(ours["pai_low"]),
            "pai_high": _r(ours["pai_high"]),
            "pei": _r(ours["pei"]),
            "hit_rate": _r(at["hit_rate"], 3) if at else None,
            "naive_pai": _r(naive["pai"]),
            "naive_low": _r(naive["pai_low"]),
            "naive_high": _r(naive["pai_high"]),
            "area_share": area_share,
            "cell_size": cand.cell_size,
            "split": split.isoformat(),
            "split_day": split.tz_convert(local_timezone()).date().isoformat(),
            "test_weeks": test_weeks,
            "horizon_days": res.horizon_days,
            "n_tune": res.n_tune,
            "n_report": res.n_report,
            "area_km2": round(res.area_km2, 2),
            "area_source": res.area_source,
            "excluded_stacked": ev.params["excluded_stacked"],
            "data_quality_sv": quality.note(stack, "sv"),
            "data_quality_en": quality.note(stack, "en"),
            "evaluation_run": ev.run_id,
            "table": ev.table,
        }
        return HotspotLayer(
            "forecast",
            hotspot_methods.method("forecast").title_sv,
            hotspot_methods.method("forecast").title_en,
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


def _num(value: float | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{value:.1f}"
    return text if lang == "en" else text.replace(".", ",")


def trust_note(summary: dict[str, Any], lang: str = "sv", *, exact: bool = True) -> str:
    """The legend text: which method, its PAI (with interval) on windows the choice did not
    see, the naive figure on the same windows, and a data-quality note (its record counts
    only with ``exact``: roles below raw detail get the sentence without numbers)."""
    if summary.get("pai") is None:
        return ""
    if "pai_low" not in summary:  # a layer stored before the rolling-origin protocol
        return ""
    share = f"{summary['area_share']:.0%}".replace("%", " %")
    pai, lo, hi = (_num(summary.get(k), lang) for k in ("pai", "pai_low", "pai_high"))
    nv, nlo, nhi = (_num(summary.get(k), lang) for k in ("naive_pai", "naive_low", "naive_high"))
    weeks = summary["test_weeks"]
    n_tune = summary.get("n_tune", 0)
    if lang == "en":
        head = (
            f"Method: {summary['method_en']}, {summary['cell_size']:g} m cells."
            if summary.get("beats_naive")
            else "Method: all earlier incidents per cell (no other method beat it beyond "
            f"noise on {n_tune} earlier forecast windows)."
        )
        text = (
            f"{head} Over the last {weeks} weeks, which the choice did not see, it had "
            f"PAI {pai} (90 % interval {lo}–{hi}) at {share} of the study area "
            f"({summary.get('area_km2', 0):g} km²)"
            + (
                f"; all earlier incidents: {nv} ({nlo}–{nhi})."
                if summary.get("beats_naive")
                else "."
            )
        )
        note = _quality(summary, "en", exact)
    else:
        head = (
            f"Metod: {summary['method_sv']}, {summary['cell_size']:g} m-rutor."
            if summary.get("beats_naive")
            else "Metod: alla tidigare händelser per ruta (ingen annan metod var tydligt "
            f"bättre i {n_tune} tidigare prognosfönster)."
        )
        km2 = f"{summary.get('area_km2', 0):g}".replace(".", ",")
        text = (
            f"{head} De senaste {weeks} veckorna, som inte användes för valet, gav den "
            f"PAI {pai} (90 %-intervall {lo}–{hi}) på {share} av studieområdet ({km2} km²)"
            + (
                f"; alla tidigare händelser: {nv} ({nlo}–{nhi})."
                if summary.get("beats_naive")
                else "."
            )
        )
        note = _quality(summary, "sv", exact)
    return f"{text} {note}".strip()


def _quality(summary: dict[str, Any], lang: str, exact: bool) -> str:
    text = summary.get(f"data_quality_{lang}") or ""
    if not text or exact:
        return text
    return quality.generic_note(lang)
