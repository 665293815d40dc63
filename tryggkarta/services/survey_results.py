"""Results of one survey campaign: answers over time, reasons, times of day, the insecurity map
on the release grid (minimum-count rule and share bands from :mod:`tryggkarta.disclosure`),
and the answers as CSV. Flask-free; the blueprint renders.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from tryggkarta.disclosure import Rule, release_grid
from tryggkarta.domain import SURVEY_REASONS, UNSAFE_MAX_RATING
from tryggkarta.geo import to_wgs84
from tryggkarta.services.projectcheck import safe_cell
from tryggkarta.store.models import SurveyCampaign, SurveyResponse

__all__ = ["CSV_HEADER", "CampaignResults", "answers_csv", "campaign_frame", "campaign_results"]

COLUMNS = (
    "id",
    "answered_at",
    "rating",
    "reasons",
    "time_of_day",
    "weekday",
    "age_band",
    "gender",
    "comment",
    "review_status",
    "repeat_answer",
    "x",
    "y",
)


@dataclass(frozen=True)
class CampaignResults:
    """``per_day``: (local day, pins); ``reasons``: (reason, unsafe pins naming it);
    ``times``: (time of day, pins, unsafe pins); ``cells``: published release cells as dicts
    with ``lat``, ``lon``, ``n`` (rounded count) and ``band`` (unsafe share band or ``None``)."""

    total: int
    unsafe: int
    per_day: list[tuple[Any, int]]
    reasons: list[tuple[str, int]]
    times: list[tuple[str, int, int]]
    cells: list[dict[str, Any]]
    suppressed_cells: int
    repeats: int = 0


def campaign_frame(session: Session, campaign: SurveyCampaign) -> pd.DataFrame:
    """The campaign's stored pins (one row each) with :data:`COLUMNS`."""
    cols = [getattr(SurveyResponse, c) for c in COLUMNS]
    rows = session.execute(
        select(*cols).where(SurveyResponse.campaign_id == campaign.id).order_by(SurveyResponse.id)
    ).all()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def campaign_results(
    session: Session, campaign: SurveyCampaign, rule: Rule, srid: int, tz: ZoneInfo
) -> CampaignResults:
    """The campaign's results; the map cells go through ``rule`` (suppression, rounding, bands)."""
    frame = campaign_frame(session, campaign)
    if frame.empty:
        return CampaignResults(0, 0, [], [], [], [], 0)
    unsafe = frame["rating"].to_numpy(int) <= UNSAFE_MAX_RATING
    when = pd.to_datetime(frame["answered_at"], utc=True).dt.tz_convert(tz).dt.date
    per_day = sorted(when.value_counts().items())
    text = frame["reasons"].fillna("").astype(str)
    reasons = []
    for key in SURVEY_REASONS:  # nine reasons, each one vectorised over all rows
        n = int((text.str.contains(rf"(?:^|,){key}(?:,|$)", regex=True).to_numpy() & unsafe).sum())
        if n:
            reasons.append((key, n))
    reasons.sort(key=lambda kv: -kv[1])
    tod = frame["time_of_day"].fillna("")
    times = [
        (key, int((tod == key).sum()), int(((tod == key).to_numpy() & unsafe).sum()))
        for key in ("dag", "kvall", "natt", "")
        if (tod == key).any()
    ]

    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    grid = release_grid((x.min(), y.min(), x.max(), y.max()))
    col = np.floor((x - grid.x0) / grid.cell_size).astype(np.int64)
    row = np.floor((y - grid.y0) / grid.cell_size).astype(np.int64)
    flat = row * grid.nx + col
    answers = np.bincount(flat, minlength=grid.n_cells)
    unsafe_n = np.bincount(flat[unsafe], minlength=grid.n_cells)
    published = rule.values(answers)
    occupied = np.flatnonzero(answers > 0)
    shown = occupied[published[occupied] > 0]
    cx = grid.x0 + (shown % grid.nx + 0.5) * grid.cell_size
    cy = grid.y0 + (shown // grid.nx + 0.5) * grid.cell_size
    lon, lat = to_wgs84(cx, cy, srid)
    cells = [
        {
            "lat": float(lat[k]),
            "lon": float(lon[k]),
            "n": int(published[idx]),
            "band": rule.band(int(unsafe_n[idx]), int(answers[idx])),
        }
        for k, idx in enumerate(shown.tolist())
    ]
    return CampaignResults(
        total=len(frame),
        unsafe=int(unsafe.sum()),
        per_day=[(d, int(n)) for d, n in per_day],
        reasons=reasons,
        times=times,
        cells=cells,
        suppressed_cells=int(len(occupied) - len(shown)),
        repeats=int(frame["repeat_answer"].fillna(False).astype(bool).sum()),
    )


CSV_HEADER = (
    "id",
    "svarat",
    "betyg",
    "skäl",
    "tid_på_dygnet",
    "vardag_helg",
    "åldersgrupp",
    "kön",
    "kommentar",
    "granskning",
    "upprepat_svar",
    "lat",
    "lon",
)


def answers_csv(frame: pd.DataFrame, srid: int, tz: ZoneInfo) -> str:
    """The pins as CSV for Swedish Excel (``;``, UTF-8 with BOM). Held comments are left out:
    only approved or unflagged comments are in ``comment``."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";")
    writer.writerow(CSV_HEADER)
    if not frame.empty:
        lon, lat = to_wgs84(frame["x"].to_numpy(float), frame["y"].to_numpy(float), srid)
        when = pd.to_datetime(frame["answered_at"], utc=True).dt.tz_convert(tz)
        out = pd.DataFrame(
            {
                "id": frame["id"],
                "svarat": when.dt.strftime("%Y-%m-%d %H:%M"),
                "betyg": frame["rating"],
                "skäl": frame["reasons"],
                "tid": frame["time_of_day"],
                "vardag": frame["weekday"],
                "ålder": frame["age_band"],
                "kön": frame["gender"],
                "kommentar": frame["comment"],
                "granskning": frame["review_status"],
                "upprepat": frame["repeat_answer"].map({True: "ja", False: "nej"}),
                "lat": np.round(lat, 6),
                "lon": np.round(lon, 6),
            }
        )
        out = out.astype(object).where(out.notna(), None)
        writer.writerows([[safe_cell(v) for v in row] for row in out.itertuples(index=False)])
    return "\ufeff" + buf.getvalue()
