"""Dedup keys: what makes a re-import add nothing.

* A source with stable ids (Polisen, or a mapping with ``key = "..."``): ``<key>:<id>``.
  The same id twice in one file is one record (the later copies are reported as duplicates);
  overlapping dumps add only new ids.
* Otherwise a 128-bit content hash of the canonical fields and the position, plus the
  occurrence number among identical rows: identical rows in one file stay separate records
  (police.uk "snap points" give many genuinely different crimes the same month, type and
  place), while re-importing an overlapping file adds nothing.
"""

from __future__ import annotations

import binascii
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from tryggkarta.domain import LAYER_FIELDS
from tryggkarta.ingest.mapping import Mapping
from tryggkarta.ingest.report import ImportReport, Note

MAX_KEY = 128
#: Content hashes per sorted run kept by a streamed import (:func:`dedup_keys`).
SEEN_RUN = 1_000_000
_HASH_KEYS = ("tryggkarta-dedup1", "tryggkarta-dedup2")


def content_hashes(gdf: Any, layer: str) -> pd.Series:
    """A hex 128-bit hash per row of the canonical fields and the geometry (cm precision)."""
    h1, h2 = _hash_pairs(gdf, layer)
    return pd.Series(_hex_pairs(h1, h2), index=gdf.index)


def _hash_pairs(gdf: Any, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """The two uint64 halves of :func:`content_hashes` (each row hashed on its own).

    The value of ``pd.util.hash_pandas_object(frame, index=False, hash_key=…)`` over the
    canonical columns (pinned in tests/test_ingest_dedup.py, and checked against pandas
    there): each column hashed with ``pd.util.hash_array``, a column with one value hashed
    once, then combined as pandas combines them (:func:`_combine`).
    """
    parts: list[np.ndarray] = []
    for f in LAYER_FIELDS[layer]:
        if f not in gdf:
            continue
        col = gdf[f]
        if isinstance(col.dtype, pd.DatetimeTZDtype):  # integers hash much faster than text
            parts.append(
                col.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64").to_numpy()
            )
        else:
            parts.append(_as_text(col))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if layer in ("incidents", "survey"):
        parts.append(np.round(shapely.get_x(geoms) * 100).astype(np.int64))
        parts.append(np.round(shapely.get_y(geoms) * 100).astype(np.int64))
    else:
        parts.append(
            np.asarray(shapely.to_wkb(shapely.set_precision(geoms, 0.01), hex=True), dtype=object)
        )
    h1 = _combine([_hash_column(values, _HASH_KEYS[0][:16]) for values in parts], len(gdf))
    # Both keys truncate to "tryggkarta-dedup", so the second half has always equalled the
    # first (the key is 64 bits wide, not 128). Stored keys depend on it: kept as is.
    assert _HASH_KEYS[1][:16] == _HASH_KEYS[0][:16]
    return h1, h1


def _hash_column(values: np.ndarray, key: str) -> np.ndarray:
    """``pd.util.hash_array`` of one column; a column with a single value is hashed once."""
    if len(values) > 1 and values.dtype == object and _single_value(values):
        one = pd.util.hash_array(values[:1], hash_key=key, categorize=False)
        return np.full(len(values), one[0], dtype=np.uint64)
    return pd.util.hash_array(values, hash_key=key, categorize=False)


def _single_value(values: np.ndarray) -> bool:
    try:
        return bool((values == values[0]).all())
    except (TypeError, ValueError):  # pragma: no cover - objects that do not compare
        return False


def _combine(arrays: list[np.ndarray], n: int) -> np.ndarray:
    """Row hashes of several columns combined like a tuple's hash, as pandas combines the
    columns of a DataFrame (``combine_hash_arrays``), written out here so the stored keys do
    not hang on a private pandas function."""
    out = np.full(n, 0x345678, dtype=np.uint64)
    mult = 1000003
    for i, values in enumerate(arrays):
        out ^= values
        out *= np.uint64(mult)
        mult = (mult + 82520 + 2 * (len(arrays) - i)) % 2**64
    out += np.uint64(97531)
    return out


def _as_text(col: pd.Series) -> np.ndarray:
    """A column as an object array of ``str``, missing values as "\\x00"."""
    values = col.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return col.astype("string").fillna("\x00").to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = "\x00"
    return values


def _hex_pairs(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """``"%016x%016x" % (a, b)`` per row, vectorised: big-endian bytes, hexlified in one go."""
    raw = np.empty((len(h1), 2), dtype=">u8")
    raw[:, 0], raw[:, 1] = h1, h2
    text = binascii.hexlify(raw.tobytes())
    return np.frombuffer(text, dtype="S32").astype("U32").astype(object)


def _content_keys(hashes: np.ndarray, nth: np.ndarray) -> pa.Array:
    """``"h:<hash>:<nth>"`` per row, joined by Arrow (and kept there: the store writes Arrow)."""
    return pc.binary_join_element_wise(
        "h", pa.array(hashes, pa.string()), pa.array(nth.astype(np.int64)).cast(pa.string()), ":"
    )


def dedup_keys(
    gdf: Any, layer: str, mapping: Mapping | None, report: ImportReport, state: Any = None
) -> Any:
    """Add ``dedup_key`` to ``gdf``; drop later copies of an id seen earlier in the file.

    With ``state`` (a :class:`~tryggkarta.ingest.normalise.StreamState`), ``gdf`` is one chunk
    of a file: ids and content hashes of the earlier chunks count as "earlier in the file",
    so the keys equal those of the whole file in one piece; the warnings wait for
    ``state.finish``.
    """
    if len(gdf) == 0:
        gdf["dedup_key"] = pd.Series(dtype=object)
        return gdf
    keys = pd.Series(None, index=gdf.index, dtype=object)
    prefix = mapping.key if mapping and mapping.key else None
    has_id = gdf["source_id"].notna() if prefix else pd.Series(False, index=gdf.index)
    if has_id.any():
        keys[has_id] = (prefix + ":" + gdf.loc[has_id, "source_id"].astype("string")).str.slice(
            0, MAX_KEY
        )
        repeated = keys.duplicated(keep="first") & has_id
        if state is not None:
            repeated |= has_id & keys.isin(state.seen_ids)
            state.seen_ids.update(keys[has_id & ~repeated].tolist())
        if repeated.any():
            n = int(repeated.sum())
            report.rows_duplicate += n
            if state is not None:
                state.count("repeated_id", n)
            else:
                report.warn(Note.REPEATED_ID, {"count": n})
            gdf, keys, has_id = gdf.loc[~repeated], keys[~repeated], has_id[~repeated]
    rest = ~has_id
    if rest.any():
        sub = gdf.loc[rest]
        h1, h2 = _hash_pairs(sub, layer)
        hashes = _hex_pairs(h1, h2)
        nth = pd.Series(h1).groupby(h1).cumcount().to_numpy(dtype=np.int64, copy=True)  # h2 == h1
        if state is not None:
            # Identical rows in earlier chunks: their number is added to the occurrence count.
            # h2 equals h1 (see content_hashes), so h1 identifies the hash.
            # Sorted runs of at most SEEN_RUN hashes: a chunk's hashes are inserted into the
            # last run (which exists twice for that moment: 16 MB, not the whole history),
            # and a full run starts the next. 8 bytes a row in all.
            runs = state.seen_hashes if state.seen_hashes is not None else []
            for run in runs:
                left = np.searchsorted(run, h1, side="left")
                found = run[np.minimum(left, len(run) - 1)] == h1
                if found.any():  # rare: a row identical to one in an earlier chunk
                    nth[found] += np.searchsorted(run, h1[found], side="right") - left[found]
            fresh = np.sort(h1)
            if runs and len(runs[-1]) + len(fresh) <= SEEN_RUN:
                last = runs[-1]
                runs[-1] = np.insert(last, np.searchsorted(last, fresh), fresh)
            else:
                runs.append(fresh)
            state.seen_hashes = runs
        content = _content_keys(hashes, nth)
        if rest.all():  # the common case: no ids at all, the keys stay Arrow strings
            keys = pd.Series(pd.arrays.ArrowStringArray(content), index=keys.index)
        else:
            keys[rest] = content.to_numpy(zero_copy_only=False)
        same = int((nth > 0).sum())
        if same and state is not None:
            state.count("identical", same)
        elif same:
            report.warn(Note.IDENTICAL, {"count": same})
    gdf = gdf.copy()
    gdf["dedup_key"] = keys if isinstance(keys.dtype, pd.StringDtype) else keys.astype(object)
    return gdf
