"""Import speed: a generated Swedish incident CSV into SQLite and PostGIS.

    python bench/bench_ingest.py [--rows 1000000] [--postgres URL]

Prints a markdown table: parse+validate time, write time (rows/s after parsing), peak
memory (tracemalloc for Python allocations, ru_maxrss for the process), and the same file
through ``geopandas.read_file`` + ``to_postgis``/``to_file`` as a reference.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from tryggkarta.config import load_settings
from tryggkarta.ingest import prepare
from tryggkarta.store import Database
from tryggkarta.store.writes import insert_layer

CATS = np.array(["Skadegörelse", "Klotter", "Nedskräpning", "Brand", "Narkotikabrott", "Misshandel", "Stöld"])


def make_csv(path: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, n), unit="s")
    lat = (58.38 + rng.normal(0, 0.02, n)).round(6).astype(str)
    lon = (13.44 + rng.normal(0, 0.03, n)).round(6).astype(str)
    frame = pd.DataFrame({
        "Datum": t.strftime("%Y-%m-%d %H:%M"), "Kategori": CATS[rng.integers(0, len(CATS), n)],
        "Beskrivning": "Rapport nr " + pd.Series(np.arange(n)).astype(str) + " – åäö",
        "Latitud": np.char.replace(lat, ".", ","), "Longitud": np.char.replace(lon, ".", ","),
    })
    frame.to_csv(path, sep=";", index=False, encoding="utf-8-sig")


def run(url: str, csv: Path, tmp: Path) -> dict:
    db = Database(load_settings({"database_url": url, "instance_path": str(tmp)}))
    db.upgrade()
    t0 = time.perf_counter()
    gdf, _report, _ = prepare("incidents", csv)
    t1 = time.perf_counter()
    from tryggkarta.store import Dataset

    with db.session() as s:
        ds = Dataset(layer="incidents", name="bench", checksum="bench")
        s.add(ds)
        s.flush()
        inserted, _skipped = insert_layer(s, "incidents", gdf, ds.id)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    db.dispose()
    return {"parse_s": t1 - t0, "write_s": t2 - t1, "rows": inserted, "peak_mb": peak / 1e6}


def reference(url: str, csv: Path, tmp: Path, postgres: bool) -> dict:
    import geopandas as gpd

    t0 = time.perf_counter()
    frame = pd.read_csv(csv, sep=";", decimal=",")
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["Longitud"], frame["Latitud"]), crs=4326)
    gdf = gdf.to_crs(3006)
    t1 = time.perf_counter()
    try:
        if postgres:
            gdf.to_postgis("bench_ref", create_engine(url), if_exists="replace", chunksize=100_000)
        else:
            gdf.to_file(tmp / "ref.gpkg", driver="GPKG", engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - a missing optional peer is reported, not fatal
        return {"parse_s": t1 - t0, "write_s": float("nan"), "note": f"{exc.__class__.__name__}: {exc}"[:80]}
    return {"parse_s": t1 - t0, "write_s": time.perf_counter() - t1, "note": ""}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tk-bench-") as tmpname:
        tmp = Path(tmpname)
        csv = tmp / "incidents.csv"
        make_csv(csv, args.rows)
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS tk_ingest_bench WITH (FORCE)"))
            conn.execute(text("CREATE DATABASE tk_ingest_bench"))
        pg = args.postgres.rsplit("/", 1)[0] + "/tk_ingest_bench"
        rows = [("SQLite", run(f"sqlite:///{tmp / 'b.db'}", csv, tmp)), ("PostGIS", run(pg, csv, tmp))]
        refs = [("geopandas → GPKG (to_file)", reference("", csv, tmp, False)),
                ("geopandas → PostGIS (to_postgis)", reference(pg, csv, tmp, True))]
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS tk_ingest_bench WITH (FORCE)"))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{args.rows:,} rows, Swedish CSV (; decimal comma, UTF-8 BOM); process max RSS {maxrss:.0f} MB\n")
    print("| engine | parse + validate (s) | write (s) | write rows/s | process max RSS so far (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| tryggkarta → {name} | {r['parse_s']:.1f} | {r['write_s']:.1f} | {r['rows'] / r['write_s']:,.0f} | {r['peak_mb']:.0f} |")
    for name, r in refs:
        speed = f"{args.rows / r['write_s']:,.0f}" if r["write_s"] == r["write_s"] else "n/a"
        print(f"| {name} | {r['parse_s']:.1f} | {r['write_s']:.1f} | {speed} | {r['note']} |")


if __name__ == "__main__":
    main()
