"""A survey campaign's answers as GeoJSON and XLSX (staff), and its published result as
GeoJSON (everyone, once the campaign is closed). Flask-free; the blueprint audits and serves.

What each export holds (DOMAIN.md, "Privacy and law"):

* **Answers** (``/enkater/<id>/svar.geojson``, ``svar.xlsx``; municipality and admin, the
  roles with raw survey detail): one point per pin with its rating, reasons, time of day,
  weekday, the comment only when it was not held or was approved in review (a held comment is
  in ``held_comment``, never exported), and the walking routes as lines. The GeoJSON leaves out
  age band and gender: a point on a map with a person's age and gender is nearer to that
  person than a table row (the XLSX keeps the CSV's columns for counting in Excel).
* **Result** (``/enkat/<slug>/resultat.geojson``): the published 250 m cells only (rounded
  counts, unsafe share bands), the same release as the public result page.
"""

from __future__ import annotations

import io
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from tryggkarta.disclosure import band_text
from tryggkarta.geojson import geo_dict
from tryggkarta.services.projectcheck import safe_cell
from tryggkarta.services.survey_results import CSV_HEADER
from tryggkarta.store.models import SurveyCampaign, SurveyResponse

__all__ = ["GEOJSON_COLUMNS", "answers_geojson", "answers_xlsx", "result_geojson", "routes"]

#: Properties of a pin in the answers GeoJSON (no age band, no gender, no held comment).
GEOJSON_COLUMNS = (
    "kind",
    "id",
    "answered_at",
    "rating",
    "reasons",
    "time_of_day",
    "weekday",
    "comment",
    "review_status",
    "repeat_answer",
)


def routes(session: Session, campaign: SurveyCampaign) -> gpd.GeoDataFrame:
    """The walking routes of a campaign's answers (lines in the working CRS, ``id`` = the
    answer's first pin)."""
    rows = session.execute(
        select(SurveyResponse.id, SurveyResponse.answered_at, SurveyResponse.route_wkb)
        .where(SurveyResponse.campaign_id == campaign.id, SurveyResponse.route_wkb.is_not(None))
        .order_by(SurveyResponse.id)
    ).all()
    geoms = shapely.from_wkb(np.array([r[2] for r in rows], dtype=object)) if rows else []
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "answered_at": [r[1] for r in rows]}, geometry=geoms
    )


def answers_geojson(
    frame: pd.DataFrame, route_frame: gpd.GeoDataFrame, srid: int
) -> dict[str, Any]:
    """Pins (``kind = "pin"``) and walking routes (``kind = "route"``) as one RFC 7946
    FeatureCollection; ``frame`` from :func:`~tryggkarta.services.survey_results.campaign_frame`."""
    pins = gpd.GeoDataFrame(
        frame.drop(columns=["x", "y", "age_band", "gender"]).assign(kind="pin"),
        geometry=gpd.points_from_xy(frame["x"].to_numpy(float), frame["y"].to_numpy(float)),
        crs=srid,
    )
    lines = route_frame.set_crs(srid, allow_override=True).assign(kind="route")
    both = pd.concat([pins, lines], ignore_index=True) if len(lines) else pins
    both = gpd.GeoDataFrame(both, geometry="geometry", crs=srid)
    for col in GEOJSON_COLUMNS:
        if col not in both.columns:
            both[col] = None
    return geo_dict(both, list(GEOJSON_COLUMNS))


def _number(text: str) -> int | float | str:
    plain = text.lstrip("'")
    try:
        return float(plain) if "." in plain else int(plain)
    except ValueError:
        return safe_cell(text)


def answers_xlsx(csv_text: str) -> bytes:
    """The answers CSV (:func:`~tryggkarta.services.survey_results.answers_csv`) as an XLSX
    workbook with one sheet: the same columns, numbers as numbers, text formula-safe."""
    from openpyxl import Workbook

    frame = pd.read_csv(
        io.StringIO(csv_text.lstrip("\ufeff")), sep=";", dtype=str, keep_default_na=False
    )
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Svar")
    ws.append(list(CSV_HEADER))
    numeric = {"id", "betyg", "lat", "lon"}
    for row in frame.itertuples(index=False):
        values = []
        for name, text in zip(CSV_HEADER, row, strict=True):
            if text == "":
                values.append(None)
            elif name in numeric:
                values.append(_number(text))
            else:  # the CSV already escaped a leading = + - @ (an apostrophe first)
                values.append(text if text.startswith("'") else safe_cell(text))
        ws.append(values)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def result_geojson(cells: list[dict[str, Any]], srid: int, lang: str = "sv") -> dict[str, Any]:
    """The published cells (:func:`~tryggkarta.services.survey_results.released_cells`) as
    250 m squares with ``answers`` (rounded) and ``unsafe_share`` (a band as text)."""
    if not cells:
        return {"type": "FeatureCollection", "features": []}
    x0 = np.array([c["x"] for c in cells])
    y0 = np.array([c["y"] for c in cells])
    size = np.array([c["size"] for c in cells])
    frame = gpd.GeoDataFrame(
        {
            "answers": [c["n"] for c in cells],
            "unsafe_share": [band_text(c["band"], lang) for c in cells],
        },
        geometry=shapely.box(x0, y0, x0 + size, y0 + size),
        crs=srid,
    )
    return geo_dict(frame, ["answers", "unsafe_share"])
