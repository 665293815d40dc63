"""1M incidents in the store: SQL grid counting and Gi* end to end, on SQLite and PostGIS.

Compared in the same run with what a user would otherwise do: read all points into a
GeoDataFrame (``geopandas.read_postgis`` / ``read_file``-style fetch) and count with a
spatial join (``geopandas.sjoin`` of points to cell polygons).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import create_engine, text

from tryggkarta.analysis import gistar
from tryggkarta.analysis.gistar import fdr_bh
from tryggkarta.config import load_settings
from tryggkarta.store import Database, Dataset, GridSpec, grid_counts, insert_layer, layer_frame

N = int(os.environ.get("BENCH_N", 1_000_000))
PG_BASE = os.environ.get(
    "TRYGGKARTA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
X0, Y0 = 300_000.0, 6_400_000.0
CELL = 250.0
SIDE = 500  # 500 × 500 cells = 125 km square


def synthetic(n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(7)
    centres = rng.uniform(0, SIDE * CELL, (60, 2))
    pick = rng.integers(0, len(centres), n)
    xy = centres[pick] + rng.normal(0, 1500, (n, 2))
    xy = np.clip(xy, 0, SIDE * CELL - 1)
    t = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 365 * 86400, n), unit="s"
    )
    return gpd.GeoDataFrame(
        {
            "occurred_at": t,
            "category": rng.choice(["klotter", "skadegorelse", "narkotika"], n),
            "dedup_key": [f"b:{i}" for i in range(n)],
        },
        geometry=gpd.points_from_xy(X0 + xy[:, 0], Y0 + xy[:, 1]),
        crs=3006,
    )


def timed(fn, repeat: int = 3):  # noqa: ANN001, ANN201
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def load(db: Database, gdf: gpd.GeoDataFrame) -> float:
    start = time.perf_counter()
    with db.session() as s:
        ds = Dataset(layer="incidents", name="bench", checksum="bench")
        s.add(ds)
        s.flush()
        for lo in range(0, len(gdf), 200_000):
            insert_layer(s, "incidents", gdf.iloc[lo : lo + 200_000], ds.id)
    return time.perf_counter() - start


def pg_database() -> str:
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS tk_bench_store WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE tk_bench_store"))
    admin.dispose()
    return PG_BASE.rsplit("/", 1)[0] + "/tk_bench_store"


def main() -> None:
    gdf = synthetic(N)
    grid = GridSpec(X0, Y0, CELL, SIDE, SIDE)
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for engine, url in (("SQLite", f"sqlite:///{tmp / 'bench.db'}"), ("PostGIS", pg_database())):
        db = Database(load_settings({"database_url": url, "instance_path": str(tmp)}))
        db.upgrade()
        load_s = load(db, gdf)
        count_s, counts = timed(lambda db=db: grid_counts(db, "incidents", grid))
        assert counts.sum() == N

        def end_to_end(db=db):  # noqa: ANN001, ANN202
            c = grid_counts(db, "incidents", grid)
            res = gistar(c)
            return res

        e2e_s, res = timed(end_to_end)
        stat_s, _ = timed(lambda counts=counts: gistar(counts), repeat=5)
        fetch_s, _ = timed(
            lambda db=db: layer_frame(db, "incidents", columns=["x", "y"], geometry=False), repeat=1
        )
        rows.append((engine, load_s, count_s, stat_s, e2e_s, fetch_s, int((res.classes > 0).sum())))
        db.dispose()
    # the alternative: points in a GeoDataFrame, spatial join to cell polygons, groupby
    xs = X0 + np.arange(SIDE) * CELL
    ys = Y0 + np.arange(SIDE) * CELL
    gx, gy = np.meshgrid(xs, ys)
    cells = gpd.GeoDataFrame(
        {"cell": np.arange(SIDE * SIDE)},
        geometry=shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + CELL, gy.ravel() + CELL),
        crs=3006,
    )
    pts = gdf[["geometry"]]
    start = time.perf_counter()
    joined = gpd.sjoin(pts, cells, predicate="within")
    sj = joined.groupby("cell").size()
    sjoin_s = time.perf_counter() - start
    assert sj.sum() <= N
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"## Store: {N:,} incidents, Gi* on 500 × 500 cells of 250 m\n")
    print(
        "| engine | load (insert_layer) | count per cell in SQL | Gi* + FDR + classes on counts | end to end (SQL count + Gi*) | fetch all x,y to pandas |"
    )
    print("|---|---|---|---|---|---|")
    for engine, load_s, count_s, stat_s, e2e_s, fetch_s, hot in rows:
        print(
            f"| {engine} | {load_s:.1f} s ({N / load_s:,.0f} rows/s) | {count_s * 1000:.0f} ms | {stat_s * 1000:.1f} ms | "
            f"{e2e_s * 1000:.0f} ms ({hot:,} hot cells) | {fetch_s:.2f} s |"
        )
    print(
        f"\nAlternative in the same run: `geopandas.sjoin(points, cells, predicate='within')` + groupby on the same "
        f"{N:,} points already in memory: **{sjoin_s:.1f} s** (before any statistic, and after fetching the points)."
    )
    print(
        f"\nPeak RSS of the benchmark process: {peak:.0f} MiB. Goal: ≤ 0.5 s end to end, ≤ 20 ms for the statistic. "
        f"FDR alone on 250,000 p-values: {timed(lambda: fdr_bh(np.random.default_rng(1).random(SIDE * SIDE)), 5)[0] * 1000:.1f} ms."
    )


if __name__ == "__main__":
    main()
