"""Results of one survey campaign: answers over time, reasons, times of day, the insecurity map
on the release grid (minimum-count rule and share bands from :mod:`tryggkarta.disclosure`),
reasons and times of day by district, the comparison with the previous campaign in the same
area, and the answers as CSV. Flask-free; the blueprint renders.

Everything in :class:`Breakdown` and :func:`comparison` is a published value: a count through
``rule.values`` (suppressed below ``k``, zero included, rounded to the base) or a share band
through ``rule.bands``; changes are differences of published values. The public result page
of a closed campaign shows nothing else.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from tryggkarta.disclosure import RELEASE_CELL, Rule, occupied
from tryggkarta.domain import SURVEY_REASONS, UNSAFE_MAX_RATING
from tryggkarta.geo import to_wgs84
from tryggkarta.services.projectcheck import safe_cell
from tryggkarta.store.models import Area, SurveyCampaign, SurveyResponse

__all__ = [
    "CSV_HEADER",
    "TIME_KEYS",
    "Breakdown",
    "CampaignResults",
    "answers_csv",
    "breakdown",
    "campaign_frame",
    "campaign_results",
    "comparison",
    "previous_campaign",
    "released_cells",
]

TIME_KEYS = ("dag", "kvall", "natt")

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

    cells, suppressed = released_cells(frame, rule, srid)
    return CampaignResults(
        total=len(frame),
        unsafe=int(unsafe.sum()),
        per_day=[(d, int(n)) for d, n in per_day],
        reasons=reasons,
        times=times,
        cells=cells,
        suppressed_cells=suppressed,
        repeats=int(frame["repeat_answer"].fillna(False).astype(bool).sum()),
    )


def released_cells(frame: pd.DataFrame, rule: Rule, srid: int) -> tuple[list[dict[str, Any]], int]:
    """The pins of ``frame`` on the 250 m release grid: the published cells (``lat``/``lon``
    of the centre, ``x``/``y`` of the lower-left corner in the working CRS, ``n`` the published
    count, ``band`` the unsafe share band or ``None``) and how many occupied cells were
    suppressed."""
    if frame.empty:
        return [], 0
    unsafe = frame["rating"].to_numpy(int) <= UNSAFE_MAX_RATING
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    size = RELEASE_CELL
    cx, cy, at = occupied(np.floor(x / size), np.floor(y / size))  # occupied cells only
    answers = np.bincount(at, minlength=len(cx))
    unsafe_n = np.bincount(at[unsafe], minlength=len(cx))
    published = rule.values(answers)
    shown = np.flatnonzero(published > 0)
    x0, y0 = cx[shown] * size, cy[shown] * size
    lon, lat = to_wgs84(x0 + size / 2, y0 + size / 2, srid)
    low, high = rule.bands(unsafe_n[shown], answers[shown])
    cells = [
        {
            "lat": float(lat[k]),
            "lon": float(lon[k]),
            "x": float(x0[k]),
            "y": float(y0[k]),
            "size": float(size),
            "n": int(published[idx]),
            "band": None if np.isnan(low[k]) else (float(low[k]), float(high[k])),
        }
        for k, idx in enumerate(shown.tolist())
    ]
    return cells, int(len(cx) - len(shown))


# --- by district, by time of day, against the previous campaign ----------------------------


@dataclass(frozen=True)
class DistrictRow:
    """One district's published values: ``n`` pins, ``band`` of unsafe pins, ``reasons`` and
    ``times`` (unsafe pins naming each reason / each time of day); ``None`` = suppressed."""

    area_id: int
    name: str
    n: int | None
    band: tuple[float, float] | None
    reasons: dict[str, int | None]
    times: dict[str, int | None]


@dataclass(frozen=True)
class Breakdown:
    """A campaign's published values: totals, reasons and times of day (unsafe pins), and
    the same per district of the campaign area (``districts``)."""

    total: int | None
    unsafe: int | None
    band: tuple[float, float] | None
    reasons: dict[str, int | None]
    times: dict[str, tuple[int | None, int | None, tuple[float, float] | None]]
    districts: list[DistrictRow]


def _published(values: np.ndarray, rule: Rule) -> np.ndarray:
    """``rule.values`` with ``None`` where suppressed, as an object array."""
    out = rule.values(values).astype(object)
    out[out < 0] = None
    return out


def _band(low: float, high: float) -> tuple[float, float] | None:
    return None if np.isnan(low) else (float(low), float(high))


def campaign_districts(
    session: Session, campaign: SurveyCampaign, srid: int
) -> tuple[list[int], list[str], np.ndarray]:
    """The districts that overlap the campaign area (ids, names, geometries in the working
    CRS), by name; the campaign's own districts when it has ``area_ids``."""
    from tryggkarta.services.survey import area_polygon

    polygon = area_polygon(session, campaign, srid)
    minx, miny, maxx, maxy = polygon.bounds
    stmt = select(Area.id, Area.name, Area.geom_wkb).where(Area.kind == "district")
    if campaign.area_ids and not campaign.area_wkb:
        stmt = stmt.where(Area.id.in_(campaign.area_ids))
    else:
        stmt = stmt.where(
            Area.maxx >= minx, Area.minx <= maxx, Area.maxy >= miny, Area.miny <= maxy
        )
    rows = session.execute(stmt.order_by(Area.name, Area.id)).all()
    if not rows:
        return [], [], np.empty(0, dtype=object)
    geoms = shapely.from_wkb(np.array([r[2] for r in rows], dtype=object))
    keep = shapely.intersects(geoms, polygon) & (
        shapely.area(shapely.intersection(geoms, polygon)) > 0
    )
    return (
        [int(r[0]) for r, k in zip(rows, keep, strict=True) if k],
        [str(r[1]) for r, k in zip(rows, keep, strict=True) if k],
        geoms[keep],
    )


def breakdown(session: Session, campaign: SurveyCampaign, rule: Rule, srid: int) -> Breakdown:
    """Reasons and times of day, in total and by district, as published values (``rule``)."""
    frame = campaign_frame(session, campaign)
    ids, names, geoms = campaign_districts(session, campaign, srid)
    n = len(frame)
    unsafe = frame["rating"].to_numpy(int) <= UNSAFE_MAX_RATING if n else np.zeros(0, dtype=bool)
    text = frame["reasons"].fillna("").astype(str) if n else pd.Series([], dtype=str)
    keys = list(SURVEY_REASONS)
    named = np.zeros((n, len(keys)), dtype=np.int64)  # pins x reasons, unsafe pins only
    for j, key in enumerate(keys):  # nine reasons, each vectorised over all pins
        named[:, j] = text.str.contains(rf"(?:^|,){key}(?:,|$)", regex=True).to_numpy() & unsafe
    tod = frame["time_of_day"].fillna("").to_numpy(str) if n else np.zeros(0, dtype=str)
    at = (
        np.column_stack([tod == k for k in TIME_KEYS]).astype(np.int64)
        if n
        else np.zeros((0, len(TIME_KEYS)), dtype=np.int64)
    )
    at_unsafe = at * unsafe[:, None]

    total_reasons = _published(named.sum(axis=0), rule)
    t_all, t_unsafe = at.sum(axis=0), at_unsafe.sum(axis=0)
    t_low, t_high = rule.bands(t_unsafe, t_all)
    times = {
        k: (_published(t_all, rule)[j], _published(t_unsafe, rule)[j], _band(t_low[j], t_high[j]))
        for j, k in enumerate(TIME_KEYS)
    }
    low, high = rule.bands(np.array([unsafe.sum()]), np.array([n]))

    districts: list[DistrictRow] = []
    if ids and n:
        points = shapely.points(frame["x"].to_numpy(float), frame["y"].to_numpy(float))
        pin, dist = shapely.STRtree(geoms).query(points, predicate="within")
        d = len(ids)
        count = np.bincount(dist, minlength=d)
        unsafe_d = np.bincount(dist, weights=unsafe[pin], minlength=d).astype(np.int64)
        reasons_d = np.zeros((d, len(keys)), dtype=np.int64)
        np.add.at(reasons_d, dist, named[pin])
        times_d = np.zeros((d, len(TIME_KEYS)), dtype=np.int64)
        np.add.at(times_d, dist, at_unsafe[pin])
        pub_n, pub_r, pub_t = (
            _published(count, rule),
            _published(reasons_d, rule),
            _published(times_d, rule),
        )
        d_low, d_high = rule.bands(unsafe_d, count)
        districts = [
            DistrictRow(
                area_id=ids[i],
                name=names[i],
                n=pub_n[i],
                band=_band(d_low[i], d_high[i]),
                reasons={k: pub_r[i, j] for j, k in enumerate(keys)},
                times={k: pub_t[i, j] for j, k in enumerate(TIME_KEYS)},
            )
            for i in range(d)
        ]
    elif ids:
        districts = [
            DistrictRow(i, name, rule.value(0), None, dict.fromkeys(keys), dict.fromkeys(TIME_KEYS))
            for i, name in zip(ids, names, strict=True)
        ]
    return Breakdown(
        total=rule.value(n),
        unsafe=rule.value(int(unsafe.sum())),
        band=_band(low[0], high[0]),
        reasons={k: total_reasons[j] for j, k in enumerate(keys)},
        times=times,
        districts=districts,
    )


def previous_campaign(
    session: Session, campaign: SurveyCampaign, srid: int
) -> SurveyCampaign | None:
    """The latest form campaign in the same municipality whose area overlaps this one's and
    that ended before this one started (or, without dates, was created before it)."""
    from tryggkarta.services.survey import area_polygon

    stmt = select(SurveyCampaign).where(
        SurveyCampaign.slug.is_not(None),
        SurveyCampaign.id != campaign.id,
        SurveyCampaign.dataset_id.is_not(None),
    )
    if campaign.municipality_code:
        stmt = stmt.where(SurveyCampaign.municipality_code == campaign.municipality_code)
    if campaign.starts_on is not None:
        stmt = stmt.where(SurveyCampaign.ends_on < campaign.starts_on)
    else:
        stmt = stmt.where(SurveyCampaign.id < campaign.id)
    here = area_polygon(session, campaign, srid)
    for earlier in session.scalars(
        stmt.order_by(SurveyCampaign.ends_on.desc(), SurveyCampaign.id.desc()).limit(50)
    ):
        there = area_polygon(session, earlier, srid)
        if there is not None and shapely.intersection(here, there).area > 0:
            return earlier
    return None


def comparison(now: Breakdown, before: Breakdown) -> list[dict[str, Any]]:
    """Per district of either campaign: the published pins now and before, the change (a
    difference of published values; ``None`` where either is suppressed) and both unsafe
    bands. Districts are matched by id."""
    earlier = {r.area_id: r for r in before.districts}
    rows = []
    seen = set()
    for r in [*now.districts, *before.districts]:
        if r.area_id in seen:
            continue
        seen.add(r.area_id)
        a = next((x for x in now.districts if x.area_id == r.area_id), None)
        b = earlier.get(r.area_id)
        n_now = a.n if a else None
        n_before = b.n if b else None
        rows.append(
            {
                "name": r.name,
                "now": n_now,
                "before": n_before,
                "change": None if n_now is None or n_before is None else n_now - n_before,
                "band_now": a.band if a else None,
                "band_before": b.band if b else None,
            }
        )
    return sorted(rows, key=lambda row: row["name"])


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
