"""Raw collections (one feature per stored record) for OGC API items and exports, without Flask.

A raw collection is a store layer with fixed columns. Its items are paged in SQL by key
(``WHERE id > last ORDER BY id LIMIT``, :func:`tryggkarta.store.paging.keyset_page`) and
counted only up to a cap, a single item is a primary-key lookup, and a whole collection
is streamed in chunks (:func:`stream`) — nothing here builds the whole collection in memory.
Features are written as text by :mod:`tryggkarta.geojson` (RFC 7946, 7 decimals).

Who may read them is decided by the caller (policy); every read is audit-logged by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from tryggkarta import policy
from tryggkarta.errors import BadInput
from tryggkarta.geo import parse_region
from tryggkarta.geojson import feature_texts, features_text
from tryggkarta.services import municipalities
from tryggkarta.store import Database, Filters, paging


@dataclass(frozen=True)
class RawCollection:
    layer: str  # the store layer
    columns: tuple[str, ...]  # the feature properties, in order


RAW_COLLECTIONS: dict[str, RawCollection] = {
    "incidents": RawCollection("incidents", policy.RAW_COLUMNS["incidents"]),
    "survey_responses": RawCollection("survey", policy.RAW_COLUMNS["survey"]),
}


def _spec(collection: str) -> RawCollection:
    try:
        return RAW_COLLECTIONS[collection]
    except KeyError:
        raise BadInput(
            f"{collection!r} is not a raw collection; choose one of {', '.join(RAW_COLLECTIONS)}."
        ) from None


def region_filters(
    db: Database,
    bbox: tuple[float, float, float, float] | None = None,
    scope: tuple[str, ...] | None = None,
) -> Filters:
    """The installation's region (its municipalities), the reader's ``scope`` (the
    municipalities whose records they may read; None = all) and an optional bbox (working
    CRS)."""
    where = municipalities.scope_filters(parse_region(db.settings.region), scope)
    return where.replace(bbox=bbox)


@dataclass(frozen=True)
class ItemsPage:
    """One page of a raw collection."""

    features: str  # a JSON array of GeoJSON Features
    matched: int | None  # None: more than paging.COUNT_CAP, not counted
    returned: int
    more: bool  # rows follow this page
    last_id: int | None  # the key the next page starts after


def items(
    db: Database,
    collection: str,
    filters: Filters,
    limit: int,
    offset: int = 0,
    after: int | None = None,
) -> ItemsPage:
    """One page of a raw collection in id order: the rows with ``id > after`` (when given)
    after skipping ``offset``, paged and counted (up to a cap) in SQL."""
    spec = _spec(collection)
    cols = list(spec.columns)
    page = paging.keyset_page(
        db, spec.layer, filters, cols, limit=limit, after=after, offset=offset, as_table=True
    )
    text = features_text(page.frame, cols, db.srid, id_column="id")
    return ItemsPage(text, page.matched, len(page.frame), page.more, page.last_id)


def item(
    db: Database, collection: str, ident: str | int, scope: tuple[str, ...] | None = None
) -> str | None:
    """One feature of a raw collection as JSON text, by its id (primary key); None if absent.

    Records outside the installation's region or the reader's ``scope`` are absent, as they
    are from :func:`items`.
    """
    spec = _spec(collection)
    try:
        key = int(str(ident))
    except ValueError:
        return None
    if not -(2**63) <= key < 2**63:
        return None
    cols = list(spec.columns)
    frame = paging.by_id(db, spec.layer, key, [*cols, "municipality_code"])
    region = region_filters(db, scope=scope)
    if region.municipality_code is not None:
        frame = frame[frame["municipality_code"] == region.municipality_code]
    if region.municipality_codes is not None:
        frame = frame[frame["municipality_code"].isin(region.municipality_codes)]
    if frame.empty:
        return None
    return feature_texts(frame, cols, db.srid, id_column="id")[0].as_py()


@contextmanager
def stream(
    db: Database, collection: str, filters: Filters, *, chunk_rows: int = 20_000
) -> Iterator[tuple[int, Iterator[tuple[pd.DataFrame, pa.Array]]]]:
    """A whole raw collection: ``(number matched, iterator of (rows, feature texts))``, from
    one database snapshot, in id order, ``chunk_rows`` features at a time.

    The rows are a DataFrame with the collection's columns and ``x``/``y`` (working CRS); the
    texts an Arrow array with one GeoJSON Feature per row.
    """
    spec = _spec(collection)
    cols = list(spec.columns)
    with paging.chunks(db, spec.layer, filters, cols, chunk_rows=chunk_rows) as (matched, frames):

        def pairs() -> Iterator[tuple[pd.DataFrame, pa.Array]]:
            for frame in frames:
                if len(frame):
                    yield frame, feature_texts(frame, cols, db.srid, id_column="id")

        yield matched, pairs()
