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

from tryggkarta.ingest import files
from tryggkarta.ingest.files import (
    bad,
    check_table_size,
    decode_text,
    load_json,
    read_bytes,
    split_suffix,
)
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


def _scalar(value: object) -> object:
    """A JSON value as a cell: scalars as they are, lists and objects as JSON text."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


def polisen_frame(records: list[dict]) -> pd.DataFrame:
    """Polisen API events as the history CSV's columns (all text).

    Only the first events decide that a file is the Polisen feed: a later event of another
    shape (no location object, gps not text) gives empty cells, which the row checks reject.
    """
    loc = [r.get("location") if isinstance(r.get("location"), dict) else {} for r in records]
    gps_text = [lc.get("gps") if isinstance(lc.get("gps"), str) else None for lc in loc]
    gps = pd.Series(gps_text, dtype="string").str.split(",", n=1, expand=True)
    if gps.shape[1] < 2:
        gps = pd.DataFrame(
            {0: pd.Series([None] * len(records)), 1: pd.Series([None] * len(records))}
        )
    return pd.DataFrame(
        {
            "id": [_scalar(r.get("id")) for r in records],
            "datetime": [_scalar(r.get("datetime")) for r in records],
            "type": [_scalar(r.get("type")) for r in records],
            "name": [_scalar(r.get("name")) for r in records],
            "summary": [_scalar(r.get("summary")) for r in records],
            "url": [_scalar(r.get("url")) for r in records],
            "location_name": [_scalar(lc.get("name")) for lc in loc],
            "lat": gps[0].to_numpy(dtype=object),
            "lon": gps[1].to_numpy(dtype=object),
        }
    ).astype("string")


def read(path: Path, options: ReadOptions) -> RawTable:
    """Read GeoJSON (via pyogrio), a Polisen events array or an array of flat records."""
    name = options.filename or path.name
    _suffix, gz = split_suffix(name)
    data = read_bytes(path, gz, name=name)
    if len(data) > files.MAX_JSON_BYTES:
        load_json(data, name)  # refuses with the size in the message
    text, encoding = decode_text(data, name, options.encoding or None)
    del data
    doc = load_json(text, name)
    if isinstance(doc, dict) and doc.get("type") in GEOJSON_TYPES:
        from tryggkarta.ingest import vector

        features = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
        if not isinstance(features, list):
            raise bad(f"The GeoJSON file {name} has no list of features.", "bad_json")
        first = features[0] if features and isinstance(features[0], dict) else {}
        props = first.get("properties")
        check_table_size(name, len(features), len(props) if isinstance(props, dict) else None)
        del doc
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
    check_table_size(name, len(doc), len(doc[0]) if isinstance(doc[0], dict) else None)
    if not all(isinstance(r, dict) for r in doc):
        raise bad(f"The file {name} is a JSON array, but not every item is an object.", "bad_json")
    if is_polisen(doc):
        return RawTable(
            frame=polisen_frame(doc), format="polisen-json", encoding=encoding, preset="polisen"
        )
    frame = pd.json_normalize(doc, sep="_", max_level=8)
    check_table_size(name, len(frame), frame.shape[1])
    frame = frame.map(_scalar)
    frame = frame.astype("string").replace("", pd.NA)
    return RawTable(
        frame=frame, format="json", encoding=encoding, row_numbers=np.arange(1, len(frame) + 1)
    )
