"""GeoPackage output of an export: chunks appended to one layer with pyogrio (WGS84)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from tryggkarta.services import ogc_core
from tryggkarta.store import ExportSchedule


def chunk_frame(rows: Any, schedule: ExportSchedule, srid: int) -> Any:
    """A chunk as a WGS84 GeoDataFrame for the GeoPackage (lists and dicts as JSON text)."""
    import geopandas as gpd

    if isinstance(rows, list):  # aggregated collection: feature dicts
        frame = gpd.GeoDataFrame.from_features(rows, crs=4326)
        for col in frame.columns:
            if col != "geometry" and frame[col].map(lambda v: isinstance(v, (list, dict))).any():
                frame[col] = frame[col].map(
                    lambda v: (
                        json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
                    )
                )
        return frame
    # raw rows from the store: times are already datetime64[UTC] columns
    cols = list(ogc_core.RAW_COLLECTIONS[schedule.layer].columns)
    return gpd.GeoDataFrame(
        rows[cols],
        geometry=gpd.points_from_xy(rows["x"], rows["y"]),
        crs=f"EPSG:{srid}",
    ).to_crs(4326)


def write_chunk(path: Path, frame: Any, schedule: ExportSchedule, *, append: bool) -> None:
    """Write ``frame`` to the layer of the GeoPackage at ``path`` (created unless ``append``)."""
    import pyogrio

    pyogrio.write_dataframe(frame, path, layer=schedule.layer, driver="GPKG", append=append)


def empty_frame(schedule: ExportSchedule) -> Any:
    import geopandas as gpd

    spec = ogc_core.RAW_COLLECTIONS.get(schedule.layer)
    cols = list(spec.columns) if spec else ["count"]
    return gpd.GeoDataFrame({c: pd.Series([], dtype=object) for c in cols}, geometry=[], crs=4326)
