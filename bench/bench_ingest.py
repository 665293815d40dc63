"""Import speed: a generated Swedish incident CSV into SQLite and PostGIS.

    python bench/bench_ingest.py [--rows 1000000] [--postgres URL]

Prints a markdown section for bench/RESULTS.md. Each run is a fresh subprocess, so its peak
RSS (ru_maxrss) is its own. "write rows/s" = rows stored / time of ``insert_layer`` plus the
commit (the store's part); "end-to-end rows/s" = rows stored / (read + validate + write), the
whole import of the file. The reference reads the same file with pandas + geopandas and
writes it with ``to_postgis`` (PostGIS) and ``to_file`` (GeoPackage): no validation, no dedup,
no indexes but the GiST one, so an upper bound of what plain tooling does, not a like-for-like.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
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


def run_import(url: str, csv: Path, tmp: Path) -> dict:
    """``import_file`` end to end: a large CSV streams (read, validate, write per chunk).

    Reading and writing interleave, so "write" is the time spent in the store's
    ``LayerWriter`` (add per chunk + finish) and "read + validate" the rest (including the commit).
    """
    from tryggkarta.ingest import import_file
    from tryggkarta.store.writes import LayerWriter

    db = Database(load_settings({"database_url": url, "instance_path": str(tmp)}))
    db.upgrade()
    spent = [0.0]

    def timed(real):  # noqa: ANN001, ANN202
        def wrapper(*args):  # noqa: ANN002, ANN202
            t = time.perf_counter()
            try:
                return real(*args)
            finally:
                spent[0] += time.perf_counter() - t
        return wrapper

    LayerWriter.add = timed(LayerWriter.add)
    LayerWriter.finish = timed(LayerWriter.finish)
    t0 = time.perf_counter()
    report = import_file(db, "incidents", csv)
    total = time.perf_counter() - t0
    db.dispose()
    return {"parse_s": total - spent[0], "write_s": spent[0], "rows": report.rows_imported}


def _child(kind: str, url: str, csv: Path, tmp: Path, postgres: bool) -> dict:
    """Run one measurement in a fresh interpreter (own peak RSS, no warm caches)."""
    extra = f", {postgres!r}" if kind == "reference" else ""
    code = (
        f"import json, sys, resource; from pathlib import Path; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"import bench_ingest as b; r = b.{kind}({url!r}, Path({str(csv)!r}), Path({str(tmp)!r}){extra}); "
        "r['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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


def _best(runs: list[dict]) -> dict:
    best = min(runs, key=lambda r: r["parse_s"] + r["write_s"] if r["write_s"] == r["write_s"] else 1e9)
    return {**best, "peak_mb": max(r["peak_mb"] for r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="runs per row; the best is reported")
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tk-bench-") as tmpname:
        tmp = Path(tmpname)
        csv = tmp / "incidents.csv"
        make_csv(csv, args.rows)
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")

        def fresh_pg() -> str:
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS tk_ingest_bench WITH (FORCE)"))
                conn.execute(text("CREATE DATABASE tk_ingest_bench"))
            return args.postgres.rsplit("/", 1)[0] + "/tk_ingest_bench"

        def fresh_sqlite() -> str:
            for suffix in ("", "-wal", "-shm"):
                (tmp / f"b.db{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{tmp / 'b.db'}"

        results: dict[str, list[dict]] = {}
        for _ in range(args.repeat):
            results.setdefault("tryggkarta import_file (streamed) → SQLite", []).append(
                _child("run_import", fresh_sqlite(), csv, tmp, False))
            results.setdefault("tryggkarta import_file (streamed) → PostGIS", []).append(
                _child("run_import", fresh_pg(), csv, tmp, True))
            results.setdefault("tryggkarta prepare + insert_layer (whole file) → SQLite", []).append(
                _child("run", fresh_sqlite(), csv, tmp, False))
            results.setdefault("tryggkarta prepare + insert_layer (whole file) → PostGIS", []).append(
                _child("run", fresh_pg(), csv, tmp, True))
            results.setdefault("geopandas → GeoPackage (to_file)", []).append(_child("reference", "", csv, tmp, False))
            pg = fresh_pg()
            with create_engine(pg).begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            results.setdefault("geopandas → PostGIS (to_postgis)", []).append(_child("reference", pg, csv, tmp, True))
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS tk_ingest_bench WITH (FORCE)"))
    print(f"\n### Import: {args.rows:,}-row Swedish incident CSV (; and decimal comma, UTF-8 BOM), best of {args.repeat}\n")
    print("| path | read + validate (s) | write (s) | write rows/s | end-to-end (s) | end-to-end rows/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        r = _best(runs)
        rows = r.get("rows", args.rows)
        if r["write_s"] != r["write_s"]:
            print(f"| {name} | {r['parse_s']:.1f} | n/a | n/a | n/a | n/a | {r['peak_mb']:.0f} ({r.get('note', '')}) |")
            continue
        total = r["parse_s"] + r["write_s"]
        print(f"| {name} | {r['parse_s']:.1f} | {r['write_s']:.1f} | {rows / r['write_s']:,.0f} | {total:.1f} "
              f"| {rows / total:,.0f} | {r['peak_mb']:.0f} |")
    print("\nStreamed = import_file, which reads, validates and writes a large CSV 100,000 rows at a time in "
          "one transaction; its write = time in LayerWriter (COPY per chunk, then one sorted INSERT … SELECT on PostGIS), the commit counts as read + validate. "
          "Whole file = the previous path (prepare, then insert_layer), still used by the preview and smaller files.")
    print("\nwrite = insert_layer + commit (tryggkarta) or to_postgis/to_file (reference); end-to-end adds "
          "reading and validating the file (tryggkarta: encoding/delimiter sniffing, dates, decimal commas, "
          "CRS inference and transform, region check, categories, dedup keys; reference: read_csv + "
          "points_from_xy + to_crs only). Peak RSS is each run's own process.")


if __name__ == "__main__":
    main()
