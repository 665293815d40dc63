"""Exporting 1M raw incidents as GeoJSON: the streamed export against pyogrio, same run.

What a user would otherwise do: read the layer into a GeoDataFrame (``layer_frame``, the
store's fastest whole-layer read), reproject to WGS84, and write it with
``pyogrio.write_dataframe(driver="GeoJSON")``. tryggkarta's ``exports run`` streams the rows
from one database snapshot in chunks of 20,000 and writes each chunk as text with Arrow
string kernels. Each contender runs in its own process, so its peak memory (max RSS) is its
own; both write every row (checked).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N = int(os.environ.get("BENCH_N", 1_000_000))
PG_BASE = os.environ.get(
    "TRYGGKARTA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGINES = os.environ.get("BENCH_ENGINES", "SQLite,PostGIS").split(",")
HERE = Path(__file__).resolve().parent


def _db(url: str, instance: str):  # noqa: ANN202
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    return Database(load_settings({"database_url": url, "instance_path": instance}))


def make_store(url: str, instance: str, n: int) -> float:
    """``n`` incidents with descriptions, the bench_store generator's shape; load seconds."""
    import geopandas as gpd
    import pandas as pd

    from tryggkarta.store import Dataset, insert_layer

    db = _db(url, instance)
    db.upgrade()
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    with db.session() as s:
        ds = Dataset(layer="incidents", name="bench", checksum="bench")
        s.add(ds)
        s.flush()
        for lo in range(0, n, 200_000):
            m = min(200_000, n - lo)
            xy = rng.uniform(0, 60_000, (m, 2))
            frame = gpd.GeoDataFrame(
                {
                    "occurred_at": pd.Timestamp("2025-01-01", tz="UTC")
                    + pd.to_timedelta(rng.integers(0, 365 * 86400, m), unit="s"),
                    "category": rng.choice(["klotter", "skadegorelse", "narkotika"], m),
                    "description": rng.choice(
                        ["Klotter på vägg vid skolan", 'Sa "flytta på dig"', "Rutan krossad"], m
                    ),
                    "address": rng.choice(["Storgatan 1", "Parkvägen 12", None], m),
                    "dedup_key": [f"b:{lo + i}" for i in range(m)],
                },
                geometry=gpd.points_from_xy(390_000 + xy[:, 0], 6_440_000 + xy[:, 1]),
                crs=3006,
            )
            insert_layer(s, "incidents", frame, ds.id)
    took = time.perf_counter() - started
    db.dispose()
    return took


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``getrusage``'s ``ru_maxrss``: Linux
    carries that over ``exec`` from the forking parent, which here holds the generated store."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, url: str, instance: str, out: str) -> None:
    """Run one contender in this process; print seconds, features and max RSS as JSON."""
    db = _db(url, instance)
    started = time.perf_counter()
    if kind == "tryggkarta":
        from tryggkarta.exports.writer import run_export
        from tryggkarta.store import ExportSchedule

        with db.session() as s:
            row = ExportSchedule(
                name="bench",
                layer="incidents",
                format="geojson",
                audience="internal",
                schedule="HOURLY",
                target_dir=out,
            )
            s.add(row)
            s.flush()
            s.expunge(row)
        run = run_export(db, row)
        features, path = run.feature_count, run.path
    else:
        import pyogrio

        from tryggkarta.services.ogc_core import RAW_COLLECTIONS
        from tryggkarta.store import layer_frame

        cols = list(RAW_COLLECTIONS["incidents"].columns)
        frame = layer_frame(db, "incidents", columns=cols).to_crs(4326)
        path = str(Path(out) / "pyogrio.geojson")
        pyogrio.write_dataframe(frame, path, driver="GeoJSON")
        features = len(frame)
    took = time.perf_counter() - started
    rss = peak_rss_mb()
    size = os.path.getsize(path) / 2**20
    print(json.dumps({"s": took, "features": features, "rss_mb": rss, "file_mb": size}))


def ogc_timings(url: str, instance: str, n: int) -> dict[str, float]:
    """Best of 5, milliseconds: OGC raw items (limit=100) at three places (offset for the
    first page, the key of the row before for the middle and last), and one item."""
    from tryggkarta.services import ogc_core

    db = _db(url, instance)
    filters = ogc_core.region_filters(db)
    out = {}
    from sqlalchemy import text

    with db.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM incidents ORDER BY id"))]
    for label, after in (
        ("first page", None),
        ("middle page", ids[n // 2 - 1]),
        ("last page", ids[n - 101]),
    ):
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            got = ogc_core.items(db, "incidents", filters, 100, after=after)
            best = min(best, time.perf_counter() - started)
        assert got.returned == 100
        out[label] = best * 1000
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        assert ogc_core.item(db, "incidents", n // 3) is not None
        best = min(best, time.perf_counter() - started)
    out["one item by id"] = best * 1000
    db.dispose()
    return out


def pg_url() -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS tk_bench_exports WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE tk_bench_exports"))
    admin.dispose()
    return PG_BASE.rsplit("/", 1)[0] + "/tk_bench_exports"


def drop_pg() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS tk_bench_exports WITH (FORCE)"))
    admin.dispose()


def run_child(kind: str, url: str, instance: str, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, url, instance, str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-exports-"))
    rows = []
    try:
        for engine in ENGINES:
            kept = os.environ.get(f"BENCH_EXPORTS_{engine.upper()}_URL")  # a store of N rows
            if kept:
                url, load_s = kept, float("nan")
            else:
                url = f"sqlite:///{tmp / 'bench.db'}" if engine == "SQLite" else pg_url()
                load_s = make_store(url, str(tmp), N)
            ours = run_child("tryggkarta", url, str(tmp), tmp / f"{engine}-tk")
            theirs = run_child("pyogrio", url, str(tmp), tmp / f"{engine}-pyogrio")
            assert ours["features"] == theirs["features"] == N, (ours, theirs)
            rows.append((engine, load_s, ours, theirs, ogc_timings(url, str(tmp), N)))
            for path in (tmp / f"{engine}-tk").iterdir():
                path.unlink()
            (tmp / f"{engine}-pyogrio" / "pyogrio.geojson").unlink()
            if engine == "PostGIS" and not kept:
                drop_pg()
    finally:
        for path in sorted(tmp.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        tmp.rmdir()
    print(f"## Exports: {N:,} raw incidents as GeoJSON\n")
    print(
        "Each contender in its own process; time from opening the database to the file "
        "written, peak memory as max RSS of that process. Both write every row.\n"
    )
    print("| store | contender | time (s) | max RSS (MB) | file (MB) |")
    print("|---|---|---:|---:|---:|")
    for engine, _load, ours, theirs, _ogc in rows:
        for name, r in (
            ("`tryggkarta exports run` (streamed column-wise, 20,000 rows a chunk)", ours),
            ("`layer_frame` + `to_crs` + `pyogrio.write_dataframe`", theirs),
        ):
            print(f"| {engine} | {name} | {r['s']:.1f} | {r['rss_mb']:.0f} | {r['file_mb']:.0f} |")
    print()
    for engine, load_s, ours, theirs, _ogc in rows:
        loaded = "a kept store" if load_s != load_s else f"store loaded in {load_s:.0f} s"
        print(
            f"- {engine}: pyogrio took {theirs['s'] / ours['s']:.1f}× the time and "
            f"{theirs['rss_mb'] / ours['rss_mb']:.1f}× the memory of the streamed export "
            f"({loaded})."
        )
    print(f"\n### OGC API items of the raw incidents ({N:,} stored), counted and paged in SQL\n")
    labels = list(rows[0][4]) if rows else []
    print("| store | " + " | ".join(f"{label} (ms)" for label in labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for engine, *_rest, ogc in rows:
        print(f"| {engine} | " + " | ".join(f"{ogc[label]:.1f}" for label in labels) + " |")
    print(
        "\nPages are `limit=100`, paged by key (`id > last`, as the `next` link's cursor "
        "does) and counted up to 10,000 rows in the same snapshot; a deep page costs what "
        "the first one costs."
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
    else:
        main()
