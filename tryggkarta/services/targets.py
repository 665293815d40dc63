"""Patrol and design hotspots as layers: where and when to patrol, what to build.

Re-exported by :mod:`tryggkarta.services.hotspots`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely

from tryggkarta import hotspot_methods
from tryggkarta.analysis import Grid, design_hotspots, patrol_hotspots
from tryggkarta.domain import ENVIRONMENT_CATEGORIES, MEASURE_TRIGGERS, Trend, trend_key
from tryggkarta.errors import BadInput
from tryggkarta.services import quality
from tryggkarta.services.layers import (
    HotspotLayer,
    _collection,
    analysis_grid,
    cached_run,
    cluster_geometry,
    district_names,
    geometry_wgs84,
    street_level,
)
from tryggkarta.store import Database, Filters, layer_frame

#: Hotspot keys are the 500 m national-grid cell of the cluster centre: stable from one
#: week to the next as long as the hotspot stays put, so decisions can be followed up.
KEY_CELL = 500.0


def _titles(key: str) -> tuple[str, str]:
    m = hotspot_methods.method(key)
    return m.title_sv, m.title_en


def hotspot_key(prefix: str, point: shapely.Point) -> str:
    return f"{prefix}{int(point.x // KEY_CELL)}_{int(point.y // KEY_CELL)}"


def _windows_text(windows: list[tuple[str, str]]) -> str:
    return ", ".join(f"{days} {hours}" for days, hours in windows)


def patrol_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    now: datetime | None = None,
    recent_weeks: int = 4,
    baseline_weeks: int = 12,
    cell_size: float | None = 150.0,
    user_id: int | None = None,
) -> HotspotLayer:
    """Where and when to patrol: significant clusters of the last ``recent_weeks``.

    Compared with the ``baseline_weeks`` before (a weekly EST picture: 4 against 12), each
    hotspot carries its counts, trend and hour × weekday profile.
    """
    filters = street_level(filters or Filters())
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if recent_weeks < 1 or baseline_weeks < 1 or recent_weeks + baseline_weeks > 260:
        raise BadInput("Choose 1 or more recent and baseline weeks (at most five years in all).")
    start = now - timedelta(weeks=recent_weeks + baseline_weeks)
    window = filters.replace(start=start, end=now)
    params = {
        "now": now.isoformat(timespec="minutes"),
        "recent_weeks": recent_weeks,
        "baseline_weeks": baseline_weeks,
        "cell_size": cell_size,
        "guard": quality.guard_key(db),
    }

    def compute() -> HotspotLayer:
        frame = layer_frame(
            db, "incidents", window, columns=["x", "y", "occurred_at", "category"], geometry=False
        )
        frame, left_out = quality.guarded_frame(db, frame, window)
        report = quality.guard(db, window)
        summary: dict[str, Any] = {
            "now": now.isoformat(),
            "recent_weeks": recent_weeks,
            "baseline_weeks": baseline_weeks,
            "n_incidents": len(frame),
            "excluded_stacked": left_out,
            "data_quality_sv": quality.note(report, "sv"),
            "data_quality_en": quality.note(report, "en"),
        }
        if frame.empty:
            return HotspotLayer("patrol", *_titles("patrol"), _collection([]), summary)
        grid = analysis_grid(db, window, cell_size)
        times = (
            pd.to_datetime(frame["occurred_at"], utc=True)
            .dt.tz_convert(None)
            .to_numpy("datetime64[ns]")
        )
        spots = patrol_hotspots(
            frame["x"].to_numpy(float),
            frame["y"].to_numpy(float),
            times,
            grid,
            now=np.datetime64(now.replace(tzinfo=None), "ns"),
            recent_weeks=recent_weeks,
            baseline_weeks=baseline_weeks,
            categories=frame["category"].to_numpy(object),
        )
        flat, _inside = grid.cell_index(frame["x"].to_numpy(float), frame["y"].to_numpy(float))
        total = recent_weeks + baseline_weeks
        age = (np.datetime64(now.replace(tzinfo=None), "ns") - times) // np.timedelta64(7, "D")
        slot = (total - 1 - age).astype(np.int64)  # 0 = the oldest week, total - 1 = this one
        feats = _patrol_features(db, grid, spots, (flat, slot, total))
        summary.update(
            {"cell_size": grid.cell_size, "cell_reason": grid.reason, "hotspots": len(feats)}
        )
        return HotspotLayer("patrol", *_titles("patrol"), _collection(feats), summary)

    return cached_run(db, "patrol", params, filters, ("incidents",), compute, user_id=user_id)


def _patrol_features(
    db: Database,
    grid: Grid,
    spots: list[Any],
    weekly: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> list[dict[str, Any]]:
    """GeoJSON features of the patrol hot spots; with ``weekly`` = (cell of each incident,
    its week slot, number of weeks) each carries ``weeks``: incidents per week in its cells,
    oldest first (for the popup's trend line)."""
    geoms = [cluster_geometry(grid, s.cells) for s in spots]
    names = district_names(db, [g.centroid for g in geoms])
    feats = []
    seen: set[str] = set()
    for spot, geom, district in zip(spots, geoms, names, strict=True):
        key = hotspot_key("P", geom.centroid)
        if key in seen:  # two clusters in one 500 m cell: keep keys unique
            key = f"{key}_{spot.rank}"
        seen.add(key)
        props = {
            "key": key,
            "rank": spot.rank,
            "name": district or f"Brännpunkt {spot.rank}",
            "district": district,
            "count": spot.recent_count,
            "baseline": round(float(spot.baseline_weekly_mean), 2),
            "ratio": None if not np.isfinite(spot.ratio) else round(float(spot.ratio), 2),
            "trend": str(trend_key(spot.trend) or Trend.FLAT),
            "trend_label_sv": spot.trend,
            "trend_label_en": spot.trend_en,
            "trend_p": round(float(spot.trend_p), 4),
            "max_z": round(float(spot.max_z), 2),
            "profile": np.asarray(spot.profile).astype(int).tolist(),
            "peak_sv": _windows_text(spot.peak_windows),
            "peak_en": _windows_text(spot.peak_windows_en),
            "top_categories": [[c, int(n)] for c, n in spot.top_categories],
            "cells": len(spot.cells),
        }
        if weekly is not None:
            flat, slot, total = weekly
            hit = np.isin(flat, np.fromiter(spot.cells, np.int64)) & (slot >= 0) & (slot < total)
            props["weeks"] = np.bincount(slot[hit], minlength=total)[:total].astype(int).tolist()
        feats.append(
            {"type": "Feature", "geometry": geometry_wgs84(geom, db.srid), "properties": props}
        )
    return feats


def design_layer(
    db: Database,
    filters: Filters | None = None,
    *,
    cell_size: float | None = 250.0,
    min_n: int = 5,
    user_id: int | None = None,
) -> HotspotLayer:
    """Design hotspots: where survey answers say "unsafe", why, and the measures that fit."""
    filters = filters or Filters()
    params = {"cell_size": cell_size, "min_n": min_n, "guard": quality.guard_key(db)}
    survey_filters = Filters(
        bbox=filters.bbox, polygon=filters.polygon, municipality_code=filters.municipality_code
    )
    incident_categories = tuple(
        sorted(
            {
                *ENVIRONMENT_CATEGORIES,
                *(c for t in MEASURE_TRIGGERS.values() for c in t["categories"]),
            }
        )
    )
    incident_filters = street_level(filters).replace(categories=incident_categories)

    def compute() -> HotspotLayer:
        answers = layer_frame(
            db, "survey", survey_filters, columns=["x", "y", "rating", "reasons"], geometry=False
        )
        summary: dict[str, Any] = {"n_answers": len(answers), "min_n": min_n}
        if answers.empty:
            return HotspotLayer("design", *_titles("design"), _collection([]), summary)
        inc = layer_frame(
            db, "incidents", incident_filters, columns=["x", "y", "category"], geometry=False
        )
        inc, left_out = quality.guarded_frame(db, inc, incident_filters)
        summary["excluded_stacked"] = left_out
        grid = analysis_grid(db, survey_filters, cell_size, layer="survey")
        spots = design_hotspots(
            answers["x"].to_numpy(float),
            answers["y"].to_numpy(float),
            answers["rating"].to_numpy(float),
            answers["reasons"].fillna("").tolist(),
            inc["x"].to_numpy(float),
            inc["y"].to_numpy(float),
            inc["category"].to_numpy(object),
            grid,
            min_n=min_n,
        )
        geoms = [cluster_geometry(grid, s.cells) for s in spots]
        names = district_names(db, [g.centroid for g in geoms])
        feats = []
        for spot, geom, district in zip(spots, geoms, names, strict=True):
            props = {
                "key": hotspot_key("D", geom.centroid),
                "rank": spot.rank,
                "name": district or f"Brännpunkt {spot.rank}",
                "district": district,
                "n_answers": spot.n_answers,
                "n_unsafe": spot.n_unsafe,
                "unsafe_share": round(float(spot.unsafe_share), 3),
                "smoothed_share": round(float(spot.smoothed_share), 3),
                "p": float(spot.p),
                "reasons": [[r, round(float(share), 3)] for r, _count, share in spot.reasons],
                "incidents": {k: int(v) for k, v in spot.incidents.items()},
                "measures": [
                    {
                        "key": m,
                        "evidence_sv": sv,
                        "evidence_en": en,
                        "strength": round(float(st), 2),
                    }
                    for m, sv, en, st in spot.measures
                ],
                "count": spot.n_answers,
            }
            feats.append(
                {"type": "Feature", "geometry": geometry_wgs84(geom, db.srid), "properties": props}
            )
        summary.update({"cell_size": grid.cell_size, "hotspots": len(feats)})
        return HotspotLayer("design", *_titles("design"), _collection(feats), summary)

    return cached_run(
        db, "design", params, filters, ("survey", "incidents"), compute, user_id=user_id
    )
