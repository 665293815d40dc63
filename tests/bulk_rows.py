"""Many stored incidents for paging and export tests, written by the store's bulk writer."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from tryggkarta.store import Database, Dataset, insert_layer

#: Skara, SWEREF 99 TM metres: inside the default region (Sweden).
X0, Y0 = 421_000.0, 6_470_000.0


def incident_frame(n: int, seed: int = 3) -> gpd.GeoDataFrame:
    """``n`` incidents with distinct keys, texts that need JSON escaping, and times."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2025-01-06", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 300 * 86400, n), unit="s"
    )
    descriptions = np.array(['citat "x"\nrad två', "åäö\\", "tab\there", "vanlig"], dtype=object)
    return gpd.GeoDataFrame(
        {
            "occurred_at": t,
            "category": rng.choice(["klotter", "skadegorelse", "narkotika"], n),
            "description": descriptions[np.arange(n) % len(descriptions)],
            "source_id": np.char.add("b", np.arange(n).astype(str)).astype(object),
        },
        geometry=gpd.points_from_xy(rng.uniform(X0, X0 + 8000, n), rng.uniform(Y0, Y0 + 8000, n)),
        crs=3006,
    )


def insert_incidents(db: Database, n: int, seed: int = 3) -> int:
    """Store ``n`` incidents in one dataset; returns how many were inserted."""
    with db.session() as s:
        ds = Dataset(layer="incidents", name=f"bulk {n}", checksum=f"bulk-{n}-{seed}")
        s.add(ds)
        s.flush()
        inserted, _ = insert_layer(s, "incidents", incident_frame(n, seed), ds.id)
    return inserted
