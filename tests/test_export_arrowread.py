"""Streamed exports read point layers column-wise (COPY on PostgreSQL, Arrow arrays per batch
of sqlite3 rows on SQLite):
the same frames and feature texts as the row path, NULLs where they were, and a stream left
half read ends its COPY. Both engines (issue #16.5: 1M features in ≤ 30 s)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from bulk_rows import incident_frame, insert_incidents
from sqlalchemy import text

from tryggkarta.geojson import feature_texts
from tryggkarta.services import ogc_core
from tryggkarta.store import Dataset, arrowread, insert_layer, paging

COLUMNS = list(ogc_core.RAW_COLLECTIONS["incidents"].columns)


def _awkward(n: int):  # noqa: ANN202 - GeoDataFrame
    """Incidents whose first rows hold NULLs in every nullable column (a reader that infers
    types from the first values would fail), texts that need every JSON escape and a rare control character,
    empty strings next to NULLs, times with and without fractions of a second."""
    frame = incident_frame(n, seed=5)
    address = np.array([None, "", "Storgatan 1", 'Sa "hej"\r\n\\'], dtype=object)
    frame["address"] = address[np.arange(n) % 4]
    frame.loc[frame.index[:1500], "address"] = None
    frame["subcategory"] = None
    frame.loc[frame.index[-3:], "subcategory"] = ["klock\x07a", "", "tvåtusen"]
    frame["reporter_org"] = np.where(np.arange(n) % 3 == 0, "Polisen", None)
    frame.loc[frame.index[::7], "occurred_at"] += pd.Timedelta(microseconds=250_001)
    return frame


def _store(db, frame) -> None:  # noqa: ANN001
    with db.session() as s:
        ds = Dataset(layer="incidents", name="arrow", checksum="arrow")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", frame, ds.id)


def _read(db, monkeypatch: pytest.MonkeyPatch, *, column_wise: bool):  # noqa: ANN001, ANN202
    if not column_wise:
        monkeypatch.setattr(arrowread, "supported", lambda _db, _layer: False)
    filters = ogc_core.region_filters(db)
    with paging.chunks(db, "incidents", filters, COLUMNS, chunk_rows=1000) as (matched, frames):
        got = list(frames)
    monkeypatch.undo()
    return matched, got


def test_column_wise_reads_give_the_row_paths_frames_and_texts(db, monkeypatch) -> None:
    n = 4000
    _store(db, _awkward(n))
    assert arrowread.supported(db, "incidents")
    matched_rows, by_rows = _read(db, monkeypatch, column_wise=False)
    matched_cols, by_cols = _read(db, monkeypatch, column_wise=True)
    assert matched_rows == matched_cols == n
    assert [len(f) for f in by_cols] == [1000] * 4  # chunks of chunk_rows
    rows = pd.concat(by_rows, ignore_index=True)
    cols = pd.concat(by_cols, ignore_index=True)
    assert list(cols.columns) == list(rows.columns)
    assert cols["occurred_at"].equals(rows["occurred_at"])
    for name in ("address", "subcategory", "reporter_org", "description"):
        assert cols[name].isna().tolist() == rows[name].isna().tolist(), name
        assert cols[name].dropna().tolist() == rows[name].dropna().tolist(), name
    assert cols["address"].isna().sum() == 1500 + (n - 1500) // 4  # NULLs stay NULL
    assert (cols["address"] == "").sum() == (n - 1500) // 4  # empty strings stay empty
    ours = feature_texts(cols, COLUMNS, db.srid, id_column="id")
    theirs = feature_texts(rows, COLUMNS, db.srid, id_column="id")
    assert ours.equals(theirs)
    features = [json.loads(t) for t in ours.to_pylist()]  # valid JSON, every escape
    addresses = [f["properties"]["address"] for f in features]
    assert addresses.count('Sa "hej"\r\n\\') == (n - 1500) // 4
    assert addresses.count(None) == 1500 + (n - 1500) // 4
    assert any(".250001" not in f["properties"]["occurred_at"] for f in features)


def test_a_stream_left_half_read_ends_its_read(db) -> None:
    _store(db, _awkward(5000))
    filters = ogc_core.region_filters(db)
    with pytest.raises(RuntimeError, match="disk full"):
        with paging.chunks(db, "incidents", filters, COLUMNS, chunk_rows=100) as (_n, frames):
            for _frame in frames:
                raise RuntimeError("disk full")
    if db.is_postgis:  # no COPY left waiting for its client (it would block DROP DATABASE)
        with db.engine.connect() as conn:
            running = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'COPY (SELECT%' AND state <> 'idle'"
                )
            ).scalar_one()
        assert running == 0
    with paging.chunks(db, "incidents", filters, COLUMNS, chunk_rows=2000) as (n, frames):
        assert n >= 4000 and sum(len(f) for f in frames) == n  # the store reads on
    insert_incidents(db, 100, seed=9)  # a later read sees rows committed since
    with paging.chunks(db, "incidents", filters, COLUMNS, chunk_rows=2000) as (m, frames):
        assert m == n + 100 and sum(len(f) for f in frames) == m


def test_json_escapes_are_found_in_the_bytes() -> None:
    from tryggkarta.geojson import _quoted

    values = ["vanlig", None, 'a "b"', "c\\d", "rad\nrad", "\ttab", "", "ctl\x01"]
    got = _quoted(pa.array(values, pa.string())).to_pylist()
    assert got == [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    sliced = pa.array(["x\x02", "plain", 'q"'], pa.string()).slice(1, 2)
    assert _quoted(sliced).to_pylist() == ['"plain"', '"q\\""']
