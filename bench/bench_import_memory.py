"""Peak memory of a streamed CSV import as the file grows (issue #16: 15M rows ≤ 1 GB).

``python bench/bench_import_memory.py --rows 1000000 --rows 5000000 [--rows 15000000]``
writes one generated incident CSV per size (Swedish: ``;``, decimal comma, UTF-8 BOM,
WGS84 latitude/longitude) and imports it with ``import_file`` into a fresh store, one child
process per import, so each peak RSS (VmHWM) is that import's own. The rows are
bench_national's: spread over the 290 real municipalities by population with hot spots,
ten years, so the street-level positions are as many and as spread as a national file's
(the worst case for the per-file state: distinct positions and content hashes).

Per file the import keeps what must span the whole file: the content hashes seen (dedup of
identical rows within the file), ids seen, and the street-level piles for the
stacked-coordinate guard. The rest is bounded by one chunk (100,000 rows) and the chunk
prepared ahead. The table reports the peak, and the growth per million rows between sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PG_BASE = os.environ.get(
    "TRYGGKARTA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DBNAME = "tk_bench_import_memory"


def write_csv(path: Path, n: int, seed: int = 11) -> None:
    """``n`` national incidents (bench_national's generator) as a Swedish CSV file."""
    import pandas as pd
    from pyproj import Transformer

    sys.path.insert(0, str(HERE))
    import bench_national

    table = bench_national.generate(n, seed=seed)
    to_wgs84 = Transformer.from_crs(3006, 4326, always_xy=True)
    step = 1_000_000
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        for lo in range(0, n, step):
            part = table.slice(lo, step)
            lon, lat = to_wgs84.transform(part.column("x").to_numpy(), part.column("y").to_numpy())
            when = part.column("occurred_at").to_pandas().dt.tz_convert("Europe/Stockholm")
            frame = pd.DataFrame(
                {
                    "Datum": when.dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
                    "Kategori": part.column("category").to_numpy(zero_copy_only=False),
                    "Latitud": np.char.replace(np.round(lat, 6).astype(str), ".", ","),
                    "Longitud": np.char.replace(np.round(lon, 6).astype(str), ".", ","),
                }
            )
            frame.to_csv(fh, sep=";", index=False, header=lo == 0, lineterminator="\n")


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ``ru_maxrss`` would carry the parent's over exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover


def child(url: str, csv: str, instance: str) -> None:
    """Import ``csv`` into the store at ``url``; print seconds, rows and peak RSS as JSON.

    A sampler thread notes the RSS every 0.2 s, so the output also says when the peak came
    (reading the file, or after it: moving the staged rows, the stacked-records note)."""
    from tryggkarta.config import load_settings
    from tryggkarta.ingest import import_file
    from tryggkarta.store import Database

    db = Database(load_settings({"database_url": url, "instance_path": instance}))
    db.upgrade()
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not done.wait(0.2):
            samples.append((time.perf_counter() - started, _rss_mb()))

    thread = threading.Thread(target=sample, daemon=True)
    base = peak_rss_mb()
    thread.start()
    report = import_file(db, "incidents", csv)
    took = time.perf_counter() - started
    done.set()
    thread.join()
    db.dispose()
    at = max(samples, key=lambda s: s[1])[0] if samples else 0.0
    print(
        json.dumps(
            {
                "s": took,
                "read": report.rows_read,
                "stored": report.rows_imported,
                "rss_mb": peak_rss_mb(),
                "start_mb": base,
                "peak_at": at / took if took else 0.0,
            }
        )
    )


def fresh_pg() -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DBNAME}"))
    admin.dispose()
    return PG_BASE.rsplit("/", 1)[0] + "/" + DBNAME


def drop_pg() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)"))
    admin.dispose()


def run_child(url: str, csv: Path, instance: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", url, str(csv), str(instance)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, action="append")
    ap.add_argument("--engines", default=os.environ.get("BENCH_ENGINES", "SQLite,PostGIS"))
    ap.add_argument("--csv-dir", help="use in-<rows>.csv from this folder if there (write_csv)")
    args = ap.parse_args()
    sizes = sorted(set(args.rows or [1_000_000, 5_000_000]))
    engines = args.engines.split(",")
    results: list[tuple[str, int, dict]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tk-bench-importmem-") as tmpname:
        tmp = Path(tmpname)
        for n in sizes:
            kept = Path(args.csv_dir) / f"in-{n}.csv" if args.csv_dir else None
            csv = kept if kept is not None and kept.is_file() else tmp / f"incidents-{n}.csv"
            if csv != kept:
                write_csv(csv, n)
            for engine in engines:
                if engine == "PostGIS":
                    url = fresh_pg()
                else:
                    for suffix in ("", "-wal", "-shm"):
                        (tmp / f"store.db{suffix}").unlink(missing_ok=True)
                    url = f"sqlite:///{tmp / 'store.db'}"
                got = run_child(url, csv, tmp)
                got["file_mb"] = csv.stat().st_size / 2**20
                results.append((engine, n, got))
                if engine == "PostGIS":
                    drop_pg()
            if csv != kept:
                csv.unlink()
    print("### Import memory: one streamed CSV file of 1M to 15M national incidents\n")
    print(
        "`import_file` of one generated Swedish CSV (bench_national's rows: 290 municipalities, "
        "hot spots, ten years; WGS84 with decimal comma) into a fresh store, each import in its "
        "own process; peak RSS is that process's VmHWM (the interpreter and libraries included). "
        "Goal (issue #16): a 15M-row file ≤ 1 GB.\n"
    )
    print(
        "| engine | rows in the file | file (MB) | import (s) | rows/s | peak RSS (MB) | peak at |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for engine, n, r in results:
        print(
            f"| {engine} | {n:,} | {r['file_mb']:.0f} | {r['s']:.1f} | {r['read'] / r['s']:,.0f} "
            f"| {r['rss_mb']:.0f} | {r['peak_at']:.0%} of the run |"
        )
    print()
    for engine in engines:
        mine = [(n, r) for e, n, r in results if e == engine]
        if len(mine) >= 2:
            (n0, r0), (n1, r1) = mine[0], mine[-1]
            per = (r1["rss_mb"] - r0["rss_mb"]) / ((n1 - n0) / 1e6)
            print(
                f"- {engine}: {r0['rss_mb']:.0f} → {r1['rss_mb']:.0f} MB from {n0:,} to {n1:,} "
                f"rows ({per:+.1f} MB per million rows)."
            )
    print(f"\n_(bench_import_memory.py ran in {time.perf_counter() - started:.0f} s.)_")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
