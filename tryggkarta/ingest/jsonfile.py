"""JSON inputs: GeoJSON, the Polisen events feed, and plain record arrays (Socrata/SODA).

The Polisen feed (``https://polisen.se/api/events``) is a JSON array of events with
``location.gps = "lat,lon"``; it becomes the same columns as the Polisen history CSV
(id, datetime, type, name, summary, url, location_name, lat, lon) and asks for the
``polisen`` preset mapping.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tryggkarta.ingest.files import bad, decode_text, read_bytes, split_suffix
from tryggkarta.ingest.registry import RawTable, ReadOptions

GEOJSON_TYPES = {"FeatureCollection", "Feature"}


def is_polisen(records: list) -> bool:
    sample = records[:20]
    return bool(sample) and all(
        isinstance(r, dict)
        and {"id", "datetime", "type", "location"} <= r.keys()
        and isinstance(r["location"], dict)
        and "gps" in r["location"]
        for r in sample
    )


def polisen_frame(records: list[dict]) -> pd.DataFrame:
    """Polisen API events as the history CSV's columns (all text)."""
    loc = [r.get("location") or {} for r in records]
    gps = pd.Series([lc.get("gps") for lc in loc], dtype="string").str.split(",", n=1, expand=True)
    if gps.shape[1] < 2:
        gps = pd.DataFrame(
            {0: pd.Series([None] * len(records)), 1: pd.Series([None] * len(records))}
        )
    return pd.DataFrame(
        {
            "id": [r.get("id") for r in records],
            "datetime": [r.get("datetime") for r in records],
            "type": [r.get("type") for r in records],
            "name": [r.get("name") for r in records],
            "summary": [r.get("summary") for r in records],
            "url": [r.get("url") for r in records],
            "location_name": [lc.get("name") for lc in loc],
            "lat": gps[0].to_numpy(dtype=object),
            "lon": gps[1].to_numpy(dtype=object),
        }
    ).astype("string")


def read(path: Path, options: ReadOptions) -> RawTable:
    """Read GeoJSON (via pyogrio), a Polisen events array or an array of flat records."""
    name = options.filename or path.name
    _suffix, gz = split_suffix(name)
    data = read_bytes(path, gz)
    text, encoding = decode_text(data, name, options.encoding or None)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(
            f"The file {name} is not valid JSON (line {exc.lineno}: {exc.msg}).", "bad_json"
        ) from None
    if isinstance(doc, dict) and doc.get("type") in GEOJSON_TYPES:
        from tryggkarta.ingest import vector

        return vector.read_geojson_text(text, name, options)
    if isinstance(doc, dict):
        # Some APIs wrap the array: {"events": [...]} / {"data": [...]}.
        arrays = [v for v in doc.values() if isinstance(v, list)]
        doc = arrays[0] if len(arrays) == 1 else doc
    if not isinstance(doc, list):
        raise bad(
            f"The file {name} is JSON but neither GeoJSON nor an array of records.", "bad_json"
        )
    if not doc:
        raise bad(f"The file {name} has no data rows.", "no_rows")
    if is_polisen(doc):
        return RawTable(
            frame=polisen_frame(doc), format="polisen-json", encoding=encoding, preset="polisen"
        )
    records = [r for r in doc if isinstance(r, dict)]
    if len(records) != len(doc):
        raise bad(f"The file {name} is a JSON array, but not every item is an object.", "bad_json")
    frame = pd.json_normalize(records, sep="_")
    frame = frame.map(lambda v: json.dumps(v) if isinstance(v, list | dict) else v)
    frame = frame.astype("string").replace("", pd.NA)
    return RawTable(
        frame=frame, format="json", encoding=encoding, row_numbers=np.arange(1, len(frame) + 1)
    )
