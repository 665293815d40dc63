"""Dedup keys are stored: the same row must give the same key in every version of the code."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from tryggkarta.ingest.dedup import dedup_keys
from tryggkarta.ingest.mapping import Mapping
from tryggkarta.ingest.report import ImportReport


def _rows() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "occurred_at": pd.to_datetime(
                ["2025-03-01 10:00", "2025-03-01 10:00", "2025-03-02 23:15", "2025-03-03 08:00"]
            ).tz_localize("UTC"),
            "occurred_to": [None] * 4,
            "category": ["klotter", "klotter", "skadegorelse", "ovrigt"],
            "subcategory": [None] * 4,
            "source_type": ["Klotter", "Klotter", "Skadegörelse", None],
            "description": ["på vägg", "på vägg", "krossad ruta", None],
            "address": [None, None, "Storgatan 1", None],
            "reporter_org": [None] * 4,
            "precision": ["exact"] * 4,
            "municipality_code": ["1495"] * 4,
            "source_id": [None, None, "17", "18"],
        },
        geometry=gpd.points_from_xy(
            [400000.12, 400000.12, 401234.5, 402000], [6470000.5, 6470000.5, 6471000.25, 6472000]
        ),
        crs=3006,
    )


def test_content_keys_are_pinned() -> None:
    """Keys already in stores: a change here would double every re-imported row."""
    gdf = _rows()
    gdf["source_id"] = None
    out = dedup_keys(gdf, "incidents", None, ImportReport(layer="incidents", filename="x"))
    assert out["dedup_key"].tolist() == [
        "h:6c554f29332b2d226c554f29332b2d22:0",
        "h:6c554f29332b2d226c554f29332b2d22:1",  # an identical row: its occurrence number
        "h:9f8d06e77a9a9cf99f8d06e77a9a9cf9:0",
        "h:54d32f061c88b7b254d32f061c88b7b2:0",
    ]


def test_id_keys_and_content_keys_side_by_side() -> None:
    mapping = Mapping(name="est", key="est")
    out = dedup_keys(_rows(), "incidents", mapping, ImportReport(layer="incidents", filename="x"))
    assert out["dedup_key"].tolist() == [
        "h:6c554f29332b2d226c554f29332b2d22:0",
        "h:6c554f29332b2d226c554f29332b2d22:1",
        "est:17",
        "est:18",
    ]
