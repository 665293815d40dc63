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


def test_hashes_equal_pandas_frame_hash_on_varied_columns() -> None:
    """The column-wise hash (single-valued columns hashed once) equals pandas' DataFrame hash,
    the definition the stored keys were made with, on a point and a polygon layer."""
    import numpy as np
    import shapely

    from tryggkarta.domain import LAYER_FIELDS
    from tryggkarta.ingest.dedup import _HASH_KEYS, _hash_pairs

    rng = np.random.default_rng(7)
    n = 500
    gdf = _rows().iloc[[0] * n].reset_index(drop=True)
    gdf["description"] = [f"text {i} – åäö" if i % 7 else None for i in rng.integers(0, 50, n)]
    gdf["category"] = rng.choice(["klotter", "brand"], n)
    gdf["occurred_at"] = gdf["occurred_at"] + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")
    gdf = gdf.set_geometry(
        gpd.points_from_xy(rng.uniform(4e5, 5e5, n), rng.uniform(6.4e6, 6.5e6, n))
    )

    def reference(frame: gpd.GeoDataFrame, layer: str) -> np.ndarray:
        parts = {}
        for f in LAYER_FIELDS[layer]:
            if f in frame:
                col = frame[f]
                if isinstance(col.dtype, pd.DatetimeTZDtype):
                    parts[f] = (
                        col.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64")
                    )
                else:
                    parts[f] = col.astype("string").fillna("\x00")
        geoms = np.asarray(frame.geometry.values, dtype=object)
        if layer == "incidents":
            parts["_x"] = np.round(shapely.get_x(geoms) * 100).astype(np.int64)
            parts["_y"] = np.round(shapely.get_y(geoms) * 100).astype(np.int64)
        else:
            parts["_g"] = shapely.to_wkb(shapely.set_precision(geoms, 0.01), hex=True)
        return pd.util.hash_pandas_object(
            pd.DataFrame(parts), index=False, hash_key=_HASH_KEYS[0][:16]
        ).to_numpy()

    assert (_hash_pairs(gdf, "incidents")[0] == reference(gdf, "incidents")).all()
    areas = gpd.GeoDataFrame(
        {
            "name": [f"Område {i}" for i in range(20)],
            "code": [None] * 20,
            "kind": ["district"] * 20,
        },
        geometry=[shapely.box(i, 0, i + 1.5, 2) for i in range(20)],
        crs=3006,
    )
    assert (_hash_pairs(areas, "areas")[0] == reference(areas, "areas")).all()
